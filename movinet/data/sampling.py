"""Frame index samplers: which frames of a video make a clip.

Pure functions of (number of frames, settings, rng); randomness only comes from the explicit
`np.random.Generator`, so a sampler is deterministic under a seeded generator.

* `segment_indices`: PaddleVideo's `Sampler` (TSN "uniform" sampling), used by the Paddle A0 recipe.
* `clip_indices`: TF Model Garden's `sample_sequence` / `sample_linspace_sequence` (a strided clip,
  looping over short videos), used by the official recipes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["segment_indices", "clip_indices"]


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _require_rng(rng: np.random.Generator | None, sampler: str) -> np.random.Generator:
    if rng is None:
        raise ValueError(f"{sampler} with train=True needs an rng (np.random.Generator)")
    return rng


def segment_indices(
    num_frames: int,
    num_seg: int,
    *,
    train: bool,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """PaddleVideo `Sampler(num_seg, seg_len=1)`: one frame from each of `num_seg` equal segments.

    With `avg = num_frames // num_seg`, segment i covers frames [i*avg, (i+1)*avg):
    training takes `i*avg + randint(0, avg - 1)` (a fresh draw per segment), testing the segment
    centre `i*avg + (avg - 1) // 2`. Frames past `num_seg * avg` are never used, as in Paddle.

    The one intentional deviation: when the video has fewer frames than segments (avg == 0),
    Paddle asks for frame i, which does not exist for i >= num_frames, and its dataset then retries
    with another video. Here the indices are spread over the frames that exist,
    `floor(i * num_frames / num_seg)`, so short videos work (frames repeat).

    Args:
        num_frames: Frames in the video (>= 1).
        num_seg: Segments, i.e. frames in the clip (>= 1).
        train: Random frame per segment (True) or segment centres (False).
        rng: Required when `train` is True.

    Returns:
        (num_seg,) int64 indices in [0, num_frames), non-decreasing.
    """
    _check_positive(num_frames=num_frames, num_seg=num_seg)
    segments = np.arange(num_seg, dtype=np.int64)
    avg = num_frames // num_seg
    if avg == 0:
        return segments * num_frames // num_seg
    if train:
        offsets = _require_rng(rng, "segment_indices").integers(0, avg, size=num_seg, dtype=np.int64)
    else:
        offsets = np.full(num_seg, (avg - 1) // 2, dtype=np.int64)
    return segments * avg + offsets


def clip_indices(
    num_frames: int,
    clip_len: int,
    stride: int,
    *,
    train: bool,
    num_clips: int = 1,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """TF Model Garden clip sampling: `clip_len` frames `stride` apart, looping past the end.

    Training (`sample_sequence(random=True)`): each clip starts at a uniform random offset in
    [0, num_frames - (clip_len - 1) * stride), or in [0, num_frames) when the clip is longer
    than the video. Testing: one clip starts at `max(0, (num_frames - clip_len * stride) // 2)`
    (the centre); several clips (`sample_linspace_sequence`) start at
    `int(linspace(0, max(0, num_frames - clip_len * stride), num_clips))`. Indices are taken
    modulo `num_frames`, so a short video loops.

    Args:
        num_frames: Frames in the video (>= 1).
        clip_len: Frames per clip.
        stride: Temporal stride between sampled frames.
        train: Random start (True) or centred / evenly spaced starts (False).
        num_clips: Clips to sample.
        rng: Required when `train` is True.

    Returns:
        (num_clips, clip_len) int64 indices in [0, num_frames).
    """
    _check_positive(num_frames=num_frames, clip_len=clip_len, stride=stride, num_clips=num_clips)
    if train:
        span = (clip_len - 1) * stride
        high = num_frames - span if num_frames > span else num_frames
        starts = _require_rng(rng, "clip_indices").integers(0, high, size=num_clips, dtype=np.int64)
    elif num_clips == 1:
        starts = np.array([max(0, (num_frames - clip_len * stride) // 2)], dtype=np.int64)
    else:
        last_start = max(0, num_frames - clip_len * stride)
        # float32 then truncation, as TF's tf.linspace + tf.cast(int32).
        starts = np.linspace(0.0, last_start, num_clips, dtype=np.float32).astype(np.int64)
    steps = np.arange(clip_len, dtype=np.int64) * stride
    return (starts[:, None] + steps[None, :]) % num_frames

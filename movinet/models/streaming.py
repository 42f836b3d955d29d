"""The one chunked stream loop: feed a clip to a stream step function a few frames at a time.

Every stream path uses it: whole-video prediction with a stream model, online streams, stream
evaluation and the export check. It works for any step function with the contract of
`MoViNet.stream_step` (PyTorch tensors) or of an ONNX step graph (numpy arrays).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

State = TypeVar("State")
StepFunction = Callable[[Any, State], tuple[Any, State]]


def chunk_sizes(frames: int, chunk: int | Sequence[int] | None) -> list[int]:
    """Sizes of the steps over `frames` frames: `chunk` at a time (the last may be shorter), the
    explicit sizes given (they must add up to `frames`), or all at once for None."""
    if frames < 1:
        raise ValueError(f"a stream step needs at least one frame, got {frames}")
    if chunk is None:
        return [frames]
    if isinstance(chunk, int):
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1 frame, got {chunk}")
        return [min(chunk, frames - start) for start in range(0, frames, chunk)]
    sizes = [int(size) for size in chunk]
    if any(size < 1 for size in sizes) or sum(sizes) != frames:
        raise ValueError(f"chunk sizes {sizes} must be positive and add up to the {frames} frames of the clip")
    return sizes


def stream_chunks(step: StepFunction, video: Any, state: State,
                  chunk: int | Sequence[int] | None = 1) -> Iterator[tuple[Any, State]]:
    """Run `video` through `step` in chunks; yields `(logits, state)` after every step.

    Args:
        step: `(clip (B, 3, t, H, W), state) -> (logits (B, classes), new state)`.
        video: (B, 3, T, H, W) tensor or array.
        state: the state to start from (a fresh stream: the model's zero state).
        chunk: frames per step, explicit step sizes, or None for one step over the whole clip.
    """
    start = 0
    for size in chunk_sizes(video.shape[2], chunk):
        logits, state = step(video[:, :, start:start + size], state)
        start += size
        yield logits, state


def stream_clip(step: StepFunction, video: Any, state: State,
                chunk: int | Sequence[int] | None = 1) -> tuple[Any, State]:
    """The logits after the last frame of `video`, and the state then (see `stream_chunks`)."""
    for logits, state in stream_chunks(step, video, state, chunk):
        pass
    return logits, state  # chunk_sizes guarantees at least one step

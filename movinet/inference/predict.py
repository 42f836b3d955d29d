"""Whole-video prediction of files (`movinet predict`), with any backend.

    predictor = load_predictor("export/movinet_a0_base.onnx")         # or "a0.safetensors"
    results = predict_files("videos/", predictor, top_k=1)
    failures = print_results(results, top_k=1)

Files (`inputs.collect_inputs`) are decoded with PyAV, sampled, resized, centre-cropped and
normalised as the predictor's `Preprocessing` says, a batch ahead of the model, then classified;
`report` holds the results and prints them in the seed's format or as JSON lines.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

import numpy as np

from movinet.data.preprocessing import Preprocessing
from movinet.inference import DEFAULT_TOP_K
from movinet.inference.backends import Predictor
from movinet.inference.inputs import collect_inputs
from movinet.inference.readahead import read_ahead
from movinet.inference.report import Result, softmax, top_k_of


# An untrusted file (an upload to `movinet serve`) may make FFmpeg read nothing but itself: the
# `file` protocol only, and only demuxers of video files that open no other input (no HLS/DASH
# playlists, concat lists, image sequences).
SINGLE_FILE_FFMPEG_OPTIONS = {
    "protocol_whitelist": "file",
    "format_whitelist": "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,mpeg,asf,ogg",
}


def load_clip(path: str | os.PathLike, preprocessing: Preprocessing, *,
              ffmpeg_options: dict[str, str] | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """Decode, sample and preprocess one video for whole-video prediction.

    Args:
        path: a video file.
        preprocessing: how frames become the model input.
        ffmpeg_options: FFmpeg options of the file's opening (`SINGLE_FILE_FFMPEG_OPTIONS`).

    Returns:
        ((3, T, H, W) float32 clip, {"decode": s, "preprocess": s}).

    Raises:
        VideoDecodeError (a ValueError): missing, corrupt or non-video file.
    """
    from movinet.data.video import open_video

    start = time.perf_counter()
    with open_video(path, ffmpeg_options=ffmpeg_options, max_short_side=preprocessing.decode_short_side) as reader:
        indices = preprocessing.sample_indices(reader.num_frames)
        frames = reader.read_frames(indices)
    decoded = time.perf_counter()
    clip = preprocessing.transform(frames)
    return clip, {"decode": decoded - start, "preprocess": time.perf_counter() - decoded}


def load_single_video_clip(path: str | os.PathLike,
                           preprocessing: Preprocessing) -> tuple[np.ndarray, dict[str, float]]:
    """`load_clip` of exactly one video file, whatever its content: an untrusted upload.

    No list, directory or playlist expansion (`predict_files` expands `.txt` lists and
    directories; FFmpeg would follow an HLS playlist): FFmpeg reads this file only
    (`SINGLE_FILE_FFMPEG_OPTIONS`). Returns and raises as `load_clip`.
    """
    return load_clip(path, preprocessing, ffmpeg_options=SINGLE_FILE_FFMPEG_OPTIONS)


def _describe_error(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, (ValueError, OSError)) else f"{type(error).__name__}: {text}"


def predict_files(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    predictor: Predictor,
    *,
    top_k: int = DEFAULT_TOP_K,
    batch_size: int = 1,
    progress: bool = True,
) -> list[Result]:
    """Classify video files, `batch_size` clips per model call.

    Args:
        inputs: a video, a directory of videos (class folders included), a .txt list (one path per
            line), or a list of those.
        predictor: any backend's predictor (`load_predictor`).
        top_k: classes per result.
        batch_size: clips per model call.
        progress: tqdm progress bar on stderr.

    Returns:
        One `Result` per input file, in input order; unreadable files have `error` set and do not
        stop the others.
    """
    from tqdm import tqdm

    if top_k < 1 or batch_size < 1:
        raise ValueError(f"top_k and batch_size must be >= 1, got {top_k} and {batch_size}")
    paths = collect_inputs(inputs)
    batches = [paths[start:start + batch_size] for start in range(0, len(paths), batch_size)]
    # The next batches are decoded and preprocessed while the model runs on this one, so a list of
    # videos costs max(decode, model) per video, not the sum.
    loaded = read_ahead((_load_batch(batch, predictor.preprocessing) for batch in batches), depth=1)
    results: list[Result] = []
    with tqdm(total=len(paths), desc="predict", unit="video", disable=not progress, file=sys.stderr) as bar:
        for batch in loaded:
            results.extend(classify_loaded(batch, predictor, top_k))
            bar.update(len(batch[0]))
    return results


def _load_batch(paths: list[str], preprocessing: Preprocessing) -> tuple[list[Result], list[np.ndarray]]:
    """Results for `paths` (errors set for unreadable files) and the clips of the readable ones."""
    results = [Result(path) for path in paths]
    clips = []
    for result in results:
        try:
            clip, result.timings = load_clip(result.path, preprocessing)
        except (ValueError, OSError) as error:
            result.error = _describe_error(error)
            continue
        clips.append(clip)
    return results, clips


def classify_loaded(loaded: tuple[list[Result], list[np.ndarray]], predictor: Predictor, top_k: int) -> list[Result]:
    """Classify preprocessed clips in one model call and fill in their results.

    Args:
        loaded: (results, clips): one `Result` per input, those without `error` in the order of
            `clips`, each clip (3, T, H, W) float32 as `Preprocessing.transform` makes it.
        predictor: the backend.
        top_k: classes per result.

    Returns:
        `results`, with classes, labels, scores and the model's share of time set (or `error` when
        the model failed).
    """
    results, clips = loaded
    good = [result for result in results if result.error is None]
    if not good:
        return results
    start = time.perf_counter()
    try:
        logits = predictor.predict_clips(np.stack(clips))
    except (ValueError, RuntimeError) as error:
        for result in good:
            result.error = f"model failed: {_describe_error(error)}"
        return results
    model_time = (time.perf_counter() - start) / len(good)
    for result, row in zip(good, softmax(logits)):
        result.classes, result.scores = top_k_of(row, top_k)
        result.labels = [predictor.label(c) for c in result.classes]
        result.timings["model"] = model_time
    return results

"""Online (frame-by-frame) classification of a file, camera or network stream (`movinet stream`).

    predictor = load_predictor("export/movinet_a0_stream.onnx")     # or a stream .safetensors
    summary = run_stream("rtsp://camera/stream", predictor=predictor, top_k=5)

Frames come from `movinet.data.video.iter_frames` (file, camera index via v4l2, rtsp/http URL),
resampled to `target_fps`. The default is the rate the model was trained at (the sidecar's
`stream_fps`): official stream models saw 25-fps Kinetics clips at temporal stride 5 (50 frames =
10 s), i.e. **5 fps**; feeding 25 fps would make every motion look five times slower to them.
Each frame is preprocessed exactly like the whole-clip path (shorter-side resize or PaddleVideo's
4:3 scale, centre crop, normalisation: `Preprocessing.transform` applied per frame), and `chunk`
frames at a time go through one `Predictor.step` (PyTorch's `stream_step`, one call of the ONNX step
graph, ...) with the state fed back. The state is keyed by the model's state keys whatever the
backend. After `n` frames the logits equal a whole-clip prediction on those `n` frames.

Each step prints (and/or writes as a JSON line) its timestamp, frame index, top-k and latency. A
source that ends, drops or is interrupted (Ctrl-C) ends the loop with a `StreamSummary`.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from movinet.inference import DEFAULT_TOP_K
from movinet.inference.backends.base import Predictor, PredictorError
from movinet.inference.readahead import read_ahead
from movinet.limits import check_rate
from movinet.inference.report import softmax, top_k_of
from movinet.models.streaming import stream_clip

TopK = list[tuple[int, str | None, float]]


class StreamOpenError(ValueError):
    """The source (file, camera, URL) cannot be opened or yields no frame."""


@dataclass
class StreamStep:
    """One model step.

    Attributes:
        step: 0-based step number.
        frame_index: index of the step's last frame in the resampled stream.
        timestamp: seconds of that frame since the start of the stream.
        top_k: (class, label, softmax score), best first.
        latency_ms: model time of the step; preprocess_ms: resize/crop/normalise of its frames.
    """

    step: int
    frame_index: int
    timestamp: float
    top_k: TopK
    latency_ms: float
    preprocess_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "frame": self.frame_index, "timestamp": round(self.timestamp, 4),
                "top_k": [{"class": c, "label": l, "score": s} for c, l, s in self.top_k],
                "latency_ms": round(self.latency_ms, 3), "preprocess_ms": round(self.preprocess_ms, 3)}


@dataclass
class StreamSummary:
    """How a stream went.

    Attributes:
        source: what was read.
        frames: frames classified (after resampling); steps: model calls.
        fps: the rate frames were fed at.
        latency_mean_ms / latency_p50_ms / latency_p90_ms: per-step model latency.
        final_top_k: the prediction after the last frame.
        final_logits: (num_classes,) logits after the last frame (None without frames).
        ended: "end of stream", "max_frames", "interrupted" or "error".
        error: why the source stopped early, if it did.
    """

    source: str
    frames: int
    steps: int
    fps: float
    latency_mean_ms: float
    latency_p50_ms: float
    latency_p90_ms: float
    final_top_k: TopK
    final_logits: np.ndarray | None = field(repr=False)
    ended: str
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("final_logits")
        data["final_top_k"] = [{"class": c, "label": l, "score": s} for c, l, s in self.final_top_k]
        return data


class StreamSession:
    """The running state of one stream over a stream predictor.

    Args:
        predictor: a stream (causal) predictor.
        batch_size: streams classified side by side.
    """

    def __init__(self, predictor: Predictor, batch_size: int = 1) -> None:
        if not predictor.is_stream:
            raise PredictorError(f"{predictor.model_name} is a base model and cannot classify a stream frame by "
                                 "frame; use a *_stream model (its weights or its stream ONNX export)")
        self.predictor, self.batch_size = predictor, batch_size
        self.reset()

    def reset(self) -> None:
        """Start a new stream (zero state)."""
        self.state = self.predictor.init_state(self.batch_size)
        self.frames_seen = 0
        self.logits: np.ndarray | None = None

    def push(self, clip: np.ndarray) -> np.ndarray:
        """Feed preprocessed frames. clip: (B, 3, t, H, W) float32 -> logits (B, classes) after them."""
        self.logits, self.state = stream_clip(self.predictor.step, clip, self.state, self.predictor.max_chunk)
        self.frames_seen += clip.shape[2]
        return self.logits  # type: ignore[return-value] - clip has >= 1 frame

    def push_frames(self, frames: np.ndarray) -> np.ndarray:
        """Feed raw frames of one stream. frames: (t, H, W, 3) uint8 -> logits (classes,)."""
        clip = self.predictor.preprocessing.transform(frames)[None]
        return self.push(clip)[0]


# ------------------------------------------------------------------------------------------------
# annotation


# Containers the annotated video may be written in (the encoder is H.264 or MPEG-4 Part 2,
# `default_video_codec`, which WebM cannot hold): file suffix -> FFmpeg muxer.
ANNOTATION_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}


def annotation_format(path: str | os.PathLike) -> str:
    """The muxer of an `--annotate` path, from its suffix.

    Raises:
        ValueError: a suffix the annotated video cannot be written as.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in ANNOTATION_FORMATS:
        raise ValueError(f"--annotate {path}: the annotated video is written as {', '.join(ANNOTATION_FORMATS)}; "
                         f"give a file name with one of these suffixes (got {suffix or 'none'!r})")
    return ANNOTATION_FORMATS[suffix]


class _Annotator:
    """Writes frames with the current top-k drawn on them (Pillow), encoded with PyAV.

    The format and the folder are checked when it is made, before the stream starts: the file is
    created then, under movinet's temporary name (`movinet.files.temp_path`), and renamed to `path`
    when it is closed, so a stream killed midway never leaves half a video under the final name.
    """

    def __init__(self, path: str | os.PathLike, fps: float) -> None:
        import av

        from movinet.files import remove_stale_temp_files, temp_path

        self.path, self.fps = Path(path), fps
        muxer = annotation_format(self.path)
        if self.path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.path)
        self._temp = temp_path(self.path)
        self._container: Any = av.open(str(self._temp), "w", format=muxer)
        self._stream: Any = None

    def _open(self, height: int, width: int) -> None:
        from movinet.data.video import default_video_codec

        rate = Fraction(self.fps).limit_denominator(1001)
        self._stream = self._container.add_stream(default_video_codec(), rate=rate)
        self._stream.height, self._stream.width = height, width
        self._stream.pix_fmt = "yuv420p"

    def write(self, frame: np.ndarray, lines: list[str]) -> None:
        """frame: (H, W, 3) uint8 RGB."""
        import av
        from PIL import Image, ImageDraw

        # yuv420p needs even sides.
        frame = frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]
        if self._stream is None:
            self._open(frame.shape[0], frame.shape[1])
        image = Image.fromarray(np.ascontiguousarray(frame))
        draw = ImageDraw.Draw(image)
        line_height = 12
        if lines:
            width = max(draw.textlength(line) for line in lines) + 8
            draw.rectangle([0, 0, width, line_height * len(lines) + 6], fill=(0, 0, 0))
        for row, line in enumerate(lines):
            draw.text((4, 3 + row * line_height), line, fill=(255, 255, 255))
        video_frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
        self._container.mux(self._stream.encode(video_frame))

    def close(self) -> None:
        """Finish the video and move it to its name (nothing is left when no frame came)."""
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            if self._stream is not None:
                container.mux(self._stream.encode(None))
            container.close()
            if self._stream is not None:
                os.replace(self._temp, self.path)
        finally:
            self._temp.unlink(missing_ok=True)


def _annotation_lines(top_k: TopK) -> list[str]:
    return [f"{score:.2f} {label if label is not None else f'class {index}'}" for index, label, score in top_k]


# ------------------------------------------------------------------------------------------------
# the loop


def _format_step(step: StreamStep) -> str:
    best = ", ".join(f"{label if label is not None else c} {score:.4f}" for c, label, score in step.top_k)
    return f"[{step.timestamp:8.2f}s] frame {step.frame_index:6d}: {best}  ({step.latency_ms:.1f} ms)"


def format_summary(summary: StreamSummary) -> str:
    """Human-readable summary block."""
    best = ", ".join(f"{label if label is not None else c} {score:.4f}" for c, label, score in summary.final_top_k)
    lines = [f"stream {summary.source}: {summary.ended}" + (f" ({summary.error})" if summary.error else ""),
             f"  frames: {summary.frames} at {summary.fps:g} fps in {summary.steps} steps",
             f"  latency ms: mean {summary.latency_mean_ms:.2f}, p50 {summary.latency_p50_ms:.2f}, "
             f"p90 {summary.latency_p90_ms:.2f}",
             f"  final top-{len(summary.final_top_k)}: {best or 'n/a'}"]
    return "\n".join(lines)


def _open_frames(source: str | int, target_fps: float, max_short_side: int) -> Any:
    """The frame iterator, with the first frame already read so open errors surface here."""
    from movinet.data.video import VideoDecodeError, iter_frames

    frames = iter_frames(source, target_fps=target_fps, max_short_side=max_short_side)
    try:
        first = next(frames)
    except StopIteration:
        raise StreamOpenError(f"{source} yields no frames (empty or not a video)") from None
    except VideoDecodeError as error:
        raise StreamOpenError(str(error)) from None

    def chained() -> Any:
        yield first
        yield from frames

    return read_ahead(chained())


class _Loop:
    """State of one `run_stream` call: session, outputs, timings."""

    def __init__(self, predictor: Predictor, top_k: int, log: TextIO | None, print_every: int,
                 json_file: TextIO | None, annotator: _Annotator | None) -> None:
        self.session = StreamSession(predictor)
        self.predictor, self.top_k = predictor, top_k
        self.log, self.print_every, self.json_file, self.annotator = log, print_every, json_file, annotator
        self.latencies: list[float] = []
        self.current: TopK = []
        self.frames = 0

    def step(self, batch: list[tuple[int, float, np.ndarray]]) -> None:
        """Classify buffered (index, timestamp, raw frame) tuples as one chunk."""
        start = time.perf_counter()
        clip = self.predictor.preprocessing.transform(np.stack([frame for _, _, frame in batch]))[None]
        prepared = time.perf_counter()
        logits = self.session.push(clip)[0]
        latency = (time.perf_counter() - prepared) * 1000.0
        classes, scores = top_k_of(softmax(logits[None])[0], self.top_k)
        self.current = [(c, self.predictor.label(c), s) for c, s in zip(classes, scores)]
        index, timestamp, _ = batch[-1]
        record = StreamStep(len(self.latencies), index, timestamp, self.current, latency,
                            (prepared - start) * 1000.0)
        self.latencies.append(latency)
        self.frames += len(batch)
        if self.log is not None and self.print_every > 0 and record.step % self.print_every == 0:
            print(_format_step(record), file=self.log, flush=True)
        if self.json_file is not None:
            print(json.dumps(record.to_dict(), ensure_ascii=False), file=self.json_file, flush=True)
        if self.annotator is not None:
            for _, _, frame in batch:
                self.annotator.write(frame, _annotation_lines(self.current))

    def summary(self, source: str, fps: float, ended: str, error: str | None) -> StreamSummary:
        lat = np.asarray(self.latencies) if self.latencies else np.zeros(1)
        logits = self.session.logits
        return StreamSummary(
            source=source, frames=self.frames, steps=len(self.latencies), fps=fps,
            latency_mean_ms=float(lat.mean()), latency_p50_ms=float(np.percentile(lat, 50)),
            latency_p90_ms=float(np.percentile(lat, 90)), final_top_k=self.current,
            final_logits=None if logits is None else np.array(logits[0]), ended=ended, error=error)


def run_stream(
    source: str | int | os.PathLike,
    *,
    predictor: Predictor,
    top_k: int = DEFAULT_TOP_K,
    target_fps: float | None = None,
    chunk: int = 1,
    max_frames: int | None = None,
    json_out: str | os.PathLike | TextIO | None = None,
    annotate: str | os.PathLike | None = None,
    print_every: int = 1,
    out: TextIO | None = None,
) -> StreamSummary:
    """Classify a stream online, `chunk` frames per model step.

    Args:
        source: a video file, a camera index (int or digits, v4l2), or an rtsp/http(s) URL.
        predictor: a stream predictor (`load_predictor` of a `*_stream` .safetensors or stream .onnx).
        top_k: classes reported per step.
        target_fps: rate frames are fed at (frames dropped or repeated); default the model's
            training rate `predictor.preprocessing.stream_fps` (5 fps for official stream models).
        chunk: frames per model step (1 = lowest latency; larger = higher throughput).
        max_frames: stop after this many (resampled) frames.
        json_out: JSON lines, one per step plus a final `{"summary": ...}`: a path, "-" for stdout,
            or an open text stream.
        annotate: write the (resampled) video with the current top-k drawn on it to this file.
        print_every: print every n-th step (0: none), and the summary in any case. With
            `json_out="-"` the text goes to stderr.
        out: text stream for printing (default stdout, or stderr as above).

    Returns:
        StreamSummary. The stream ending, failing mid-way or Ctrl-C end the loop normally.

    Raises:
        StreamOpenError: the source cannot be opened (missing file, camera absent or busy, URL down).
        PredictorError: the predictor is not a stream model.
    """
    if top_k < 1 or chunk < 1:
        raise ValueError(f"top_k and chunk must be >= 1, got {top_k} and {chunk}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    if print_every < 0:
        raise ValueError(f"print_every must be >= 0 (0: only the summary), got {print_every}")
    if target_fps is not None:
        check_rate(target_fps, "--fps")
    if not predictor.is_stream:
        raise PredictorError(f"{predictor.model_name} is a base model and cannot classify a stream frame by "
                             "frame; use a *_stream model (its weights or its stream ONNX export)")
    fps = float(target_fps if target_fps is not None else predictor.preprocessing.stream_fps or 0.0)
    if fps <= 0:
        raise ValueError("target_fps is needed: the model does not record the frame rate it was trained at")
    source = os.fspath(source) if isinstance(source, os.PathLike) else source
    with ExitStack() as stack:
        # Outputs are opened before the source: a bad --annotate is refused before anything runs.
        annotator = _Annotator(annotate, fps) if annotate is not None else None
        if annotator is not None:
            stack.callback(annotator.close)
        json_file = _json_stream(json_out, stack)
        log = out or (sys.stderr if json_file is sys.stdout else sys.stdout)
        loop = _Loop(predictor, top_k, log, print_every, json_file, annotator)
        frames = _open_frames(source, fps, predictor.preprocessing.decode_short_side)
        ended, error = _consume(frames, loop, chunk, max_frames)
        summary = loop.summary(str(source), fps, ended, error)
        if json_file is not None:
            print(json.dumps({"summary": summary.to_dict()}, ensure_ascii=False), file=json_file, flush=True)
        print(format_summary(summary), file=log, flush=True)
    return summary


def _json_stream(json_out: str | os.PathLike | TextIO | None, stack: ExitStack) -> TextIO | None:
    if json_out is None:
        return None
    if json_out == "-":
        return sys.stdout
    if hasattr(json_out, "write"):
        return json_out  # type: ignore[return-value] - an open text stream
    path = Path(json_out)  # type: ignore[arg-type] - str or PathLike here
    path.parent.mkdir(parents=True, exist_ok=True)
    return stack.enter_context(path.open("w", encoding="utf-8"))


def _consume(frames: Any, loop: _Loop, chunk: int, max_frames: int | None) -> tuple[str, str | None]:
    """Run the loop over the frame iterator; returns (how it ended, error message)."""
    from movinet.data.video import VideoDecodeError

    batch: list[tuple[int, float, np.ndarray]] = []
    ended, error, index = "end of stream", None, 0
    try:
        for timestamp, frame in frames:
            batch.append((index, timestamp, frame))
            index += 1
            if len(batch) == chunk:
                loop.step(batch)
                batch = []
            if max_frames is not None and index >= max_frames:
                ended = "max_frames"
                break
    except VideoDecodeError as failure:
        # A dropped connection or a truncated file: keep what was classified so far.
        ended, error = "error", str(failure)
    except KeyboardInterrupt:
        ended = "interrupted"
    if batch:
        loop.step(batch)
    return ended, error

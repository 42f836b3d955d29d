"""Video decoding with PyAV: random access to frames of a file, frame streams, frame folders.

`open_video(path).read_frames(indices)` is the dataset's reader. It seeks to the keyframe before the
first frame it needs (so a clip near the end of a long file costs one GOP of decoding, not the whole
file) and stops right after the last one. Frame index `i` is the frame shown at time
`start + i / fps`; for constant-frame-rate files (nearly all datasets) that is exactly the `i`-th
decoded frame, which is what PaddleVideo's decord reader and `extract_frames` count.

`iter_frames(source)` streams (timestamp, frame) pairs from a file, a camera or a network URL for
online inference. `read_frame_folder` reads PaddleVideo's extracted JPEG frames (1-based names).
"""

from __future__ import annotations

import math
import os
import re
import stat
import warnings
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from movinet.limits import check_rate

__all__ = [
    "VIDEO_EXTENSIONS",
    "CorruptVideoWarning",
    "VideoDecodeError",
    "VideoNotFoundError",
    "VideoReader",
    "open_video",
    "iter_frames",
    "read_frame_folder",
    "write_video",
    "default_video_codec",
]

# File extensions taken for videos when a directory is scanned (class folders, `predict DIR`).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts")

# Container frame counts are sometimes one or two frames more than what decodes (B-frame delay at
# the end, edit lists). A shortfall this small is filled with the last frame; a larger one means
# the file is truncated.
_END_TOLERANCE_FRAMES = 3

# A gap between two wanted frames larger than this many frames is crossed with a new seek instead
# of decoding through it (x264's default keyframe interval is 250).
_RESEEK_GAP_FRAMES = 300

# Below this index the first wanted frame is reached by decoding from the start, without a seek.
_SEEK_MIN_INDEX = 16


class VideoDecodeError(ValueError):
    """A video (or frame folder) cannot be opened or decoded: missing, empty, truncated, not a video."""


class VideoNotFoundError(VideoDecodeError, FileNotFoundError):
    """The video file or frame does not exist (both a `VideoDecodeError` and a `FileNotFoundError`)."""


class CorruptVideoWarning(UserWarning):
    """A video decoded with a damaged stretch (packets that fail to decode, frames flagged corrupt);
    the frames around it are used and the result is kept."""


class _Damage:
    """Damage met while decoding: packets that failed, frames flagged corrupt, frames missing."""

    def __init__(self) -> None:
        self.packets = self.corrupt = self.missing = 0

    def snapshot(self) -> tuple[int, int, int]:
        return self.packets, self.corrupt, self.missing


def _decode_packets(container: Any, stream: Any, damage: _Damage) -> Iterator[Any]:
    """Frames of `stream`, decoding packet by packet so a damaged packet costs its frames, not the
    rest of the file (FFmpeg's `decode` stops at the first packet it cannot decode)."""
    for packet in container.demux(stream):
        try:
            frames = stream.decode(packet)
        except av.error.InvalidDataError:
            damage.packets += 1
            continue
        for frame in frames:
            damage.corrupt += int(frame.is_corrupt)
            yield frame


def _damage_message(name: str, before: tuple[int, int, int], after: tuple[int, int, int]) -> str | None:
    """The warning for the damage met between two snapshots, or None when there was none."""
    packets, corrupt, missing = (b - a for a, b in zip(before, after))
    if not packets and not corrupt:
        return None  # timestamp gaps alone are variable frame rate, not damage
    parts = ([f"{packets} packet{'s' * (packets != 1)} could not be decoded"] if packets else []) + (
        [f"{corrupt} frame{'s' * (corrupt != 1)} decoded damaged"] if corrupt else []) + (
        [f"{missing} frame{'s' * (missing != 1)} missing"] if missing else [])
    return (f"{name} has a corrupt stretch: {', '.join(parts)}; the frames around it stand in and the result is "
            "kept (re-encode the file to repair it)")


def _ffmpeg_message(error: BaseException) -> str:
    text = str(error)
    return text if text else type(error).__name__


def _check_file(path: Path, *, pipe_ok: bool = False) -> None:
    if not path.exists():
        raise VideoNotFoundError(f"video file not found: {path}")
    if path.is_dir():
        raise VideoDecodeError(f"{path} is a directory, not a video file")
    if pipe_ok and stat.S_ISFIFO(path.stat().st_mode):
        return  # a stream may come through a named pipe
    if not path.is_file():
        raise VideoDecodeError(f"{path} is not a regular file (a FIFO, device or socket); pass a video file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"video file {path} is empty (0 bytes); re-download or re-encode it")


def _open_container(path: Path, options: dict[str, str] | None = None, *, pipe_ok: bool = False) -> Any:
    _check_file(path, pipe_ok=pipe_ok)
    try:
        return av.open(str(path), container_options=options or {})
    except av.FFmpegError as error:
        raise VideoDecodeError(
            f"cannot open {path} as a video ({_ffmpeg_message(error)}); the file is truncated, "
            "corrupt or not a video"
        ) from error


def _first_video_stream(container: Any, name: str) -> Any:
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams}) or ["none"]
        container.close()
        raise VideoDecodeError(f"{name} has no video stream (streams found: {', '.join(kinds)})")
    return container.streams.video[0]


# Frame-threaded decoding keeps about two source-size frames per thread: at 8K that is ~100 MB a
# thread, and FFmpeg's automatic count is one thread per core (plus one). Below this budget the
# automatic count is kept; above it, fewer threads decode, so memory does not grow with the
# resolution times the cores.
_DECODER_BUDGET_BYTES = 256 << 20
_FFMPEG_MAX_AUTO_THREADS = 16  # what FFmpeg's own automatic count stops at


def decoder_threads(requested: int, width: int, height: int) -> int:
    """Decoder threads for a `width` x `height` stream: `requested` when given (> 0); else 0
    (FFmpeg's automatic count, one per core) unless that many threads' frames would pass
    `_DECODER_BUDGET_BYTES`, then as many as fit (at least one)."""
    if requested > 0:
        return requested
    per_thread = 2 * width * height * 3 // 2  # two YUV 4:2:0 frames
    by_budget = _DECODER_BUDGET_BYTES // max(per_thread, 1)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    automatic = min(cores + 1, _FFMPEG_MAX_AUTO_THREADS)
    return 0 if by_budget >= automatic else max(1, by_budget)


def _configure_decoder(stream: Any, threads: int) -> None:
    codec = stream.codec_context
    stream.thread_type = "AUTO"
    stream.thread_count = decoder_threads(threads, int(codec.width or 0), int(codec.height or 0))


def _stream_rate(stream: Any) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return None


def scaled_size(width: int, height: int, max_short_side: int | None) -> tuple[int, int]:
    """(width, height) of a frame whose shorter side is brought down to `max_short_side`, aspect
    kept; unchanged when it is already no longer (or no cap is given)."""
    short = min(width, height)
    if max_short_side is None or short <= max_short_side:
        return width, height
    if width <= height:
        return max_short_side, max(1, round(height * max_short_side / width))
    return max(1, round(width * max_short_side / height)), max_short_side


def _to_rgb(frame: Any, max_short_side: int | None = None) -> np.ndarray:
    # swscale converts every pixel format (gray, yuv444p, odd sizes, 10-bit ...) to packed RGB24,
    # and scales in the same pass: a 4K frame becomes a few hundred pixels before any RGB copy of it
    # exists, so memory follows the model's input, not the source's resolution.
    # reformat() then to_ndarray() gives the same pixels ~10x faster than to_ndarray(format=...).
    width, height = scaled_size(frame.width, frame.height, max_short_side)
    if (width, height) == (frame.width, frame.height):
        return frame.reformat(format="rgb24").to_ndarray()
    return frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()


_FRAME_COUNTS: dict[tuple[str, int, int], int] = {}
_FRAME_COUNT_CACHE_SIZE = 1_000_000


def _file_key(path: Path) -> tuple[str, int, int]:
    status = path.stat()
    return str(path.resolve()), status.st_size, status.st_mtime_ns


class VideoReader:
    """Random access to the frames of one video file. Use as a context manager or call `close()`.

    Args:
        path: Video file.
        threads: Decoder threads; 0: one per core, fewer for very large frames (`decoder_threads`).
        max_short_side: Frames whose shorter side is longer are scaled down to it as they are
            decoded (area interpolation, aspect kept); None decodes at the source's size.
        ffmpeg_options: FFmpeg format options of every opening of the file (see `open_video`).

    Raises:
        VideoNotFoundError: The file does not exist.
        VideoDecodeError: The file is empty, truncated, not a video, or has no video stream.
    """

    def __init__(self, path: str | os.PathLike[str], *, threads: int = 0,
                 ffmpeg_options: dict[str, str] | None = None, max_short_side: int | None = None) -> None:
        self.path = Path(path)
        self._threads = threads
        self._ffmpeg_options = ffmpeg_options
        self.max_short_side = max_short_side
        self._container = _open_container(self.path, ffmpeg_options)
        self._stream = _first_video_stream(self._container, str(self.path))
        self._configure_stream(self._stream)
        self._at_start = True  # nothing decoded since the file was opened
        self.damage = _Damage()
        self._packets_at_decode_start = 0
        self._rate = _stream_rate(self._stream)
        self._time_base = self._stream.time_base
        # AVI stores decode order only; with B-frames its "timestamps" jump back and forth. Such
        # files are read by counting frames from the start (no seeking).
        self._timestamps_ok = (
            self._rate is not None and self._time_base is not None and "avi" not in self._container.format.name
        )
        self._start_pts: int | None = self._stream.start_time
        self._num_frames = int(self._stream.frames or 0)
        codec = self._stream.codec_context
        self.height = int(codec.height)
        self.width = int(codec.width)
        if self.height <= 0 or self.width <= 0:
            self.close()
            raise VideoDecodeError(f"{self.path}: the video stream has no frame size; the file is corrupt")

    def _configure_stream(self, stream: Any) -> None:
        _configure_decoder(stream, self._threads)

    # -- properties ---------------------------------------------------------------------------

    @property
    def fps(self) -> float:
        """Average frame rate (frames per second); 0.0 if the container does not say."""
        return float(self._rate) if self._rate is not None else 0.0

    @property
    def codec(self) -> str:
        """Name of the video codec, e.g. "h264"."""
        return str(self._stream.codec_context.name)

    @property
    def num_frames(self) -> int:
        """Exact number of frames: the container's count, else counted by decoding the file once.

        Matroska/WebM files carry no count: the first call decodes the whole file (the count is
        then cached per process, keyed by path, size and modification time).
        """
        if self._num_frames <= 0:
            key = _file_key(self.path)
            if key not in _FRAME_COUNTS:
                if len(_FRAME_COUNTS) >= _FRAME_COUNT_CACHE_SIZE:
                    _FRAME_COUNTS.pop(next(iter(_FRAME_COUNTS)))
                _FRAME_COUNTS[key] = self._count_frames()
            self._num_frames = _FRAME_COUNTS[key]
            if self._num_frames == 0:
                raise VideoDecodeError(f"{self.path}: no frame could be decoded")
        return self._num_frames

    # -- life cycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Releases the file. The reader cannot be used afterwards."""
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown may have torn down av already
            pass

    def __repr__(self) -> str:
        count = self._num_frames if self._num_frames > 0 else "?"
        return f"VideoReader({str(self.path)!r}, frames={count}, fps={self.fps:g}, size={self.width}x{self.height})"

    # -- decoding -----------------------------------------------------------------------------

    def _rewind(self) -> None:
        if self._at_start:
            return
        # Reopening is the one way back to the first packet that works for every container
        # (seeking to 0 lands on the first keyframe, which need not be the first frame).
        self._container.close()
        self._container = _open_container(self.path, self._ffmpeg_options)
        self._stream = _first_video_stream(self._container, str(self.path))
        self._configure_stream(self._stream)
        self._at_start = True

    def _decode(self) -> Iterator[Any]:
        self._at_start = False
        self._packets_at_decode_start = self.damage.packets
        try:
            yield from _decode_packets(self._container, self._stream, self.damage)
        except av.FFmpegError as error:
            raise VideoDecodeError(
                f"{self.path}: decoding failed ({_ffmpeg_message(error)}); the file is truncated or corrupt"
            ) from error

    def _count_frames(self) -> int:
        self._rewind()
        count = sum(1 for _ in self._decode())
        self._rewind()
        return count

    def __iter__(self) -> Iterator[np.ndarray]:
        """Decodes every frame from the start. Yields (H, W, 3) uint8 RGB arrays.

        Warns (`CorruptVideoWarning`) at the end when a stretch of the file was damaged.
        """
        self._rewind()
        before = self.damage.snapshot()
        for frame in self._decode():
            yield self._rgb(frame)
        self._warn_damage(before)

    def _warn_damage(self, before: tuple[int, int, int]) -> None:
        message = _damage_message(str(self.path), before, self.damage.snapshot())
        if message is not None:
            warnings.warn(message, CorruptVideoWarning, stacklevel=3)

    def _rgb(self, frame: Any) -> np.ndarray:
        return _rgb_or_error(frame, str(self.path), self.max_short_side)

    def _uses_timestamps(self) -> bool:
        return self._timestamps_ok

    def _pts_of(self, index: int) -> int:
        seconds = Fraction(index) / self._rate
        return int((self._start_pts or 0) + math.floor(seconds / self._time_base))

    def _index_of(self, frame: Any, counter: int, *, from_start: bool) -> int:
        if frame.pts is None or not self._uses_timestamps():
            return counter
        damaged_before = self.damage.packets > self._packets_at_decode_start
        if from_start and counter == 0 and (self._start_pts is None or not damaged_before):
            # The first decoded frame is frame 0 by definition (unless damaged packets came before
            # it). The header's stream start can be missing, or earlier than the first frame (edit
            # lists, dropped leading B-frames).
            self._start_pts = frame.pts
        position = (frame.pts - self._start_pts) * self._time_base * self._rate
        return int(math.floor(position + Fraction(1, 2)))

    def read_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Decodes the frames at `indices` (0-based; any order; repeats allowed).

        Args:
            indices: Frame indices in [0, num_frames).

        Returns:
            (N, H, W, 3) uint8 RGB array, row k holding frame `indices[k]`.

        A damaged stretch inside the file (packets that fail to decode, frames flagged corrupt) does
        not fail the read: its frames are replaced by the nearest earlier decoded frame and a
        `CorruptVideoWarning` names the file and how many packets/frames were damaged or missing.

        Raises:
            ValueError: An index is negative or >= num_frames, or `indices` is empty.
            VideoDecodeError: The file ends early (truncated) or cannot be decoded.
        """
        wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
        if wanted.size == 0:
            raise ValueError("read_frames needs at least one frame index")
        if wanted.min() < 0 or wanted.max() >= self.num_frames:
            raise ValueError(
                f"frame indices must be in [0, {self.num_frames}) for {self.path}; "
                f"got min {int(wanted.min())}, max {int(wanted.max())}"
            )
        unique = np.unique(wanted)
        before = self.damage.snapshot()
        found = self._read_unique(unique.tolist())
        self._warn_damage(before)
        shapes = {frame.shape for frame in found.values()}
        if len(shapes) > 1:
            raise VideoDecodeError(f"{self.path}: the frame size changes within the video: {sorted(shapes)}")
        return np.stack([found[int(index)] for index in wanted])

    def _read_unique(self, wanted: list[int]) -> dict[int, np.ndarray]:
        found: dict[int, np.ndarray] = {}
        for group in _split_at_gaps(wanted, _RESEEK_GAP_FRAMES):
            if self._read_group(group, found, seek=group[0] >= _SEEK_MIN_INDEX):
                continue
            # The seek landed after the first wanted frame (bad index in the container):
            # decoding from the start is slow but always right.
            if not self._read_group(group, found, seek=False):
                raise VideoDecodeError(f"{self.path}: frame {group[0]} cannot be located (broken timestamps)")
        return found

    def _read_group(self, group: list[int], found: dict[int, np.ndarray], *, seek: bool) -> bool:
        """Decodes one run of wanted frames into `found`.

        Returns False when the frames cannot be placed by their timestamps (the seek overshot, or
        timestamps go backwards); the caller then decodes from the start.
        """
        seek = seek and self._uses_timestamps() and self._start_pts is not None
        if seek:
            try:
                self._container.seek(self._pts_of(group[0]), stream=self._stream, backward=True)
                self._at_start = False
            except av.FFmpegError:
                seek = False
        if not seek:
            self._rewind()
        position = 0
        held: tuple[int, Any] | None = None  # the last decoded frame at or before the wanted one
        for counter, frame in enumerate(self._decode()):
            if seek and frame.pts is None:
                return False  # after a seek only timestamps can tell where we are
            index = self._index_of(frame, counter, from_start=not seek)
            if held is not None and index <= held[0] and self._uses_timestamps():
                self._timestamps_ok = False  # count frames from now on
                return False
            if held is not None:
                self.damage.missing += max(0, index - held[0] - 1)
            while position < len(group) and group[position] < index:
                if held is None:
                    return False
                # Only reached for variable-frame-rate files: no frame has exactly this index, so
                # the frame on screen at that time stands in.
                found[group[position]] = self._rgb(held[1])
                position += 1
            if position < len(group) and group[position] == index:
                found[index] = self._rgb(frame)
                position += 1
            if position == len(group):
                return True
            held = (index, frame)
        if seek and held is None:
            return False  # the seek landed at or past the end: the index lied
        self._fill_after_end(group[position:], held, found)
        return True

    def _fill_after_end(
        self, missing: list[int], held: tuple[int, Any] | None, found: dict[int, np.ndarray]
    ) -> None:
        if held is None or missing[-1] - held[0] > _END_TOLERANCE_FRAMES:
            reached = "before it" if held is None else f"at frame {held[0]}"
            raise VideoDecodeError(
                f"{self.path}: frame {missing[-1]} was wanted and the container says {self.num_frames} "
                f"frames, but decoding ends {reached}; the file is probably truncated"
            )
        last_frame = self._rgb(held[1])
        for index in missing:
            found[index] = last_frame


def _split_at_gaps(sorted_indices: list[int], max_gap: int) -> list[list[int]]:
    groups: list[list[int]] = [[sorted_indices[0]]]
    for index in sorted_indices[1:]:
        if index - groups[-1][-1] > max_gap:
            groups.append([index])
        else:
            groups[-1].append(index)
    return groups


def open_video(path: str | os.PathLike[str], *, threads: int = 0, ffmpeg_options: dict[str, str] | None = None,
               max_short_side: int | None = None) -> VideoReader:
    """Opens a video file for random frame access (threaded decoding).

    Args:
        path: Video file (any container/codec FFmpeg reads).
        threads: Decoder threads; 0: one per core, fewer for very large frames (`decoder_threads`).
        max_short_side: Scale frames down as they are decoded so their shorter side is at most
            this (`Preprocessing.decode_short_side`); None keeps the source's size.
        ffmpeg_options: FFmpeg format options of the file's opening, e.g. {"protocol_whitelist":
            "file", "format_whitelist": "mov,mp4,..."} (an untrusted upload may open nothing else).

    Returns:
        A `VideoReader` with `num_frames`, `fps`, `height`, `width` and `read_frames(indices)`.

    Raises:
        VideoNotFoundError: The file does not exist.
        VideoDecodeError: Empty, truncated, not a video, or no video stream.
    """
    return VideoReader(path, threads=threads, ffmpeg_options=ffmpeg_options, max_short_side=max_short_side)


# -- streaming -------------------------------------------------------------------------------------

_CAMERA_PATTERN = re.compile(r"^\d+$")


def _is_camera(source: str | int) -> bool:
    if isinstance(source, int):
        return True
    # A file that happens to be called "0" is still a file.
    return bool(_CAMERA_PATTERN.match(source)) and not Path(source).exists()


def _open_source(source: str | int, options: dict[str, str] | None, timeout: float) -> tuple[Any, str]:
    if _is_camera(source):
        device = f"/dev/video{int(source)}"
        try:
            return av.open(device, format="v4l2", options=options or {}), device
        except (av.FFmpegError, OSError) as error:
            raise VideoDecodeError(
                f"cannot open camera {int(source)} ({device}) with v4l2: {_ffmpeg_message(error)}; "
                "check that the device exists, is not in use and that you may read it"
            ) from error
    text = str(source)
    if "://" in text:
        stream_options = dict(options or {})
        if text.startswith("rtsp://"):
            # UDP loses packets on most networks; TCP gives whole frames.
            stream_options.setdefault("rtsp_transport", "tcp")
        try:
            return av.open(text, options=stream_options, timeout=timeout), text
        except (av.FFmpegError, OSError) as error:
            raise VideoDecodeError(f"cannot open stream {text}: {_ffmpeg_message(error)}") from error
    path = Path(text)
    return _open_container(path, pipe_ok=True), str(path)


def iter_frames(
    source: str | int | os.PathLike[str],
    *,
    target_fps: float | None = None,
    options: dict[str, str] | None = None,
    timeout: float = 10.0,
    threads: int = 0,
    max_short_side: int | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Streams frames from a file, a camera or a network URL, decoding one frame at a time.

    Args:
        source: A file path; a camera index (int, or a string of digits: `/dev/videoN` through
            v4l2); or an `rtsp://`, `http(s)://` ... URL.
        target_fps: If set, frames are dropped or repeated to this rate: output frame k (time
            k / target_fps) is the first source frame at or after that time.
        options: FFmpeg options for the device or protocol (e.g. {"video_size": "640x480"}).
        timeout: Seconds to wait for a network stream.
        threads: Decoder threads; 0: one per core, fewer for very large frames (`decoder_threads`).
        max_short_side: Scale frames down as they are decoded so their shorter side is at most
            this; None keeps the source's size.

    Yields:
        (timestamp, frame): seconds since the first frame, and an (H, W, 3) uint8 RGB array.

    Raises:
        VideoNotFoundError, VideoDecodeError: The source cannot be opened or decoded.
        LimitError: `target_fps` is not a finite rate in (0, MAX_RATE] (`movinet.limits.check_rate`).
    """
    if target_fps is not None:
        target_fps = check_rate(target_fps, "target_fps")
    source = os.fspath(source) if isinstance(source, os.PathLike) else source
    started = False
    try:
        container, name = _open_source(source, options, timeout)
        try:
            stream = _first_video_stream(container, name)
            _configure_decoder(stream, threads)
            timed = _timestamped(container, stream, name)
            # Resample on timestamps first: only the frames that are kept are converted to RGB (at
            # 25 -> 5 fps that is one frame in five), a repeated frame once.
            last_frame, last_rgb = None, None
            for time, frame in _resample(timed, target_fps) if target_fps else timed:
                if frame is not last_frame:
                    last_frame, last_rgb = frame, _rgb_or_error(frame, name, max_short_side)
                started = True
                yield time, last_rgb
        finally:
            container.close()
    except VideoDecodeError as error:
        hint = None if started else _http_stream_hint(source, timeout)
        if hint is None:
            raise
        raise VideoDecodeError(f"{error}. {hint}") from error


_HTTP_PROBE_BYTES = 1 << 16


def _top_level_boxes(head: bytes) -> list[bytes]:
    """Types of the MP4/MOV top-level boxes that start within `head` (the first bytes of a file)."""
    kinds, position = [], 0
    while position + 8 <= len(head):
        size, kind = int.from_bytes(head[position:position + 4], "big"), head[position + 4:position + 8]
        if size == 1 and position + 16 <= len(head):
            size = int.from_bytes(head[position + 8:position + 16], "big")
        kinds.append(kind)
        if size < 8:
            break
        position += size
    return kinds


def _http_stream_hint(source: str | int, timeout: float) -> str | None:
    """Why an http(s) video could not be read, when it is the known case: an MP4 whose index
    (moov) follows the media data, from a server that ignores Range requests. None otherwise."""
    text = str(source)
    if not text.startswith(("http://", "https://")):
        return None
    import urllib.request

    request = urllib.request.Request(text, headers={"Range": f"bytes=0-{_HTTP_PROBE_BYTES - 1}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's own URL
            ranged = response.status == 206
            head = response.read(_HTTP_PROBE_BYTES)
    except (OSError, ValueError):
        return None
    kinds = _top_level_boxes(head)
    if ranged or b"ftyp" not in kinds or b"moov" in kinds or b"mdat" not in kinds:
        return None
    return ("It is an MP4 whose index (the moov box) comes after the video data, and the server does not "
            "support HTTP Range requests, so it cannot be read from the start as a stream. What works: the same "
            "file made faststart (`ffmpeg -i IN.mp4 -c copy -movflags +faststart OUT.mp4`), a server that "
            "supports Range requests, or an RTSP stream")


def _rgb_or_error(frame: Any, name: str, max_short_side: int | None) -> np.ndarray:
    try:
        return _to_rgb(frame, max_short_side)
    except av.FFmpegError as error:
        raise VideoDecodeError(f"{name}: decoding failed ({_ffmpeg_message(error)})") from error


# Frames in a row whose timestamp does not advance before a stream is timed by frame count instead.
_STALLED_FRAMES = 3


def _timestamped(container: Any, stream: Any, name: str) -> Iterator[tuple[float, Any]]:
    """(seconds since the first frame, decoded `av.VideoFrame`), still in the decoder's format.

    A stream whose timestamps stop advancing (`_STALLED_FRAMES` frames in a row at the same time
    or earlier: broken muxers, some cameras) would collapse onto one instant and the resampling
    would keep one frame of it; from then on frames are timed by their index / the stream's
    rate, with a warning.
    """
    rate = _stream_rate(stream)
    step = 1.0 / float(rate) if rate else 1.0 / 30.0
    first: float | None = None
    previous = -math.inf
    stalled, by_count = 0, False
    damage = _Damage()
    try:
        for counter, frame in enumerate(_decode_packets(container, stream, damage)):
            time = frame.time if frame.time is not None and not by_count else None
            if time is None:
                time = (previous + step) if previous > -math.inf else 0.0
            else:
                if first is None:
                    first = time
                time -= first
                stalled = stalled + 1 if time <= previous else 0
                if stalled >= _STALLED_FRAMES:
                    by_count = True
                    warnings.warn(f"{name}: the frame timestamps stop advancing at frame {counter}; timing the "
                                  f"frames by their index at {1.0 / step:g} fps instead", CorruptVideoWarning,
                                  stacklevel=2)
                    time = previous + step
            # Cameras and live streams can repeat or step back a timestamp; keep time monotonic.
            time = max(time, previous)
            previous = time
            yield time, frame
    except av.FFmpegError as error:
        raise VideoDecodeError(f"{name}: decoding failed ({_ffmpeg_message(error)})") from error
    message = _damage_message(name, (0, 0, 0), damage.snapshot())
    if message is not None:
        warnings.warn(message, CorruptVideoWarning, stacklevel=2)


def _resample(frames: Iterable[tuple[float, Any]], target_fps: float) -> Iterator[tuple[float, Any]]:
    next_slot = 0
    for time, frame in frames:
        # 1e-6 s absorbs float error in timestamps so a 30 -> 15 fps stream keeps every 2nd frame.
        while next_slot / target_fps <= time + 1e-6:
            yield next_slot / target_fps, frame
            next_slot += 1


# -- frame folders ---------------------------------------------------------------------------------


def read_frame_folder(
    frame_dir: str | os.PathLike[str],
    indices: Sequence[int] | np.ndarray,
    suffix: str = "img_{:05}.jpg",
    *,
    max_short_side: int | None = None,
) -> np.ndarray:
    """Reads extracted frames (PaddleVideo layout: frame index i is file `suffix.format(i + 1)`).

    Args:
        frame_dir: Folder of frame images.
        indices: 0-based frame indices, any order, repeats allowed.
        suffix: File name pattern with one format field for the 1-based frame number.
        max_short_side: Scale each image down as it is read so its shorter side is at most this
            (JPEGs are decoded at a reduced scale); None keeps the stored size.

    Returns:
        (N, H, W, 3) uint8 RGB array.

    Raises:
        VideoNotFoundError: The folder or a frame file is missing.
        VideoDecodeError: A frame cannot be read, or frames differ in size.
    """
    folder = Path(frame_dir)
    if not folder.is_dir():
        raise VideoNotFoundError(f"frame folder not found: {folder}")
    wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
    if wanted.size == 0:
        raise ValueError("read_frame_folder needs at least one frame index")
    loaded = {int(index): _read_image(folder / suffix.format(int(index) + 1), max_short_side)
              for index in np.unique(wanted)}
    shapes = {image.shape for image in loaded.values()}
    if len(shapes) > 1:
        raise VideoDecodeError(f"frames in {folder} differ in size: {sorted(shapes)}")
    return np.stack([loaded[int(index)] for index in wanted])


def _read_image(path: Path, max_short_side: int | None = None) -> np.ndarray:
    if not path.is_file():
        raise VideoNotFoundError(f"frame file not found: {path}")
    try:
        with Image.open(path) as image:
            size = scaled_size(image.width, image.height, max_short_side)
            if size == image.size:
                return np.asarray(image.convert("RGB"))
            image.draft("RGB", size)  # JPEG: decode at 1/2, 1/4 or 1/8 scale, still at least `size`
            return np.asarray(image.convert("RGB").resize(size, Image.BILINEAR))
    except OSError as error:
        raise VideoDecodeError(f"cannot read frame {path}: {error}") from error


# -- writing ---------------------------------------------------------------------------------------


def default_video_codec() -> str:
    """"libx264" (H.264) when this PyAV build has it, else "mpeg4" (always built in)."""
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    *,
    codec: str | None = None,
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    gop_size: int | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encodes RGB frames into a video file (the container follows the file extension).

    Args:
        path: Output file, e.g. `clip.mp4` (missing folders are created).
        frames: (T, H, W, 3) uint8 RGB array, or an iterable of (H, W, 3) arrays.
        fps: Frame rate; a float is turned into a fraction (29.97 -> 2997/100).
        codec: Encoder name; default `default_video_codec()`.
        pix_fmt: Encoded pixel format ("yuv420p", "yuv444p", "gray", ...).
        options: Encoder options, e.g. {"crf": "18", "preset": "veryfast"}.
        gop_size: Frames between keyframes (None keeps the encoder default).
        container_options: Muxer options, e.g. {"movflags": "faststart"} (index at the front).

    Returns:
        The path written.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    codec = codec or default_video_codec()
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(out), "w", container_options=container_options or {}) as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=rate)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = pix_fmt
                if codec == "libx264" and options is None:
                    options = {"preset": "veryfast", "crf": "18"}
                    if frame.shape[0] * frame.shape[1] <= 256 * 256:
                        # Starting x264's thread pool costs more than encoding a small clip.
                        options["threads"] = "1"
                if options:
                    stream.options = dict(options)
                elif codec != "libx264":
                    # FFmpeg's default 200 kb/s smears small test clips; ~4 bits per pixel keeps detail.
                    stream.bit_rate = int(4 * frame.shape[0] * frame.shape[1] * float(rate))
                if gop_size is not None:
                    stream.codec_context.gop_size = gop_size
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(video_frame))
        if stream is None:
            raise ValueError(f"write_video got no frames for {out}")
        container.mux(stream.encode(None))
    return out

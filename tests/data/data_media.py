"""Media written at test time for the data tests: numbered videos (frame i has grey level 6 * i), frame folders."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

from movinet.data.video import write_video

LEVEL_STEP = 6  # grey level per frame number; 40 frames stay below 255 and survive lossy coding


def numbered_frames(num_frames: int, height: int = 48, width: int = 64) -> np.ndarray:
    """(T, H, W, 3) uint8; frame i is grey 6*i with a white bar on the left (so it is not flat)."""
    levels = np.arange(num_frames, dtype=np.uint8) * LEVEL_STEP
    frames = np.broadcast_to(levels[:, None, None, None], (num_frames, height, width, 3)).copy()
    frames[:, :, :4] = 255
    return frames


def frame_ids(frames: np.ndarray) -> list[int]:
    """Frame numbers of decoded numbered frames (read from the grey area right of the bar)."""
    return [int(round(float(frame[:, 8:].mean()) / LEVEL_STEP)) for frame in frames]


def write_numbered_video(
    path: Path,
    num_frames: int = 40,
    *,
    fps: float = 25.0,
    height: int = 48,
    width: int = 64,
    codec: str | None = None,
    pix_fmt: str = "yuv420p",
    gop_size: int | None = None,
) -> Path:
    return write_video(
        path, numbered_frames(num_frames, height, width), fps, codec=codec, pix_fmt=pix_fmt, gop_size=gop_size
    )


def write_audio_only(path: Path) -> Path:
    """A WAV file: a valid media file with no video stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_frame_folder(folder: Path, num_frames: int, *, size: tuple[int, int] = (48, 64), mode: str = "RGB") -> Path:
    """JPEG frames img_00001.jpg ... (1-based, PaddleVideo layout) of numbered frames."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(numbered_frames(num_frames, *size), start=1):
        Image.fromarray(frame).convert(mode).save(folder / f"img_{index:05d}.jpg", quality=95)
    return folder

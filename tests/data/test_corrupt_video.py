"""A corrupt stretch inside a decodable video: the rest decodes, a warning says what was damaged."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from movinet.data.video import CorruptVideoWarning, iter_frames, open_video, write_video

NUM_FRAMES, GOP = 60, 12


def textured_frames() -> np.ndarray:
    """(T, 64, 64, 3): noise (so every frame has a real packet) and a moving white bar."""
    rng = np.random.default_rng(0)
    frames = (rng.random((NUM_FRAMES, 64, 64, 3)) * 60).astype(np.uint8)
    for index in range(NUM_FRAMES):
        frames[index, :, (2 * index) % 56:(2 * index) % 56 + 8] = 255
    return frames


def mdat_range(data: bytes) -> tuple[int, int]:
    """Byte range of the media data box of an MP4 (top-level boxes only)."""
    position = 0
    while position < len(data):
        size, kind = struct.unpack(">I4s", data[position:position + 8])
        if kind == b"mdat":
            return position + 8, position + size
        position += size
    raise AssertionError("no mdat box")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("corrupt")
    clean = write_video(root / "clean.mp4", textured_frames(), 25, gop_size=GOP)
    data = bytearray(clean.read_bytes())
    start, end = mdat_range(bytes(data))
    offset, length = start + int((end - start) * 0.45), int((end - start) * 0.1)
    data[offset:offset + length] = np.random.default_rng(1).integers(0, 256, length, dtype=np.uint8).tobytes()
    damaged = root / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    return clean, damaged


def test_a_clean_video_reads_without_a_warning(videos):
    clean, _ = videos
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with open_video(clean) as reader:
            assert reader.read_frames(range(NUM_FRAMES)).shape == (NUM_FRAMES, 64, 64, 3)


def test_a_corrupt_stretch_warns_with_counts_and_keeps_the_rest(videos):
    clean, damaged = videos
    with open_video(clean) as reader:
        expected = reader.read_frames(range(NUM_FRAMES))
    with pytest.warns(CorruptVideoWarning) as record, open_video(damaged) as reader:
        frames = reader.read_frames(range(NUM_FRAMES))
    message = str(record[0].message)
    assert str(damaged) in message and "packets could not be decoded" in message and "frames missing" in message
    assert frames.shape == expected.shape
    first_damaged = next(i for i in range(NUM_FRAMES) if not np.array_equal(frames[i], expected[i]))
    last_damaged = max(i for i in range(NUM_FRAMES) if not np.array_equal(frames[i], expected[i]))
    assert first_damaged >= GOP and last_damaged < NUM_FRAMES - GOP  # only the stretch itself differs
    assert last_damaged - first_damaged < 2 * GOP


def test_streaming_a_corrupt_stretch_goes_on_and_warns(videos):
    _, damaged = videos
    with pytest.warns(CorruptVideoWarning, match="damaged.mp4"):
        streamed = list(iter_frames(Path(damaged)))
    assert NUM_FRAMES - 2 * GOP < len(streamed) < NUM_FRAMES

"""PyAV decoding: random access, seeking, pixel formats, bad files, streaming, frame folders."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from data_media import frame_ids, numbered_frames, write_audio_only, write_frame_folder, write_numbered_video

from movinet.data.video import (
    VideoDecodeError,
    VideoNotFoundError,
    iter_frames,
    open_video,
    read_frame_folder,
    write_video,
)
from movinet.limits import LimitError


def test_properties(numbered_video: Path) -> None:
    with open_video(numbered_video) as video:
        assert (video.num_frames, video.fps, video.height, video.width) == (40, 25.0, 48, 64)


def test_read_frames_returns_requested_order_with_duplicates(numbered_video: Path) -> None:
    with open_video(numbered_video) as video:
        frames = video.read_frames([5, 0, 5, 39, 12])
    assert frames.shape == (5, 48, 64, 3) and frames.dtype == np.uint8
    assert frame_ids(frames) == [5, 0, 5, 39, 12]


def test_seeking_read_matches_sequential_decode(numbered_video: Path) -> None:
    with open_video(numbered_video) as video:
        sequential = np.stack(list(video))
        wanted = [37, 30, 33, 17, 39, 20]
        assert np.array_equal(video.read_frames(wanted), sequential[wanted])


@pytest.mark.parametrize("suffix", ["avi", "ts", "mkv", "mov"])
def test_random_access_in_other_containers(tmp_path: Path, suffix: str) -> None:
    # AVI keeps no presentation timestamps (H.264 B-frames come out of order); MPEG-TS starts at a
    # non-zero time; Matroska does not store a frame count.
    path = write_numbered_video(tmp_path / f"clip.{suffix}", 40, gop_size=8)
    with open_video(path) as video:
        sequential = np.stack(list(video))
        assert frame_ids(sequential) == list(range(40))
        wanted = [37, 30, 20, 39, 3, 3]
        assert np.array_equal(video.read_frames(wanted), sequential[wanted])
        assert video.num_frames == 40


def test_read_near_the_end_does_not_decode_from_the_start(numbered_video: Path, monkeypatch) -> None:
    with open_video(numbered_video) as video:
        decode = video._decode
        decoded = []

        def counting_decode():
            for frame in decode():
                decoded.append(frame)
                yield frame

        monkeypatch.setattr(video, "_decode", counting_decode)
        frames = video.read_frames([34, 35])
    assert frame_ids(frames) == [34, 35]
    # Keyframes every 8 frames: decoding starts at frame 32 and stops after frame 35.
    assert len(decoded) <= 8


def test_unknown_frame_count_is_counted_and_grayscale_becomes_rgb(tmp_path: Path) -> None:
    # FFV1 in Matroska: true grey pixels, odd size, and no frame count in the container.
    path = write_numbered_video(tmp_path / "gray.mkv", 30, height=47, width=63, codec="ffv1", pix_fmt="gray")
    with open_video(path) as video:
        assert video.num_frames == 30
        frames = video.read_frames([29, 3])
    assert frames.shape == (2, 47, 63, 3)
    assert np.array_equal(frames[..., 0], frames[..., 1]) and np.array_equal(frames[..., 1], frames[..., 2])
    assert frame_ids(frames) == [29, 3]


def test_odd_sized_yuv444_video(tmp_path: Path) -> None:
    path = write_numbered_video(tmp_path / "odd.mp4", 12, height=47, width=63, pix_fmt="yuv444p")
    with open_video(path) as video:
        frames = video.read_frames(range(12))
    assert frames.shape == (12, 47, 63, 3)
    assert frame_ids(frames) == list(range(12))


def test_index_out_of_range_is_a_value_error(numbered_video: Path) -> None:
    with open_video(numbered_video) as video, pytest.raises(ValueError, match=r"\[0, 40\)"):
        video.read_frames([40])


def _truncate(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        open_video(tmp_path / "nope.mp4")
    with pytest.raises(VideoNotFoundError):
        open_video(tmp_path / "nope.mp4")


def _empty_file(folder: Path) -> Path:
    path = folder / "empty.mp4"
    path.write_bytes(b"")
    return path


def _text_file(folder: Path) -> Path:
    path = folder / "text.mp4"
    path.write_text("not a video\n" * 50)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_empty_file, "empty"),
        (_text_file, "cannot open"),
        (lambda folder: write_audio_only(folder / "sound.wav"), "no video stream"),
        (lambda folder: _truncate(write_numbered_video(folder / "cut.mp4", 40), 0.5), "cannot open"),
    ],
    ids=["zero-byte", "not-a-video", "audio-only", "truncated-no-index"],
)
def test_unreadable_files_raise_video_decode_error(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(VideoDecodeError, match=message) as info:
        open_video(path)
    assert str(path) in str(info.value)


def test_truncated_file_with_index_fails_when_reading(tmp_path: Path) -> None:
    # With the index at the front ("faststart"), the file opens and claims 40 frames.
    frames = numbered_frames(40)
    noisy = np.random.default_rng(0).integers(0, 255, frames.shape, dtype=np.uint8)  # large packets
    path = write_video(tmp_path / "cut.mp4", noisy, 25, container_options={"movflags": "faststart"})
    _truncate(path, 0.4)
    with open_video(path) as video:
        assert video.num_frames == 40
        with pytest.raises(VideoDecodeError, match="truncated"):
            video.read_frames([39])


def test_iter_frames_timestamps_and_resampling(numbered_video: Path) -> None:
    native = list(iter_frames(numbered_video))
    assert len(native) == 40
    assert native[1][0] == pytest.approx(0.04)
    assert native[0][1].shape == (48, 64, 3)

    half = list(iter_frames(numbered_video, target_fps=12.5))
    assert [t for t, _ in half][:3] == pytest.approx([0.0, 0.08, 0.16])
    assert frame_ids(np.stack([f for _, f in half])) == list(range(0, 40, 2))

    double = list(iter_frames(str(numbered_video), target_fps=50))
    assert len(double) == 79  # slots 0 .. 78 (time 1.56 s = last frame)
    assert frame_ids(np.stack([f for _, f in double[:4]])) == [0, 1, 1, 2]


@pytest.mark.parametrize("rate", [math.inf, math.nan, 0.0, -5.0])
def test_iter_frames_refuses_a_rate_that_is_not_a_frame_rate(numbered_video: Path, rate: float) -> None:
    # An infinite rate once repeated the first frame forever.
    with pytest.raises(LimitError, match="target_fps must be positive and at most"):
        next(iter_frames(numbered_video, target_fps=rate))


def test_iter_frames_camera_that_cannot_be_opened() -> None:
    with pytest.raises(VideoDecodeError, match="/dev/video97"):
        next(iter_frames("97"))


def test_iter_frames_url_that_cannot_be_opened() -> None:
    with pytest.raises(VideoDecodeError, match="cannot open stream"):
        next(iter_frames("http://127.0.0.1:9/none.mp4", timeout=2))


def test_read_frame_folder_is_one_based_and_rgb(tmp_path: Path) -> None:
    folder = write_frame_folder(tmp_path / "gray_frames", 10, size=(47, 63), mode="L")
    frames = read_frame_folder(folder, [0, 9, 9, 4])
    assert frames.shape == (4, 47, 63, 3) and frames.dtype == np.uint8
    assert frame_ids(frames) == [0, 9, 9, 4]  # index 0 is img_00001.jpg
    with pytest.raises(VideoNotFoundError, match="img_00011.jpg"):
        read_frame_folder(folder, [10])
    with pytest.raises(VideoNotFoundError, match="frame folder"):
        read_frame_folder(tmp_path / "missing", [0])

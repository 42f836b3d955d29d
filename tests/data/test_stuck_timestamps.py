"""A stream whose timestamps do not advance is timed by frame index / rate, with a warning, instead
of collapsing onto one instant (which kept 1 frame of 120)."""

from __future__ import annotations

import warnings

import av
import numpy as np
import pytest

from movinet.data.video import CorruptVideoWarning, iter_frames


def stuck_video(path, frames: int = 60, fps: int = 30):
    """Every packet stamped 0, as some broken muxers and cameras write them."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        stream.codec_context.max_b_frames = 0
        for index in range(frames + 1):
            frame = None
            if index < frames:
                frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), index * 4, np.uint8), format="rgb24")
                frame.pts = index
            for packet in stream.encode(frame):
                packet.pts = packet.dts = 0
                container.mux(packet)
    return path


def test_frames_without_advancing_timestamps_are_timed_by_index(tmp_path):
    path = stuck_video(tmp_path / "stuck.mkv")
    with pytest.warns(CorruptVideoWarning, match=r"stuck\.mkv: the frame timestamps stop advancing .* at 30 fps"):
        kept = list(iter_frames(path, target_fps=5))
    assert 9 <= len(kept) <= 11  # 2 s at 5 fps
    times = [time for time, _ in kept]
    assert times == sorted(times) and times[-1] >= 1.6
    brightness = [int(frame.mean()) for _, frame in kept]
    assert len(set(brightness)) == len(brightness)  # distinct frames, not one repeated


def test_a_video_whose_timestamps_advance_is_timed_by_them(tmp_path):
    from movinet.data.video import write_video

    path = write_video(tmp_path / "fine.mp4", np.zeros((20, 32, 32, 3), np.uint8), 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptVideoWarning)
        assert len(list(iter_frames(path, target_fps=5))) == 10

"""A decode error names the file, whichever step of decoding fails, so a list of thousands of videos
says which one is broken."""

from __future__ import annotations

import av
import numpy as np
import pytest

import movinet.data.video as video_module
from movinet.data.preprocessing import Preprocessing
from movinet.data.video import VideoDecodeError, open_video, write_video
from movinet.inference.predict import load_clip


@pytest.fixture
def failing_conversion(monkeypatch):
    def fail(*args, **kwargs):
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    monkeypatch.setattr(video_module, "_to_rgb", fail)


def test_a_frame_that_cannot_be_converted_names_the_file(tmp_path, failing_conversion):
    path = write_video(tmp_path / "clip.mp4", np.zeros((6, 32, 32, 3), np.uint8), 10)
    with pytest.raises(VideoDecodeError, match=rf"{path}: decoding failed \(.*Invalid data"):
        with open_video(path) as reader:
            reader.read_frames([0, 3])
    with pytest.raises(VideoDecodeError, match=str(path)):
        load_clip(path, Preprocessing(frames=2, height=32, width=32, resize=32))

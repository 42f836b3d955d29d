"""What a run meets reaches train.log once: a video with a corrupt stretch, an unreadable one (not
also as a Python warning), and a resume on data that changed since its checkpoint."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from engine_helpers import RandomVideoDataset, tiny_config
from movinet.data.datasets import SkippedSampleWarning
from movinet.data.synthetic import make_motion_video
from movinet.data.video import CorruptVideoWarning, write_video
from movinet.engine.train import fit


def damaged_video(path: Path) -> Path:
    """60 frames whose media data has 10 % random bytes in the middle (decodes, with a corrupt stretch)."""
    rng = np.random.default_rng(0)
    frames = (rng.random((60, 64, 64, 3)) * 60).astype(np.uint8)
    for index in range(60):
        frames[index, :, (2 * index) % 56:(2 * index) % 56 + 8] = 255
    data = bytearray(write_video(path, frames, 25, gop_size=12).read_bytes())
    position = 0
    while True:
        size, kind = struct.unpack(">I4s", data[position:position + 8])
        if kind == b"mdat":
            start, end = position + 8, position + size
            break
        position += size
    offset, length = start + int((end - start) * 0.45), int((end - start) * 0.1)
    data[offset:offset + length] = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    damaged_video(root / "train" / "a" / "damaged.mp4")
    make_motion_video(root / "train" / "a" / "good.mp4", "grow", num_frames=60, size=64, seed=1)
    for index in range(2):
        make_motion_video(root / "train" / "b" / f"good_{index}.mp4", "shrink", num_frames=60, size=64, seed=index)
    (root / "train" / "b" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    return root


def test_damaged_and_unreadable_videos_are_logged_once_and_not_warned_again(split, tmp_path):
    data = {"format": "folders", "root": str(split), "train_list": "train", "batch_size": 1, "num_workers": 0,
            "sampling": {"mode": "segments", "num_frames": 8},
            "transform": {"preset": "tf", "short_size": 32, "crop_size": 32, "normalize": "unit"}}
    cfg = tiny_config(tmp_path / "run", model={"name": "movinet_t0_base", "num_classes": 2}, data=data,
                      train={"epochs": 2})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(cfg)
    repeated = [w for w in caught if issubclass(w.category, (SkippedSampleWarning, CorruptVideoWarning))]
    assert repeated == []  # the run log says it; a second message on the console would say it twice
    log = (tmp_path / "run" / "train.log").read_text().splitlines()
    damaged = [line for line in log if "damaged.mp4 has a corrupt stretch" in line]
    broken = [line for line in log if "broken.mp4" in line]
    assert len(damaged) == 1 and "WARNING" in damaged[0], "\n".join(log)
    assert len(broken) == 1 and "unreadable" in broken[0], "\n".join(log)


def test_a_resume_on_changed_data_says_so(tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(run), datasets={"train": RandomVideoDataset(4, 3)})
    fit(tiny_config(run, train={"epochs": 2}), resume=str(run / "last.pt"), datasets={"train": RandomVideoDataset(6, 3)})
    log = (run / "train.log").read_text()
    assert "the training data changed since the checkpoint: it was written with 4 training samples, this run has 6" in log

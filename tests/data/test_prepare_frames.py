"""Frame extraction and list writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from data_media import frame_ids, write_numbered_video

from movinet.data.config import DataConfig, SamplingConfig, TransformConfig
from movinet.data.datasets import build_dataset, read_list_file
from movinet.data.prepare import extract_frames, write_video_list
from movinet.data.video import read_frame_folder


def test_extract_frames_skips_bad_video_and_writes_paddle_list(tmp_path: Path) -> None:
    good = write_numbered_video(tmp_path / "in" / "good.mp4", 12)
    other = write_numbered_video(tmp_path / "in" / "other.mp4", 7)
    bad = tmp_path / "in" / "bad.mp4"
    bad.write_bytes(b"garbage" * 10)
    out = tmp_path / "frames"
    summary = extract_frames(
        [(good, 1), (bad, 0), (other, 2)], out, list_out=tmp_path / "train.txt", progress=False
    )
    assert (summary.num_videos, summary.num_frames) == (2, 19)
    assert [path for path, _ in summary.failed] == [str(bad)]
    assert (tmp_path / "train.txt").read_text() == "good 12 1\nother 7 2\n"
    assert sorted(p.name for p in (out / "good").iterdir())[:2] == ["img_00001.jpg", "img_00002.jpg"]
    assert frame_ids(read_frame_folder(out / "good", [0, 11])) == [0, 11]
    assert not (out / "bad").exists()

    cfg = DataConfig(
        format="frames", root=str(out), train_list=str(tmp_path / "train.txt"),
        sampling=SamplingConfig(num_frames=4), transform=TransformConfig(short_size=32, crop_size=28),
    )  # fmt: skip
    dataset = build_dataset(cfg, "train", num_classes=3)
    assert dataset[0]["video"].shape == (3, 4, 28, 28)


def test_extract_frames_from_class_folders_with_resize_and_workers(tmp_path: Path) -> None:
    write_numbered_video(tmp_path / "videos" / "walk" / "clip.mp4", 5)
    write_numbered_video(tmp_path / "videos" / "run" / "clip.mp4", 6)
    summary = extract_frames(
        tmp_path / "videos", tmp_path / "frames", list_out=tmp_path / "list.txt",
        short_size=24, num_workers=2, progress=False,
    )  # fmt: skip
    assert summary.failed == []
    # Same file name in two classes: the second gets its own folder.
    assert (tmp_path / "list.txt").read_text() == "clip 6 0\nclip__2 5 1\n"
    assert summary.labels_path.read_text() == "run\nwalk\n"
    assert read_frame_folder(tmp_path / "frames" / "clip__2", [0]).shape == (1, 24, 32, 3)


def test_write_video_list(tmp_path: Path) -> None:
    write_numbered_video(tmp_path / "data" / "b" / "x.mp4", 3)
    write_numbered_video(tmp_path / "data" / "a" / "y.mp4", 3)
    list_path, labels_path = write_video_list(tmp_path / "data", tmp_path / "lists" / "all.txt")
    assert list_path.read_text() == "a/y.mp4 0\nb/x.mp4 1\n"
    assert labels_path == tmp_path / "lists" / "labels.txt" and labels_path.read_text() == "a\nb\n"
    samples = read_list_file(list_path, "videos", tmp_path / "data", num_classes=2)
    assert np.array_equal([s.label for s in samples], [0, 1])

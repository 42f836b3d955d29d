"""List validation, class folders, the clip dataset (skipping, determinism) and build_dataset."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from data_media import frame_ids, write_frame_folder, write_numbered_video
from torch.utils.data import DataLoader

from movinet.data.config import DataConfig, SamplingConfig, TransformConfig
from movinet.data.datasets import (
    Sample,
    SkippedSampleWarning,
    UnreadableSplitError,
    VideoClipDataset,
    build_clips,
    build_dataset,
    read_list_file,
    scan_class_folders,
)
from movinet.data.preprocessing import Preprocessing
from movinet.data.video import open_video

SMALL = TransformConfig(short_size=32, crop_size=28)


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def _dataset(samples: list[Sample], *, train: bool = True, frames: int = 8, **kwargs) -> VideoClipDataset:
    data = DataConfig(sampling=kwargs.pop("sampling", SamplingConfig(num_frames=frames)),
                      transform=kwargs.pop("transform", SMALL))
    return VideoClipDataset(samples, clips=build_clips(data, "train" if train else "test"), **kwargs)


# -- list files ------------------------------------------------------------------------------------


def test_read_video_list(tmp_path: Path) -> None:
    _touch(tmp_path / "a" / "one.mp4")
    _touch(tmp_path / "b" / "two words.mp4")
    listing = tmp_path / "train.txt"
    listing.write_text("# comment\na/one.mp4 0\n\nb/two words.mp4 2\n")
    samples = read_list_file(listing, "videos", tmp_path, num_classes=3)
    assert samples == [Sample(tmp_path / "a" / "one.mp4", 0), Sample(tmp_path / "b" / "two words.mp4", 2)]


def test_read_list_reports_every_bad_line_with_file_and_line_number(tmp_path: Path) -> None:
    _touch(tmp_path / "ok.mp4")
    listing = tmp_path / "val.txt"
    listing.write_text(
        "ok.mp4 1\n"  # 1: fine
        "missing.mp4 0\n"  # 2: missing file
        "ok.mp4\n"  # 3: one column
        "ok.mp4 1 2 3\n"  # 4: four columns
        "ok.mp4 cat\n"  # 5: label not an integer
        "ok.mp4 5\n"  # 6: label out of range
        "ok.mp4 -1\n"  # 7: negative label
    )
    with pytest.raises(ValueError) as info:
        read_list_file(listing, "videos", tmp_path, num_classes=5)
    message = str(info.value)
    assert f"{listing}:1:" not in message
    assert f"{listing}:2: video file not found" in message
    assert f"{listing}:3: expected 2 columns (path label), got 1" in message
    assert f"{listing}:4: expected 2 columns" in message
    assert f"{listing}:5: label 'cat' is not an integer" in message
    assert f"{listing}:6: label 5 is out of range [0, 4]" in message
    assert f"{listing}:7: label -1 is out of range" in message


def test_read_list_caps_the_listing(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"gone{i}.mp4 0\n" for i in range(25)))
    with pytest.raises(ValueError, match=r"(?s)25 problems.*gone19\.mp4.*and 5 more") as info:
        read_list_file(listing, "videos", tmp_path, num_classes=2)
    assert "gone20.mp4" not in str(info.value)


def test_read_frame_list(tmp_path: Path) -> None:
    write_frame_folder(tmp_path / "v1", 3)
    listing = tmp_path / "frames.txt"
    listing.write_text("v1 3 1\nv1 many 1\nv2 3 0\nv1 0 0\n")
    with pytest.raises(ValueError) as info:
        read_list_file(listing, "frames", tmp_path, num_classes=2)
    message = str(info.value)
    assert f"{listing}:2: num_frames 'many' is not an integer" in message
    assert f"{listing}:3: frame folder not found" in message
    assert f"{listing}:4: num_frames 0 must be >= 1" in message
    listing.write_text("v1 3 1\n")
    assert read_list_file(listing, "frames", tmp_path, num_classes=2) == [Sample(tmp_path / "v1", 1, 3)]


def test_read_list_missing_or_empty(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="list file not found"):
        read_list_file(tmp_path / "nope.txt", "videos", tmp_path, 2)
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="no samples"):
        read_list_file(tmp_path / "empty.txt", "videos", tmp_path, 2)


# -- class folders ---------------------------------------------------------------------------------


def test_scan_class_folders_sorted(tmp_path: Path) -> None:
    _touch(tmp_path / "walk" / "b.mp4")
    _touch(tmp_path / "walk" / "a.avi")
    _touch(tmp_path / "run" / "c.mp4")
    _touch(tmp_path / "run" / "notes.txt")
    samples, names = scan_class_folders(tmp_path)
    assert names == ["run", "walk"]
    assert [(s.path.name, s.label) for s in samples] == [("c.mp4", 0), ("a.avi", 1), ("b.mp4", 1)]


def test_scan_class_folders_errors(tmp_path: Path) -> None:
    _touch(tmp_path / "walk" / "a.mp4")
    (tmp_path / "run").mkdir()
    with pytest.raises(ValueError, match=r"without video files .*\['run'\]"):
        scan_class_folders(tmp_path)
    # With the training class list an empty (or absent) class is fine, an unknown one is not.
    samples, _ = scan_class_folders(tmp_path, ["jump", "run", "walk"])
    assert [s.label for s in samples] == [2]
    with pytest.raises(ValueError, match="not known classes"):
        scan_class_folders(tmp_path, ["walk"])
    with pytest.raises(ValueError, match="no class sub-folders"):
        scan_class_folders(tmp_path / "run")


# -- dataset ---------------------------------------------------------------------------------------


def test_video_shorter_than_num_seg_works(tmp_path: Path) -> None:
    video = write_numbered_video(tmp_path / "short.mp4", 5)
    item = _dataset([Sample(video, 0)], frames=8)[0]
    assert item["video"].shape == (3, 8, 28, 28)
    assert item["num_skipped"] == 0


def test_odd_sized_and_grayscale_inputs(tmp_path: Path) -> None:
    odd = write_numbered_video(tmp_path / "odd.mp4", 12, height=47, width=63, pix_fmt="yuv444p")
    gray = write_numbered_video(tmp_path / "gray.mkv", 12, height=35, width=41, codec="ffv1", pix_fmt="gray")
    dataset = _dataset([Sample(odd, 0), Sample(gray, 1)], frames=4, train=False)
    for index in range(2):
        assert dataset[index]["video"].shape == (1, 3, 4, 28, 28)
    folder = write_frame_folder(tmp_path / "gray_frames", 6, size=(31, 45), mode="L")
    frames = _dataset([Sample(folder, 0, 6)], frames=4, reader="frames")
    assert frames[0]["video"].shape == (3, 4, 28, 28)


def test_corrupt_sample_is_skipped_counted_and_warned(tmp_path: Path) -> None:
    good = write_numbered_video(tmp_path / "good.mp4", 10)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    dataset = _dataset([Sample(good, 0), Sample(corrupt, 1), Sample(good, 2)], frames=4)
    with pytest.warns(SkippedSampleWarning, match="corrupt.mp4"):
        item = dataset[1]
    assert (item["index"], item["label"], item["num_skipped"]) == (2, 2, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dataset[0]["num_skipped"] == 0


def test_all_unreadable_raises_naming_the_files(tmp_path: Path) -> None:
    paths = []
    for name in ("x.mp4", "y.mp4"):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(b"")
    dataset = _dataset([Sample(path, 0) for path in paths], frames=4)
    with pytest.warns(SkippedSampleWarning), pytest.raises(UnreadableSplitError, match=r"x\.mp4.*y\.mp4"):
        dataset[0]


def test_missing_frame_file_is_skipped(tmp_path: Path) -> None:
    short = write_frame_folder(tmp_path / "short", 3)
    full = write_frame_folder(tmp_path / "full", 8)
    # The list claims 8 frames but only 3 were extracted.
    dataset = _dataset([Sample(short, 0, 8), Sample(full, 1, 8)], frames=8, reader="frames", train=False)
    with pytest.warns(SkippedSampleWarning, match="img_00004.jpg"):
        item = dataset[0]
    assert item["index"] == 1 and item["num_skipped"] == 1


def test_sampling_follows_paddle_segments(tmp_path: Path) -> None:
    video = write_numbered_video(tmp_path / "v.mp4", 40)
    dataset = _dataset([Sample(video, 0)], frames=4, train=False, transform=TransformConfig(normalize="unit"))
    clip = dataset[0]["video"][0]  # (3, T, 172, 172) in [0, 1]
    frames = (clip.permute(1, 2, 3, 0).numpy() * 255).round().astype(np.uint8)
    assert frame_ids(frames) == [4, 14, 24, 34]  # avg 10: i*10 + 4


def test_test_mode_clips_and_crops_stack(tmp_path: Path) -> None:
    video = write_numbered_video(tmp_path / "v.mp4", 30)
    sampling = SamplingConfig(mode="clips", num_frames=4, temporal_stride=2, test_num_clips=2)
    transform = TransformConfig(short_size=32, crop_size=28, test_num_crops=3)
    item = _dataset([Sample(video, 0)], train=False, sampling=sampling, transform=transform)[0]
    assert item["video"].shape == (6, 3, 4, 28, 28)


def test_test_mode_clips_are_tf_evenly_spaced_clips(tmp_path: Path) -> None:
    video = write_numbered_video(tmp_path / "v.mp4", 30)
    sampling = SamplingConfig(mode="clips", num_frames=4, temporal_stride=2, test_num_clips=2)
    transform = TransformConfig(preset="tf", short_size=48, crop_size=48, normalize="unit")
    views = _dataset([Sample(video, 0)], train=False, sampling=sampling, transform=transform)[0]["video"]
    ids = [frame_ids((view.permute(1, 2, 3, 0).numpy() * 255).round().astype(np.uint8)) for view in views]
    assert ids == [[0, 2, 4, 6], [22, 24, 26, 28]]  # starts linspace(0, 30 - 4 * 2, 2)


def test_randomness_depends_on_seed_epoch_index_only(tmp_path: Path) -> None:
    video = write_numbered_video(tmp_path / "v.mp4", 40)
    samples = [Sample(video, 0)] * 4
    first = _dataset(samples, seed=3)
    second = _dataset(samples, seed=3)
    assert torch.equal(first[2]["video"], second[2]["video"])
    assert not torch.equal(first[2]["video"], first[1]["video"])
    reference = first[2]["video"]
    first.set_epoch(1)
    assert not torch.equal(first[2]["video"], reference)


def test_same_batches_with_and_without_workers(tmp_path: Path) -> None:
    video = write_numbered_video(tmp_path / "v.mp4", 20)
    dataset = _dataset([Sample(video, i % 3) for i in range(4)], frames=4, seed=1)
    dataset.set_epoch(2)
    serial = next(iter(DataLoader(dataset, batch_size=4, num_workers=0)))
    parallel = next(iter(DataLoader(dataset, batch_size=4, num_workers=2)))
    assert torch.equal(serial["video"], parallel["video"])
    assert serial["label"].tolist() == [0, 1, 2, 0]
    assert serial["num_skipped"].tolist() == [0, 0, 0, 0]


# -- build_dataset ---------------------------------------------------------------------------------


def _class_tree(root: Path) -> None:
    for split, count in (("train", 2), ("val", 1)):
        for name in ("b_walk", "a_run"):
            for index in range(count):
                write_numbered_video(root / split / name / f"{name}{index}.mp4", 10)


def test_build_dataset_folders(tmp_path: Path) -> None:
    _class_tree(tmp_path)
    cfg = DataConfig(
        format="folders", root=str(tmp_path), train_list="train", val_list="val",
        sampling=SamplingConfig(num_frames=4), transform=SMALL,
    )  # fmt: skip
    train = build_dataset(cfg, "train", num_classes=2, seed=0)
    assert (len(train), train.class_names, train.num_classes) == (4, ["a_run", "b_walk"], 2)
    assert train[0]["video"].shape == (3, 4, 28, 28)
    val = build_dataset(cfg, "val", num_classes=2)
    assert val[1]["video"].shape == (1, 3, 4, 28, 28) and val[1]["label"] == 1
    with pytest.raises(ValueError, match="num_classes=5"):
        build_dataset(cfg, "train", num_classes=5)
    with pytest.raises(ValueError, match="data.test_list is empty"):
        build_dataset(cfg, "test", num_classes=2)


def test_build_dataset_video_list_with_labels_file(tmp_path: Path) -> None:
    write_numbered_video(tmp_path / "clips" / "a.mp4", 10)
    (tmp_path / "train.txt").write_text("clips/a.mp4 1\n")
    (tmp_path / "labels.txt").write_text("run\nwalk\n")
    cfg = DataConfig(
        format="videos", root=str(tmp_path), train_list="train.txt", labels_file="labels.txt",
        sampling=SamplingConfig(num_frames=4), transform=SMALL,
    )  # fmt: skip
    dataset = build_dataset(cfg, "train", num_classes=2)
    assert dataset.class_names == ["run", "walk"] and dataset[0]["label"] == 1
    (tmp_path / "train.txt").write_text("clips/a.mp4 2\n")
    with pytest.raises(ValueError, match=r"train\.txt:1: label 2 is out of range"):
        build_dataset(cfg, "train", num_classes=2)


def test_build_dataset_rejects_bad_settings(tmp_path: Path) -> None:
    cfg = DataConfig(format="videos", root=str(tmp_path), train_list="nope.txt")
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        build_dataset(cfg, "train", num_classes=2)
    with pytest.raises(ValueError, match="split"):
        build_dataset(cfg, "training", num_classes=2)
    with pytest.raises(ValueError, match="data.format"):
        build_dataset(DataConfig(format="tfrecord"), "train", num_classes=2)
    bad_sampling = DataConfig(format="videos", sampling=SamplingConfig(mode="segments", test_num_clips=3))
    with pytest.raises(ValueError, match="test_num_clips"):
        build_dataset(bad_sampling, "val", num_classes=2)


def test_preprocessing_record_uses_test_sampling(tmp_path: Path) -> None:
    video = write_numbered_video(tmp_path / "v.mp4", 40)

    def clip_of(prep: Preprocessing) -> np.ndarray:
        with open_video(video) as reader:
            return prep.transform(reader.read_frames(prep.sample_indices(reader.num_frames)))

    clip = clip_of(Preprocessing(frames=4, height=172, width=172, resize=192, preset="paddle", sampling="segments"))
    assert clip.shape == (3, 4, 172, 172)
    assert frame_ids((clip.transpose(1, 2, 3, 0) * 255).round().astype(np.uint8)) == [4, 14, 24, 34]
    strided = clip_of(Preprocessing(frames=4, height=40, width=40, resize=48, sampling="clips", temporal_stride=3))
    assert strided.shape == (3, 4, 40, 40)
    frames = (strided.transpose(1, 2, 3, 0) * 255).round().astype(np.uint8)
    assert frame_ids(frames) == [14, 17, 20, 23]  # TF centred clip: start (40 - 4 * 3) // 2 = 14

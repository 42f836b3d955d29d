"""Labels files: an existing one fixes the class indices and is never rewritten; lists and labels saved
with a UTF-8 byte-order mark read like any other."""

from __future__ import annotations

from pathlib import Path

import pytest

from movinet.cli import main
from movinet.data.datasets import read_labels_file, read_list_file
from movinet.data.prepare import extract_frames, write_video_list
from movinet.data.synthetic import make_motion_video
from movinet.inference.inputs import collect_inputs


def tree(root: Path, classes: list[str]) -> Path:
    for name in classes:
        make_motion_video(root / name / f"{name}.mp4", "grow", num_frames=3, size=16, seed=0)
    return root


def labels_of(list_path: Path) -> dict[str, int]:
    return {line.split()[0].split("/")[0]: int(line.split()[1]) for line in list_path.read_text().splitlines()}


def test_val_missing_a_class_keeps_the_train_indices(tmp_path, capsys):
    train, val = tree(tmp_path / "train", ["a", "b", "c"]), tree(tmp_path / "val", ["a", "c"])
    lists = tmp_path / "lists"
    assert main(["prepare", "videolist", str(train), "--list", str(lists / "train.txt")]) == 0
    labels = (lists / "labels.txt").read_bytes()
    assert main(["prepare", "videolist", str(val), "--list", str(lists / "val.txt")]) == 0
    assert labels_of(lists / "val.txt") == {"a": 0, "c": 2}  # not renumbered to 0, 1
    assert (lists / "labels.txt").read_bytes() == labels
    assert "kept" in capsys.readouterr().out


def test_an_existing_labels_file_is_never_rewritten(tmp_path):
    root = tree(tmp_path / "data", ["a", "b"])
    labels = tmp_path / "labels.txt"
    labels.write_text("b\na\nz\n")  # the user's order, and a class with no video here
    write_video_list(root, tmp_path / "list.txt")
    assert labels_of(tmp_path / "list.txt") == {"a": 1, "b": 0}
    assert labels.read_text() == "b\na\nz\n"


def test_a_class_the_labels_file_lacks_is_refused(tmp_path, capsys):
    root = tree(tmp_path / "data", ["a", "b", "new"])
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    assert main(["prepare", "videolist", str(root), "--list", str(tmp_path / "list.txt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not name the classes ['new']" in err and str(labels) in err
    assert labels.read_text() == "a\nb\n" and not (tmp_path / "list.txt").exists()


def test_extracting_frames_keeps_an_existing_labels_file(tmp_path):
    root = tree(tmp_path / "data", ["a", "b"])
    out = tmp_path / "frames"
    out.mkdir()
    (out / "labels.txt").write_text("b\na\n")
    summary = extract_frames(root, out, list_out=tmp_path / "frames.txt", progress=False)
    assert (out / "labels.txt").read_text() == "b\na\n"
    assert sorted(line.split()[2] for line in summary.list_path.read_text().splitlines()) == ["0", "1"]
    assert {line.split()[0]: line.split()[2] for line in summary.list_path.read_text().splitlines()} == {"a": "1", "b": "0"}


def test_files_with_a_byte_order_mark(tmp_path):
    video = make_motion_video(tmp_path / "clip.mp4", "grow", num_frames=3, size=16, seed=0)
    bom = "\ufeff"
    (tmp_path / "labels.txt").write_text(f"{bom}grow\nshrink\n", encoding="utf-8")
    assert read_labels_file(tmp_path / "labels.txt") == ["grow", "shrink"]
    (tmp_path / "list.txt").write_text(f"{bom}clip.mp4 1\n", encoding="utf-8")
    assert [(s.path.name, s.label) for s in read_list_file(tmp_path / "list.txt", "videos", tmp_path)] == [("clip.mp4", 1)]
    (tmp_path / "predict.txt").write_text(f"{bom}{video}\n", encoding="utf-8")
    assert collect_inputs(tmp_path / "predict.txt") == [str(video)]


def test_list_and_labels_cannot_be_one_file(tmp_path):
    root = tree(tmp_path / "data", ["a"])
    with pytest.raises(ValueError, match="same file"):
        write_video_list(root, tmp_path / "x.txt", labels_out=tmp_path / "x.txt")

"""Held-out splits of a folder-per-class tree: stratified, seeded, written as video lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from movinet.data.datasets import read_list_file
from movinet.data.splits import hold_out_split, write_split_lists


def make_tree(root: Path, counts: dict[str, int]) -> Path:
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for index in range(count):
            (root / name / f"{name} {index}.mp4").write_bytes(b"")  # a space: lists must keep such paths
    return root


def test_each_class_gives_its_share_to_validation_never_all(tmp_path):
    root = make_tree(tmp_path / "videos", {"clap": 10, "jump": 5, "wave": 2, "zzz_single": 1})
    split = hold_out_split(root, val_fraction=0.2, seed=0)
    counts = split.counts()
    assert counts["val"] == {"clap": 2, "jump": 1, "wave": 1, "zzz_single": 0}
    assert counts["train"] == {"clap": 8, "jump": 4, "wave": 1, "zzz_single": 1}
    assert not {s.path for s in split.train} & {s.path for s in split.val}
    assert split.class_names == ["clap", "jump", "wave", "zzz_single"]


def test_the_same_seed_gives_the_same_split_and_seeds_differ(tmp_path):
    root = make_tree(tmp_path / "videos", {"clap": 10, "jump": 10})
    held = lambda seed: sorted(str(s.path) for s in hold_out_split(root, seed=seed).val)  # noqa: E731
    assert held(3) == held(3)
    assert len({tuple(held(seed)) for seed in range(6)}) > 1


def test_the_written_lists_read_back_as_the_split(tmp_path):
    root = make_tree(tmp_path / "videos", {"clap": 4, "jump": 3})
    split = hold_out_split(root, val_fraction=0.3, seed=1)
    paths = write_split_lists(split, tmp_path / "splits")
    assert paths["labels"].read_text() == "clap\njump\n"
    for side in ("train", "val"):
        samples = read_list_file(paths[side], "videos", root, num_classes=2)
        assert [(s.path, s.label) for s in samples] == [(s.path, s.label) for s in getattr(split, side)]
    assert "clap 0.mp4 0" in paths["train"].read_text() + paths["val"].read_text()


@pytest.mark.parametrize("counts, fraction, message", [
    ({"only": 4}, 0.2, "one class folder"),
    ({"a": 1, "b": 1}, 0.2, "none can be held out"),
    ({"a": 3, "b": 3}, 1.0, "between 0 and 1"),
])
def test_folders_that_cannot_be_split_are_refused(tmp_path, counts, fraction, message):
    root = make_tree(tmp_path / "videos", counts)
    with pytest.raises(ValueError, match=message):
        hold_out_split(root, val_fraction=fraction)

"""Held-out splits of a folder-per-class tree, made once, seeded, and written down.

    split = hold_out_split("my_videos", val_fraction=0.2, seed=0)   # per class: ~20 % to validation
    write_split_lists(split, "runs/my_model/splits")                # train.txt, val.txt, labels.txt

The split is stratified: every class with at least two videos gives `round(n * val_fraction)` of
them (at least one, never all) to validation, chosen by a generator seeded with `seed` from the
class's sorted file list, so the same folder and seed always give the same split. The lists are
ordinary `path label` video lists (paths relative to the tree's root), the "videos" format of the
training config; writing them is what records the split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from movinet.data.datasets import Sample, scan_class_folders
from movinet.files import atomic_write_text

SPLIT_FILES = {"train": "train.txt", "val": "val.txt", "labels": "labels.txt"}


@dataclass(frozen=True)
class HeldOutSplit:
    """A training/validation split of one folder-per-class tree.

    Attributes:
        root: the tree (`<root>/<class_name>/<video>`).
        class_names: sorted class folder names (label k = class_names[k]).
        train / val: the samples of each side, by class then file name.
        val_fraction / seed: how the split was drawn.
    """

    root: Path
    class_names: list[str]
    train: list[Sample]
    val: list[Sample]
    val_fraction: float
    seed: int

    def counts(self) -> dict[str, dict[str, int]]:
        """Videos per class on each side: {"train": {class: n}, "val": {class: n}}."""
        return {side: {name: sum(1 for s in samples if s.label == label) for label, name in enumerate(self.class_names)}
                for side, samples in (("train", self.train), ("val", self.val))}


def _validation_count(num_videos: int, val_fraction: float) -> int:
    if num_videos < 2:
        return 0
    return min(num_videos - 1, max(1, round(num_videos * val_fraction)))


def hold_out_split(root: str | os.PathLike[str], *, val_fraction: float = 0.2, seed: int = 0) -> HeldOutSplit:
    """Split a folder-per-class tree into training and validation videos (see the module doc).

    Raises:
        FileNotFoundError: `root` does not exist.
        ValueError: `val_fraction` outside (0, 1), fewer than two classes, a class folder without
            videos, or no class with two videos (nothing could be held out).
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"the validation fraction must be between 0 and 1, got {val_fraction}")
    samples, class_names = scan_class_folders(root)
    if len(class_names) < 2:
        raise ValueError(f"{root} has one class folder ({class_names[0]}); a classifier needs at least two: "
                         f"put each class's videos in its own folder, {root}/<class_name>/<video>")
    train: list[Sample] = []
    val: list[Sample] = []
    for label in range(len(class_names)):
        videos = [sample for sample in samples if sample.label == label]
        held = set(np.random.default_rng([seed, label]).permutation(len(videos))[
            :_validation_count(len(videos), val_fraction)].tolist())
        train += [video for index, video in enumerate(videos) if index not in held]
        val += [video for index, video in enumerate(videos) if index in held]
    if not val:
        raise ValueError(f"no class folder of {root} has two videos, so none can be held out for validation; add "
                         "videos (a few per class at least), or give train/ and val/ folders")
    return HeldOutSplit(Path(root), class_names, train, val, val_fraction, seed)


def _list_text(samples: list[Sample], root: Path) -> str:
    return "".join(f"{os.path.relpath(sample.path, root)} {sample.label}\n" for sample in samples)


def split_list_texts(split: HeldOutSplit) -> dict[str, str]:
    """The files that record `split`: {"train", "val"}: `path label` lines (paths relative to
    `split.root`), {"labels"}: one class name per line."""
    return {"train": _list_text(split.train, split.root), "val": _list_text(split.val, split.root),
            "labels": "".join(f"{name}\n" for name in split.class_names)}


def recorded_split_differs(split: HeldOutSplit, out_dir: str | os.PathLike[str]) -> bool:
    """Whether `out_dir` already records another split (different lists or labels)."""
    out = Path(out_dir)
    return any((out / SPLIT_FILES[side]).exists() and (out / SPLIT_FILES[side]).read_text(encoding="utf-8") != text
               for side, text in split_list_texts(split).items())


def write_split_lists(split: HeldOutSplit, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write `train.txt`, `val.txt` and `labels.txt` (`split_list_texts`) into `out_dir`; returns
    {"train", "val", "labels"} -> path."""
    out = Path(out_dir)
    return {side: atomic_write_text(out / SPLIT_FILES[side], text) for side, text in split_list_texts(split).items()}

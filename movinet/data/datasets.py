"""Video classification datasets: list files, class folders, and the clip dataset.

Three layouts (`DataConfig.format`):

* "frames": PaddleVideo frame lists, `frame_dir num_frames label`, frames `img_00001.jpg` ...
* "videos": `path/to/video.mp4 label` (mmaction2 / PaddleVideo `VideoDataset`).
* "folders": `<split_dir>/<class_name>/*.mp4`, labels from the sorted class names.

List files are validated completely before training starts, so a typo on line 180,000 is
reported at once (with every other bad line) instead of crashing an epoch. At training time an
unreadable sample is skipped with a warning and replaced by the next readable one (however many
unreadable ones follow it), and the item names the requested sample when it was unreadable, so a
loop with worker processes counts each unreadable file once and can list it. Only a split with no
readable sample at all stops a run (`VideoClipDataset.first_readable`, checked before training).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from movinet.data.config import DataConfig, SamplingConfig
from movinet.data.preprocessing import DECODE_OVERSAMPLE, EvaluationViews, Preprocessing
from movinet.data.sampling import clip_indices, segment_indices
from movinet.data.transforms import build_train_transform
from movinet.data.video import (
    VIDEO_EXTENSIONS,
    CorruptVideoWarning,
    VideoDecodeError,
    open_video,
    read_frame_folder,
)

__all__ = [
    "VIDEO_EXTENSIONS",
    "Sample",
    "SkippedSampleWarning",
    "TrainingClips",
    "UnreadableSplitError",
    "VideoClipDataset",
    "read_list_file",
    "read_labels_file",
    "scan_class_folders",
    "build_clips",
    "build_dataset",
    "data_root",
]

FORMATS = ("frames", "videos", "folders")
SPLITS = ("train", "val", "test")
SAMPLING_MODES = ("segments", "clips")
_MAX_LISTED_PROBLEMS = 20
_MAX_NAMED_UNREADABLE = 3  # files named in the error of a split with no readable sample


@dataclass(frozen=True)
class Sample:
    """One labelled video.

    Attributes:
        path: Video file, or frame folder for the "frames" format.
        label: Class index.
        num_frames: Frame count from a frame list; None for video files (read from the container).
    """

    path: Path
    label: int
    num_frames: int | None = None


class SkippedSampleWarning(UserWarning):
    """An unreadable sample was skipped and replaced by the next one."""


class UnreadableSplitError(VideoDecodeError):
    """No sample of a split can be read (a `ValueError`: the CLI prints it as one line)."""


# -- list files ------------------------------------------------------------------------------------


def _problems_error(title: str, problems: list[str]) -> ValueError:
    shown = problems[:_MAX_LISTED_PROBLEMS]
    lines = [f"{title} ({len(problems)} problem{'s' if len(problems) != 1 else ''}):", *shown]
    if len(problems) > len(shown):
        lines.append(f"... and {len(problems) - len(shown)} more")
    return ValueError("\n".join(lines))


def _parse_label(text: str, num_classes: int | None) -> tuple[int | None, str | None]:
    try:
        label = int(text)
    except ValueError:
        return None, f"label {text!r} is not an integer"
    if label < 0 or (num_classes is not None and label >= num_classes):
        bound = f"[0, {num_classes - 1}]" if num_classes is not None else ">= 0"
        return None, f"label {label} is out of range {bound}"
    return label, None


def _split_columns(line: str, expected: int, root: Path) -> list[str] | None:
    columns = line.split()
    if len(columns) == expected:
        return columns
    # A path with spaces: the trailing columns are numbers, everything before them is the path.
    columns = line.rsplit(maxsplit=expected - 1)
    if len(columns) == expected and (root / columns[0]).exists():
        return columns
    return None


def _parse_line(
    line: str, fmt: str, root: Path, num_classes: int | None
) -> tuple[Sample | None, list[str]]:
    expected = 3 if fmt == "frames" else 2
    columns = _split_columns(line, expected, root)
    if columns is None:
        layout = "frame_dir num_frames label" if fmt == "frames" else "path label"
        return None, [f"expected {expected} columns ({layout}), got {len(line.split())}"]
    problems = []
    path = root / columns[0]
    label, problem = _parse_label(columns[-1], num_classes)
    if problem:
        problems.append(problem)
    num_frames = None
    if fmt == "frames":
        try:
            num_frames = int(columns[1])
            if num_frames < 1:
                problems.append(f"num_frames {num_frames} must be >= 1")
        except ValueError:
            problems.append(f"num_frames {columns[1]!r} is not an integer")
        if not path.is_dir():
            problems.append(f"frame folder not found: {path}")
    elif not path.is_file():
        problems.append(f"video file not found: {path}")
    if problems:
        return None, problems
    return Sample(path=path, label=label, num_frames=num_frames), []


def read_list_file(
    path: str | os.PathLike[str],
    fmt: str,
    root: str | os.PathLike[str] = "",
    num_classes: int | None = None,
) -> list[Sample]:
    """Reads and validates a list file. Blank lines and lines starting with `#` are ignored.

    Args:
        path: The list file.
        fmt: "frames" (`frame_dir num_frames label`) or "videos" (`path label`).
        root: Folder the listed paths are relative to ("" = current directory; absolute paths
            are kept as they are).
        num_classes: Labels must be in [0, num_classes); None skips that check.

    Returns:
        The samples, in file order.

    Raises:
        FileNotFoundError: The list file does not exist.
        ValueError: Unknown format, empty list, or bad lines: one error listing every bad line
            as `list_path:line_number: problem` (the first 20, then a count).
    """
    if fmt not in ("frames", "videos"):
        raise ValueError(f"list format must be 'frames' or 'videos', got {fmt!r}")
    list_path = Path(path)
    if not list_path.is_file():
        raise FileNotFoundError(f"list file not found: {list_path}")
    root_path = Path(root)
    samples: list[Sample] = []
    problems: list[str] = []
    with open(list_path, encoding="utf-8-sig") as handle:  # -sig: lists saved with a byte-order mark
        for line_number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            sample, line_problems = _parse_line(line, fmt, root_path, num_classes)
            problems += [f"{list_path}:{line_number}: {problem}" for problem in line_problems]
            if sample is not None:
                samples.append(sample)
    if problems:
        raise _problems_error(f"invalid lines in {list_path} (paths relative to {root_path.resolve()})", problems)
    if not samples:
        raise ValueError(f"list file {list_path} has no samples")
    return samples


def read_labels_file(path: str | os.PathLike[str]) -> list[str]:
    """Class names, one per line (line k = class k); blank lines are ignored.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file has no names.
    """
    labels_path = Path(path)
    if not labels_path.is_file():
        raise FileNotFoundError(f"labels file not found: {labels_path}")
    # utf-8-sig: editors on Windows save with a byte-order mark, which would become part of class 0's name.
    names = [line.strip() for line in labels_path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if not names:
        raise ValueError(f"labels file {labels_path} has no class names")
    return names


# -- class folders ---------------------------------------------------------------------------------


def _videos_in(folder: Path) -> list[Path]:
    return sorted(
        entry for entry in folder.iterdir() if entry.is_file() and entry.suffix.lower() in VIDEO_EXTENSIONS
    )


def scan_class_folders(
    directory: str | os.PathLike[str], class_names: Sequence[str] | None = None
) -> tuple[list[Sample], list[str]]:
    """Finds `<directory>/<class_name>/<video>` files.

    Args:
        directory: Split folder with one sub-folder per class.
        class_names: The label order to use (e.g. the training split's classes, so a validation
            folder missing a class keeps the same labels). None: the sorted sub-folder names.

    Returns:
        (samples sorted by class then file name, class names).

    Raises:
        FileNotFoundError: `directory` does not exist.
        ValueError: No class folders, a class folder without videos (when `class_names` is None),
            or a folder that is not one of `class_names`.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"class folder root not found: {root}")
    folders = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not folders:
        raise ValueError(f"{root} has no class sub-folders; expected {root}/<class_name>/<video files>")
    names = list(class_names) if class_names is not None else folders
    unknown = sorted(set(folders) - set(names))
    if unknown:
        raise ValueError(f"{root} has folders that are not known classes: {unknown}; known: {names}")
    label_of = {name: label for label, name in enumerate(names)}
    samples: list[Sample] = []
    empty: list[str] = []
    for folder in folders:
        videos = _videos_in(root / folder)
        if not videos:
            empty.append(folder)
        samples += [Sample(path=video, label=label_of[folder]) for video in videos]
    if empty and class_names is None:
        raise ValueError(
            f"class folders without video files ({', '.join(VIDEO_EXTENSIONS)}) in {root}: {empty}; "
            "remove them or add videos"
        )
    if not samples:
        raise ValueError(f"no video files found under {root}")
    return samples, names


# -- dataset ---------------------------------------------------------------------------------------


def _validate_sampling(sampling: SamplingConfig) -> None:
    if sampling.mode not in SAMPLING_MODES:
        raise ValueError(f"sampling.mode must be one of {SAMPLING_MODES}, got {sampling.mode!r}")
    for name in ("num_frames", "temporal_stride", "test_num_clips"):
        value = getattr(sampling, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"sampling.{name} must be a positive integer, got {value!r}")
    if sampling.mode == "segments" and sampling.test_num_clips != 1:
        raise ValueError(
            "sampling.test_num_clips > 1 needs sampling.mode 'clips'; segment sampling already "
            "covers the whole video with one clip"
        )


@dataclass(frozen=True)
class TrainingClips:
    """Random training clips: one clip per item, its frames drawn by `sampling` (a random frame of
    each segment, or a clip at a random start), augmented by `transform`.

    Evaluation clips are `movinet.data.preprocessing.EvaluationViews`, the preprocessing record's.

    Attributes:
        sampling: Frame sampling settings (`mode`, `num_frames`, `temporal_stride`).
        transform: `(clip uint8 (T, H, W, 3), rng) -> Tensor (3, T, H, W)`, e.g. from
            `build_train_transform`.
        decode_short_side: frames are scaled down as they are decoded so their shorter side is
            at most this (None: the source's size); `build_clips` sets `DECODE_OVERSAMPLE` times the
            transform's largest size.
    """

    sampling: SamplingConfig
    transform: Callable[[np.ndarray, np.random.Generator], torch.Tensor]
    decode_short_side: int | None = None

    def __post_init__(self) -> None:
        _validate_sampling(self.sampling)

    def sample_indices(self, num_frames: int, rng: np.random.Generator) -> np.ndarray:
        """Frame indices of the clip of a `num_frames`-frame video. Returns (1, T) int64."""
        cfg = self.sampling
        if cfg.mode == "segments":
            return segment_indices(num_frames, cfg.num_frames, train=True, rng=rng)[None, :]
        return clip_indices(num_frames, cfg.num_frames, cfg.temporal_stride, train=True, rng=rng)


class VideoClipDataset(Dataset):
    """Clips of labelled videos, sampled and transformed, for training or testing.

    Each item is a dict:
        "video": float32 (3, T, H, W) in training; (V, 3, T, H, W) in testing, with
            V = `clips.num_views` (test_num_clips * test_num_crops, clip-major).
        "label": int class index of the sample returned.
        "index": int index of the sample returned (the next readable one when the requested
            sample is unreadable).
        "num_skipped": 1 when the requested sample is unreadable, else 0; summed over an epoch,
            each unreadable file counts once.
        "unreadable": "PATH: reason" of the requested sample when it is unreadable, else "".
        "damaged": the corrupt-stretch warning of the sample returned when it was read with one
            (`CorruptVideoWarning`), else "".

    Randomness comes from a generator seeded with (seed, epoch, index), so an epoch is the same
    whatever the number of DataLoader workers. Call `set_epoch` before each epoch (with
    `persistent_workers=True` the workers keep their own copy of the epoch, so leave it off).

    Args:
        samples: The videos.
        clips: `TrainingClips` (random, augmented) or `EvaluationViews` (the preprocessing record's
            deterministic views, the clips `predict` makes).
        seed: Base seed.
        reader: "video" (files, PyAV) or "frames" (JPEG folders).
        suffix: Frame file pattern for the "frames" reader.
        class_names: Optional names, index = label.
        num_classes: Optional class count (defaults to len(class_names) or max label + 1).
        split: Name of the split in error messages ("train", "val", "test").
        warn: warn (`SkippedSampleWarning`, `CorruptVideoWarning`) about unreadable and damaged
            samples; off when the caller reports them from the items (training logs each once).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        *,
        clips: TrainingClips | EvaluationViews,
        seed: int = 0,
        reader: str = "video",
        suffix: str = "img_{:05}.jpg",
        class_names: Sequence[str] | None = None,
        num_classes: int | None = None,
        split: str = "dataset",
        warn: bool = True,
    ) -> None:
        if not samples:
            raise ValueError("VideoClipDataset needs at least one sample")
        if reader not in ("video", "frames"):
            raise ValueError(f"reader must be 'video' or 'frames', got {reader!r}")
        if reader == "frames" and any(sample.num_frames is None for sample in samples):
            raise ValueError("the 'frames' reader needs num_frames for every sample (from a frame list)")
        if seed < 0:
            raise ValueError(f"seed must be >= 0 (it seeds numpy's SeedSequence), got {seed}")
        self.samples = list(samples)
        self.clips = clips
        self.seed = int(seed)
        self.reader = reader
        self.suffix = suffix
        self.epoch = 0
        self.class_names = list(class_names) if class_names is not None else None
        if num_classes is None:
            num_classes = len(self.class_names) if self.class_names else max(s.label for s in self.samples) + 1
        self.num_classes = int(num_classes)
        self.split = split
        # Samples found unreadable in this process (each DataLoader worker has its own copy), so a
        # run of bad files is decoded once, not once per item that walks past it.
        self._unreadable: dict[int, str] = {}
        self._damaged: dict[int, str] = {}  # the corrupt-stretch warning of samples read with one
        self.warn = warn

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def train(self) -> bool:
        """Random training clips (True) or the deterministic evaluation views."""
        return isinstance(self.clips, TrainingClips)

    @property
    def labels(self) -> list[int]:
        """Label of every sample, in order (for class-balanced samplers and statistics)."""
        return [sample.label for sample in self.samples]

    def set_epoch(self, epoch: int) -> None:
        """Makes the random sampling/augmentation of this epoch differ from the others."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def _rng(self, index: int, attempt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index, attempt])

    def _frame_indices(self, num_frames: int, rng: np.random.Generator) -> np.ndarray:
        """(clips, T) int64 indices into the sample's frames."""
        if isinstance(self.clips, TrainingClips):
            return self.clips.sample_indices(num_frames, rng)
        return self.clips.sample_indices(num_frames)

    def _decode_short_side(self) -> int | None:
        if isinstance(self.clips, TrainingClips):
            return self.clips.decode_short_side
        return self.clips.preprocessing.decode_short_side  # the one `predict` decodes with

    def _read(self, sample: Sample, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        cap = self._decode_short_side()
        if self.reader == "frames":
            indices = self._frame_indices(sample.num_frames, rng)
            return indices, read_frame_folder(sample.path, indices.reshape(-1), self.suffix, max_short_side=cap)
        with open_video(sample.path, max_short_side=cap) as video:
            indices = self._frame_indices(video.num_frames, rng)
            return indices, video.read_frames(indices.reshape(-1))

    def load(self, index: int, rng: np.random.Generator) -> torch.Tensor:
        """Reads, samples and transforms sample `index` (no skipping). See the class for shapes."""
        indices, frames = self._read(self.samples[index], rng)
        clips = frames.reshape(*indices.shape, *frames.shape[1:])  # (clips, T, H, W, 3)
        if isinstance(self.clips, TrainingClips):
            return self.clips.transform(clips[0], rng)
        return torch.from_numpy(self.clips.transform(clips))

    def _load_noting_damage(self, index: int, rng: np.random.Generator) -> torch.Tensor:
        """`load`, keeping the corrupt-stretch warnings of the read in `self._damaged[index]` (the
        item carries them, so a training loop with worker processes can log them); they are still
        warned here unless `warn` is off."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            video = self.load(index, rng)
        for warning in caught:
            if issubclass(warning.category, CorruptVideoWarning):
                self._damaged[index] = str(warning.message)
                if not self.warn:
                    continue
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        return video

    def _try_load(self, index: int, rng: np.random.Generator) -> torch.Tensor | None:
        """`load`, or None (remembered, warned once per process) when the sample is unreadable."""
        if index in self._unreadable:
            return None
        try:
            return self._load_noting_damage(index, rng)
        except (VideoDecodeError, OSError) as error:
            path, reason = str(self.samples[index].path), str(error)
            self._unreadable[index] = reason if reason.startswith(path) else f"{path}: {reason}"
            if self.warn:
                warnings.warn(f"skipping unreadable sample {index} ({self._unreadable[index]})", SkippedSampleWarning,
                              stacklevel=3)
            return None

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int | str]:
        # The walk and the rng depend only on (seed, epoch, index, offset), so an epoch (and a
        # resumed one) is the same whether or not this process already knows the bad files.
        for offset in range(len(self.samples)):
            current = (index + offset) % len(self.samples)
            video = self._try_load(current, self._rng(index, offset))
            if video is None:
                continue
            return {
                "video": video,
                "label": self.samples[current].label,
                "index": current,
                "num_skipped": int(offset > 0),
                "unreadable": self._unreadable.get(index, "") if offset > 0 else "",
                "damaged": self._damaged.get(current, ""),
            }
        raise self._no_readable_sample()

    def first_readable(self) -> int:
        """Index of the first readable sample (reads samples in order until one loads).

        Raises:
            UnreadableSplitError: no sample can be read; the message names the split and the first
                files with their reasons.
        """
        with warnings.catch_warnings():  # the error names the files; a warning per file would flood
            warnings.simplefilter("ignore", SkippedSampleWarning)
            for index in range(len(self.samples)):
                if self._try_load(index, self._rng(index, 0)) is not None:
                    return index
        raise self._no_readable_sample()

    def _no_readable_sample(self) -> UnreadableSplitError:
        named = [self._unreadable[i] for i in sorted(self._unreadable)[:_MAX_NAMED_UNREADABLE]]
        more = len(self.samples) - len(named)
        return UnreadableSplitError(
            f"no sample of the {self.split} split can be read ({len(self.samples)} samples): "
            + "; ".join(named) + (f"; and {more} more" if more > 0 else "")
            + ". Check the paths and files of the split (re-encode or remove the broken ones)"
        )


# -- from a config ---------------------------------------------------------------------------------


def data_root(cfg: DataConfig) -> Path:
    """`data.root` as a path ("" = the working directory).

    Raises:
        FileNotFoundError: the root is set but is not a directory (named first: every list and
            labels path below it would be reported missing otherwise).
    """
    root = Path(cfg.root).expanduser()
    if cfg.root and not root.is_dir():
        what = "is a file, not a directory" if root.exists() else "does not exist"
        raise FileNotFoundError(f"data.root {root} {what}; it is the folder the data lists and labels file are "
                                "relative to: fix it in the config or pass -o data.root=DIR")
    return root


def _resolve(root: Path, name: str, what: str) -> Path:
    given = Path(name)
    candidates = [given] if given.is_absolute() else [root / given, given]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    tried = ", ".join(str(candidate) for candidate in dict.fromkeys(candidates))
    raise FileNotFoundError(f"{what} not found (tried {tried})")


def _split_entry(cfg: DataConfig, split: str) -> str:
    name = {"train": cfg.train_list, "val": cfg.val_list, "test": cfg.test_list}[split]
    if not name:
        kind = "split directory" if cfg.format == "folders" else "list file"
        raise ValueError(f"data.{split}_list is empty; set it to the {split} {kind}")
    return name


def _reference_class_names(cfg: DataConfig, root: Path, split: str) -> list[str] | None:
    if cfg.labels_file:
        return read_labels_file(_resolve(root, cfg.labels_file, "data.labels_file"))
    if cfg.format == "folders" and split != "train" and cfg.train_list:
        # Validation/test folders take the training classes, so labels agree even if a class is
        # missing from the smaller split.
        train_dir = root / cfg.train_list
        if train_dir.is_dir():
            return scan_class_folders(train_dir)[1]
    return None


def build_clips(cfg: DataConfig, split: str) -> TrainingClips | EvaluationViews:
    """How a split's items are made: random augmented clips for "train", the preprocessing record's
    views for "val" / "test" (see `build_dataset`)."""
    if split == "train":
        largest = max(cfg.transform.short_size, cfg.transform.crop_size)
        return TrainingClips(cfg.sampling, build_train_transform(cfg.transform),
                             decode_short_side=DECODE_OVERSAMPLE * largest)
    return EvaluationViews(Preprocessing.from_data_config(cfg), clips=cfg.sampling.test_num_clips,
                           crops=cfg.transform.test_num_crops)


def build_dataset(cfg: DataConfig, split: str, *, num_classes: int, seed: int = 0,
                  warn: bool = True) -> VideoClipDataset:
    """The dataset of one split, as the config describes it.

    Args:
        cfg: The `data:` section; for "val" / "test" with the evaluation sampling
            (`movinet.engine.config.eval_data_config`).
        split: "train" (random sampling and augmentation) or "val" / "test" (the preprocessing
            record `Preprocessing.from_data_config(cfg)`, in `test_num_clips` x `test_num_crops` views).
        num_classes: Classes of the model; labels are checked against it.
        seed: Base seed for sampling and augmentation.
        warn: warn about unreadable and damaged samples (see `VideoClipDataset`).

    Returns:
        A `VideoClipDataset` with `.class_names` (list, or None when the list format has no
        labels file) and `.num_classes`.

    Raises:
        FileNotFoundError: The list file / split folder / labels file does not exist.
        ValueError: Any invalid setting or list line (all bad lines listed at once), or a class
            count that differs from `num_classes`.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if cfg.format not in FORMATS:
        raise ValueError(f"data.format must be one of {FORMATS}, got {cfg.format!r}")
    _validate_sampling(cfg.sampling)
    clips = build_clips(cfg, split)
    root = data_root(cfg)
    entry = _split_entry(cfg, split)
    class_names = _reference_class_names(cfg, root, split)
    if cfg.format == "folders":
        samples, class_names = scan_class_folders(_resolve(root, entry, f"data.{split}_list"), class_names)
    else:
        samples = read_list_file(_resolve(root, entry, f"data.{split}_list"), cfg.format, root, num_classes)
    if class_names is not None and len(class_names) != num_classes:
        source = cfg.labels_file or f"the class folders of {root / entry}"
        raise ValueError(
            f"{source} gives {len(class_names)} classes but the model has num_classes={num_classes}; "
            "make them agree (set the model's num_classes, or fix the labels)"
        )
    return VideoClipDataset(
        samples,
        clips=clips,
        seed=seed,
        reader="frames" if cfg.format == "frames" else "video",
        suffix=cfg.suffix,
        class_names=class_names,
        num_classes=num_classes,
        split=split,
        warn=warn,
    )

"""Dataset preparation: extract JPEG frames (PaddleVideo layout) and write list files.

`extract_frames` mirrors PaddleVideo's `data/k400/extract_rawframes.py`: every frame of every
video becomes `out_root/<video_stem>/img_00001.jpg ...` (1-based), and a frame list
`frame_dir num_frames label` (frame_dir relative to out_root) is written for the "frames"
format. A video that cannot be decoded is reported and skipped; the run never aborts for it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from movinet.data.datasets import Sample, read_labels_file, scan_class_folders
from movinet.data.video import VideoDecodeError, open_video
from movinet.files import atomic_write_text, check_outputs

__all__ = ["ExtractionSummary", "class_folder_samples", "extract_frames", "labels_path_for", "write_video_list"]

FRAME_SUFFIX = "img_{:05}.jpg"


@dataclass
class ExtractionSummary:
    """What `extract_frames` did.

    Attributes:
        list_path: The frame list written (`frame_dir num_frames label`).
        labels_path: Class-name file written (folder input only), else None.
        num_videos: Videos extracted.
        num_frames: Frames written in all.
        failed: (video path, error message) of every video skipped.
    """

    list_path: Path
    labels_path: Path | None = None
    num_videos: int = 0
    num_frames: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def _resize_short_side(image: Image.Image, short_size: int) -> Image.Image:
    width, height = image.size
    scale = short_size / min(width, height)
    if scale == 1:
        return image
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return image.resize(size, Image.BILINEAR)


def _extract_one(video: str, frame_dir: str, short_size: int | None, quality: int) -> int:
    """Writes all frames of one video. Returns the frame count; raises on a decode error."""
    out = Path(frame_dir)
    if out.exists():
        # A previous, longer run must not leave stale frames behind the new last one.
        shutil.rmtree(out)
    out.mkdir(parents=True)
    count = 0
    with open_video(video) as reader:
        for count, frame in enumerate(reader, start=1):
            image = Image.fromarray(np.ascontiguousarray(frame))
            if short_size:
                image = _resize_short_side(image, short_size)
            image.save(out / FRAME_SUFFIX.format(count), quality=quality)
    if count == 0:
        raise VideoDecodeError(f"{video}: no frame could be decoded")
    return count


def _safe_extract(video: str, frame_dir: str, short_size: int | None, quality: int) -> tuple[int, str | None]:
    try:
        return _extract_one(video, frame_dir, short_size, quality), None
    except (VideoDecodeError, OSError, ValueError) as error:
        shutil.rmtree(frame_dir, ignore_errors=True)
        return 0, str(error)


def _unique_stems(videos: Sequence[Path]) -> list[str]:
    # Two classes may hold files with the same name; the later ones get a numbered folder.
    seen: dict[str, int] = {}
    stems = []
    for video in videos:
        count = seen.get(video.stem, 0) + 1
        seen[video.stem] = count
        stems.append(video.stem if count == 1 else f"{video.stem}__{count}")
    return stems


def _write_lines(path: Path, lines: Sequence[str]) -> Path:
    return atomic_write_text(path, "".join(f"{line}\n" for line in lines))


def extract_frames(
    videos: Sequence[tuple[str | os.PathLike[str], int]] | str | os.PathLike[str],
    out_root: str | os.PathLike[str],
    *,
    list_out: str | os.PathLike[str],
    labels_out: str | os.PathLike[str] | None = None,
    short_size: int | None = None,
    quality: int = 95,
    num_workers: int = 1,
    progress: bool = True,
) -> ExtractionSummary:
    """Extracts every frame of each video to JPEG files and writes a PaddleVideo frame list.

    Args:
        videos: (path, label) pairs, or a folder-per-class root (`<root>/<class>/<video>`; labels
            are the sorted class names).
        out_root: Output root; frames go to `out_root/<video_stem>/img_00001.jpg ...`.
        list_out: Frame list to write; lines `frame_dir num_frames label`, frame_dir relative to
            out_root (so use out_root as `data.root`).
        labels_out: Class names file for folder input (default `out_root/labels.txt`); an
            existing one fixes the class indices and is not rewritten (`class_folder_samples`).
        short_size: Resize so the shorter side is this (aspect kept); None keeps the native size.
        quality: JPEG quality.
        num_workers: Parallel processes.
        progress: Show a tqdm progress bar.

    Returns:
        An `ExtractionSummary`; `failed` lists the videos skipped and why.
    """
    out = Path(out_root)
    labels_path = None
    if isinstance(videos, (str, os.PathLike)):
        labels_path = Path(labels_out) if labels_out else out / "labels.txt"
        check_outputs({}, {"the list": list_out, "the labels file": labels_path})
        samples, new_labels = class_folder_samples(videos, labels_path)
        if new_labels is not None:
            _write_lines(labels_path, new_labels)
        pairs = [(sample.path, sample.label) for sample in samples]
    else:
        pairs = [(Path(path), int(label)) for path, label in videos]
    stems = _unique_stems([path for path, _ in pairs])
    jobs = [(str(path), str(out / stem), short_size, quality) for (path, _), stem in zip(pairs, stems)]
    summary = ExtractionSummary(list_path=Path(list_out), labels_path=labels_path)
    results = _run_jobs(jobs, num_workers, progress)
    lines = []
    for (path, label), stem, (count, error) in zip(pairs, stems, results):
        if error is not None:
            summary.failed.append((str(path), error))
            if progress:
                tqdm.write(f"skipped {path}: {error}")
            continue
        summary.num_videos += 1
        summary.num_frames += count
        lines.append(f"{stem} {count} {label}")
    _write_lines(summary.list_path, lines)
    return summary


def _run_jobs(
    jobs: list[tuple[str, str, int | None, int]], num_workers: int, progress: bool
) -> list[tuple[int, str | None]]:
    bar = tqdm(total=len(jobs), desc="extracting frames", unit="video", disable=not progress)
    try:
        if num_workers <= 1:
            results = []
            for job in jobs:
                results.append(_safe_extract(*job))
                bar.update()
            return results
        with ProcessPoolExecutor(max_workers=num_workers) as pool:
            futures = [pool.submit(_safe_extract, *job) for job in jobs]
            for future in futures:
                future.add_done_callback(lambda _: bar.update())
            return [future.result() for future in futures]
    finally:
        bar.close()


def write_video_list(
    root: str | os.PathLike[str],
    list_out: str | os.PathLike[str],
    *,
    labels_out: str | os.PathLike[str] | None = None,
    relative_to: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path]:
    """Writes a `path label` list and a class-names file for a folder-per-class tree.

    Args:
        root: `<root>/<class_name>/<video>` tree; labels are the sorted class names.
        list_out: List file to write.
        labels_out: Class names file (default: `labels.txt` next to `list_out`). An existing one
            fixes the class indices and is never rewritten; a class it lacks is refused.
        relative_to: Paths in the list are relative to this folder (default `root`); use the
            folder you will give as `data.root`.

    Returns:
        (list path, labels path).
    """
    base = Path(relative_to) if relative_to is not None else Path(root)
    list_path = Path(list_out)
    labels_path = labels_path_for(list_path, labels_out)
    check_outputs({}, {"the list": list_path, "the labels file": labels_path})
    samples, new_labels = class_folder_samples(root, labels_path)
    lines = [f"{os.path.relpath(sample.path, base)} {sample.label}" for sample in samples]
    _write_lines(list_path, lines)
    if new_labels is not None:
        _write_lines(labels_path, new_labels)
    return list_path, labels_path


def labels_path_for(list_out: str | os.PathLike[str], labels_out: str | os.PathLike[str] | None = None) -> Path:
    """The class-names file of `write_video_list`: `labels_out`, else `labels.txt` beside the list."""
    return Path(labels_out) if labels_out else Path(list_out).with_name("labels.txt")


def class_folder_samples(root: str | os.PathLike[str], labels_path: Path) -> tuple[list[Sample], list[str] | None]:
    """The samples of a folder-per-class tree, labelled by the class-names file `labels_path`.

    An existing labels file fixes the class indices (a val split missing a class keeps the
    train split's numbers) and is never rewritten; a folder it does not name is refused. Without
    one, the sorted folder names are the classes.

    Returns:
        (samples, the class names to write as `labels_path`, or None when it exists and is kept).

    Raises:
        ValueError: a class folder the existing labels file does not name.
    """
    if not labels_path.exists():
        return scan_class_folders(root)
    known = read_labels_file(labels_path)
    folders = sorted(entry.name for entry in Path(root).iterdir() if entry.is_dir() and not entry.name.startswith("."))
    unknown = [name for name in folders if name not in known]
    if unknown:
        raise ValueError(
            f"{labels_path} does not name the classes {unknown[:5]} of {root}: an existing labels file fixes the "
            "class indices of every list made beside it and is never rewritten. Add the new classes at its end "
            "(keeping the order), or write the list elsewhere (--list OTHER_DIR/list.txt)")
    return scan_class_folders(root, known)[0], None

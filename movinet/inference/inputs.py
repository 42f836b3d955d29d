"""What `movinet predict` classifies: files, directories of videos, `.txt`/`.list` lists; URLs refused."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

VIDEO_LIST_SUFFIXES = (".txt", ".list")


def collect_inputs(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Expand the inputs of `predict_files`: a file, a directory (its video files and those of its
    sub-folders, such as a dataset's class folders, sorted by path), a .txt list.

    Missing paths are kept: they become error results, not an exception. In a directory, files
    without a video extension (`VIDEO_EXTENSIONS`: labels, notes, thumbnails) and hidden files and
    folders are not inputs.

    Raises:
        ValueError: a URL, or nothing to predict (empty list, a directory without video files).
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    paths: list[str] = []
    for item in items:
        if "://" in str(item):
            raise ValueError(f"{item} is a URL; `movinet predict` classifies files, directories and .txt lists of "
                             f"files. For a stream use `movinet stream --input {item}`")
        path = Path(item).expanduser()
        if path.is_dir():
            paths.extend(_videos_in(path))
        elif path.is_file() and path.suffix.lower() in VIDEO_LIST_SUFFIXES:
            paths.extend(_read_list_file(path))
        else:
            paths.append(str(item))
    if not paths:
        raise ValueError("no input files given; pass a video file, a directory or a .txt list of videos")
    return paths


def _videos_in(directory: Path) -> list[str]:
    """The video files under `directory`, in sub-folders too (not hidden, a video extension), sorted.

    Raises:
        ValueError: there are none.
    """
    from movinet.data.video import VIDEO_EXTENSIONS

    files = []
    for folder, subfolders, names in os.walk(directory):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        files += [Path(folder) / name for name in names
                  if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_EXTENSIONS]
    if not files:
        raise ValueError(f"directory {directory} holds no video files ({', '.join(VIDEO_EXTENSIONS)}), nor do its "
                         "sub-folders")
    return [str(path) for path in sorted(files)]


def _read_list_file(path: Path) -> list[str]:
    """Paths of a list file: one per line, `#` comments; relative paths may be relative to the list.

    Lines are read as training reads video lists: `path` or `path label`, the label being the last
    column, so a path may contain spaces (`my clip.mp4 3`).
    """
    entries = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():  # -sig: a byte-order mark is not a path
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = _resolve_entry(line, path.parent)
        columns = line.rsplit(maxsplit=1)
        if not Path(entry).exists() and len(columns) == 2 and columns[1].lstrip("-").isdigit():
            entry = _resolve_entry(columns[0], path.parent)  # a PaddleVideo `path label` line
        entries.append(entry)
    return entries


def _resolve_entry(entry: str, base: Path) -> str:
    """A list entry as given when it exists (or cannot be found beside the list), else beside the list."""
    path = Path(entry).expanduser()
    if path.is_absolute() or path.exists() or not (base / path).exists():
        return str(path)
    return str(base / path)

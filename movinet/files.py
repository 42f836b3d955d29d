"""Atomic file writes shared by every writer of weights, sidecars and checkpoints.

A file is written to a temporary `.NAME.tmp-PID` beside it, flushed to disk and renamed over the
target, so a reader (or a run killed at any moment) sees either the old file or the complete new
one. The temporary file is created with `open()`, so the result has the same permissions as every
other output (0666 minus the umask, i.e. 0644 usually), not the 0600 some libraries use. A write
killed midway leaves its temporary file; the next write of the same target removes it.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "remove_stale_temp_files", "remove_temp_files",
           "TEMP_MARK"]

TEMP_MARK = ".tmp-"


def _temp_path(path: Path) -> Path:
    return path.parent / f".{path.name}{TEMP_MARK}{os.getpid()}"


def _remove_all(paths: Iterable[Path]) -> list[Path]:
    removed = []
    for stale in paths:
        try:
            stale.unlink()
            removed.append(stale)
        except FileNotFoundError:
            pass
    return removed


def remove_stale_temp_files(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that killed writes of `path` left beside it; returns them."""
    path = Path(path)
    return _remove_all(path.parent.glob(f".{path.name}{TEMP_MARK}*"))


def remove_temp_files(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete every temporary file of an interrupted write in `directory`; returns them."""
    return _remove_all(Path(directory).glob(f".*{TEMP_MARK}*"))


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Write `path` atomically: `write(handle)` fills a temporary file that then replaces `path`.

    Raises:
        OSError: the directory cannot be created or written (nothing is left behind).
    """
    path = Path(path)
    if path.is_dir():  # checked first: the rename would fail only after the whole file was written
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)
    tmp = _temp_path(path)
    try:
        try:
            handle = open(tmp, "wb")
        except PermissionError as error:  # name the directory the user chose, not our temporary file
            raise PermissionError(error.errno, error.strerror, str(path.parent)) from None
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_directory(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """`atomic_write` of a bytes value."""
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """`atomic_write` of UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_directory(directory: Path) -> None:
    # The rename itself is only durable once the directory entry is flushed (POSIX only).
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

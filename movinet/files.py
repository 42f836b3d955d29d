"""Every file movinet writes goes through here: atomic writes, one temporary-file naming, and the
check that no output of a command lands on one of its inputs.

A file is written to a temporary `.NAME.tmp-PID` beside it, flushed to disk and renamed over the
target, so a reader (or a run killed at any moment) sees either the old file or the complete new
one. The temporary file is created with `open()`, so the result has the same permissions as every
other output (0666 minus the umask, i.e. 0644 usually), not the 0600 some libraries use. A write
killed midway leaves its temporary file; the next write of the same target removes it, and
`remove_temp_files` sweeps a directory. Only the temporary files of processes that are gone are
removed: a `.NAME.tmp-PID` whose PID still runs belongs to a write in progress.

Writers that need a path rather than a file handle (the ONNX exporter) use `atomic_output`, which
yields the temporary path and renames it into place once the block succeeds; a writer of several
files (the release cache's conversion) works in a `.NAME.tmp-PID` folder, swept the same way.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_output", "atomic_write", "atomic_write_bytes", "atomic_write_text", "check_outputs",
           "pid_alive", "remove_stale_temp_files", "remove_temp_files", "temp_path", "write_failed",
           "OutputOverlapError", "TEMP_MARK"]

TEMP_MARK = ".tmp-"

PathLike = str | os.PathLike[str]


class OutputOverlapError(ValueError):
    """An output of a command resolves to one of its inputs, or to another of its outputs."""


def temp_path(path: PathLike) -> Path:
    """The temporary file of a write of `path` by this process: `.NAME.tmp-PID` beside it."""
    path = Path(path)
    return path.parent / f".{path.name}{TEMP_MARK}{os.getpid()}"


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    except OSError:
        return False
    return True


def _writer_pid(temp: Path) -> int | None:
    """The PID in a temporary file's name, or None when the name is not one of ours."""
    suffix = temp.name.rpartition(TEMP_MARK)[2]
    return int(suffix) if suffix.isdigit() else None


def _remove_all(paths: Iterable[Path]) -> list[Path]:
    """Delete each temporary file, or folder (a writer that fills several files works in one)."""
    removed = []
    for stale in paths:
        try:
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink()
            removed.append(stale)
        except FileNotFoundError:
            pass
    return removed


def remove_stale_temp_files(path: PathLike) -> list[Path]:
    """Delete the temporary files that killed writes of `path` left beside it; returns them.

    A temporary file of a process that still runs is a write in progress and is kept; this
    process's own is a leftover of an earlier failed write of the same target.
    """
    path = Path(path)
    candidates = path.parent.glob(f".{path.name}{TEMP_MARK}*")
    return _remove_all(temp for temp in candidates
                       if (pid := _writer_pid(temp)) is not None and (pid == os.getpid() or not pid_alive(pid)))


def remove_temp_files(directory: PathLike) -> list[Path]:
    """Delete the temporary files of interrupted writes in `directory` (those whose process is
    gone); returns them."""
    candidates = Path(directory).glob(f".*{TEMP_MARK}*")
    return _remove_all(temp for temp in candidates if (pid := _writer_pid(temp)) is not None and not pid_alive(pid))


def _check_target(path: Path) -> None:
    if path.is_dir():  # checked first: the rename would fail only after the whole file was written
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path)


def atomic_write(path: PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write `path` atomically: `write(handle)` fills a temporary file that then replaces `path`.

    Raises:
        OSError: the directory cannot be created or written (nothing is left behind).
    """
    path = Path(path)
    _check_target(path)
    tmp = temp_path(path)
    try:
        try:
            handle = open(tmp, "wb")
        except PermissionError as error:  # name the directory the user chose, not our temporary file
            raise PermissionError(error.errno, error.strerror, str(path.parent)) from None
        try:
            with handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as error:
            raise write_failed(error, path) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_directory(path.parent)
    return path


# The write errors a full disk or a quota gives: the message says what happened to the old file.
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def write_failed(error: OSError, path: Path) -> OSError:
    """The error of a failed atomic write of `path`, saying that the file there before is intact
    (the write went to a temporary file). Other OS errors are returned as they are."""
    if error.errno not in _NO_SPACE:
        return error
    kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
    return OSError(error.errno, f"{error.strerror or os.strerror(error.errno)} while writing {path}; {kept}: "
                   "free some space and run again")


@contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """For writers that take a path: yields the temporary path to write; when the block ends
    without an exception it replaces `path`, else it is removed.

        with atomic_output(out / "model.onnx") as tmp:
            torch.onnx.export(..., tmp)
    """
    path = Path(path)
    _check_target(path)
    tmp = temp_path(path)
    try:
        yield tmp
        try:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as error:
            raise write_failed(error, path) from None
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """`atomic_write` of a bytes value."""
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: PathLike, text: str) -> Path:
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


# -- outputs never land on inputs --------------------------------------------------------------------


def _identity(path: PathLike) -> tuple[str, tuple[int, int] | None]:
    """What a path refers to: its resolved text (symlinks followed, also for a file not there yet)
    and, for an existing file, its device and inode (which also catch hard links)."""
    resolved = os.path.realpath(os.path.expanduser(os.fspath(path)))
    try:
        status = os.stat(resolved)
    except OSError:
        return resolved, None
    return resolved, (status.st_dev, status.st_ino)


def _same(a: tuple[str, tuple[int, int] | None], b: tuple[str, tuple[int, int] | None]) -> bool:
    return a[0] == b[0] or (a[1] is not None and a[1] == b[1])


def check_outputs(inputs: Mapping[str, PathLike | None], outputs: Mapping[str, PathLike | None],
                  remedy: str | None = None) -> None:
    """Refuse, before anything is opened for writing, an output that is one of the inputs or
    another output of the same command.

    Args:
        inputs: how the user gave each input (e.g. "--input x.mp4") -> its path; None entries
            (an option not given) are skipped.
        outputs: the same for every file the command will write.
        remedy: what the user should do (default: choose another path for the output).

    Raises:
        OutputOverlapError: one line naming both and saying what to do.
    """
    seen = [(name, _identity(path)) for name, path in inputs.items() if path is not None]
    for name, path in outputs.items():
        if path is None:
            continue
        identity = _identity(path)
        for other, other_identity in seen:
            if _same(identity, other_identity):
                is_input = other in inputs
                raise OutputOverlapError(
                    f"{name} and {other} are the same file ({identity[0]}): "
                    + ("movinet never writes over an input; " if is_input else "two outputs cannot share a file; ")
                    + (remedy or f"choose another path for {name}"))
        seen.append((name, identity))

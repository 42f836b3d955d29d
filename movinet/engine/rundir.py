"""Run directories: one run per directory, and nothing movinet did not write is ever overwritten.

* **One run at a time.** A run holds `OUTPUT_DIR/.movinet-run.lock`, created exclusively with its
  process id (and host) inside. A second run into the same directory (fresh or `--resume`) is
  refused while that process lives; a lock whose process is gone is stale and taken over.
* **Nothing foreign is overwritten.** A run marks its directory with `.movinet-run` before it
  writes anything else. A fresh run refuses a directory that holds files under the names a run
  writes (`config.yaml`, `train.log`, ...) without that mark: movinet did not write them (a
  config given with `-c` may be one of them). `--overwrite` removes them, and says which.
* **A run is never replaced silently.** A fresh run refuses a directory holding another run's
  checkpoints or weights (`--resume` it, or `--overwrite`).

Only the files a run writes (`RUN_OUTPUTS`) are ever removed; other files are left as they are.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from movinet.files import TEMP_MARK, pid_alive, remove_temp_files, temp_path

if TYPE_CHECKING:
    from movinet.engine.config import Config

log = logging.getLogger("movinet.train")

LOCK_NAME = ".movinet-run.lock"
MARK_NAME = ".movinet-run"
# What a run writes into its directory (see `movinet.engine.train`); other files are never touched.
RUN_STATE = ("last.pt", "epoch_*.pt", "best.safetensors", "final.safetensors")
RUN_FILES = ("best.json", "final.json", "config.yaml", "config.json", "train.log", "train_log.jsonl",
             "training_curves.png")
RUN_OUTPUTS = (*RUN_STATE, *RUN_FILES, f".*{TEMP_MARK}*")


class RunDirectoryError(ValueError):
    """`train.output_dir` cannot take this run: it holds another run, or files movinet did not write."""


def run_files(run_dir: Path, patterns: tuple[str, ...]) -> list[Path]:
    """The files of `run_dir` matching `patterns`, sorted."""
    return sorted({path for pattern in patterns for path in run_dir.glob(pattern) if path.is_file()})


def fixed_outputs(run_dir: Path) -> dict[str, Path]:
    """The files of fixed name a run writes in `run_dir`, by how a user would name them (the
    command line checks that no input of `movinet train` is one of them)."""
    names = ("last.pt", "best.safetensors", "final.safetensors", *RUN_FILES)
    return {f"train.output_dir's {name}": run_dir / name for name in names}


def run_directory(output_dir: str, resume: str | None, overwrite: bool) -> Path:
    """Where a run writes: the checkpoint's own directory for a resume, else `output_dir`.

    Raises:
        RunDirectoryError: a fresh run into a directory holding another run or files movinet did
            not write, without `overwrite`.
        NotADirectoryError: `output_dir` is a file.
    """
    if resume:
        return Path(resume).resolve().parent
    run_dir = Path(output_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"train.output_dir {run_dir} is a file; set -o train.output_dir=DIR to a directory")
    if not run_dir.is_dir() or overwrite:
        return run_dir
    previous = run_files(run_dir, RUN_STATE)
    if previous:
        raise RunDirectoryError(_holds_a_run(run_dir, ", ".join(path.name for path in previous[:4])))
    foreign = foreign_files(run_dir)
    if foreign:
        raise RunDirectoryError(
            f"train.output_dir {run_dir} holds files movinet did not write ({', '.join(p.name for p in foreign[:5])}); "
            "a run would overwrite them: move them away, train into another directory with "
            "-o train.output_dir=DIR, or remove them with --overwrite")
    return run_dir


def _holds_a_run(run_dir: Path, what: str) -> str:
    return (f"train.output_dir {run_dir} already holds a run ({what}); continue it with --resume "
            f"{run_dir / 'last.pt'}, replace it with --overwrite, or train into another directory with "
            "-o train.output_dir=DIR")


def foreign_files(run_dir: Path) -> list[Path]:
    """Files under a run's output names in a directory no movinet run has marked."""
    if (run_dir / MARK_NAME).is_file():
        return []
    return run_files(run_dir, RUN_FILES)


def with_output_dir(cfg: Config, run_dir: Path) -> tuple[Config, list[str]]:
    """`cfg` with `train.output_dir` set to `run_dir` (a resume writes in its checkpoint's
    directory), and the warning to log when that changed it."""
    if Path(cfg.train.output_dir).resolve() == run_dir.resolve():
        return cfg, []
    warning = f"resuming in the checkpoint's own run directory {run_dir} (train.output_dir is {cfg.train.output_dir})"
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, output_dir=str(run_dir))), [warning]


# -- the lock ---------------------------------------------------------------------------------------


def _lock_owner(lock: Path) -> dict | None:
    """The lock's record ({"pid", "host", "started"}), or None when it cannot be read."""
    try:
        record = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else None


def _is_stale(owner: dict | None, lock: Path) -> bool:
    if owner is None:  # unreadable: a writer killed between creating and filling it is long gone
        try:
            return time.time() - lock.stat().st_mtime > 60
        except OSError:
            return True
    if owner.get("host") not in (None, socket.gethostname()):
        return False  # another machine's process: cannot tell, so it holds
    return not pid_alive(owner["pid"])


def _try_create(lock: Path, record: str) -> bool:
    """Create `lock` holding `record` in one step (a hard link of a filled temporary file), so no
    reader sees it empty. False when it exists."""
    tmp = temp_path(lock)
    tmp.write_text(record, encoding="utf-8")
    try:
        os.link(tmp, lock)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def acquire_lock(run_dir: Path) -> tuple[Path, list[str]]:
    """Take `run_dir`'s lock for this process; a stale lock (its process gone) is taken over.

    Returns:
        The lock, and the lines to log once logging runs (a stale lock taken over).

    Raises:
        RunDirectoryError: another live process holds it.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / LOCK_NAME
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
    notes: list[str] = []
    for _ in range(3):
        if _try_create(lock, record):
            return lock, notes
        owner = _lock_owner(lock)
        if not _is_stale(owner, lock):
            pid = owner["pid"] if owner else "?"
            raise RunDirectoryError(_holds_a_run(run_dir, f"process {pid} is training in it now; wait for it to end")
                                    .replace(", replace it with --overwrite", ""))
        notes.append(f"took over {lock}: process {owner['pid'] if owner else '?'} that held it is gone")
        lock.unlink(missing_ok=True)
    raise RunDirectoryError(f"cannot take the lock {lock}: other processes keep creating it; is another run starting?")


def release_lock(lock: Path) -> None:
    """Remove the lock if this process still holds it."""
    owner = _lock_owner(lock)
    if owner is not None and owner.get("pid") == os.getpid():
        lock.unlink(missing_ok=True)


# -- preparing the directory ---------------------------------------------------------------------------


def prepare_run_directory(run_dir: Path, *, resuming: bool, overwrite: bool) -> list[str]:
    """Main rank, with the lock held: clear what an interrupted write left (resume), or the
    replaced run (overwrite); mark the directory as a run's. Returns the lines to log (logging
    starts after this, and they must reach the console and `train.log`)."""
    lines = []
    if resuming:
        lines += [f"removed {stale}, left by an interrupted checkpoint write" for stale in remove_temp_files(run_dir)]
    elif overwrite and run_dir.is_dir():
        replaced = run_files(run_dir, RUN_OUTPUTS)
        for path in replaced:
            path.unlink()
        if replaced:
            lines.append(f"--overwrite: removed {len(replaced)} files from {run_dir}: "
                         + ", ".join(path.name for path in replaced))
    run_dir.mkdir(parents=True, exist_ok=True)
    mark = run_dir / MARK_NAME
    if not mark.is_file():
        mark.write_text(json.dumps({"written_by": "movinet train", "created": time.time()}) + "\n", encoding="utf-8")
    return lines

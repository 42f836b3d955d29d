"""Run records: console/file logging on rank 0, the JSON-lines log and the plots drawn from it.

`train_log.jsonl` has one JSON object per line with a `type`:
  "train": every `train.log_interval` optimizer steps (epoch, step, global_step, loss, lr, clips_per_s,
           num_skipped);
  "epoch": end of an epoch (mean loss, last lr, clips_per_s, num_skipped summed over the epoch);
  "val":   after a validation (top1, top5, num_samples, num_skipped).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import tqdm

from movinet.files import atomic_write, atomic_write_text

LOGGER_NAME = "movinet"


class _TqdmHandler(logging.StreamHandler):
    """Console handler that prints through tqdm, so log lines do not break progress bars."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.tqdm.write(self.format(record))
        except Exception:  # logging must never kill training
            self.handleError(record)


@contextmanager
def run_logging(run_dir: Path | None, *, is_main: bool) -> Iterator[logging.Logger]:
    """Configure the `movinet` logger for one run: console + `run_dir/train.log` on the main rank,
    warnings only elsewhere. Handlers are removed again on exit (fit() may be called repeatedly)."""
    logger = logging.getLogger(LOGGER_NAME)
    previous_level, previous_propagate = logger.level, logger.propagate
    handlers: list[logging.Handler] = []
    if is_main:
        formatter = logging.Formatter("[%(asctime)s] %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        handlers.append(_TqdmHandler())
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.FileHandler(run_dir / "train.log", encoding="utf-8"))
        for handler in handlers:
            handler.setFormatter(formatter)
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # a root handler (e.g. logging.basicConfig in a CLI) would print twice
    else:
        logger.setLevel(logging.WARNING)
    try:
        yield logger
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(previous_level)
        logger.propagate = previous_propagate


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one record to a JSON-lines file (flushed, so a killed run keeps what it logged)."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All records of a JSON-lines file; a torn last line (killed writer) is ignored."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_jsonl_for_resume(path: Path, *, completed_epochs: int, global_step: int) -> None:
    """Drop the records a killed run wrote after the checkpoint being resumed, so the resumed run's
    log reads like one uninterrupted run."""
    if not path.is_file():
        return
    kept = [
        record
        for record in read_jsonl(path)
        if (record.get("type") == "train" and record.get("global_step", 0) <= global_step)
        or (record.get("type") in ("epoch", "val") and record.get("epoch", 0) <= completed_epochs)
    ]
    atomic_write_text(path, "".join(json.dumps(record) + "\n" for record in kept))


def plot_training_curves(log_path: Path, png_path: Path) -> Path | None:
    """Draw loss and lr per optimizer step and validation top-1 per epoch into a PNG.

    Returns the PNG path, or None when the log holds no training records.
    """
    records = read_jsonl(log_path)
    train = [r for r in records if r.get("type") == "train"]
    val = [r for r in records if r.get("type") == "val"]
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on servers
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    steps = [r["global_step"] for r in train]
    axes[0].plot(steps, [r["loss"] for r in train])
    axes[0].set(title="training loss", xlabel="optimizer step", ylabel="cross-entropy")
    axes[1].plot(steps, [r["lr"] for r in train])
    axes[1].set(title="learning rate", xlabel="optimizer step", ylabel="lr")
    if val:
        axes[2].plot([r["epoch"] for r in val], [r["top1"] for r in val], marker="o")
    axes[2].set(title="validation top-1", xlabel="epoch", ylabel="top-1", ylim=(0, 1))
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(png_path, lambda handle: fig.savefig(handle, format="png", dpi=100))
    plt.close(fig)
    return png_path


def plot_confusion_matrix(matrix: list[list[int]], class_names: list[str] | None, png_path: Path) -> Path:
    """Row-normalised confusion matrix (rows: true class, columns: predicted) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.asarray(matrix, dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    num_classes = counts.shape[0]
    size = min(4 + 0.35 * num_classes, 40)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set(xlabel="predicted class", ylabel="true class", title="confusion matrix (row-normalised)")
    if num_classes <= 40:
        names = class_names or [str(i) for i in range(num_classes)]
        ax.set_xticks(range(num_classes), names, rotation=90)
        ax.set_yticks(range(num_classes), names)
        if num_classes <= 15:
            for i in range(num_classes):
                for j in range(num_classes):
                    if counts[i, j]:
                        ax.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=8)
    fig.tight_layout()
    atomic_write(png_path, lambda handle: fig.savefig(handle, format="png", dpi=100))
    plt.close(fig)
    return png_path

"""TensorBoard event files beside the JSON-lines log (`train.tensorboard: true`).

The run's `train_log.jsonl` stays the record (plots, resume, tests read it); `TensorBoardMirror`
copies each new record of it into `<run_dir>/tensorboard` as scalars, so TensorBoard shows the run
while it trains (`tensorboard --logdir OUTPUT_DIR`):

    train/loss, train/lr, train/clips_per_s   every logged optimizer step (x = global step)
    epoch/loss, epoch/clips_per_s             every epoch
    val/top1, val/top5, val/loss              every validation

The writer is `torch.utils.tensorboard`, which needs the `tensorboard` package (the optional
extra `movinet[tensorboard]`); asking for event files without it is an error before training starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TENSORBOARD_DIR = "tensorboard"

# record type -> (tag prefix, the record's fields written as scalars)
_SCALARS = {
    "train": ("train", ("loss", "lr", "clips_per_s")),
    "epoch": ("epoch", ("loss", "clips_per_s")),
    "val": ("val", ("top1", "top5", "loss")),
}


def _summary_writer(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("train.tensorboard needs the tensorboard package: pip install \"movinet[tensorboard]\" "
                         "(or set train.tensorboard: false)") from None
    return SummaryWriter(log_dir=str(log_dir))


class TensorBoardMirror:
    """Writes the records appended to a JSON-lines run log since the last `update` as TensorBoard scalars.

    Args:
        log_path: the run's `train_log.jsonl` (records already in it are not copied: on a resume
            TensorBoard keeps the events of the interrupted run).
        log_dir: where the event files go (created).
    """

    def __init__(self, log_path: Path, log_dir: Path) -> None:
        self.log_path = Path(log_path)
        self.writer = _summary_writer(Path(log_dir))
        self.offset = self.log_path.stat().st_size if self.log_path.is_file() else 0

    def update(self) -> int:
        """Copy the new complete records; returns how many were written."""
        if not self.log_path.is_file():
            return 0
        with self.log_path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next update
        self.offset += len(complete)
        written = 0
        for line in complete.decode("utf-8").splitlines():
            if line.strip():
                written += self._write(json.loads(line))
        self.writer.flush()
        return written

    def _write(self, record: dict[str, Any]) -> int:
        prefix, fields = _SCALARS.get(record.get("type"), (None, ()))
        step = record.get("global_step", 0)
        values = [(name, record[name]) for name in fields if isinstance(record.get(name), (int, float))]
        for name, value in values:
            self.writer.add_scalar(f"{prefix}/{name}", value, step)
        return len(values)

    def close(self) -> None:
        self.update()
        self.writer.close()

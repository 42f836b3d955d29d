"""A run killed with SIGKILL mid-epoch and resumed ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from movinet.engine.checkpoint import load_checkpoint

WORKER = Path(__file__).with_name("engine_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def worker(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(WORKER), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = 600) -> None:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output


def wait_for_step(path: Path, step: int, process: subprocess.Popen, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed:\n" + process.communicate()[0]
        if path.exists():
            checkpoint = load_checkpoint(path)
            if checkpoint["global_step"] >= step:
                return checkpoint
        time.sleep(0.05)
    raise TimeoutError(f"{path} never reached step {step}")


def train_losses(run: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    return {r["global_step"]: r["loss"] for r in records if r["type"] == "train"}


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bit_exact(tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    reference = worker("run", str(straight))
    victim = worker("run", str(killed), "--item-delay", "0.3")
    seen = wait_for_step(killed / "last.pt", 6, victim)  # epoch 2 of 3 (4 steps per epoch)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    finish(reference)

    survivor = load_checkpoint(killed / "last.pt")  # the last good checkpoint is intact and loadable
    assert survivor["global_step"] >= seen["global_step"]
    assert 0 < survivor["step_in_epoch"] < 4 or survivor["global_step"] % 4 == 0
    assert survivor["global_step"] < 12, "killed too late to test a resume"

    finish(worker("run", str(killed), "--resume", str(killed / "last.pt")))
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(killed / "last.pt")
    assert a["global_step"] == b["global_step"] == 12
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), f"model tensor {key} differs after resume"
    for index, slots in a["optimizer"]["state"].items():
        for name, value in slots.items():
            assert torch.equal(value, b["optimizer"]["state"][index][name]), f"optimizer {index}.{name} differs"
    assert a["best_top1"] == b["best_top1"]
    assert train_losses(straight) == train_losses(killed)  # the log reads like one uninterrupted run

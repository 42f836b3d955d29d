"""Two CPU processes under torchrun (gloo): identical weights after a step, disjoint data shards,
and a whole validated `fit` that does not deadlock."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("engine_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_ddp(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", str(WORKER), "ddp", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr

    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert len(rank0["parameters"]) > 100
    for key, value in rank0["parameters"].items():
        assert torch.equal(value, rank1["parameters"][key]), f"{key} differs between ranks"
    assert set(rank0["indices"]).isdisjoint(rank1["indices"])
    assert sorted(rank0["indices"] + rank1["indices"]) == list(range(8))

    log = (tmp_path / "fit" / "train.log").read_text()
    assert "on cpu x 2" in log and "Already save the best model (top1 acc)" in log
    assert "over 5 videos" in log  # validation gathered every sample exactly once
    assert (tmp_path / "fit" / "final.safetensors").exists()

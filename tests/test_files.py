"""Weights, sidecars and checkpoints: written atomically with ordinary permissions, no temp files left."""

from __future__ import annotations

import os
import stat

import pytest
import torch

import movinet
from movinet.engine.checkpoint import atomic_torch_save
from movinet.files import atomic_write
from movinet.weights import read_weights, save_weights


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_weights_and_sidecar_are_0644(tmp_path, umask_022):
    model = movinet.create_model("movinet_t0_base", num_classes=3)
    path = save_weights(model, tmp_path / "best.safetensors", model_name="movinet_t0_base")
    assert mode(path) == 0o644
    assert mode(tmp_path / "best.json") == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json", "best.safetensors"]
    tensors, meta = read_weights(path)
    assert meta["num_classes"] == 3
    state = model.state_dict()
    assert tensors.keys() == state.keys() and all(torch.equal(tensors[k], state[k]) for k in state)


def test_next_save_removes_the_temp_file_of_a_killed_write(tmp_path, umask_022):
    model = movinet.create_model("movinet_t0_base", num_classes=3)
    for name in (".best.safetensors.tmp-999999", ".best.json.tmp-999999", ".last.pt.tmp-999999"):
        (tmp_path / name).write_bytes(b"half a file")  # what SIGKILL during a write leaves
    save_weights(model, tmp_path / "best.safetensors", model_name="movinet_t0_base")
    atomic_torch_save({"step": 1}, tmp_path / "last.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json", "best.safetensors", "last.pt"]
    assert mode(tmp_path / "last.pt") == 0o644


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "last.pt"
    target.write_bytes(b"old")

    def crash(handle):
        handle.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, crash)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]

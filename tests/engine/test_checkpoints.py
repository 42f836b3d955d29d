"""Training checkpoints: round trip, clear errors for missing/corrupt files, atomic writes."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from movinet.engine import checkpoint as ckpt
from movinet.engine.config import config_from_dict
from movinet.engine.distributed import DistInfo
from movinet.engine.optim import RMSPropTF
from movinet.engine.train import TrainState, checkpoint_payload, restore_training_state


def model_and_optimizer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(2, 3, 1, 2, 2))
    optimizer = RMSPropTF(model.parameters(), lr=0.1)
    model(torch.randn(2, 3, 1, 2, 2)).sum().backward()
    optimizer.step()
    return model, optimizer


def write_checkpoint(path, state=None):
    model, optimizer = model_and_optimizer()
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    cfg = config_from_dict({"model": {"name": "movinet_a0_base"}})
    state = state or TrainState(epoch=3, step_in_epoch=5, global_step=41, best_top1=0.5, best_epoch=2)
    payload = checkpoint_payload(model, optimizer, scaler, state, cfg, {"arch": "movinet_a0_base"})
    ckpt.save_checkpoint(path, payload)
    return model, optimizer, cfg


def test_round_trip_restores_everything(tmp_path):
    path = tmp_path / "last.pt"
    model, optimizer, cfg = write_checkpoint(path)
    loaded = ckpt.load_checkpoint(path)
    fresh = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), nn.Flatten(), nn.Linear(4 * 4, 2))
    fresh_optimizer = RMSPropTF(fresh.parameters(), lr=0.1)
    state = restore_training_state(loaded, fresh, fresh_optimizer, torch.amp.GradScaler("cpu", enabled=False),
                                   DistInfo(), cfg)
    assert state == TrainState(epoch=3, step_in_epoch=5, global_step=41, best_top1=0.5, best_epoch=2)
    for key, value in model.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[key]), key
    for a, b in zip(optimizer.state.values(), fresh_optimizer.state.values()):
        assert torch.equal(a["square_avg"], b["square_avg"]) and torch.equal(a["momentum_buffer"], b["momentum_buffer"])
    assert loaded["config"]["model"]["name"] == "movinet_a0_base"


def test_rng_states_round_trip():
    state = ckpt.capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.random(), np.random.rand(), torch.rand(5)  # move on
    ckpt.restore_rng_state(state)
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint .*nope.pt not found"):
        ckpt.load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path, damage):
    path = tmp_path / "last.pt"
    write_checkpoint(path)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00not a checkpoint" * 10, "empty": b""}[damage])
    with pytest.raises(ValueError, match="truncated, corrupt or not a movinet training checkpoint"):
        ckpt.load_checkpoint(path)


def test_foreign_or_incomplete_files_are_refused(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="not a movinet training checkpoint"):
        ckpt.load_checkpoint(foreign)
    incomplete = tmp_path / "incomplete.pt"
    torch.save({"format": ckpt.CHECKPOINT_FORMAT, "model": {}}, incomplete)
    with pytest.raises(ValueError, match="incomplete"):
        ckpt.load_checkpoint(incomplete)


def test_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    write_checkpoint(path)
    before = path.read_bytes()

    def dying_save(obj, handle):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        write_checkpoint(path, TrainState(epoch=9))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert ckpt.load_checkpoint(path)["epoch"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_strip_prefixes():
    state = {"module._orig_mod.a": 1, "module.b": 2, "c": 3}
    assert ckpt.strip_prefixes(state) == {"a": 1, "b": 2, "c": 3}

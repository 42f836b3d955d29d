"""A run whose loss turns NaN stops with one line naming the step and the last good checkpoint, and
non-finite weights are never written as a checkpoint, best or final."""

from __future__ import annotations

import pytest
import torch

import movinet
from engine_helpers import RandomVideoDataset, tiny_config
from movinet.data.preprocessing import Preprocessing
from movinet.engine.checkpoint import export_weights, load_checkpoint, save_checkpoint
from movinet.engine.train import fit


class DivergingDataset(RandomVideoDataset):
    """Fine in the first epoch; from epoch `bad_epoch` on, one item is NaN (a diverged forward)."""

    def __init__(self, *args, bad_epoch: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bad_epoch = bad_epoch

    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        if self.epoch >= self.bad_epoch and index == 0:
            item["video"] = torch.full_like(item["video"], float("nan"))
        return item


def test_a_nan_loss_stops_the_run_and_saves_nothing_non_finite(tmp_path):
    run = tmp_path / "run"
    data = {"train": DivergingDataset(4, 3), "val": RandomVideoDataset(2, 3, views=1)}
    cfg = tiny_config(run, train={"epochs": 3})
    with pytest.raises(ValueError) as caught:
        fit(cfg, validate=True, datasets=data)
    message = str(caught.value)
    assert "\n" not in message
    assert "loss is nan at epoch 2, optimizer step 3" in message or "loss is nan at epoch 2, optimizer step 4" in message
    assert f"Last good checkpoint: {run / 'last.pt'} (epoch 1, optimizer step 2)" in message
    assert not (run / "final.safetensors").exists()
    checkpoint = load_checkpoint(run / "last.pt")
    assert checkpoint["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in checkpoint["model"].values() if t.is_floating_point())
    best, _ = movinet.load_model(run / "best.safetensors")  # epoch 1's, finite
    assert all(torch.isfinite(p).all() for p in best.parameters())


def test_a_run_diverging_before_any_checkpoint_says_so(tmp_path):
    data = {"train": DivergingDataset(4, 3, bad_epoch=0)}
    with pytest.raises(ValueError, match="No checkpoint was written before it"):
        fit(tiny_config(tmp_path / "run"), datasets=data)
    assert not (tmp_path / "run" / "last.pt").exists() and not (tmp_path / "run" / "final.safetensors").exists()


def test_non_finite_weights_are_never_written(tmp_path):
    model = movinet.create_model("movinet_t0_base", num_classes=3)
    with torch.no_grad():
        model.classifier.logits.weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match="'classifier.logits.weight' holds NaN or infinite"):
        export_weights(model, tmp_path / "final.safetensors", model_name="movinet_t0_base", labels=None,
                       preprocessing=Preprocessing.from_model(movinet.get_model_info("movinet_t0_base")))
    payload = {"model": model.state_dict(), "optimizer": {}, "epoch": 1, "step_in_epoch": 0, "global_step": 1,
               "config": {}}
    with pytest.raises(ValueError, match="holds NaN or infinite"):
        save_checkpoint(tmp_path / "last.pt", payload)
    assert sorted(p.name for p in tmp_path.iterdir()) == []

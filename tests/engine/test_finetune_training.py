"""Fine-tuning features of the training loop: the classifier trained alone first (a frozen backbone),
the best epoch chosen by top-1 then validation loss, and TensorBoard event files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import movinet
from engine_helpers import RandomVideoDataset, tiny_config
from movinet.engine.evaluate import Metrics
from movinet.engine.train import TrainState, _after_validation, fit, is_new_best
from movinet.loading import load_model
from movinet.weights import save_weights


def _tensors(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith(prefix)}


def _changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> list[str]:
    return [k for k in before if not torch.equal(before[k], after[k])]


def test_a_frozen_backbone_keeps_weights_and_bn_statistics_while_the_classifier_learns(tmp_path):
    start = tmp_path / "start.safetensors"
    base = movinet.create_model("movinet_a0_base", num_classes=3)
    save_weights(base, start, model_name="movinet_a0_base")
    datasets = {"train": RandomVideoDataset(4), "val": RandomVideoDataset(2, views=1)}

    frozen = fit(tiny_config(tmp_path / "frozen", model={"weights": str(start)},
                             train={"epochs": 1, "freeze_backbone_epochs": 1}), validate=True, datasets=datasets)
    model, _ = load_model(frozen["final_weights"])
    backbone_changes = _changed({k: v for k, v in base.state_dict().items() if not k.startswith("classifier.")},
                                {k: v for k, v in model.state_dict().items() if not k.startswith("classifier.")})
    assert backbone_changes == []  # weights, BN running statistics and counters alike
    assert _changed(_tensors(base, "classifier."), _tensors(model, "classifier."))

    thawed = fit(tiny_config(tmp_path / "thawed", model={"weights": str(start)},
                             train={"epochs": 2, "freeze_backbone_epochs": 1}), validate=True, datasets=datasets)
    model, _ = load_model(thawed["final_weights"])
    changed = _changed(base.state_dict(), model.state_dict())
    assert any(k.startswith("blocks.") and k.endswith(".weight") for k in changed)  # epoch 2 trains the backbone
    assert any(k.endswith("running_mean") for k in changed)
    log = (tmp_path / "thawed" / "train.log").read_text()
    assert "epoch 1/2 (classifier only, backbone frozen)" in log and "epoch 2/2: loss" in log


def _metrics(top1: float, loss: float | None) -> Metrics:
    return Metrics(top1=top1, top5=1.0, num_samples=4, per_class_accuracy=[], confusion_matrix=[], loss=loss)


@pytest.mark.parametrize("history, best_epoch", [
    ([(0.5, 0.9), (1.0, 0.4), (1.0, 0.2), (1.0, 0.3)], 3),   # a tie at 1.0 goes to the lowest loss
    ([(0.5, 0.9), (1.0, 0.4), (1.0, 0.4)], 3),               # and an exact tie to the later epoch
    ([(0.75, 0.1), (0.5, 0.05)], 1),                         # top-1 first: a lower loss alone never wins
    ([(0.5, None), (0.5, None)], 2),                         # no loss known: the later epoch
])
def test_the_best_epoch_breaks_top1_ties_by_validation_loss(history, best_epoch):
    state, saved = TrainState(), []
    for epoch, (top1, loss) in enumerate(history, start=1):
        state.epoch = epoch
        _after_validation(_metrics(top1, loss), state, None, lambda: saved.append(state.epoch), set(), set())
    assert state.best_epoch == best_epoch and saved[-1] == best_epoch
    assert is_new_best(_metrics(state.best_top1, state.best_loss), state)  # equal is kept as "later wins"


def test_a_run_reports_the_best_epochs_loss_and_logs_validation_loss(trained_run):
    cfg, result = trained_run
    assert result["best_epoch"] in (1, 2) and math.isfinite(result["best_val_loss"])
    from movinet.engine.runlog import read_jsonl

    val = [r for r in read_jsonl(Path(cfg.train.output_dir) / "train_log.jsonl") if r["type"] == "val"]
    assert all(r["loss"] > 0 for r in val)
    best = max(val, key=lambda r: (r["top1"], -r["loss"], r["epoch"]))
    assert best["epoch"] == result["best_epoch"]


def test_tensorboard_event_files_mirror_the_json_log(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny_config(tmp_path / "run", train={"epochs": 2, "tensorboard": True, "log_interval": 1})
    fit(cfg, validate=True, datasets={"train": RandomVideoDataset(4), "val": RandomVideoDataset(2, views=1)})
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "epoch/loss", "val/top1", "val/top5", "val/loss"} <= tags
    from movinet.engine.runlog import read_jsonl

    logged = [r["loss"] for r in read_jsonl(tmp_path / "run" / "train_log.jsonl") if r["type"] == "train"]
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx(logged)
    assert len(events.Scalars("val/top1")) == 2


def test_without_tensorboard_asked_no_event_files_are_written(trained_run):
    cfg, _ = trained_run
    assert not (Path(cfg.train.output_dir) / "tensorboard").exists()


def test_the_too_few_samples_hint_names_the_setting_that_causes_it(tmp_path):
    from movinet.engine.distributed import DistInfo
    from movinet.engine.train import plan_loop

    accumulating = tiny_config(tmp_path, data={"batch_size": 2}, train={"global_batch_size": 8})  # 4 x 2 per step
    with pytest.raises(ValueError, match=r"5 samples.*lower train\.global_batch_size .*or set it to null"):
        plan_loop(accumulating, 5, DistInfo())
    with pytest.raises(ValueError, match=r"3 samples.*lower data\.batch_size$"):
        plan_loop(tiny_config(tmp_path, data={"batch_size": 4}, train={"global_batch_size": None}), 3, DistInfo())


def test_loader_workers_are_capped_at_the_usable_cores(monkeypatch):
    from movinet.engine import loaders

    monkeypatch.setattr(loaders, "usable_cores", lambda: 2)
    sampler = torch.utils.data.SequentialSampler(range(4))
    loader = loaders.make_loader(RandomVideoDataset(4), batch_size=2, sampler=sampler, num_workers=16, seed=0,
                                 train=True)
    assert loader.num_workers == 2
    assert loaders.make_loader(RandomVideoDataset(4), batch_size=2, sampler=sampler, num_workers=1, seed=0,
                               train=True).num_workers == 1

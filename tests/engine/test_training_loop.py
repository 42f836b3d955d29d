"""The training loop on a real (tiny) MoViNet-A0: learning, outputs, logging, resume, errors."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from movinet.engine.checkpoint import METADATA_KEY, load_checkpoint
from movinet.engine.distributed import DistInfo
from movinet.engine.loaders import train_loader_for_epoch
from movinet.engine.optim import build_optimizer
from movinet.engine.rundir import MARK_NAME
from movinet.engine.schedule import build_schedule
from movinet.engine.train import (
    StepSettings,
    TrainState,
    build_model,
    fit,
    plan_loop,
    resolve_amp,
    train_one_epoch,
)

from tests.conftest import random_model
from engine_helpers import RandomVideoDataset, tiny_config


def test_two_sample_overfit_lowers_the_loss(tmp_path):
    torch.manual_seed(0)
    cfg = tiny_config(tmp_path, lr_schedule={"base_lr": 3e-3})
    dataset = RandomVideoDataset(2)
    model = build_model(cfg.model, 3)
    plan = dataclasses.replace(plan_loop(cfg, len(dataset), DistInfo()), total_steps=100)
    schedule = build_schedule(cfg.lr_schedule, steps_per_epoch=plan.steps_per_epoch, total_steps=100)
    optimizer = build_optimizer(model, cfg.optimizer, lr=schedule(0))
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    state, losses = TrainState(), []
    for epoch in range(8):
        loader = train_loader_for_epoch(dataset, cfg, DistInfo(), epoch, 0)
        stats = train_one_epoch(model, loader, optimizer, schedule, scaler, StepSettings(device=torch.device("cpu")),
                                state, plan=plan)
        state.epoch, state.step_in_epoch = epoch + 1, 0
        losses.append(stats["loss"])
    assert state.global_step == 8
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3, losses


def test_fit_writes_the_run_directory(trained_run):
    cfg, result = trained_run
    run = cfg.train.output_dir
    names = {p.name for p in Path(run).iterdir()}
    assert {"config.yaml", "config.json", "train.log", "train_log.jsonl", "last.pt", "epoch_00001.pt",
            "epoch_00002.pt", "best.safetensors", "final.safetensors", "training_curves.png"} <= names
    assert result["epochs"] == 2 and result["global_step"] == 6  # 6 samples / batch 2 = 3 steps per epoch
    records = [json.loads(line) for line in Path(result["log"]).read_text().splitlines()]
    assert [r["type"] for r in records].count("val") == 2
    train = [r for r in records if r["type"] == "train"]
    assert [r["global_step"] for r in train] == [1, 2, 3, 4, 5, 6]
    assert set(train[0]) >= {"epoch", "step", "loss", "lr", "clips_per_s", "num_skipped"}


def test_best_model_line_like_paddlevideo(trained_run):
    cfg, result = trained_run
    text = Path(cfg.train.output_dir, "train.log").read_text()
    lines = re.findall(r"Already save the best model \(top1 acc\)(\d\.\d{4})$", text, flags=re.M)
    assert lines, text
    assert float(lines[-1]) == pytest.approx(result["best_top1"], abs=1e-4)


def test_exported_weights_load_with_create_model(trained_run):
    from movinet import create_model

    cfg, result = trained_run
    model = create_model("movinet_a0_base", weights=result["final_weights"])
    last = load_checkpoint(result["last_checkpoint"])
    for key, value in model.state_dict().items():
        assert torch.equal(value, last["model"][key]), key


def test_training_checkpoints_load_like_weights(trained_run, tmp_path):
    """`load_model` reads a training checkpoint, and `export -p` takes one, as its help says."""
    from movinet.data.preprocessing import Preprocessing
    from movinet.export.onnx import export_from_weights
    from movinet.loading import load_model
    from movinet.weights import read_weights

    cfg, result = trained_run
    record = load_checkpoint(result["last_checkpoint"])[METADATA_KEY]
    assert record == read_weights(result["final_weights"])[1]  # the same record as the weights files
    from_pt, meta = load_model(result["last_checkpoint"])
    from_safetensors, final_meta = load_model(result["final_weights"])
    assert meta.preprocessing == final_meta.preprocessing == Preprocessing.from_config(cfg)
    assert (meta.name, meta.num_classes) == (final_meta.name, final_meta.num_classes) == ("movinet_a0_base", 3)
    for key, value in from_safetensors.state_dict().items():
        assert torch.equal(from_pt.state_dict()[key], value), key
    small = meta.preprocessing.with_size(frames=2, height=32, width=32)
    exported = export_from_weights(result["last_checkpoint"], tmp_path, preprocessing=small)
    assert exported.onnx_path.is_file() and exported.relative_error <= 1e-4


def test_resume_continues_exactly_in_process(tmp_path):
    data = {"train": RandomVideoDataset(4), "val": RandomVideoDataset(2, views=1)}
    straight = fit(tiny_config(tmp_path / "a", train={"epochs": 2}, model={"dropout": 0.3}), datasets=data)
    fit(tiny_config(tmp_path / "b", train={"epochs": 1}, model={"dropout": 0.3}), datasets=data)
    resumed = fit(tiny_config(tmp_path / "b", train={"epochs": 2}, model={"dropout": 0.3}), datasets=data,
                  resume=str(tmp_path / "b" / "last.pt"))
    assert resumed["global_step"] == straight["global_step"] == 4
    a, b = load_checkpoint(straight["last_checkpoint"]), load_checkpoint(resumed["last_checkpoint"])
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    epochs = [json.loads(line)["epoch"] for line in Path(resumed["log"]).read_text().splitlines()
              if '"type": "epoch"' in line]
    assert epochs == [1, 2]


def test_resume_from_missing_or_corrupt_checkpoint_fails_clearly(tmp_path):
    cfg = tiny_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        fit(cfg, resume=str(tmp_path / "missing.pt"), datasets={"train": RandomVideoDataset(2)})
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(ValueError, match="truncated, corrupt"):
        fit(cfg, resume=str(bad), datasets={"train": RandomVideoDataset(2)})


class ExplodingDataset(RandomVideoDataset):
    """Raises once the loop reaches a given number of items, like a run dying mid-epoch."""

    def __init__(self, *args, explode_after: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls, self.explode_after = 0, explode_after

    def __getitem__(self, index):
        self.calls += 1
        if self.calls > self.explode_after:
            raise RuntimeError("worker died")
        return super().__getitem__(index)


def test_a_run_that_dies_leaves_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, train={"epochs": 3, "checkpoint_every_iters": 1})
    with pytest.raises(RuntimeError, match="worker died"):
        fit(cfg, datasets={"train": ExplodingDataset(6, explode_after=7)})
    checkpoint = load_checkpoint(tmp_path / "last.pt")
    assert checkpoint["global_step"] == 3  # items 1-6 made 3 steps; the 4th batch died
    assert (checkpoint["epoch"], checkpoint["step_in_epoch"]) == (1, 0)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != MARK_NAME]  # no temp file


def test_plan_loop_errors_and_accumulation(tmp_path):
    info = DistInfo()
    with pytest.raises(ValueError, match="fewer than one optimizer step"):
        plan_loop(tiny_config(tmp_path, data={"batch_size": 8}), 5, info)
    with pytest.raises(ValueError, match="not a multiple"):
        plan_loop(tiny_config(tmp_path, train={"global_batch_size": 5}), 100, info)
    plan = plan_loop(tiny_config(tmp_path, train={"global_batch_size": 8, "epochs": 3}), 20, info)
    assert (plan.accumulate_steps, plan.micro_steps_per_epoch, plan.steps_per_epoch, plan.total_steps) == (4, 8, 2, 6)
    plan = plan_loop(tiny_config(tmp_path, train={"epochs": 10, "max_steps": 7}), 8, info)
    assert (plan.total_steps, plan.epochs) == (7, 2)


def test_accumulated_update_is_the_mean_of_the_micro_batch_gradients(tmp_path):
    """Two micro-batches of one clip, one SGD step: w1 = w0 - lr * (g1 + g2) / 2, both gradients at w0."""
    from movinet.loading import load_model
    from movinet.weights import save_weights

    lr, data = 0.5, RandomVideoDataset(2)
    sgd = {"name": "sgd", "momentum": 0.0, "weight_decay": 0.0}
    # Start from perturbed weights: at a fresh init ReZero = 0 and no residual branch gets a gradient.
    initial = save_weights(random_model("movinet_a0_base", num_classes=3), tmp_path / "initial.safetensors",
                           model_name="movinet_a0_base")

    def run(folder: str, rate: float) -> dict:
        cfg = tiny_config(tmp_path / folder, train={"accumulate_steps": 2}, data={"batch_size": 1},
                          optimizer=sgd, lr_schedule={"name": "constant", "base_lr": rate},
                          model={"weights": str(initial)})
        return fit(cfg, datasets={"train": data})

    assert run("a", lr)["global_step"] == 1
    # lr 0: the same initial weights, untouched; no dropout, as tiny_config trains
    start, _ = load_model(run("zero", 0.0)["final_weights"], dropout=0.0)
    start.train().zero_grad()
    data.set_epoch(0)
    for index in range(2):  # in train mode every micro-batch normalises with its own statistics
        item = data[index]
        F.cross_entropy(start(item["video"][None]), torch.tensor([item["label"]])).backward()
    after, _ = load_model(tmp_path / "a" / "final.safetensors")
    params = dict(after.named_parameters())
    moved = 0
    for name, param in start.named_parameters():
        expected = param.detach() - lr * param.grad / 2
        torch.testing.assert_close(params[name].detach(), expected, rtol=1e-4, atol=1e-6, msg=name)
        moved += int(not torch.equal(params[name], param))
    assert moved > 0.9 * len(params)  # every branch learns, not just the skips and the classifier


def test_gradient_accumulation_counts_optimizer_steps(tmp_path):
    cfg = tiny_config(tmp_path, train={"accumulate_steps": 2, "epochs": 1}, data={"batch_size": 1})
    result = fit(cfg, datasets={"train": RandomVideoDataset(5)})
    assert result["global_step"] == 2  # 5 batches of 1: updates after batches 2 and 4, the 5th is dropped


def test_mixed_precision_on_cpu_warns_and_uses_float32():
    with pytest.warns(UserWarning, match="needs CUDA"):
        assert resolve_amp("bf16", torch.device("cpu")) is None
    assert resolve_amp("none", torch.device("cpu")) is None


def test_num_classes_must_agree_with_the_data(tmp_path):
    from movinet.engine.config import config_from_dict
    from movinet.engine.train import resolve_num_classes

    cfg = config_from_dict({"model": {"num_classes": 5}})
    with pytest.raises(ValueError, match="model.num_classes=5 but the data has 3 classes"):
        resolve_num_classes(cfg, ["a", "b", "c"])
    assert resolve_num_classes(config_from_dict({}), ["a", "b", "c"]) == 3
    assert resolve_num_classes(config_from_dict({}), None) is None

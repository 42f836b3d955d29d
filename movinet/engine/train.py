"""The training loop: `fit(cfg)` and `train_one_epoch(...)`, plain functions (nanoGPT /
torchvision-reference style, no Trainer class).

What a run writes to `train.output_dir`:
  config.yaml / config.json   the resolved config
  train.log                   the console log (rank 0), incl. `Already save the best model (top1 acc)0.xxxx`
  train_log.jsonl             one JSON record per log step / epoch / validation (see `runlog`)
  last.pt                     training checkpoint after every epoch (and every
                              `train.checkpoint_every_iters` optimizer steps)
  epoch_NNNNN.pt              every `train.save_interval` epochs
  best.safetensors (+ .json)  best validation top-1 (with --validate)
  final.safetensors (+ .json) weights at the end of the run
  training_curves.png         loss, lr and validation top-1
  .movinet-run                the mark of a run directory (files under the names above without it
                              are not movinet's: a fresh run refuses them, see `rundir`)
  .movinet-run.lock           held while the run lives (its pid inside): one run per directory

A loss that turns NaN or infinite stops the run before that step updates the weights
(`NonFiniteLossError`, naming the step and the last good checkpoint); non-finite weights are never
written as a checkpoint, best or final.

Exact resume: the sample order is a function of (seed, epoch), augmentation randomness of
(seed, epoch, index) (the dataset's rng), DataLoader workers get seeds from a private generator,
and checkpoints hold the position inside the epoch plus every rank's RNG states. On CPU with a fixed
seed, a run killed with SIGKILL and resumed from its `last.pt` ends with bit-identical weights to an
uninterrupted run (tests/engine/test_resume.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import random
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from movinet.data.config import DataConfig
from movinet.data.preprocessing import Preprocessing
from movinet.engine.checkpoint import (
    METADATA_KEY,
    capture_rng_state,
    export_weights,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
    strip_prefixes,
)
from movinet.engine.config import Config, ModelConfig, config_to_dict, eval_data_config, save_config
from movinet.engine.distributed import (
    DistInfo,
    all_gather_objects,
    broadcast_object,
    cleanup_distributed,
    init_distributed,
    is_initialized,
    maybe_convert_sync_batchnorm,
    reduce_mean,
    unwrap,
    wrap_ddp,
)
from movinet.engine.evaluate import Metrics, evaluate
from movinet.engine.freeze import backbone_frozen, hold_backbone, set_backbone_trainable
from movinet.engine.loaders import eval_loader, precise_bn_loader, train_loader_for_epoch
from movinet.engine.optim import build_optimizer, clip_gradients, set_learning_rate
from movinet.engine.performance import (
    bf16_is_native,
    deterministic_cuda_environment,
    maybe_compile,
    resolve_channels_last,
)
from movinet.engine.precise_bn import recompute_bn_statistics
from movinet.engine.runlog import (
    append_jsonl,
    plot_training_curves,
    run_logging,
    truncate_jsonl_for_resume,
)
from movinet.engine.rundir import (
    RunDirectoryError,
    acquire_lock,
    prepare_run_directory,
    release_lock,
    run_directory,
    with_output_dir,
)
from movinet.engine.schedule import build_schedule
from movinet.engine.tensorboard import TENSORBOARD_DIR, TensorBoardMirror
from movinet.loading import create_model
from movinet.weights import describe_model

log = logging.getLogger("movinet.train")


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite: the run diverged and was stopped before the step
    that would have written it into the weights."""


@dataclass
class TrainState:
    """Progress counters, saved in every checkpoint.

    Attributes:
        epoch: completed epochs (= index of the epoch in progress).
        step_in_epoch: micro-batches of epoch `epoch` already consumed.
        global_step: optimizer steps done.
        best_top1: best validation top-1 so far (-1 = none yet).
        best_epoch: epoch (1-based) of `best_top1`.
        best_loss: validation loss of that epoch (ties of top-1 go to the lower loss).
    """

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_top1: float = -1.0
    best_epoch: int = 0
    best_loss: float = math.inf


@dataclass(frozen=True)
class StepSettings:
    """Per-step options of `train_one_epoch`."""

    device: torch.device
    amp_dtype: torch.dtype | None = None
    accumulate_steps: int = 1
    label_smoothing: float = 0.0
    clip_grad_norm: float | None = None
    clip_mode: str = "global"
    channels_last: bool = False
    log_interval: int = 1
    world_size: int = 1
    progress: bool = False
    frozen_backbone: bool = False  # train the classifier alone (`movinet.engine.freeze`)


@dataclass(frozen=True)
class LoopPlan:
    """How long the run is, derived from the data size and the config."""

    micro_steps_per_epoch: int  # loader batches used per epoch (a multiple of accumulate_steps)
    steps_per_epoch: int  # optimizer steps per epoch
    total_steps: int  # optimizer steps of the whole run
    epochs: int  # epochs to run (fewer than train.epochs when train.max_steps ends it earlier)
    accumulate_steps: int


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_model(cfg: ModelConfig, num_classes: int | None) -> nn.Module:
    """The network of the `model:` section (`movinet.create_model`), in train mode."""
    model = create_model(
        cfg.name,
        weights=cfg.weights,
        num_classes=num_classes,
        dropout=cfg.dropout,
        stochastic_depth=cfg.stochastic_depth,
        causal=cfg.causal,
    )
    return model.train()


def data_class_names(data: DataConfig) -> list[str] | None:
    """Class names the data defines (labels file, or the training class folders), else None."""
    from movinet.data.datasets import data_root, read_labels_file, scan_class_folders

    root = data_root(data)

    def resolve(name: str) -> Path:
        candidate = root / name
        return candidate if candidate.exists() else Path(name)

    if data.labels_file:
        return read_labels_file(resolve(data.labels_file))
    if data.format == "folders" and data.train_list:
        return scan_class_folders(resolve(data.train_list))[1]
    return None


def resolve_num_classes(cfg: Config, class_names: list[str] | None) -> int | None:
    """model.num_classes if set (it must agree with the data's classes), else the data's class count,
    else None (the weights' or registry's default)."""
    if cfg.model.num_classes is not None:
        if class_names is not None and len(class_names) != cfg.model.num_classes:
            raise ValueError(
                f"model.num_classes={cfg.model.num_classes} but the data has {len(class_names)} classes; "
                "remove model.num_classes to take it from the data, or fix the labels"
            )
        return cfg.model.num_classes
    return len(class_names) if class_names is not None else None


def _default_num_classes(cfg: ModelConfig) -> int:
    from movinet.models import get_model_info

    return get_model_info(cfg.name).num_classes


def build_datasets(
    cfg: Config, num_classes: int, *, validate: bool, datasets: Mapping[str, Dataset] | None
) -> tuple[Dataset, Dataset | None]:
    """The train (and, with `validate`, val) datasets; `datasets` entries replace built ones."""
    given = dict(datasets or {})
    from movinet.data import datasets as data_module

    def make(split: str) -> Dataset:
        if split in given:
            return given[split]
        data = cfg.data if split == "train" else eval_data_config(cfg)
        # The loop logs unreadable and damaged samples once each (train.log); the dataset stays quiet.
        return data_module.build_dataset(data, split, num_classes=num_classes, seed=cfg.train.seed, warn=False)

    return make("train"), (make("val") if validate else None)


def plan_loop(cfg: Config, num_train: int, info: DistInfo) -> LoopPlan:
    """Steps per epoch and run length; raises ValueError when the data is too small."""
    t = cfg.train
    batch = cfg.data.batch_size
    accumulate = t.accumulate_steps
    if t.global_batch_size is not None:
        per_step = batch * info.world_size
        if t.global_batch_size % per_step:
            raise ValueError(
                f"train.global_batch_size={t.global_batch_size} is not a multiple of data.batch_size x processes "
                f"= {batch} x {info.world_size}; change one of them"
            )
        derived = t.global_batch_size // per_step
        if accumulate not in (1, derived):
            raise ValueError(f"train.accumulate_steps={accumulate} contradicts train.global_batch_size (needs {derived})")
        accumulate = derived
    per_rank = math.ceil(num_train / info.world_size)
    batches = per_rank // batch
    steps_per_epoch = batches // accumulate
    if steps_per_epoch < 1:
        cause = (f"lower train.global_batch_size (it sets the accumulation: {t.global_batch_size} / ({batch} x "
                 f"{info.world_size} processes)) or set it to null" if t.global_batch_size is not None and accumulate > 1
                 else "lower data.batch_size")
        raise ValueError(
            f"the training set has {num_train} samples: fewer than one optimizer step of "
            f"{batch} x {accumulate} (batch x accumulation) per process; {cause}"
        )
    total = steps_per_epoch * t.epochs
    if t.max_steps is not None:
        total = min(total, t.max_steps)
    return LoopPlan(
        micro_steps_per_epoch=steps_per_epoch * accumulate,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        epochs=math.ceil(total / steps_per_epoch),
        accumulate_steps=accumulate,
    )


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for `train.amp` (None = float32). "auto": bf16 on a GPU that computes in it,
    fp16 (with the grad scaler) on older GPUs, float32 on CPU; an explicit bf16/fp16 on CPU is
    refused with a warning (float32)."""
    if amp == "none" or (amp == "auto" and device.type != "cuda"):
        return None
    if device.type != "cuda":
        warnings.warn(f"train.amp={amp} needs CUDA; training in float32 on {device}", stacklevel=2)
        return None
    if amp == "auto":
        return torch.bfloat16 if bf16_is_native() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


def _log_train_record(
    path: Path | None, state: TrainState, lr: float, losses: list[float], clips: int, elapsed: float,
    skipped: int, settings: StepSettings,
) -> dict[str, Any]:
    loss = reduce_mean(sum(losses) / max(len(losses), 1), settings.device)
    record = {
        "type": "train", "epoch": state.epoch + 1, "step": state.step_in_epoch, "global_step": state.global_step,
        "loss": loss, "lr": lr, "clips_per_s": clips * settings.world_size / max(elapsed, 1e-9), "num_skipped": skipped,
    }
    if path is not None:
        append_jsonl(path, record)
    return record


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    schedule: Callable[[int], float],
    scaler: torch.amp.GradScaler,
    settings: StepSettings,
    state: TrainState,
    *,
    plan: LoopPlan,
    log_path: Path | None = None,
    on_step: Callable[[TrainState], None] | None = None,
) -> dict[str, float]:
    """Train until the epoch's planned micro-batches (or the run's last step) are done.

    Args:
        model: the network, possibly DDP-wrapped.
        loader: batches of {"video": (B, 3, T, H, W), "label": (B,), "num_skipped": (B,) and
            "unreadable": B strings ("PATH: reason" of a skipped sample, else "")}, positioned at
            `state.step_in_epoch`.
        optimizer / schedule / scaler: the update rule, lr(step) and the fp16 grad scaler.
        settings: per-step options.
        state: progress counters, updated in place.
        plan: the loop plan (micro-batches per epoch, total steps).
        log_path: JSON-lines log (rank 0 only), None = no file.
        on_step: called after every optimizer step (mid-epoch checkpoints).

    Returns:
        {"loss": mean loss, "lr": last lr, "clips_per_s": throughput, "num_skipped": count, "time_s": seconds,
         "unreadable": sorted "PATH: reason" of the unreadable samples this rank skipped,
         "damaged": sorted warnings of the videos this rank read with a corrupt stretch}.

    Raises:
        NonFiniteLossError: a loss of the step is NaN or infinite (on any rank); raised before the
            optimizer step, so the weights stay those of the previous step.
    """
    model.train()
    if settings.frozen_backbone:
        hold_backbone(unwrap(model))
    device, accumulate = settings.device, settings.accumulate_steps
    autocast = torch.autocast(device.type, dtype=settings.amp_dtype) if settings.amp_dtype else contextlib.nullcontext()
    total_loss, total_batches, total_clips, total_skipped, lr = 0.0, 0, 0, 0, schedule(state.global_step)
    window_losses, window_clips, window_skipped, window_start = [], 0, 0, time.perf_counter()
    epoch_start = window_start
    unreadable: set[str] = set()
    damaged: set[str] = set()
    nonfinite: float | None = None  # a non-finite loss in the current accumulation window
    remaining = plan.micro_steps_per_epoch - state.step_in_epoch
    bar = tqdm(total=plan.micro_steps_per_epoch, initial=state.step_in_epoch, desc=f"epoch {state.epoch + 1}",
               leave=False, disable=not settings.progress, dynamic_ncols=True)
    optimizer.zero_grad(set_to_none=True)
    for batch in loader:
        if remaining <= 0 or state.global_step >= plan.total_steps:
            break
        video = batch["video"].to(device, non_blocking=True)
        if settings.channels_last:
            video = video.contiguous(memory_format=torch.channels_last_3d)
        label = torch.as_tensor(batch["label"]).to(device, non_blocking=True)
        is_update = (state.step_in_epoch + 1) % accumulate == 0
        no_sync = getattr(model, "no_sync", None)
        sync = no_sync() if (no_sync is not None and not is_update) else contextlib.nullcontext()
        with sync:
            with autocast:
                logits = model(video)
            loss = F.cross_entropy(logits.float(), label, label_smoothing=settings.label_smoothing)
            scaler.scale(loss / accumulate).backward()
        state.step_in_epoch += 1
        remaining -= 1
        skipped = int(torch.as_tensor(batch.get("num_skipped", 0)).sum())
        unreadable.update(entry for entry in batch.get("unreadable", ()) if entry)
        damaged.update(entry for entry in batch.get("damaged", ()) if entry)
        window_losses.append(loss.item())
        if not math.isfinite(window_losses[-1]) and nonfinite is None:
            nonfinite = window_losses[-1]
        window_clips += video.shape[0]
        window_skipped += skipped
        total_loss, total_batches, total_clips, total_skipped = (
            total_loss + window_losses[-1], total_batches + 1, total_clips + video.shape[0], total_skipped + skipped)
        bar.update(1)
        if not is_update:
            continue
        # Checked on every rank before the update, so a diverged step never reaches the weights.
        if reduce_mean(float(nonfinite is not None), device) > 0:
            bar.close()
            raise NonFiniteLossError(
                f"the training loss is {nonfinite if nonfinite is not None else 'non-finite on another process'} "
                f"at epoch {state.epoch + 1}, optimizer step {state.global_step + 1}: the run diverged and was "
                "stopped before that step changed the weights")
        lr = schedule(state.global_step)
        set_learning_rate(optimizer, lr)
        if settings.clip_grad_norm is not None:
            scaler.unscale_(optimizer)
            clip_gradients(unwrap(model).parameters(), settings.clip_grad_norm, settings.clip_mode)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        state.global_step += 1
        if state.global_step % settings.log_interval == 0:
            record = _log_train_record(log_path, state, lr, window_losses, window_clips,
                                       time.perf_counter() - window_start, window_skipped, settings)
            bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{lr:.3g}")
            window_losses, window_clips, window_skipped, window_start = [], 0, 0, time.perf_counter()
        if on_step is not None:
            on_step(state)
    bar.close()
    elapsed = time.perf_counter() - epoch_start
    return {
        "loss": reduce_mean(total_loss / max(total_batches, 1), device),
        "lr": lr,
        "clips_per_s": total_clips * settings.world_size / max(elapsed, 1e-9),
        "num_skipped": int(total_skipped),
        "time_s": elapsed,
        "unreadable": sorted(unreadable),
        "damaged": sorted(damaged),
    }


# -- checkpoints ----------------------------------------------------------------------------------


def checkpoint_payload(
    model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, state: TrainState,
    cfg: Config, meta: dict[str, Any],
) -> dict[str, Any]:
    """Everything `--resume` needs. Collective under DDP: every rank must call it (RNG gather)."""
    rng_per_rank = all_gather_objects(capture_rng_state())
    return {
        "model": strip_prefixes(unwrap(model).state_dict()),
        "optimizer": optimizer.state_dict(),
        "scheduler": {"global_step": state.global_step},
        "scaler": scaler.state_dict(),
        "epoch": state.epoch,
        "step_in_epoch": state.step_in_epoch,
        "global_step": state.global_step,
        "best_top1": state.best_top1,
        "best_epoch": state.best_epoch,
        "best_loss": state.best_loss,
        "rng": rng_per_rank,
        "world_size": len(rng_per_rank),
        "config": config_to_dict(cfg),
        **meta,
    }


def restore_training_state(
    checkpoint: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
    info: DistInfo, cfg: Config,
) -> TrainState:
    """Load a checkpoint into the model/optimizer/scaler and return its progress counters.

    The RNG states are not restored here: the caller does it last, right before training resumes.
    """
    if checkpoint.get("arch") not in (None, cfg.model.name):
        raise ValueError(
            f"the checkpoint was trained as {checkpoint.get('arch')!r} but model.name is {cfg.model.name!r}; "
            "resume with the run's own config (OUTPUT_DIR/config.yaml)"
        )
    net = unwrap(model)
    saved_classes = checkpoint.get("num_classes")
    if saved_classes is not None and saved_classes != net.num_classes:
        raise ValueError(
            f"the checkpoint was trained with {saved_classes} classes but this run's model has {net.num_classes} "
            "(model.num_classes or the data's labels changed); resume with the run's own config "
            "(OUTPUT_DIR/config.yaml), or start a new run (fine-tune from its weights with -w)")
    try:
        net.load_state_dict(strip_prefixes(checkpoint["model"]))
    except RuntimeError as error:  # torch lists every mismatched tensor; the first says enough
        first = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise ValueError(f"the checkpoint does not fit this run's model ({first}); resume with the run's own config "
                         "(OUTPUT_DIR/config.yaml)") from None
    optimizer.load_state_dict(checkpoint["optimizer"])
    if checkpoint.get("scaler"):
        scaler.load_state_dict(checkpoint["scaler"])
    if checkpoint.get("world_size", 1) != info.world_size:
        log.warning("the checkpoint was written by %s processes, this run has %s: the resume is not bit-exact",
                    checkpoint.get("world_size"), info.world_size)
    return TrainState(
        epoch=int(checkpoint["epoch"]), step_in_epoch=int(checkpoint["step_in_epoch"]),
        global_step=int(checkpoint["global_step"]), best_top1=float(checkpoint.get("best_top1", -1.0)),
        best_epoch=int(checkpoint.get("best_epoch", 0)), best_loss=float(checkpoint.get("best_loss", math.inf)),
    )


def restore_rng_for_rank(checkpoint: dict[str, Any], info: DistInfo) -> None:
    """Put this rank's RNG streams back where the checkpoint left them."""
    states = checkpoint.get("rng") or []
    if states:
        restore_rng_state(states[info.rank] if info.rank < len(states) else states[0])


def model_metadata(cfg: Config, model: nn.Module, class_names: list[str] | None) -> dict[str, Any]:
    """The checkpoint entries that describe the network: the metadata record our weights files store
    (evaluation and export rebuild the model from it alone), and the name and class count `--resume`
    checks against the config."""
    record = describe_model(unwrap(model), cfg.model.name, labels=class_names,
                            preprocessing=Preprocessing.from_config(cfg))
    return {"arch": record.name, "num_classes": record.num_classes, "class_names": record.labels,
            METADATA_KEY: record.to_dict()}


# -- fit ------------------------------------------------------------------------------------------


def fit(
    cfg: Config,
    *,
    validate: bool = False,
    resume: str | None = None,
    datasets: Mapping[str, Dataset] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train the model a config describes (`movinet train -c CONFIG [--validate] [--resume CKPT]`).

    Works in one process or under `torchrun` (DDP; gloo on CPU, NCCL on CUDA).

    A fresh run refuses a `train.output_dir` that already holds another run's checkpoints or
    weights, or files under a run's names that movinet did not write, unless `overwrite` (they
    are then removed first, and the log lists them). A resumed run continues in the checkpoint's
    own directory, whatever `train.output_dir` says, so it never writes into another run. Either
    holds the directory's lock while it runs: a second run into it is refused.

    Args:
        cfg: the resolved config.
        validate: evaluate every `train.val_interval` epochs and after the last one; keep the best
            top-1 weights as `best.safetensors`.
        resume: a training checkpoint (`last.pt`, `epoch_NNNNN.pt`) to continue exactly.
        datasets: optional {"train": Dataset, "val": Dataset} used instead of building them from
            `cfg.data` (items as `movinet.data.build_dataset` makes them).
        overwrite: replace the run already in `train.output_dir` (fresh runs only).

    Returns:
        {"run_dir", "last_checkpoint", "final_weights", "best_weights" (None without validation),
         "best_top1", "best_epoch", "epochs", "global_step", "log", "plot", "clips_per_s"}.

    Raises:
        FileNotFoundError / ValueError: missing or corrupt resume checkpoint, bad data, bad settings.
        RunDirectoryError: another live run holds the directory, or (fresh runs without
            `overwrite`) it holds a run or files movinet did not write (`movinet.engine.rundir`).
        NonFiniteLossError: the loss became NaN or infinite; nothing was saved after that step.
        OSError: a checkpoint could not be written (a full disk: the previous one is intact).
    """
    checkpoint = load_checkpoint(resume) if resume else None  # fail before any heavy setup
    run_dir = run_directory(cfg.train.output_dir, resume, overwrite)
    cfg, early_warnings = with_output_dir(cfg, run_dir) if resume else (cfg, [])
    owns_group = not is_initialized()
    info = init_distributed(cfg.train.device)
    try:
        lock, early_info = _take_lock(run_dir, info)
        try:
            if info.is_main:
                early_info += prepare_run_directory(run_dir, resuming=checkpoint is not None, overwrite=overwrite)
            with run_logging(run_dir if info.is_main else None, is_main=info.is_main):
                for line in early_warnings:
                    log.warning("%s", line)
                for line in early_info:  # written before the log existed; kept for the console and train.log
                    log.info("%s", line)
                return _fit(cfg, info, run_dir, validate=validate, checkpoint=checkpoint, resume=resume,
                            datasets=datasets)
        finally:
            if lock is not None:
                release_lock(lock)
    finally:
        if owns_group:  # a process group the caller created stays theirs
            cleanup_distributed()


def _take_lock(run_dir: Path, info: DistInfo) -> tuple[Path | None, list[str]]:
    """The main rank takes `run_dir`'s lock (returned with the lines to log; None on the other
    ranks). Its refusal is broadcast, so under DDP every rank raises it together.

    Raises:
        RunDirectoryError: another live run holds the directory.
    """
    lock, notes, refusal = None, [], None
    if info.is_main:
        try:
            lock, notes = acquire_lock(run_dir)
        except RunDirectoryError as error:
            refusal = str(error)
    refusal = broadcast_object(refusal)
    if refusal is not None:
        raise RunDirectoryError(refusal)
    return lock, notes


def _fit(
    cfg: Config, info: DistInfo, run_dir: Path, *, validate: bool, checkpoint: dict[str, Any] | None,
    resume: str | None, datasets: Mapping[str, Dataset] | None,
) -> dict[str, Any]:
    t = cfg.train
    seed_everything(t.seed + info.rank)
    if t.deterministic:
        if info.device.type == "cuda":
            deterministic_cuda_environment()
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    class_names = data_class_names(cfg.data) if not datasets else getattr(datasets.get("train"), "class_names", None)
    num_classes = resolve_num_classes(cfg, class_names)
    train_set, val_set = build_datasets(
        cfg, num_classes or _default_num_classes(cfg.model), validate=validate, datasets=datasets)
    for dataset in (train_set, val_set):  # a split with no readable sample stops here, with one clear line
        if hasattr(dataset, "first_readable"):
            dataset.first_readable()
    model = build_model(cfg.model, num_classes).to(info.device)
    num_classes = unwrap(model).num_classes
    amp_dtype, channels_last = resolve_amp(t.amp, info.device), resolve_channels_last(t.channels_last, info.device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    model = maybe_convert_sync_batchnorm(model, info, t.sync_bn)
    plan = plan_loop(cfg, len(train_set), info)
    schedule = build_schedule(cfg.lr_schedule, steps_per_epoch=plan.steps_per_epoch, total_steps=plan.total_steps)
    optimizer = build_optimizer(model, cfg.optimizer, lr=schedule(0))
    scaler = torch.amp.GradScaler(info.device.type, enabled=amp_dtype == torch.float16)
    state = TrainState()
    log_path = run_dir / "train_log.jsonl" if info.is_main else None
    if checkpoint is not None:
        state = restore_training_state(checkpoint, model, optimizer, scaler, info, cfg)
        if log_path is not None:
            truncate_jsonl_for_resume(log_path, completed_epochs=state.epoch, global_step=state.global_step)
        log.info("resumed from %s at epoch %d, step %d (optimizer step %d)", resume, state.epoch + 1,
                 state.step_in_epoch, state.global_step)
        _warn_if_data_changed(checkpoint, len(train_set))
    elif log_path is not None and log_path.exists():
        log_path.unlink()  # a fresh run in a reused directory starts a fresh log
    # Parameters that go without gradients for some epochs need DDP to look for unused ones.
    ddp_model = maybe_compile(wrap_ddp(model, info, find_unused_parameters=t.freeze_backbone_epochs > 0), t.compile)
    meta = {**model_metadata(cfg, model, class_names or getattr(train_set, "class_names", None)),
            "num_train_samples": len(train_set)}
    if info.is_main:
        save_config(cfg, run_dir)
    log.info("training %s (%d classes) on %s x %d: %d samples, %d steps/epoch x %d epochs = %d steps, "
             "batch %d x accumulation %d", cfg.model.name, num_classes, info.device, info.world_size, len(train_set),
             plan.steps_per_epoch, plan.epochs, plan.total_steps, cfg.data.batch_size, plan.accumulate_steps)
    log.info("precision %s, channels_last %s, torch.compile %s", str(amp_dtype or torch.float32).removeprefix("torch."),
             channels_last, t.compile)
    settings = StepSettings(
        device=info.device, amp_dtype=amp_dtype, accumulate_steps=plan.accumulate_steps,
        label_smoothing=t.label_smoothing, clip_grad_norm=cfg.optimizer.clip_grad_norm,
        clip_mode=cfg.optimizer.clip_mode, channels_last=channels_last, log_interval=t.log_interval,
        world_size=info.world_size, progress=info.is_main and t.progress,
    )

    last_good = {"path": resume, "epoch": state.epoch, "step": state.global_step}

    def save_last(current: TrainState, name: str = "last.pt") -> Path:
        payload = checkpoint_payload(ddp_model, optimizer, scaler, current, cfg, meta)
        path = run_dir / name
        if info.is_main:
            save_checkpoint(path, payload)
        last_good.update(path=str(path), epoch=current.epoch, step=current.global_step)
        return path

    tensorboard = (TensorBoardMirror(log_path, run_dir / TENSORBOARD_DIR)
                   if t.tensorboard and log_path is not None else None)

    def on_step(current: TrainState) -> None:
        if tensorboard is not None:
            tensorboard.update()
        every = t.checkpoint_every_iters
        if every and current.global_step % every == 0 and current.step_in_epoch < plan.micro_steps_per_epoch:
            save_last(current)

    val_loader = (eval_loader(val_set, cfg.data.val_batch_size, cfg.data.num_workers, info, t.seed)
                  if val_set is not None else None)
    if checkpoint is not None:
        restore_rng_for_rank(checkpoint, info)  # last, so nothing above consumes the restored streams
    best_path = run_dir / "best.safetensors"
    clips_per_s, started, epochs_here = 0.0, time.perf_counter(), 0
    seen_unreadable: set[str] = set()
    seen_damaged: set[str] = set()
    epoch_bar = tqdm(total=plan.epochs, initial=state.epoch, desc="epochs", disable=not settings.progress,
                     dynamic_ncols=True)
    while state.epoch < plan.epochs and state.global_step < plan.total_steps:
        epoch = state.epoch
        loader = train_loader_for_epoch(train_set, cfg, info, epoch, state.step_in_epoch)
        frozen = backbone_frozen(epoch, t.freeze_backbone_epochs)
        if t.freeze_backbone_epochs:
            set_backbone_trainable(model, not frozen)
        try:
            stats = train_one_epoch(ddp_model, loader, optimizer, schedule, scaler,
                                    dataclasses.replace(settings, frozen_backbone=frozen), state, plan=plan,
                                    log_path=log_path, on_step=on_step)
        except NonFiniteLossError as error:
            raise NonFiniteLossError(f"{error}; nothing was saved after it. {_last_good_hint(last_good)}") from None
        clips_per_s = stats["clips_per_s"]
        stats["damaged"] = _log_once(stats["damaged"], seen_damaged, "%s")
        stats["unreadable"] = _log_unreadable(stats["unreadable"], seen_unreadable, "train")
        stats["num_skipped"] = len(stats["unreadable"])
        state.epoch, state.step_in_epoch = epoch + 1, 0
        is_last = state.epoch >= plan.epochs or state.global_step >= plan.total_steps
        log.info("epoch %d/%d%s: loss %.4f, lr %.6g, %.1f clips/s, %d skipped", state.epoch, plan.epochs,
                 " (classifier only, backbone frozen)" if frozen else "", stats["loss"], stats["lr"],
                 stats["clips_per_s"], stats["num_skipped"])
        if log_path is not None:
            append_jsonl(log_path, {"type": "epoch", "epoch": state.epoch, "global_step": state.global_step, **stats})
        validate_now = val_loader is not None and (state.epoch % t.val_interval == 0 or is_last)
        if t.precise_bn_batches and (validate_now or is_last) and not frozen:  # a frozen backbone keeps its BN
            recompute_bn_statistics(unwrap(ddp_model), precise_bn_loader(train_set, cfg, info, epoch), info.device,
                                    t.precise_bn_batches)
        if validate_now:
            metrics = evaluate(unwrap(ddp_model), val_loader, info.device, num_classes=num_classes,
                               amp_dtype=settings.amp_dtype, progress=settings.progress)
            _after_validation(metrics, state, log_path, lambda: export_weights(
                unwrap(ddp_model), best_path, model_name=cfg.model.name, labels=meta["class_names"],
                preprocessing=Preprocessing.from_config(cfg)) if info.is_main else None, seen_unreadable, seen_damaged)
        if tensorboard is not None:
            tensorboard.update()
        save_last(state)
        if t.save_interval and state.epoch % t.save_interval == 0:
            save_last(state, f"epoch_{state.epoch:05d}.pt")
        epoch_bar.update(1)
        epochs_here += 1
        # Rank 0 decides, so all ranks stop after the same epoch (clocks differ across processes).
        if broadcast_object(_out_of_time(t.time_limit_minutes, started, epochs_here, is_last)):
            break
    epoch_bar.close()
    if tensorboard is not None:
        tensorboard.close()
    return _finish(cfg, info, run_dir, ddp_model, state, meta, best_path if state.best_epoch else None, clips_per_s)


def _log_unreadable(local: list[str], seen: set[str], split: str) -> list[str]:
    """The unreadable samples all ranks skipped this epoch, sorted; logs those not seen before in
    this run (one line per file, in train.log). Collective under DDP."""
    return _log_once(local, seen, f"skipped an unreadable {split} sample (training goes on without it): %s")


def _log_once(local: list[str], seen: set[str], template: str) -> list[str]:
    """The entries of all ranks, sorted; logs (warning) those not in `seen` with `template`, once
    per run. Collective under DDP."""
    entries = sorted(set().union(*all_gather_objects(local)))
    for entry in entries:
        if entry not in seen:
            log.warning(template, entry)
    seen.update(entries)
    return entries


def _last_good_hint(last_good: dict[str, Any]) -> str:
    if last_good["path"] is None:
        return ("No checkpoint was written before it: lower lr_schedule.base_lr (or set optimizer.clip_grad_norm) "
                "and start again")
    return (f"Last good checkpoint: {last_good['path']} (epoch {last_good['epoch']}, optimizer step "
            f"{last_good['step']}); resume from it with --resume after lowering lr_schedule.base_lr (or setting "
            "optimizer.clip_grad_norm)")


def _warn_if_data_changed(checkpoint: Mapping[str, Any], num_train: int) -> None:
    """A resume on other data than the checkpoint's continues, but not exactly: say so."""
    saved = checkpoint.get("num_train_samples")
    if saved is not None and saved != num_train:
        log.warning("the training data changed since the checkpoint: it was written with %d training samples, this "
                    "run has %d; the run continues, but not as the interrupted run would have (sample order and "
                    "epoch length differ)", saved, num_train)


def _out_of_time(limit_minutes: float | None, started: float, epochs_done: int, is_last: bool) -> bool:
    """True when another epoch of the average length would end past `train.time_limit_minutes`."""
    if limit_minutes is None or is_last:
        return False
    elapsed = time.perf_counter() - started
    if elapsed + elapsed / epochs_done <= limit_minutes * 60:
        return False
    log.warning("stopping after epoch %d: another epoch would pass train.time_limit_minutes=%g", epochs_done,
                limit_minutes)
    return True


def is_new_best(metrics: Metrics, state: TrainState) -> bool:
    """A higher validation top-1, or the same top-1 at a validation loss no higher than the best's:
    small validation sets tie at 1.0 early, and the later, better-calibrated weights should win."""
    if metrics.top1 != state.best_top1:
        return metrics.top1 > state.best_top1
    loss = math.inf if metrics.loss is None else metrics.loss
    return loss <= state.best_loss


def _after_validation(metrics: Metrics, state: TrainState, log_path: Path | None, save_best: Callable[[], Any],
                      seen_unreadable: set[str], seen_damaged: set[str]) -> None:
    for entry in metrics.skipped_files:
        if entry not in seen_unreadable:
            log.warning("skipped an unreadable val sample (left out of the metrics): %s", entry)
    seen_unreadable.update(metrics.skipped_files)
    for entry in metrics.damaged_files:
        if entry not in seen_damaged:
            log.warning("%s", entry)
    seen_damaged.update(metrics.damaged_files)
    log.info("[val] epoch %d: top1 %.4f, top5 %.4f, loss %.4f over %d videos (%d skipped)", state.epoch,
             metrics.top1, metrics.top5, math.nan if metrics.loss is None else metrics.loss, metrics.num_samples,
             metrics.num_skipped)
    if log_path is not None:
        append_jsonl(log_path, {"type": "val", "epoch": state.epoch, "global_step": state.global_step,
                                "top1": metrics.top1, "top5": metrics.top5, "loss": metrics.loss,
                                "num_samples": metrics.num_samples, "num_skipped": metrics.num_skipped,
                                "unreadable": metrics.skipped_files})
    if is_new_best(metrics, state):
        state.best_top1, state.best_epoch = metrics.top1, state.epoch
        state.best_loss = math.inf if metrics.loss is None else metrics.loss
        save_best()
        # PaddleVideo's line, value truncated to 4 decimals as its int(best * 10000) / 10000.
        log.info("Already save the best model (top1 acc)%.4f", math.floor(metrics.top1 * 10000) / 10000)


def _finish(
    cfg: Config, info: DistInfo, run_dir: Path, model: nn.Module, state: TrainState, meta: dict[str, Any],
    best_path: Path | None, clips_per_s: float,
) -> dict[str, Any]:
    final_path = run_dir / "final.safetensors"
    plot_path = None
    if info.is_main:
        export_weights(unwrap(model), final_path, model_name=cfg.model.name, labels=meta["class_names"],
                       preprocessing=Preprocessing.from_config(cfg))
        plot_path = plot_training_curves(run_dir / "train_log.jsonl", run_dir / "training_curves.png")
        log.info("done: %d epochs, %d optimizer steps; final weights %s%s", state.epoch, state.global_step,
                 final_path, f", best top1 {state.best_top1:.4f} (epoch {state.best_epoch}, val loss "
                 f"{state.best_loss:.4f}) in {best_path}"
                 if best_path else "")
    return {
        "run_dir": str(run_dir),
        "last_checkpoint": str(run_dir / "last.pt"),
        "final_weights": str(final_path),
        "best_weights": str(best_path) if best_path else None,
        "best_top1": state.best_top1 if state.best_epoch else None,
        "best_epoch": state.best_epoch or None,
        "best_val_loss": state.best_loss if state.best_epoch and math.isfinite(state.best_loss) else None,
        "epochs": state.epoch,
        "global_step": state.global_step,
        "log": str(run_dir / "train_log.jsonl"),
        "plot": str(plot_path) if plot_path else None,
        "clips_per_s": clips_per_s,
        "num_classes": meta["num_classes"],
        "class_names": meta["class_names"],
    }

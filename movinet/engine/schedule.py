"""Learning-rate schedules, evaluated per optimizer step.

`WarmupCosine` is both recipes' schedule:

* PaddleVideo `CustomWarmupCosineDecay(warmup_start_lr=0.001, warmup_epochs=10, cosine_base_lr=0.5,
  max_epoch=160)` with `iter_step: True`: the position is the fractional epoch
  (optimizer steps / steps per epoch; Paddle adds 1/num_iters per iteration, which is the same up to
  float rounding);
* TF Model Garden `LinearWarmup(CosineDecay(1.8, 85785), warmup_steps=2145, warmup_learning_rate=0)`:
  the position is the optimizer step.

In both the cosine is computed on the absolute position (not restarted after the warm-up) and the
warm-up line ends at cosine(warmup), so the curve is continuous.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from movinet.engine.config import LRScheduleConfig


@dataclass(frozen=True)
class WarmupCosine:
    """lr(step) = linear warm-up, then base_lr * 0.5 * (1 + cos(pi * p / total)).

    Attributes:
        base_lr: peak of the cosine (its value at p = 0).
        warmup_start_lr: lr at p = 0 during warm-up.
        warmup: warm-up length in units (0 = none).
        total: cosine length in units; past it the lr stays 0 (as TF's CosineDecay clamps).
        steps_per_unit: optimizer steps per unit (steps per epoch for unit "epoch", 1 for "step").
    """

    base_lr: float
    warmup_start_lr: float
    warmup: float
    total: float
    steps_per_unit: float = 1.0

    def cosine(self, position: float) -> float:
        """The cosine part at `position` (in units)."""
        position = min(position, self.total)
        return self.base_lr * 0.5 * (1.0 + math.cos(math.pi * position / self.total))

    def __call__(self, step: int) -> float:
        """Learning rate for the optimizer step that follows `step` completed steps."""
        position = step / self.steps_per_unit
        if position < self.warmup:
            end = self.cosine(self.warmup)
            return self.warmup_start_lr + position / self.warmup * (end - self.warmup_start_lr)
        return self.cosine(position)


@dataclass(frozen=True)
class Constant:
    """lr(step) = base_lr."""

    base_lr: float

    def __call__(self, step: int) -> float:
        return self.base_lr


def build_schedule(cfg: LRScheduleConfig, *, steps_per_epoch: int, total_steps: int) -> WarmupCosine | Constant:
    """Create the schedule of `cfg`.

    Args:
        cfg: the `lr_schedule:` section.
        steps_per_epoch: optimizer steps per epoch (per process, after gradient accumulation).
        total_steps: optimizer steps of the whole run; the cosine length when `cfg.total` is null.
    """
    if cfg.name == "constant":
        return Constant(cfg.base_lr)
    if cfg.name != "warmup_cosine":
        raise ValueError(f"lr_schedule.name must be 'warmup_cosine' or 'constant', got {cfg.name!r}")
    if steps_per_epoch < 1:
        raise ValueError("the schedule needs at least one optimizer step per epoch")
    steps_per_unit = float(steps_per_epoch) if cfg.unit == "epoch" else 1.0
    total = cfg.total if cfg.total is not None else total_steps / steps_per_unit
    return WarmupCosine(
        base_lr=cfg.base_lr,
        warmup_start_lr=cfg.warmup_start_lr,
        warmup=cfg.warmup,
        total=total,
        steps_per_unit=steps_per_unit,
    )

"""Learning-rate schedules at hand-computed points."""

from __future__ import annotations

import math

import pytest

from movinet.engine.config import LRScheduleConfig
from movinet.engine.schedule import Constant, WarmupCosine, build_schedule

# PaddleVideo CustomWarmupCosineDecay(0.001, 10, 0.5, 160): cosine(e) = 0.25 (1 + cos(pi e / 160)).
COS_10 = 0.25 * (1 + math.cos(math.pi / 16))  # 0.4951963...


def paddle(steps_per_epoch: int = 100) -> WarmupCosine:
    cfg = LRScheduleConfig(name="warmup_cosine", unit="epoch", base_lr=0.5, warmup_start_lr=0.001, warmup=10, total=160)
    return build_schedule(cfg, steps_per_epoch=steps_per_epoch, total_steps=160 * steps_per_epoch)


def test_paddle_warmup_cosine_by_hand():
    lr = paddle(100)
    assert COS_10 == pytest.approx(0.4951963, abs=1e-7)
    assert lr(0) == pytest.approx(0.001)  # first iteration
    assert lr(500) == pytest.approx(0.001 + 0.5 * (COS_10 - 0.001))  # epoch 5: half-way up the line
    assert lr(1000) == pytest.approx(COS_10)  # epoch 10: warm-up meets the cosine
    assert lr(8000) == pytest.approx(0.25)  # epoch 80: cosine on the absolute epoch, not shifted
    assert lr(16000) == pytest.approx(0.0, abs=1e-12)


def test_paddle_schedule_steps_per_iteration_with_fractional_epochs():
    lr = paddle(4)
    # iteration 1 of epoch 0 is epoch 0.25: 0.001 + 0.025 * (COS_10 - 0.001)
    assert lr(1) == pytest.approx(0.001 + 0.025 * (COS_10 - 0.001))
    # epoch 12.5 (iteration 50): 0.25 (1 + cos(pi 12.5 / 160))
    assert lr(50) == pytest.approx(0.25 * (1 + math.cos(math.pi * 12.5 / 160)))
    assert lr(3) > lr(2) > lr(1)


def test_tf_linear_warmup_then_cosine_decay_by_hand():
    cfg = LRScheduleConfig(name="warmup_cosine", unit="step", base_lr=1.8, warmup_start_lr=0.0, warmup=2145, total=85785)
    lr = build_schedule(cfg, steps_per_epoch=383, total_steps=85785)
    end_of_warmup = 0.9 * (1 + math.cos(math.pi * 2145 / 85785))
    assert end_of_warmup == pytest.approx(1.79723, abs=1e-5)
    assert lr(0) == 0.0  # TF's step 0 trains with lr 0
    assert lr(1000) == pytest.approx(1000 / 2145 * end_of_warmup)
    assert lr(2145) == pytest.approx(end_of_warmup)
    assert lr(85785 // 2) == pytest.approx(0.9 * (1 + math.cos(math.pi * (85785 // 2) / 85785)))
    assert lr(85785) == pytest.approx(0.0, abs=1e-12)
    assert lr(90000) == pytest.approx(0.0, abs=1e-12)  # clamped past the end, as TF's CosineDecay


def test_total_defaults_to_the_run_length_and_constant():
    cfg = LRScheduleConfig(name="warmup_cosine", unit="epoch", base_lr=1.0, warmup_start_lr=0.0, warmup=0, total=None)
    lr = build_schedule(cfg, steps_per_epoch=10, total_steps=50)
    assert lr(0) == pytest.approx(1.0) and lr(25) == pytest.approx(0.5) and lr(50) == pytest.approx(0.0, abs=1e-12)
    const = build_schedule(LRScheduleConfig(name="constant", base_lr=0.01), steps_per_epoch=1, total_steps=1)
    assert isinstance(const, Constant) and const(0) == const(10**6) == 0.01

"""Precise BN: running statistics become the plain average over the given batches."""

from __future__ import annotations

import torch
from torch import nn

from movinet.engine.precise_bn import recompute_bn_statistics


def test_running_stats_are_the_average_of_batch_stats():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm3d(2, momentum=0.01))
    batches = [{"video": torch.randn(3, 2, 1, 2, 2) * (i + 1) + i} for i in range(3)]
    rng_before = torch.get_rng_state()
    used = recompute_bn_statistics(model, iter(batches), torch.device("cpu"), num_batches=2)
    bn = model[1]
    assert used == 2
    expected_mean = torch.stack([b["video"].mean(dim=(0, 2, 3, 4)) for b in batches[:2]]).mean(0)
    expected_var = torch.stack([b["video"].transpose(0, 1).reshape(2, -1).var(dim=1) for b in batches[:2]]).mean(0)
    assert torch.allclose(bn.running_mean, expected_mean, atol=1e-6)
    assert torch.allclose(bn.running_var, expected_var, atol=1e-5)
    assert bn.momentum == 0.01 and model.training  # settings restored
    assert torch.equal(torch.get_rng_state(), rng_before)  # dropout stayed off: no random numbers drawn


def test_no_batch_norm_or_no_batches_is_a_no_op():
    assert recompute_bn_statistics(nn.Linear(2, 2), iter([]), torch.device("cpu"), 5) == 0
    model = nn.BatchNorm3d(2)
    assert recompute_bn_statistics(model, iter([]), torch.device("cpu"), 0) == 0
    assert torch.equal(model.running_mean, torch.zeros(2))

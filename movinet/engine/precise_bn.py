"""Precise BatchNorm statistics (Wu & Johnson, "Rethinking Batch in BatchNorm", 2021; pycls).

BN running statistics are an exponential average of past batches. With the TF MoViNet momentum
(0.99 decay, PyTorch momentum 0.01) they need thousands of steps to forget the early, very different
activations, so a short run validates with stale statistics. Recomputing them as the plain average
over a few training batches of the current weights fixes that; the weights are untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from movinet.engine.distributed import all_reduce_sum, is_initialized


def _batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module, batches: Iterable[dict], device: torch.device, num_batches: int) -> int:
    """Replace every BN layer's running mean/var by their average over `num_batches` batches.

    Only BN layers run in training mode; dropout and stochastic depth stay off, so no random numbers
    are drawn. Under DDP the statistics are averaged over ranks so that all ranks agree.

    Args:
        model: the network (unwrapped).
        batches: training batches {"video": (B, 3, T, H, W), ...}.
        device: where the model is.
        num_batches: how many batches to average over.

    Returns:
        The number of batches used (fewer when `batches` runs out).
    """
    norms = _batch_norms(model)
    if not norms or num_batches < 1:
        return 0
    was_training = model.training
    momenta = [bn.momentum for bn in norms]
    model.eval()
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: each batch weighs the same
        bn.train()
    used = 0
    for batch in batches:
        if used >= num_batches:
            break
        model(batch["video"].to(device, non_blocking=True))
        used += 1
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    if is_initialized():
        _average_over_ranks(norms)
    model.train(was_training)
    return used


def _average_over_ranks(norms: list[nn.modules.batchnorm._BatchNorm]) -> None:
    import torch.distributed as dist

    world = dist.get_world_size()
    for bn in norms:
        bn.running_mean.copy_(all_reduce_sum(bn.running_mean) / world)
        bn.running_var.copy_(all_reduce_sum(bn.running_var) / world)

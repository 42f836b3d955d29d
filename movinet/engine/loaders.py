"""DataLoaders whose randomness never touches the global RNG streams.

The sample order comes from `ResumableDistributedSampler` (seed, epoch), augmentation from the
dataset's own rng (seed, epoch, index), and worker seeds from a private `torch.Generator`; so
creating a loader does not advance the global torch RNG that dropout and stochastic depth draw from,
and a resumed run sees the same batches and masks as an uninterrupted one.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from movinet.engine.config import Config
from movinet.engine.distributed import DistInfo, ResumableDistributedSampler, ShardSampler
from movinet.engine.performance import resolve_num_workers, usable_cores


def _seed_worker(worker_id: int) -> None:
    # torch seeds each worker from the loader's generator; numpy/python need it passed on.
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def make_loader(
    dataset: Dataset, *, batch_size: int, sampler: torch.utils.data.Sampler, num_workers: int | str, seed: int,
    train: bool, device: torch.device = torch.device("cpu"),
) -> DataLoader:
    """DataLoader whose worker seeds come from a private generator, so creating it does not advance
    the global torch RNG (dropout masks would shift after a resume otherwise). For a CUDA `device`
    batches come in pinned memory (so `.to(device, non_blocking=True)` overlaps the copy) and
    `num_workers="auto"` follows the cores (`movinet.engine.performance.resolve_num_workers`). More
    workers than cores only compete for them: the count is capped at the usable cores (the sample
    order and augmentation do not depend on the worker count)."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=min(resolve_num_workers(num_workers, device), usable_cores()),
        drop_last=train,
        generator=generator,
        worker_init_fn=_seed_worker,
        pin_memory=device.type == "cuda",
    )


def train_loader_for_epoch(dataset: Dataset, cfg: Config, info: DistInfo, epoch: int, start_batch: int) -> DataLoader:
    """The loader of one epoch, starting after `start_batch` already-consumed batches."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    sampler = ResumableDistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, seed=cfg.train.seed, shuffle=True
    )
    sampler.set_epoch(epoch)
    sampler.start_index = start_batch * cfg.data.batch_size
    return make_loader(
        dataset,
        batch_size=cfg.data.batch_size,
        sampler=sampler,
        num_workers=cfg.data.num_workers,
        seed=cfg.train.seed * 100_003 + epoch * 1009 + start_batch,
        train=True,
        device=info.device,
    )


def eval_loader(dataset: Dataset, batch_size: int, num_workers: int | str, info: DistInfo, seed: int) -> DataLoader:
    """Sharded, ordered loader for evaluation."""
    sampler = ShardSampler(dataset, num_replicas=info.world_size, rank=info.rank)
    return make_loader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, seed=seed, train=False,
                       device=info.device)


def precise_bn_loader(dataset: Dataset, cfg: Config, info: DistInfo, epoch: int) -> DataLoader:
    """Training batches for recomputing BN statistics: a shuffled order of its own (seed + 1)."""
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    sampler = ResumableDistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, seed=cfg.train.seed + 1, shuffle=True
    )
    sampler.set_epoch(epoch)
    return make_loader(dataset, batch_size=cfg.data.batch_size, sampler=sampler, num_workers=cfg.data.num_workers,
                       seed=cfg.train.seed * 100_003 + epoch * 1009 + 7, train=True, device=info.device)

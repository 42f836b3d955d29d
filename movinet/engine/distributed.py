"""Multi-process training helpers (torchrun / DistributedDataParallel).

`init_distributed` reads the variables `torchrun` sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT) and returns a `DistInfo` value instead of mutating global arguments (timm style). NCCL
is used on CUDA, gloo on CPU, so two CPU processes can test the DDP path. A single process (no
WORLD_SIZE, or 1) needs no process group at all; every helper then degrades to the identity.

Samplers: `ResumableDistributedSampler` is `DistributedSampler` (deterministic shuffle from
seed + epoch) that can start in the middle of an epoch, which is what makes mid-epoch resume exact;
`ShardSampler` splits evaluation data without the padding duplicates of `DistributedSampler`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler, Sampler


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in a (possibly single-process) run."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that logs and writes files."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    if not value.isdigit():
        raise ValueError(f"environment variable {name}={value!r} must be a non-negative integer")
    return int(value)


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """Turn "auto" / "cpu" / "cuda" into a torch.device (cuda:LOCAL_RANK for CUDA)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("train.device is 'cuda' but CUDA is not available; use -o train.device=cpu or auto")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if device == "cpu":
        return torch.device("cpu")
    raise ValueError(f"train.device must be auto, cpu or cuda; got {device!r}")


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group torchrun describes (if any) and pick this process's device.

    Args:
        device: "auto", "cpu" or "cuda".

    Returns:
        DistInfo with rank, local rank, world size and device.

    Raises:
        ValueError: WORLD_SIZE > 1 without MASTER_ADDR/MASTER_PORT (not launched by torchrun).
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    torch_device = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if not os.environ.get("MASTER_ADDR") or not os.environ.get("MASTER_PORT"):
            raise ValueError(
                "WORLD_SIZE > 1 but MASTER_ADDR/MASTER_PORT are not set; launch with "
                "`torchrun --nproc_per_node=N -m movinet train ...`"
            )
        if torch_device.type == "cuda":
            torch.cuda.set_device(torch_device)
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world_size)
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size, device=torch_device)


def is_initialized() -> bool:
    """Whether a process group exists (e.g. created by the caller before `fit`)."""
    return dist.is_available() and dist.is_initialized()


def cleanup_distributed() -> None:
    """Leave the process group (no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if _initialized():
        dist.barrier()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks (returns a new tensor; the input is untouched)."""
    values = values.detach().clone()
    if _initialized():
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def reduce_mean(value: float, device: torch.device) -> float:
    """Mean of a Python float over ranks, e.g. the training loss for the log."""
    total = all_reduce_sum(torch.tensor([value], dtype=torch.float64, device=device))
    return float(total.item()) / (dist.get_world_size() if _initialized() else 1)


def all_gather_objects(obj: Any) -> list[Any]:
    """Gather a picklable object from every rank, in rank order (a one-item list when single)."""
    if not _initialized():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Send `obj` from rank `src` to all ranks and return it."""
    if not _initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def maybe_convert_sync_batchnorm(model: nn.Module, info: DistInfo, enabled: bool) -> nn.Module:
    """Replace BatchNorm by SyncBatchNorm (`--sync-bn`), which PyTorch implements for CUDA only."""
    if not enabled:
        return model
    if info.device.type != "cuda" or not info.is_distributed:
        warnings.warn("train.sync_bn ignored: SyncBatchNorm needs CUDA and more than one process", stacklevel=2)
        return model
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def wrap_ddp(model: nn.Module, info: DistInfo, *, find_unused_parameters: bool = False) -> nn.Module:
    """DistributedDataParallel around `model` when there are several ranks, else `model` itself.

    `find_unused_parameters`: some parameters get no gradient in some steps (a frozen backbone).
    """
    if not info.is_distributed:
        return model
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids,
                                               find_unused_parameters=find_unused_parameters)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DDP / torch.compile wrappers."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


class ResumableDistributedSampler(DistributedSampler):
    """`DistributedSampler` that skips the first `start_index` samples of this rank's epoch order.

    The order is a pure function of (seed, epoch, rank, world size), so skipping the samples a killed
    run had consumed continues it exactly.
    """

    def __init__(self, dataset: Dataset, *, num_replicas: int, rank: int, seed: int, shuffle: bool = True) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self.start_index = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start_index :])

    def __len__(self) -> int:
        return max(0, super().__len__() - self.start_index)


class ShardSampler(Sampler[int]):
    """Every `world_size`-th sample starting at `rank`, in order: an exact split for evaluation."""

    def __init__(self, dataset: Dataset, *, num_replicas: int, rank: int) -> None:
        self.indices = list(range(rank, len(dataset), num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)

"""The speed settings of a training run, resolved for the device it runs on.

Each has a config switch (`train.amp`, `train.channels_last`, `train.compile`,
`data.num_workers`); "auto" picks the fastest correct choice for the device:

    setting              CUDA                                   CPU
    train.amp            bf16 (fp16 + grad scaler before        float32
                         Ampere, where bf16 is emulated)
    train.channels_last  on (cuDNN's NDHWC 3D kernels)          off
    data.num_workers     the CPU cores of this process's        4
                         share of the node, at most 16
    pin_memory           on (host-to-device copies overlap)     off

`train.compile` (torch.compile of the training step) stays off unless asked for: it pays a
compilation of minutes up front, and its gain is a measurement (`benchmarks/gpu_check.py`), not
a default.
"""

from __future__ import annotations

import os

import torch
from torch import nn

# Loader workers per training process on CUDA, at most: video decoding scales to about this many
# cores per GPU before the host's memory bandwidth, not the cores, limits it.
MAX_AUTO_WORKERS = 16
CPU_DEFAULT_WORKERS = 4


def bf16_is_native() -> bool:
    """Whether the current CUDA device computes in bfloat16 natively (Ampere and later)."""
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.4 has no `including_emulation` and reports native support only
        return torch.cuda.is_bf16_supported()


def resolve_channels_last(setting: bool | str, device: torch.device) -> bool:
    """`train.channels_last`: True/False as given, "auto" = on CUDA only."""
    if setting == "auto":
        return device.type == "cuda"
    return bool(setting)


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def resolve_num_workers(setting: int | str, device: torch.device) -> int:
    """`data.num_workers`: a number as given; "auto" = on CUDA this process's share of the CPU
    cores (torchrun's LOCAL_WORLD_SIZE processes per node) up to `MAX_AUTO_WORKERS`, else 4."""
    if setting != "auto":
        return int(setting)
    if device.type != "cuda":
        return CPU_DEFAULT_WORKERS
    per_process = usable_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(1, min(MAX_AUTO_WORKERS, per_process - 1))  # one core stays with the training process


def maybe_compile(model: nn.Module, enabled: bool) -> nn.Module:
    """`torch.compile(model)` when `train.compile` is on; the parameters stay the model's own, and
    `movinet.engine.distributed.unwrap` finds the module inside for checkpoints."""
    return torch.compile(model) if enabled else model


def deterministic_cuda_environment() -> None:
    """What CUDA needs before `torch.use_deterministic_algorithms(True)` is honoured by cuBLAS: a
    fixed workspace (read when cuBLAS starts, so set before the first matrix product); a value the
    user set is kept."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

"""The speed settings of training resolved per device (`movinet.engine.performance`), and the
deterministic GPU forms of the two layers CUDA has no deterministic kernel for."""

from __future__ import annotations

import warnings

import pytest
import torch

from movinet.engine.distributed import unwrap
from movinet.engine.loaders import make_loader
from movinet.engine.performance import maybe_compile, resolve_channels_last, resolve_num_workers
from movinet.engine.train import resolve_amp
from movinet.models.layers import avg_pool_as_conv, sequential_cumsum

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)  # a device value needs no GPU


def test_auto_precision_is_float32_on_cpu_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_amp("auto", CPU) is None
    with pytest.warns(UserWarning, match="needs CUDA"):
        assert resolve_amp("fp16", CPU) is None


def test_auto_precision_on_cuda_is_bf16_where_native_else_fp16(monkeypatch):
    import movinet.engine.train as train

    monkeypatch.setattr(train, "bf16_is_native", lambda: True)
    assert resolve_amp("auto", CUDA) is torch.bfloat16
    monkeypatch.setattr(train, "bf16_is_native", lambda: False)
    assert resolve_amp("auto", CUDA) is torch.float16
    assert resolve_amp("bf16", CUDA) is torch.bfloat16 and resolve_amp("none", CUDA) is None


def test_channels_last_auto_is_on_for_cuda_only():
    assert resolve_channels_last("auto", CUDA) is True
    assert resolve_channels_last("auto", CPU) is False
    assert resolve_channels_last(True, CPU) is True and resolve_channels_last(False, CUDA) is False


def test_auto_workers_share_the_node_cores_between_gpu_processes(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert resolve_num_workers("auto", CUDA) == 7  # 64 cores / 8 GPUs, one kept for the trainer
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert resolve_num_workers("auto", CUDA) == 16  # capped
    assert resolve_num_workers("auto", CPU) == 4
    assert resolve_num_workers(3, CUDA) == 3


def test_loaders_pin_memory_for_cuda_only():
    data = [{"video": torch.zeros(3, 2, 4, 4), "label": 0}] * 4
    sampler = torch.utils.data.SequentialSampler(data)
    common = {"batch_size": 2, "sampler": sampler, "num_workers": 0, "seed": 0, "train": True}
    assert make_loader(data, device=CUDA, **common).pin_memory is True
    assert make_loader(data, device=CPU, **common).pin_memory is False


def test_compiled_model_unwraps_to_the_model_itself():
    model = torch.nn.Linear(2, 2)
    compiled = maybe_compile(model, True)
    assert compiled is not model and unwrap(compiled) is model
    assert maybe_compile(model, False) is model


def test_deterministic_forms_equal_the_cuda_kernels_they_replace():
    x = torch.randn(2, 3, 5, 9, 11, dtype=torch.float64)
    torch.testing.assert_close(sequential_cumsum(x, 2), x.cumsum(2))
    expected = torch.nn.functional.avg_pool3d(x, (1, 3, 3), (1, 2, 2))
    torch.testing.assert_close(avg_pool_as_conv(x, 3, 2), expected)

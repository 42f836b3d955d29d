"""Shared test helpers: the reference fixtures of ../shared/fixtures and small random inputs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("MOVINET_FIXTURES", REPO.parent / "shared" / "fixtures"))


# CI sets MOVINET_REQUIRE_FIXTURES=1: there a missing fixture fails the test, so parity can never
# pass by being skipped.
REQUIRE_FIXTURES = os.environ.get("MOVINET_REQUIRE_FIXTURES", "") not in ("", "0")


def fixture_path(*parts: str) -> Path:
    """Path inside the reference fixtures; a missing one skips the test, saying why (fails it when
    MOVINET_REQUIRE_FIXTURES is set)."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        message = (f"reference fixture {path} not found (the team's ../shared/fixtures is not beside the "
                   "repository; set MOVINET_FIXTURES to its location)")
        if REQUIRE_FIXTURES:
            pytest.fail(message + "; MOVINET_REQUIRE_FIXTURES is set, so this is an error", pytrace=False)
        pytest.skip(message)
    return path


def one_line_error(capsys) -> str:
    """What a command printed on stderr, asserted to be one line (a CLI error, never a traceback)."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def perturb_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter and BN statistic a non-trivial, seeded value, in place.

    Fresh models hide whole branches: ReZero and positional-encoding scales start at 0, biases at
    0 and BN statistics at (0, 1). This perturbs all of them, 0-d parameters included, so a test
    over the result fails when any branch, bias or statistic is dropped.
    """
    generator = torch.Generator().manual_seed(seed)

    def uniform(like: torch.Tensor, low: float, high: float) -> torch.Tensor:
        return torch.rand(like.shape, generator=generator, dtype=like.dtype) * (high - low) + low

    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 0:  # ReZero, positional-encoding scale, Paddle's alpha
                param.copy_(uniform(param, 0.1, 0.3))
            elif name.endswith("bias"):
                param.add_(uniform(param, -0.1, 0.1))
            elif param.dim() == 1:  # BN gamma
                param.copy_(uniform(param, 0.5, 1.5))
            else:
                param.mul_(uniform(param, 0.8, 1.2))
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(uniform(module.running_mean, -0.1, 0.1))
                module.running_var.copy_(uniform(module.running_var, 0.5, 1.5))
    return model


def random_model(name: str, seed: int = 0, **kwargs):
    """`movinet.create_model(name, **kwargs)` in eval mode with every parameter and BN statistic
    perturbed (`perturb_`): the model every equivalence test should run on."""
    import movinet

    return perturb_(movinet.create_model(name, **kwargs), seed).eval()


def relative_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """||ours - ref|| / ||ref||."""
    return float(np.linalg.norm(np.asarray(ours, np.float64) - ref) / np.linalg.norm(np.asarray(ref, np.float64)))


def tf_clip(name: str, folder: str) -> torch.Tensor:
    """A TF fixture input (N, T, H, W, C) as our layout (N, C, T, H, W)."""
    return torch.from_numpy(np.load(fixture_path(folder, name))).permute(0, 4, 1, 2, 3).contiguous()


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`@pytest.mark.cuda` tests need a CUDA GPU: elsewhere they are skipped, saying so."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False here); "
                                   "benchmarks/gpu_check.py runs these where one is")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]  # parametrize a device-agnostic check


@pytest.fixture
def fp32_on_cuda() -> Iterator[None]:
    """TF32 off for the test (CUDA's fp32 convolutions and matmuls otherwise round to 10 bits)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved

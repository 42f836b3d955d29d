"""Shared test helpers: the reference fixtures of ../shared/fixtures and small random inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("MOVINET_FIXTURES", REPO.parent / "shared" / "fixtures"))


def fixture_path(*parts: str) -> Path:
    """Path inside the reference fixtures; skips the test (with the reason) when they are absent."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference fixture {path} not found (the team's ../shared/fixtures is not beside the "
                    "repository; set MOVINET_FIXTURES to its location)")
    return path


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

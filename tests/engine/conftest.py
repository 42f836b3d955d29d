"""Engine test fixtures (helpers live in engine_helpers.py so subprocess workers can import them)."""

from __future__ import annotations

import pytest
import torch

from engine_helpers import RandomVideoDataset, tiny_config


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # On a shared 2-core machine, 2 OpenMP threads per process next to other jobs run several times
    # slower than one; a single thread keeps the tests' time predictable.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One short validated run shared by the tests that only inspect its outputs."""
    from movinet.engine.train import fit

    out = tmp_path_factory.mktemp("trained_run")
    cfg = tiny_config(out, train={"epochs": 2, "save_interval": 1, "precise_bn_batches": 2})
    result = fit(cfg, validate=True, datasets={"train": RandomVideoDataset(6), "val": RandomVideoDataset(3, views=2)})
    return cfg, result

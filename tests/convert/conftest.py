"""Shared fixtures for the weight-file reader tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]


def _find_fixtures() -> Path | None:
    """The reference fixtures: $MOVINET_FIXTURES, else shared/fixtures in or beside the checkout."""
    candidates = [os.environ.get("MOVINET_FIXTURES"), _REPO / "shared" / "fixtures"]
    candidates.append(_REPO.parent / "shared" / "fixtures")
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    path = _find_fixtures()
    if path is None:
        pytest.skip("reference fixtures not found (set MOVINET_FIXTURES)")
    return path

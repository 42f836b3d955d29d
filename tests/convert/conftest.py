"""Shared fixtures for the weight-file reader tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import fixture_path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The reference fixtures folder (skips, saying why, where it is absent; fails under MOVINET_REQUIRE_FIXTURES)."""
    return fixture_path()

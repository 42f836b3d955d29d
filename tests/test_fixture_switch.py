"""The CI switch that turns a missing reference fixture from a skip into a failure."""

from __future__ import annotations

import pytest

import tests.conftest as shared


def test_missing_fixture_skips_without_the_switch(monkeypatch):
    monkeypatch.setattr(shared, "REQUIRE_FIXTURES", False)
    with pytest.raises(pytest.skip.Exception, match="not found"):
        shared.fixture_path("no-such-folder", "logits.npy")


def test_missing_fixture_fails_with_the_switch(monkeypatch):
    monkeypatch.setattr(shared, "REQUIRE_FIXTURES", True)
    with pytest.raises(pytest.fail.Exception, match="MOVINET_REQUIRE_FIXTURES"):
        shared.fixture_path("no-such-folder", "logits.npy")


def test_present_fixtures_are_found():
    assert shared.fixture_path("tf_a0_base", "logits.npy").is_file()

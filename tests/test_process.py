"""Process-wide settings belong to the command line: a library call leaves the process alone."""

from __future__ import annotations

import ctypes
import sys

import pytest

import movinet
from movinet import cli, process
from tests.conftest import random_model


def test_optimize_for_inference_leaves_the_allocator_alone(monkeypatch):
    loaded = []
    monkeypatch.setattr(ctypes, "CDLL", lambda *args, **kwargs: loaded.append(args))
    movinet.optimize_for_inference(random_model("movinet_a0_stream"))
    movinet.optimize_for_inference(random_model("movinet_a0_base"), target="onnx")
    assert loaded == []


@pytest.fixture
def tuned(monkeypatch):
    calls = []
    monkeypatch.setattr(process, "keep_freed_memory", lambda: calls.append(True) or True)
    return calls


def test_the_command_line_tunes_the_allocator_for_model_commands_only(tuned, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(process.ENVIRONMENT_SWITCH, raising=False)
    assert cli.main(["list"]) == 0
    assert tuned == []
    assert cli.main(["predict", "--input_file", str(tmp_path / "clip.mp4"),
                     "--model_file", str(tmp_path / "missing.onnx")]) == 2
    assert tuned == [True]
    monkeypatch.setenv(process.ENVIRONMENT_SWITCH, "system")
    assert cli.main(["predict", "--input_file", str(tmp_path / "clip.mp4"),
                     "--model_file", str(tmp_path / "missing.onnx")]) == 2
    assert tuned == [True]
    capsys.readouterr()


def test_apply_command_settings_follows_the_switch(tuned):
    assert process.apply_command_settings("serve", {}) is True
    assert process.apply_command_settings("serve", {"MOVINET_MALLOC": " System "}) is False
    assert process.apply_command_settings("train", {}) is False
    assert tuned == [True]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_keep_freed_memory_applies_on_glibc():
    assert process.keep_freed_memory() is True

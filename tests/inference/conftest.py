"""Fixtures of the inference tests: fixture-weight predictors, ONNX exports and small videos."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inference.assets import converted_weights, exported_litert, exported_onnx, noise_video, single_thread


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a shared, loaded machine two spinning threads run ~15x slower."""
    with single_thread():
        yield


@pytest.fixture(scope="session")
def stream_weights(tmp_path_factory) -> Path:
    return converted_weights(tmp_path_factory, "stream")


@pytest.fixture(scope="session")
def base_weights(tmp_path_factory) -> Path:
    return converted_weights(tmp_path_factory, "base")


@pytest.fixture(scope="session")
def stream_onnx(tmp_path_factory) -> Path:
    return exported_onnx(tmp_path_factory, "stream")


@pytest.fixture(scope="session")
def base_onnx(tmp_path_factory) -> Path:
    return exported_onnx(tmp_path_factory, "base")


@pytest.fixture(scope="session")
def stream_tflite(tmp_path_factory) -> Path:
    pytest.importorskip("litert_torch", reason='the litert extra is not installed (pip install "movinet[litert]")')
    return exported_litert(tmp_path_factory, "stream")


@pytest.fixture(scope="session")
def base_tflite(tmp_path_factory) -> Path:
    pytest.importorskip("litert_torch", reason='the litert extra is not installed (pip install "movinet[litert]")')
    return exported_litert(tmp_path_factory, "base")


@pytest.fixture(scope="session")
def video(tmp_path_factory) -> Path:
    """16 frames at 10 fps, 80 x 96."""
    return noise_video(tmp_path_factory.mktemp("videos") / "clip.mp4")

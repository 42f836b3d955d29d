"""Fixtures of the serve tests: a random-weight stream model (PyTorch and its ONNX export), servers,
and small clips.

Every model here has all parameters and BN statistics perturbed (`random_model`), so equalities
between batched and single-stream steps cannot hold by accident (a ReZero left at 0 hides every
residual branch).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from movinet.data.preprocessing import Preprocessing
from tests.conftest import random_model
from tests.inference.assets import single_thread

SIZE = 48  # >= the 32-px minimum; small keeps every step cheap on a shared CPU
FPS = 10.0  # stream rate of the test servers: short real-time tests
LABELS = [f"class_{index}" for index in range(7)]
PREPROCESSING = Preprocessing(frames=8, height=SIZE, width=SIZE, resize=56)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One intra-op thread: the machine is shared, and spinning threads slow each other down."""
    with single_thread():
        yield


@pytest.fixture(scope="session")
def torch_model():
    """A0 stream, 7 classes, every parameter perturbed (eval mode)."""
    with single_thread():
        return random_model("movinet_a0_stream", seed=3, num_classes=len(LABELS))


@pytest.fixture(scope="session")
def torch_served(torch_model):
    from movinet.inference import TorchPredictor
    from movinet.serve.model import ServedModel

    predictor = TorchPredictor.from_model(torch_model, "movinet_a0_stream", labels=LABELS,
                                          preprocessing=PREPROCESSING)
    return ServedModel(predictor, fps=FPS)


@pytest.fixture(scope="session")
def onnx_file(torch_model, tmp_path_factory) -> Path:
    """The stream ONNX export (+ sidecar) of `torch_model`, verified against PyTorch by the exporter."""
    from movinet.export.onnx import export_onnx

    with single_thread():
        result = export_onnx(torch_model, tmp_path_factory.mktemp("serve-onnx"), model_name="movinet_a0_stream",
                             labels=LABELS, preprocessing=PREPROCESSING, stream_steps=3)
    return result.onnx_path


@pytest.fixture(scope="session")
def onnx_served(onnx_file):
    from movinet.serve.model import ServedModel

    return ServedModel.load(onnx_file, num_threads=1, fps=FPS)


@pytest.fixture(scope="module")
def server(onnx_served) -> Iterator:
    """A default-settings server of the ONNX model on 127.0.0.1 (a free port), for one test module."""
    from movinet.serve import ServeSettings, ServerThread, create_app

    settings = ServeSettings()
    with ServerThread(create_app(onnx_served, settings), settings) as running:
        yield running


def motion_frames(seed: int, count: int, size: int = 40, width: int | None = None) -> np.ndarray:
    """(count, size, width, 3) uint8 frames that change over time (smooth random blobs moving)."""
    rng = np.random.default_rng(seed)
    width = width or size
    base = rng.integers(0, 256, (size // 4 + count, width // 4, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
    return np.stack([base[t * 4 % (base.shape[0] - size):][:size, :width] for t in range(count)])


def reference_logits(served, frames: np.ndarray) -> np.ndarray:
    """Logits after each frame when the stream is stepped alone. -> (count, num_classes)."""
    state = served.new_state()
    out = []
    for frame in frames:
        logits, (state,) = served.step_batch([served.prepare_frame(frame)], [state])
        out.append(logits[0])
    return np.stack(out)


def http_request(url: str, method: str, path: str, body=None, headers=None, timeout: float = 30.0) -> tuple[int, bytes]:
    """A raw HTTP request: the path goes to the server exactly as written (no client normalisation)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {},
                           encode_chunked=body is not None and not isinstance(body, (bytes, str)))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class LogCapture(logging.Handler):
    """The records of the server's log (uvicorn's "uvicorn.error" logger, where movinet serve writes too)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [record.getMessage() for record in self.records]

    def tracebacks(self) -> list[logging.LogRecord]:
        return [record for record in self.records if record.exc_info or "Traceback" in record.getMessage()]


@contextlib.contextmanager
def server_log() -> Iterator[LogCapture]:
    """Capture the server's log lines (attach after the server started: uvicorn configures logging then)."""
    from movinet.serve.protocol import CLIENT_LOG

    capture = LogCapture()
    loggers = [logging.getLogger("uvicorn.error")]  # uvicorn logs tracebacks of the app there too
    for logger in loggers:
        logger.addHandler(capture)
    saved = dict(CLIENT_LOG._windows)
    CLIENT_LOG._windows.clear()  # each test starts with the full line budget
    try:
        yield capture
    finally:
        for logger in loggers:
            logger.removeHandler(capture)
        CLIENT_LOG._windows.update(saved)

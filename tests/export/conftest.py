"""Fixtures of the export tests: the same fixture weights, ONNX exports and videos as the inference tests."""

from tests.inference.conftest import (  # noqa: F401  (pytest finds fixtures by name in this namespace)
    _one_torch_thread,
    base_onnx,
    base_tflite,
    base_weights,
    stream_onnx,
    stream_tflite,
    stream_weights,
    video,
)

"""Inference: whole-video prediction (`predict`) and online streams (`stream`), on any backend.

    backends/     the `Predictor` interface, its PyTorch and ONNX Runtime runtimes, and
                  `load_predictor`, which picks the runtime by the model file's suffix
    inputs.py     files, directories and lists to classify
    predict.py    `predict_files`: decode a batch ahead, classify
    report.py     `Result`, the seed's text format and JSON lines
    stream.py     `run_stream`: frame by frame, the state fed back
    classify.py   `classify` / `Classifier`: one call from Python, the record `predict --json` prints

Names are imported on first use (PEP 562): `from movinet.inference import OnnxPredictor` loads
ONNX Runtime and not torch.
"""

from __future__ import annotations

from movinet._lazy import lazy_exports

# Classes reported per video or step by `predict`, `stream`, `serve` and `classify` unless told otherwise.
DEFAULT_TOP_K = 5

_EXPORTS = {
    "Classifier": "movinet.inference.classify",
    "classify": "movinet.inference.classify",
    "LoadOptions": "movinet.inference.backends.base",
    "Predictor": "movinet.inference.backends.base",
    "PredictorError": "movinet.inference.backends.base",
    "load_predictor": "movinet.inference.backends",
    "OnnxPredictor": "movinet.inference.backends.onnx",
    "ProviderNotAvailableError": "movinet.inference.backends.onnx",
    "onnx_session_options": "movinet.inference.backends.onnx",
    "SidecarError": "movinet.inference.backends.sidecar",
    "read_sidecar": "movinet.inference.backends.sidecar",
    "TorchPredictor": "movinet.inference.backends.pytorch",
    "collect_inputs": "movinet.inference.inputs",
    "resolve_model_files": "movinet.inference.model_files",
    "load_clip": "movinet.inference.predict",
    "predict_files": "movinet.inference.predict",
    "Result": "movinet.inference.report",
    "format_result": "movinet.inference.report",
    "print_results": "movinet.inference.report",
    "StreamOpenError": "movinet.inference.stream",
    "StreamSession": "movinet.inference.stream",
    "StreamSummary": "movinet.inference.stream",
    "run_stream": "movinet.inference.stream",
}

__all__ = [*_EXPORTS, "DEFAULT_TOP_K"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, ("DEFAULT_TOP_K",))

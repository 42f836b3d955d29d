"""Inference: whole-video prediction (`predict`) and online streams (`stream`)."""

from movinet.inference.predict import (
    OnnxPredictor,
    Predictor,
    PredictorError,
    ProviderNotAvailableError,
    Result,
    SidecarError,
    TorchPredictor,
    load_predictor,
    predict_files,
    print_results,
)
from movinet.inference.stream import StreamOpenError, StreamSession, StreamSummary, run_stream

__all__ = [
    "OnnxPredictor",
    "Predictor",
    "PredictorError",
    "ProviderNotAvailableError",
    "Result",
    "SidecarError",
    "StreamOpenError",
    "StreamSession",
    "StreamSummary",
    "TorchPredictor",
    "load_predictor",
    "predict_files",
    "print_results",
    "run_stream",
]

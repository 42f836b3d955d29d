"""Inference: whole-video prediction (`predict`), online streams (`stream`), preprocessing records."""

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
from movinet.inference.preprocess import Preprocessing, resolve_preprocessing
from movinet.inference.stream import StreamOpenError, StreamSession, StreamSummary, run_stream

__all__ = [
    "OnnxPredictor",
    "Predictor",
    "PredictorError",
    "Preprocessing",
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
    "resolve_preprocessing",
    "run_stream",
]

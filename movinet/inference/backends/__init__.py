"""Prediction backends: one interface (`Predictor`), the runtime chosen by the model file's suffix.

    predictor = load_predictor("export/movinet_a0_stream.onnx")   # ONNX Runtime (no torch import)
    predictor = load_predictor("best.safetensors")                # PyTorch
    logits = predictor.predict_clips(video)                      # (B, 3, T, H, W) -> (B, classes)

`BACKENDS` below is the one place a runtime is chosen. A new runtime is a module in this package
with a `Predictor` subclass (see `base.py` for the four methods) and one entry here. Entries name
their class as a string, so importing this package loads no runtime: the ONNX and LiteRT paths
never import torch.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from movinet.data.preprocessing import Preprocessing
from movinet.inference.backends.base import LoadOptions, Predictor, PredictorError, State

# model-file suffix (lower case) -> "module:class" of its backend
BACKENDS: dict[str, str] = {
    ".onnx": "movinet.inference.backends.onnx:OnnxPredictor",
    ".tflite": "movinet.inference.backends.litert:LiteRtPredictor",
}
# Everything else is weights for `movinet.load_model` (.safetensors, .pt, .pdparams, release
# names), which knows those formats and says which it accepts.
WEIGHTS_BACKEND = "movinet.inference.backends.pytorch:TorchPredictor"

__all__ = ["BACKENDS", "LoadOptions", "Predictor", "PredictorError", "State", "backend_for", "load_predictor"]


def backend_for(model_file: str | os.PathLike) -> type[Predictor]:
    """The `Predictor` class that runs `model_file`, by its suffix (imported now)."""
    module, name = BACKENDS.get(Path(model_file).suffix.lower(), WEIGHTS_BACKEND).split(":")
    return getattr(importlib.import_module(module), name)


def load_predictor(model_file: str | os.PathLike, *, use_gpu: bool = False, use_tensorrt: bool = False,
                   num_threads: int | None = None, model_name: str | None = None,
                   preprocessing: Preprocessing | None = None, causal: bool | None = None) -> Predictor:
    """A predictor for `model_file`: `OnnxPredictor` for `.onnx`, `LiteRtPredictor` for `.tflite`,
    `TorchPredictor` for weights.

    `preprocessing` (e.g. a config's) applies to weights only: an exported graph is fixed to its
    sidecar's. See `LoadOptions` for the other arguments.
    """
    options = LoadOptions(use_gpu=use_gpu, use_tensorrt=use_tensorrt, num_threads=num_threads,
                          model_name=model_name, preprocessing=preprocessing, causal=causal)
    return backend_for(model_file).from_file(model_file, options)

"""The PyTorch backend: weights `movinet.load_model` reads, run in their inference form."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from movinet.data.preprocessing import Preprocessing
from movinet.inference.backends.base import LoadOptions, Predictor, PredictorError, State
from movinet.models.movinet import MoViNet
from movinet.models.optimize import optimize_for_inference
from movinet.models.registry import get_model_info


class TorchPredictor(Predictor):
    """PyTorch backend over weights `movinet.load_model` reads.

    Args:
        weights: our `.safetensors` (from `movinet convert`, training or `save_weights`), a
            training checkpoint `.pt` or a PaddleVideo `.pdparams`.
        device: torch device ("cpu", "cuda", "cuda:1", ...).
        model_name: the expected model; a file holding another model is an error.
        preprocessing: the input pipeline (e.g. a config's `Preprocessing.from_config`); default
            the weights' own.
        causal: rebuild the model causal or not (`movinet.load_model`); None keeps the weights' own.
    """

    backend = "pytorch"

    def __init__(self, weights: str | os.PathLike, *, device: str = "cpu", model_name: str | None = None,
                 preprocessing: Preprocessing | None = None, causal: bool | None = None) -> None:
        from movinet.loading import load_model
        from movinet.weights import WeightsError

        try:
            model, meta = load_model(weights, model_name=model_name, causal=causal)
        except WeightsError as error:
            raise PredictorError(str(error)) from None
        self._setup(model, meta.name, device=device, labels=meta.labels,
                    preprocessing=preprocessing or meta.preprocessing)

    @classmethod
    def from_file(cls, model_file: str | os.PathLike, options: LoadOptions) -> TorchPredictor:
        """Weights on "cuda" with `use_gpu`; `num_threads` sets torch's intra-op threads (process-wide)."""
        if options.num_threads is not None:
            torch.set_num_threads(int(options.num_threads))
        return cls(model_file, device="cuda" if options.use_gpu else "cpu", model_name=options.model_name,
                   preprocessing=options.preprocessing, causal=options.causal)

    @classmethod
    def from_model(cls, model: Any, model_name: str, *, device: str = "cpu", labels: list[str] | None = None,
                   preprocessing: Preprocessing | None = None) -> TorchPredictor:
        """Wrap an in-memory MoViNet (tests, notebooks; default preprocessing: the registry's).
        It runs in its inference form (`optimize_for_inference`)."""
        self = cls.__new__(cls)
        self._setup(model, model_name, device=device, labels=labels, preprocessing=preprocessing)
        return self

    def _setup(self, model: Any, model_name: str, *, device: str, labels: list[str] | None,
               preprocessing: Preprocessing | None) -> None:
        try:
            self.device = torch.device(device)
            model = model.to(self.device).eval()
            # A MoViNet runs in its inference form (same logits, faster); anything else as given.
            self.model = optimize_for_inference(model) if isinstance(model, MoViNet) else model
        except (RuntimeError, AssertionError) as error:
            raise PredictorError(f"cannot use device {device!r}: {error}") from None
        info = get_model_info(model_name)
        prep = preprocessing if preprocessing is not None else Preprocessing.from_model(info)
        super().__init__(model_name=model_name, family=info.family, kind="stream" if model.is_causal else "base",
                         num_classes=model.num_classes, labels=labels,
                         preprocessing=prep.for_causality(model.is_causal, info.family))

    def _tensor(self, array: Any) -> torch.Tensor:
        """A tensor on this predictor's device: tensors as they are, arrays (e.g. another backend's) converted."""
        if isinstance(array, torch.Tensor):
            return array.to(self.device)
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def _forward(self, video: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(self._tensor(np.asarray(video, dtype=np.float32))).float().cpu().numpy()

    def _init_state(self, batch_size: int) -> State:
        prep = self.preprocessing
        return self.model.init_state(batch_size, prep.height, prep.width)

    def _step(self, clip: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        state = {key: self._tensor(value) for key, value in state.items()}
        with torch.inference_mode():
            logits, state = self.model.stream_step(self._tensor(np.asarray(clip, dtype=np.float32)), state)
        return logits.float().cpu().numpy(), state

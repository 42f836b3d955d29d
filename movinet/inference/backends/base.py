"""The interface every prediction backend implements: `Predictor`.

A predictor classifies preprocessed clips and knows what is needed to make them (its model's
`Preprocessing`) and to name its classes. Stream (causal) predictors also step a stream: their
state is a dict keyed by the model's state keys (`blocks.1.0.feature.buffer`, `head.pool.count`,
...; `MoViNet.init_state`'s keys) in every backend, each value with the batch on axis 0 (frame
counters are `(B,)` int64). Values are the backend's arrays (torch tensors, numpy arrays); a
backend also accepts the other's CPU arrays, so a stream may move between backends.

A backend subclasses `Predictor` and implements:

    from_file(model_file, options)       # classmethod: open a model file with `LoadOptions`
    _forward(video)                      # base models: (B, 3, T, H, W) -> (B, classes) logits
    _init_state(batch_size)              # stream models: the zero state
    _step(clip, state)                   # stream models: (B, 3, t, H, W), state -> logits, new state

and is named in `movinet.inference.backends.BACKENDS` by the suffix of its model files.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from movinet.data.preprocessing import Preprocessing
from movinet.models.streaming import stream_clip

State = dict[str, Any]


class PredictorError(ValueError):
    """A model file cannot be used for prediction (missing sidecar, wrong model, bad provider)."""


@dataclass(frozen=True)
class LoadOptions:
    """How to open a model file; a backend uses what applies to it.

    Attributes:
        use_gpu: run on a GPU (PyTorch: "cuda"; ONNX Runtime: CUDAExecutionProvider).
        use_tensorrt: ONNX Runtime's TensorrtExecutionProvider (others ignore it).
        num_threads: intra-op CPU threads (None: the runtime's default).
        model_name: the expected model; a file holding another model is an error.
        preprocessing: the input pipeline (e.g. a config's) for weights; an exported graph keeps
            the one its sidecar records.
        causal: weights only: rebuild the model causal (a base model streams, as a config's
            `model.causal: true` asks) or not; None keeps the weights' own.
    """

    use_gpu: bool = False
    use_tensorrt: bool = False
    num_threads: int | None = None
    model_name: str | None = None
    preprocessing: Preprocessing | None = None
    causal: bool | None = None


class Predictor(ABC):
    """A classifier of preprocessed clips, plus what is needed to preprocess and name classes.

    Attributes:
        backend: the runtime's name ("pytorch", "onnxruntime", ...).
        max_chunk: the most frames one `step` accepts (None: any number).
        model_name: registry name.
        family: "official" or "paddle".
        kind: "base" (whole clips) or "stream" (step function with a state).
        num_classes: logits per clip.
        labels: class names, or None.
        preprocessing: the input pipeline of the model.
    """

    backend: str = ""
    max_chunk: int | None = None

    def __init__(self, *, model_name: str, family: str, kind: str, num_classes: int,
                 labels: list[str] | None, preprocessing: Preprocessing) -> None:
        self.model_name, self.family, self.kind = model_name, family, kind
        self.num_classes, self.labels, self.preprocessing = num_classes, labels, preprocessing

    @classmethod
    @abstractmethod
    def from_file(cls, model_file: str | os.PathLike, options: LoadOptions) -> Predictor:
        """Open `model_file` (a file of this backend's suffix) as `options` say."""

    @property
    def is_stream(self) -> bool:
        return self.kind == "stream"

    def label(self, index: int) -> str | None:
        """Name of class `index`, or None without labels."""
        return self.labels[index] if self.labels is not None and 0 <= index < len(self.labels) else None

    def describe(self) -> str:
        prep = self.preprocessing
        return (f"{self.model_name} ({self.kind}, {self.backend}), input {prep.frames}x{prep.height}x{prep.width}, "
                f"{self.num_classes} classes")

    def predict_clips(self, video: np.ndarray) -> np.ndarray:
        """Logits of preprocessed clips.

        Args:
            video: (B, 3, T, H, W) float32, as `Preprocessing.transform` makes them.

        Returns:
            (B, num_classes) float32 logits (stream models: after the last frame, which equal the
            whole-clip logits of the causal model).
        """
        video = np.ascontiguousarray(video, dtype=np.float32)
        if video.ndim != 5 or video.shape[1] != 3:
            raise ValueError(f"expected clips of shape (B, 3, T, H, W), got {video.shape}")
        if not self.is_stream:
            return self._forward(video)
        return stream_clip(self.step, video, self.init_state(video.shape[0]), self.max_chunk)[0]

    def init_state(self, batch_size: int = 1) -> State:
        """Zero state of `batch_size` fresh streams, keyed by the model's state keys (stream models only)."""
        if not self.is_stream:
            raise PredictorError(f"{self.model_name} is a base model: it has no stream state; use a *_stream model")
        return self._init_state(batch_size)

    def step(self, clip: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """One stream step (stream models only).

        Args:
            clip: (B, 3, t, H, W) float32 preprocessed frames (t <= `max_chunk`).
            state: from `init_state` or the previous `step`, of this backend or another.

        Returns:
            ((B, num_classes) float32 logits after the clip, the new state with the same keys).
        """
        if not self.is_stream:
            raise PredictorError(f"{self.model_name} is a base model: it cannot run frame by frame; "
                                 "use a *_stream model (weights or stream ONNX export)")
        return self._step(clip, state)

    @abstractmethod
    def _forward(self, video: np.ndarray) -> np.ndarray:
        """Base models: (B, 3, T, H, W) float32 -> (B, num_classes) float32 logits."""

    @abstractmethod
    def _init_state(self, batch_size: int) -> State:
        """Stream models: the zero state (see `init_state`)."""

    @abstractmethod
    def _step(self, clip: np.ndarray, state: State) -> tuple[np.ndarray, State]:
        """Stream models: one step (see `step`)."""

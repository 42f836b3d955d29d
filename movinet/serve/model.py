"""The served model: the one place where `movinet serve` touches predictors and model files.

    model = ServedModel.load("export/movinet_a0_stream.onnx")      # or stream .safetensors weights
    clip = model.prepare_frame(rgb)                                  # (H, W, 3) uint8 -> (3, 1, h, w)
    logits, states = model.step_batch([clip_a, clip_b], [state_a, state_b])
    clip, timings = model.load_upload("/tmp/.../video")              # an upload: that one file, nothing else

A stream's state is the predictor's: a dict keyed by the model's state keys
(`blocks.1.0.feature.buffer`, `head.pool.count`, ...), the same keys with every backend. A batched
step concatenates the per-stream states key by key along their batch axis (dim 0 of every state
tensor, frame counters included: they are per-sample `(B,)` int64), runs one model call and splits
the new state back into one state per stream, so streams of different ages share a batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from movinet.data.preprocessing import Preprocessing
from movinet.inference.backends import Predictor, PredictorError, State, load_predictor
from movinet.inference.predict import load_single_video_clip
from movinet.limits import check_rate
from movinet.inference.report import Result, softmax, top_k_of


class NotAStreamModelError(PredictorError):
    """`movinet serve` was given a base (whole-clip) model."""


class ServedModel:
    """A stream predictor with what the server needs: metadata, per-frame preprocessing, batched steps.

    Args:
        predictor: a stream predictor (`OnnxPredictor` of a stream export or `TorchPredictor` of
            stream weights).
        fps: the rate streams are classified at (default: the model's training rate
            `preprocessing.stream_fps`).

    Raises:
        NotAStreamModelError: the predictor is a base model.
        ValueError: no frame rate is known, or `fps` is not a finite number > 0.
    """

    def __init__(self, predictor: Predictor, *, fps: float | None = None) -> None:
        if not predictor.is_stream:
            raise NotAStreamModelError(
                f"{predictor.model_name} is a base model: `movinet serve` classifies streams frame by frame and "
                "needs a stream model (a *_stream .safetensors or its stream ONNX export)")
        self.predictor = predictor
        stream_fps = predictor.preprocessing.stream_fps
        rate = (check_rate(fps, "fps") if fps is not None
                else None if stream_fps is None else check_rate(stream_fps, "the model's stream_fps"))
        if rate is None:
            raise ValueError("the model does not record the frame rate it was trained at; pass fps (--fps)")
        self.fps = rate

    @classmethod
    def load(cls, model_file: str | os.PathLike, *, use_gpu: bool = False, num_threads: int | None = None,
             fps: float | None = None) -> ServedModel:
        """A stream `.onnx` export (with its JSON sidecar) or stream `.safetensors` weights."""
        return cls(load_predictor(model_file, use_gpu=use_gpu, num_threads=num_threads), fps=fps)

    # -- metadata --------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.predictor.model_name

    @property
    def preprocessing(self) -> Preprocessing:
        return self.predictor.preprocessing

    @property
    def num_classes(self) -> int:
        return self.predictor.num_classes

    @property
    def backend(self) -> str:
        return self.predictor.backend

    def label(self, index: int) -> str | None:
        return self.predictor.label(index)

    def top_k(self, logits: np.ndarray, k: int) -> list[dict[str, Any]]:
        """The k best classes of (num_classes,) logits: [{"class", "label", "score" (softmax)}], best first."""
        classes, scores = top_k_of(softmax(np.asarray(logits)[None])[0], k)
        return [{"class": c, "label": self.label(c), "score": s} for c, s in zip(classes, scores)]

    def describe(self) -> dict[str, Any]:
        """What `GET /model` returns: name, kind, backend, classes, labels, preprocessing, stream fps."""
        predictor = self.predictor
        return {"name": predictor.model_name, "family": predictor.family, "kind": predictor.kind,
                "backend": predictor.backend, "num_classes": predictor.num_classes, "labels": predictor.labels,
                "preprocessing": self.preprocessing.to_dict(), "stream_fps": self.fps}

    # -- streams ---------------------------------------------------------------------------------

    def prepare_frame(self, frame: np.ndarray) -> np.ndarray:
        """Resize, crop and normalise one frame exactly as `movinet stream` does.

        Args:
            frame: (H, W, 3) uint8 RGB.

        Returns:
            (3, 1, height, width) float32.
        """
        return self.preprocessing.transform(frame[None])

    def new_state(self) -> State:
        """The zero state of a fresh stream (batch 1)."""
        return self.predictor.init_state(1)

    def step_batch(self, clips: Sequence[np.ndarray], states: Sequence[State]) -> tuple[np.ndarray, list[State]]:
        """One model call for several streams, each at its own age.

        Args:
            clips: per stream a (3, t, height, width) float32 clip; the same t for all.
            states: per stream its state (batch 1), in the same order.

        Returns:
            ((B, num_classes) float32 logits, the B new states, batch 1 each).
        """
        if len(clips) != len(states) or not clips:
            raise ValueError(f"need one state per clip, got {len(clips)} clips and {len(states)} states")
        video = np.ascontiguousarray(np.stack(clips), dtype=np.float32)
        logits, batched = self.predictor.step(video, concat_states(states))
        return np.asarray(logits, dtype=np.float32), split_state(batched, len(clips))

    # -- uploads ---------------------------------------------------------------------------------

    def load_upload(self, path: str | os.PathLike) -> tuple[np.ndarray, dict[str, float]]:
        """Decode and preprocess an uploaded video: that one file, nothing it names (in a worker thread).

        Returns:
            ((3, T, height, width) float32 clip, {"decode": s, "preprocess": s}).

        Raises:
            VideoDecodeError: not a video FFmpeg may read as a single file.
        """
        return load_single_video_clip(path, self.preprocessing)

    def upload_record(self, name: str, logits: np.ndarray, timings: dict[str, float], top_k: int) -> dict[str, Any]:
        """The `movinet predict --json` record of an upload classified as `logits` ((num_classes,))."""
        result = Result(name, timings=dict(timings))
        result.classes, result.scores = top_k_of(softmax(np.asarray(logits)[None])[0], top_k)
        result.labels = [self.label(c) for c in result.classes]
        return result.to_dict()


def concat_states(states: Sequence[State]) -> State:
    """Stack per-stream states (batch 1 each) into one batched state, key by key along dim 0.

    Works for numpy (ONNX Runtime) and torch (PyTorch) states; a single state is returned as it is.
    """
    if len(states) == 1:
        return states[0]
    first = states[0]
    sample = next(iter(first.values()))
    if isinstance(sample, np.ndarray):
        return {key: np.concatenate([state[key] for state in states]) for key in first}
    import torch

    return {key: torch.cat([state[key] for state in states]) for key in first}


def split_state(state: State, batch_size: int) -> list[State]:
    """The inverse of `concat_states`: `batch_size` states of batch 1 (copies, so no stream keeps
    the whole batch alive)."""
    if batch_size == 1:
        return [state]
    sample = next(iter(state.values()))
    copy = (lambda value: value.copy()) if isinstance(sample, np.ndarray) else (lambda value: value.clone())
    return [{key: copy(value[index:index + 1]) for key, value in state.items()} for index in range(batch_size)]

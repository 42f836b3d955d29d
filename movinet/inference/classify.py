"""One call from Python: `movinet.classify(video, model)`, and `movinet.Classifier` to keep a model loaded.

    import movinet
    record = movinet.classify("clip.mp4", "runs/my_model/best.safetensors")   # or "model.onnx", "hf://org/name"
    record["top_k"][0]["label"], record["top_k"][0]["score"]

    classifier = movinet.Classifier("runs/my_model/export/movinet_a0_stream.onnx", top_k=3)
    for path in paths:
        print(classifier(path))                    # the model stays loaded between calls
    classifier(frames)                             # (T, H, W, 3) uint8 RGB frames, e.g. from a camera

A record is what `movinet predict --json` prints for a file, made by the same code
(`predict_files`, then `Result.to_dict`): `{"file", "top_k": [{"class", "label", "score"}, ...],
"timings"}`. Frames given as an array are sampled and preprocessed by the same `Preprocessing` record
as a decoded file, and their record's "file" is None.

The model is anything `load_predictor` opens (the runtime chosen by the file's suffix: `.onnx` with
ONNX Runtime and no torch, weights with PyTorch), a Hub repository (`hf://ORG/NAME`), or a model name
from `movinet.list_models()` standing for its published weights (Kinetics-600 for the official models).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from movinet.inference import DEFAULT_TOP_K
from movinet.inference.backends import Predictor, load_predictor
from movinet.inference.predict import classify_loaded, predict_files
from movinet.inference.report import Result


def _model_source(model: str | os.PathLike, model_name: str | None) -> tuple[str, str | None]:
    """(the file or reference to load, the model name): a registry name stands for its published release."""
    from movinet.models.registry import MODELS

    text = str(model)
    if text in MODELS and not Path(text).exists():
        from movinet.hub import default_release

        release = default_release(text)
        if release is None:
            raise ValueError(f"{text} has no published weights; pass a weights file, an .onnx export or hf://ORG/NAME")
        return release, text
    return text, model_name


def _as_frames(video: Any) -> np.ndarray | None:
    """Frames given as an array (T, H, W, 3) uint8, or None when `video` is a path."""
    if isinstance(video, (str, os.PathLike)):
        return None
    frames = np.asarray(video)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ValueError(f"frames must be an array (T, H, W, 3) of RGB frames, got shape {frames.shape}; or pass "
                         "a video file path")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 RGB (0-255), got {frames.dtype}; convert with "
                         "(frames * 255).clip(0, 255).astype('uint8') if they are floats in [0, 1]")
    return frames


class Classifier:
    """A loaded model that classifies videos (paths) or frames, one record per call.

    Args:
        model: weights (.safetensors, training .pt, .pdparams), an exported `.onnx`, `hf://ORG/NAME`,
            or a model name standing for its published weights (e.g. "movinet_a0_base").
        top_k: classes per record (default 5, as `movinet predict`).
        model_name: the expected model (a release name such as "kinetics400" needs it).
        use_gpu / threads: as `movinet predict --use_gpu --threads`.

    Attributes:
        predictor: the backend (`Predictor`) holding the model.
    """

    def __init__(self, model: str | os.PathLike, *, top_k: int = DEFAULT_TOP_K, model_name: str | None = None,
                 use_gpu: bool = False, threads: int | None = None) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        source, name = _model_source(model, model_name)
        self.predictor: Predictor = load_predictor(source, use_gpu=use_gpu, num_threads=threads, model_name=name)
        self.top_k = top_k

    @property
    def labels(self) -> list[str] | None:
        return self.predictor.labels

    def __call__(self, video: str | os.PathLike | np.ndarray | Sequence[np.ndarray]) -> dict[str, Any]:
        """The record of one video file, or of frames (T, H, W, 3) uint8 RGB.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file cannot be decoded, or the frames are malformed.
        """
        frames = _as_frames(video)
        if frames is None:
            return self._classify_file(video)
        start = time.perf_counter()
        prep = self.predictor.preprocessing
        clip = prep.transform(frames[prep.sample_indices(len(frames))])
        result = Result(None, timings={"preprocess": time.perf_counter() - start})  # type: ignore[arg-type]
        return classify_loaded(([result], [clip]), self.predictor, self.top_k)[0].to_dict()

    def _classify_file(self, path: str | os.PathLike) -> dict[str, Any]:
        if not Path(path).expanduser().is_file():
            raise FileNotFoundError(f"video file {path} does not exist")
        result = predict_files([str(path)], self.predictor, top_k=self.top_k, progress=False)[0]
        if not result.ok:
            raise ValueError(f"{path}: {result.error}")
        return result.to_dict()


def classify(video: str | os.PathLike | np.ndarray, model: str | os.PathLike, *, top_k: int = DEFAULT_TOP_K,
             **options: Any) -> dict[str, Any]:
    """Classify one video (a path, or (T, H, W, 3) uint8 RGB frames) with `model`; returns the record
    `movinet predict --json` prints. Loads the model for this one call: use `Classifier` for many.
    `options` are `Classifier`'s (model_name, use_gpu, threads)."""
    return Classifier(model, top_k=top_k, **options)(video)

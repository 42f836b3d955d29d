"""What every exporter shares: its result, its check against PyTorch, and the sidecar's model fields.

An export writes `<out_dir>/<model_name>.<suffix>` (the graph) and `<out_dir>/<model_name>.json`
(the sidecar: model name, family, kind, classes, labels, preprocessing, the graph's inputs and
outputs and, for stream graphs, its state tensors), and checks the graph's runtime against the
training-form model it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from movinet.data.preprocessing import Preprocessing
from movinet.models.movinet import MoViNet
from movinet.models.registry import get_model_info

MAX_RELATIVE_ERROR = 1e-4  # float32 graphs against PyTorch: ||graph - torch|| / ||torch||


class ExportError(ValueError):
    """The export failed, or its runtime disagrees with PyTorch beyond tolerance."""


@dataclass(frozen=True)
class Verification:
    """The exported graph's runtime vs PyTorch on example input.

    Attributes:
        max_abs_error: max |logits_graph - logits_torch| over every checked output.
        relative_error: ||logits_graph - logits_torch|| / ||logits_torch||.
        state_max_abs_error: max |new_state_graph - new_state_torch| (stream graphs).
        checks: what was run, e.g. "clip 1x3x8x64x64" or "stream 10 steps".
        top1_agreement: the share of checked outputs whose arg-max agrees (reduced precision).
    """

    max_abs_error: float
    relative_error: float
    state_max_abs_error: float | None
    checks: list[str]
    top1_agreement: float | None = None


@dataclass(frozen=True)
class ExportResult:
    """What an exporter wrote: the graph (`model_path`), its sidecar, and the check's errors
    (None without a check)."""

    model_path: Path
    json_path: Path
    kind: str
    max_abs_error: float | None
    relative_error: float | None
    verification: Verification | None = field(default=None, compare=False)

    @property
    def onnx_path(self) -> Path:
        """The graph of an ONNX export (`model_path`)."""
        return self.model_path


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def example_video(shape: tuple[int, ...], normalize: str, seed: int) -> Tensor:
    """Seeded example input in the model's value range: U[0, 1) RGB, or N(0, 1) for ImageNet-normalised models."""
    generator = torch.Generator().manual_seed(seed)
    if normalize == "imagenet":
        return torch.randn(shape, generator=generator)
    return torch.rand(shape, generator=generator)


def errors(ours: list[np.ndarray], refs: list[np.ndarray]) -> tuple[float, float]:
    """(max |ours - refs|, ||ours - refs|| / ||refs||) over all the arrays."""
    diff = np.concatenate([(a.astype(np.float64) - b).ravel() for a, b in zip(ours, refs)])
    ref = np.concatenate([b.astype(np.float64).ravel() for b in refs])
    return float(np.abs(diff).max()), float(np.linalg.norm(diff) / max(np.linalg.norm(ref), 1e-30))


def top1_agreement(ours: list[np.ndarray], refs: list[np.ndarray]) -> float:
    """The share of rows of (B, classes) logits whose arg-max is the reference's."""
    agree = [np.argmax(a, -1) == np.argmax(b, -1) for a, b in zip(ours, refs)]
    return float(np.mean(np.concatenate(agree)))


def check_model(model: Any, model_name: str, labels: list[str] | None, what: str) -> None:
    """Refuse what cannot be exported: an unknown name, not a MoViNet, labels of the wrong length."""
    get_model_info(model_name)  # a clear error for unknown names
    if not isinstance(model, MoViNet):
        raise ValueError(f"{what} needs a movinet MoViNet model, got {type(model).__name__}")
    if model.inference_target is not None:
        raise ValueError(f"{what} needs the training form of the model (it converts and checks it itself), got "
                         f"the inference form for {model.inference_target!r}")
    if labels is not None and len(labels) != model.num_classes:
        raise ValueError(f"{len(labels)} labels given for a model with {model.num_classes} classes")


def model_fields(model: MoViNet, model_name: str, kind: str, prep: Preprocessing,
                 labels: list[str] | None) -> dict[str, Any]:
    """The sidecar fields that describe the model rather than the graph."""
    info = get_model_info(model_name)
    return {
        "model_name": model_name,
        "family": info.family,
        "kind": kind,
        "num_classes": model.num_classes,
        "labels": list(labels) if labels is not None else None,
        "label_set": info.labels if labels is not None and len(labels) == info.num_classes else None,
        "input_size": {"frames": prep.frames, "height": prep.height, "width": prep.width},
        "preprocessing": prep.to_dict(),
    }


def to_channels_last(video: np.ndarray) -> np.ndarray:
    """(B, 3, T, H, W) -> (B, T, H, W, 3), the signature's video layout."""
    return np.ascontiguousarray(video.transpose(0, 2, 3, 4, 1))

"""Our weight format: safetensors tensors + JSON metadata (model name, classes, labels, preprocessing).

The metadata is stored twice: in the safetensors header (key "movinet", the source of truth) and
in a sidecar `<file>.json` for people and runtimes that do not read safetensors headers.
No pickle is involved anywhere.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from movinet.files import atomic_write_bytes, atomic_write_text

from movinet.models.movinet import MoViNet

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
RELEASE_NAMES = ("kinetics600", "kinetics400")


class WeightsError(ValueError):
    """A weight file is unreadable, or made for another model."""


def model_metadata(model: MoViNet, model_name: str, *, labels: list[str] | None = None,
                   preprocessing: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The metadata dict written with a model's weights."""
    from movinet.models.registry import get_model_info

    info = get_model_info(model_name)
    se_hidden = [layer.se.reduce.out_channels for stage in model.blocks for layer in stage if layer.se is not None]
    meta: dict[str, Any] = {
        "format": "movinet", "format_version": FORMAT_VERSION, "model_name": model_name,
        "num_classes": model.num_classes, "causal": model.causal,
        "se_hidden_channels": se_hidden,
        "labels": labels, "preprocessing": preprocessing or info.preprocessing(),
    }
    meta.update(extra)
    return meta


def save_weights(model: MoViNet, path: str | os.PathLike, *, model_name: str, labels: list[str] | None = None,
                 preprocessing: dict[str, Any] | None = None, **extra: Any) -> Path:
    """Write `model`'s state dict to `path` (.safetensors) plus `path`.json metadata, atomically.

    Returns:
        The path written.
    """
    path = Path(path)
    if labels is not None and len(labels) != model.num_classes:
        raise ValueError(f"{len(labels)} labels given for a model with {model.num_classes} classes")
    meta = model_metadata(model, model_name, labels=labels, preprocessing=preprocessing, **extra)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    # Serialised in memory and written through `atomic_write`: safetensors' own file writer
    # creates 0600 files, ours get the permissions of every other output.
    atomic_write_bytes(path, save(tensors, metadata={"movinet": json.dumps(meta)}))
    atomic_write_text(metadata_path(path), json.dumps(meta, indent=2) + "\n")
    return path


def metadata_path(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".json") if not str(path).endswith(".safetensors") else Path(str(path)[: -len(".safetensors")] + ".json")


def load_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a movinet safetensors file. Returns (state_dict, metadata)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"{path} is not a readable safetensors file ({error}); convert foreign checkpoints "
                           "first with `movinet convert tf|paddle`") from None
    if "movinet" not in header:
        raise WeightsError(f"{path} has no movinet metadata; it was not written by movinet "
                           "(use `movinet convert` for TF or PaddleVideo checkpoints)")
    return tensors, json.loads(header["movinet"])


def _resolve_weights(info: Any, weights: str | os.PathLike) -> Path:
    if str(weights) in RELEASE_NAMES:
        from movinet.hub import fetch_pretrained

        return fetch_pretrained(info.name, str(weights))
    from movinet.models.registry import resolve_path

    return resolve_path(weights)


def load_into_new_model(info: Any, weights: str | os.PathLike, *, num_classes: int | None = None,
                        dropout: float | None = None, stochastic_depth: float | None = None,
                        causal: bool | None = None) -> MoViNet:
    """Build the model of `info` and load `weights` into it (see `create_model`)."""
    from movinet.models.registry import build_model

    path = _resolve_weights(info, weights)
    tensors, meta = load_weights(path)
    if meta.get("model_name") != info.name:
        raise WeightsError(f"{path} holds weights for {meta.get('model_name')!r}, not {info.name!r}; "
                           f"create_model({meta.get('model_name')!r}, weights=...) instead")
    file_classes = int(meta["num_classes"])
    model = build_model(info, num_classes=file_classes, dropout=dropout, stochastic_depth=stochastic_depth,
                        causal=causal, se_hidden_channels=meta.get("se_hidden_channels") or None)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise WeightsError(f"{path} does not fit {info.name}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.labels = meta.get("labels")
    model.preprocessing = meta.get("preprocessing")
    if num_classes is not None and num_classes != file_classes:
        log.info("replacing the %d-class classifier of %s with a new %d-class one", file_classes, path, num_classes)
        model.reset_classifier(num_classes)
        model.labels = None
        return model
    return model.eval()


"""Our weights file format: safetensors tensors plus the `ModelMetadata` record.

    save_weights(model, "best.safetensors", model_name="movinet_a0_stream", labels=labels)
    tensors, raw = read_weights("best.safetensors")       # raw: the metadata dict
    meta = ModelMetadata.from_dict(raw, "best.safetensors")

The metadata (model name, classes, labels, preprocessing) is stored twice: in the safetensors
header (key "movinet", the source of truth) and in a sidecar `<file>.json` for people and runtimes
that do not read safetensors headers. No pickle is involved. Training checkpoints carry the same
record (`movinet.engine.checkpoint`).

This module is the bottom of the file layers: converters, the hub and the training engine write
through it, and the loader (`movinet.loading`: `load_model`, `create_model`) reads every source
into it; it imports only the model registry, the preprocessing record and `movinet.files`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from movinet.data.preprocessing import Preprocessing
from movinet.files import atomic_write_bytes, atomic_write_text
from movinet.models.registry import get_model_info

if TYPE_CHECKING:
    import torch

    from movinet.models.movinet import MoViNet

FORMAT = "movinet"
FORMAT_VERSION = 2  # 2: preprocessing says `preset`, sampling "even" (1: `resize_mode`, "clips" without stride)


class WeightsError(ValueError):
    """A weight file is unreadable, or made for another model."""


@dataclass(frozen=True)
class ModelMetadata:
    """What travels with a model's weights.

    Attributes:
        name: registry name of the architecture.
        num_classes: classifier outputs.
        causal: built causal (stream models, or a base model trained with `causal=True`).
        labels: class names, or None.
        preprocessing: the input pipeline the weights expect (their evaluation settings).
        se_hidden_channels: per-layer SE widths when they differ from the rule (older checkpoints).
        source: where the weights came from (a converted checkpoint), or None.
    """

    name: str
    num_classes: int
    causal: bool
    labels: list[str] | None
    preprocessing: Preprocessing
    se_hidden_channels: list[int] | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "model_name": self.name,
            "num_classes": self.num_classes, "causal": self.causal, "se_hidden_channels": self.se_hidden_channels,
            "labels": self.labels, "preprocessing": self.preprocessing.to_dict(),
        }
        if self.source is not None:
            data["source"] = self.source
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> ModelMetadata:
        """Read the metadata of a weights file (`where` names it in errors)."""
        name = data.get("model_name")
        if not isinstance(name, str):
            raise WeightsError(f"{where} has no model name in its metadata; re-save it with movinet")
        info = get_model_info(name)
        prep = data.get("preprocessing")
        causal = bool(data.get("causal", info.causal))
        return cls(
            name=name, num_classes=int(data.get("num_classes") or info.num_classes), causal=causal,
            labels=data.get("labels"), se_hidden_channels=data.get("se_hidden_channels") or None,
            preprocessing=(Preprocessing.from_dict(prep) if prep else Preprocessing.from_model(info)).for_causality(
                causal, info.family),
            source=data.get("source"),
        )


def describe_model(model: MoViNet, name: str, *, labels: list[str] | None = None,
                   preprocessing: Preprocessing | None = None, source: str | None = None) -> ModelMetadata:
    """The metadata of an in-memory model (default preprocessing: the registry's for `name`)."""
    info = get_model_info(name)
    if getattr(model, "inference_target", None):
        raise ValueError("this is the inference form of a model (optimize_for_inference): its folded weights are "
                         "not a checkpoint; save the training model")
    if labels is not None and len(labels) != model.num_classes:
        raise ValueError(f"{len(labels)} labels given for a model with {model.num_classes} classes")
    se_hidden = [layer.se.reduce.out_channels for stage in model.blocks for layer in stage if layer.se is not None]
    return ModelMetadata(name=name, num_classes=model.num_classes, causal=model.causal,
                         labels=list(labels) if labels is not None else None,
                         preprocessing=preprocessing or Preprocessing.from_model(info, causal=model.causal),
                         se_hidden_channels=se_hidden, source=source)


def metadata_path(path: str | os.PathLike) -> Path:
    """The JSON sidecar of a weights file: `x.safetensors` -> `x.json`."""
    text = str(path)
    return Path(text[: -len(".safetensors")] + ".json") if text.endswith(".safetensors") else Path(text + ".json")


def save_weights(model: MoViNet, path: str | os.PathLike, *, model_name: str, labels: list[str] | None = None,
                 preprocessing: Preprocessing | None = None, source: str | None = None) -> Path:
    """Write `model`'s state dict to `path` (.safetensors) plus its `.json` metadata, atomically.

    Returns:
        The path written.
    """
    from safetensors.torch import save

    path = Path(path)
    meta = describe_model(model, model_name, labels=labels, preprocessing=preprocessing, source=source).to_dict()
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    # Serialised in memory and written through `atomic_write`: safetensors' own file writer
    # creates 0600 files, ours get the permissions of every other output.
    atomic_write_bytes(path, save(tensors, metadata={FORMAT: json.dumps(meta)}))
    atomic_write_text(metadata_path(path), json.dumps(meta, indent=2) + "\n")
    return path


def read_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and the raw metadata dict of one of our `.safetensors` files, read once."""
    from safetensors import SafetensorError, safe_open

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist; pass a .safetensors file written by "
                                "`movinet convert` or training, or a release name like 'kinetics600'")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 - not a dict
    except (SafetensorError, OSError, ValueError) as error:
        raise WeightsError(f"{path} is not a readable safetensors file ({error}); convert foreign checkpoints "
                           "first with `movinet convert tf|paddle`") from None
    if FORMAT not in header:
        raise WeightsError(f"{path} has no movinet metadata; it was not written by movinet "
                           "(use `movinet convert` for TF or PaddleVideo checkpoints)")
    return tensors, json.loads(header[FORMAT])

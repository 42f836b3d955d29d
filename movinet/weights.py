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
from movinet.limits import MAX_CLASSES, MAX_LABEL_CHARS, check_count
from movinet.models.registry import get_model_info

if TYPE_CHECKING:
    import torch

    from movinet.models.movinet import MoViNet

FORMAT = "movinet"
FORMAT_VERSION = 2  # 2: preprocessing says `preset`, sampling "even" (1: `resize_mode`, "clips" without stride)


class WeightsError(ValueError):
    """A weight file is unreadable, or made for another model."""


class DamagedWeightsError(WeightsError):
    """One of our own weights files that cannot be read: truncated or corrupt."""


# Per-layer SE widths: the widest MoViNet layer has a few thousand channels.
_MAX_CHANNELS = 65_536
# The safetensors header (JSON) of a MoViNet is a few hundred KB; its own limit is 100 MB.
_MAX_HEADER_BYTES = 100 << 20


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
        """Read the metadata of a weights file (`where` names it in errors).

        Every value is checked before it sizes anything (`movinet.limits`): class count, labels,
        SE widths and the preprocessing record.

        Raises:
            WeightsError: a missing or malformed field; the message names `where` and the field.
        """
        if not isinstance(data, dict):
            raise WeightsError(f"{where}: its metadata must be a JSON object, got {type(data).__name__}; re-save it "
                               "with movinet")
        name = data.get("model_name")
        if not isinstance(name, str):
            raise WeightsError(f"{where} has no model name in its metadata; re-save it with movinet")
        try:
            info = get_model_info(name)
            num_classes = check_count(data.get("num_classes") or info.num_classes, "num_classes", MAX_CLASSES)
            labels = check_labels(data.get("labels"), num_classes)
            se_hidden = data.get("se_hidden_channels") or None
            if se_hidden is not None:
                if not isinstance(se_hidden, list):
                    raise ValueError(f"se_hidden_channels must be a list of channel counts, got {type(se_hidden).__name__}")
                se_hidden = [check_count(width, "se_hidden_channels", _MAX_CHANNELS) for width in se_hidden]
            causal = data.get("causal", info.causal)
            if not isinstance(causal, bool):
                raise ValueError(f"causal must be true or false, got {causal!r}")
            prep = data.get("preprocessing")
            preprocessing = Preprocessing.from_dict(prep) if prep is not None else Preprocessing.from_model(info)
        except ValueError as error:
            raise WeightsError(f"{where}: {error}") from None
        return cls(name=name, num_classes=num_classes, causal=causal, labels=labels, se_hidden_channels=se_hidden,
                   preprocessing=preprocessing.for_causality(causal, info.family),
                   source=data.get("source") if isinstance(data.get("source"), str) else None)


def check_labels(labels: Any, num_classes: int) -> list[str] | None:
    """Class names read from a file: None, or `num_classes` strings of bounded length.

    Raises:
        ValueError: anything else, saying what is wrong.
    """
    if labels is None:
        return None
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ValueError(f"labels must be a list of class names (strings), got {type(labels).__name__}")
    if len(labels) != num_classes:
        raise ValueError(f"labels has {len(labels)} names for {num_classes} classes")
    long = next((label for label in labels if len(label) > MAX_LABEL_CHARS), None)
    if long is not None:
        raise ValueError(f"a label is {len(long)} characters long (at most {MAX_LABEL_CHARS})")
    return list(labels)


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
        if written_by_movinet(path):
            raise DamagedWeightsError(f"{path} is a movinet weights file but it is damaged (truncated or corrupt: "
                                      f"{error}); write it again (re-run the step that made it) or copy it "
                                      "again") from None
        raise WeightsError(f"{path} is not a readable safetensors file ({error}); convert foreign checkpoints "
                           "first with `movinet convert tf|paddle`") from None
    if FORMAT not in header:
        raise WeightsError(f"{path} has no movinet metadata; it was not written by movinet "
                           "(use `movinet convert` for TF or PaddleVideo checkpoints)")
    try:
        return tensors, json.loads(header[FORMAT])
    except (ValueError, RecursionError) as error:
        raise DamagedWeightsError(f"{path}: its movinet metadata is not readable JSON ({type(error).__name__}); "
                                  "write the file again with movinet") from None


def written_by_movinet(path: Path) -> bool:
    """Whether a file that does not read as safetensors was written by movinet: its header still
    names our metadata, or the `.json` beside it is ours."""
    try:
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            head = handle.read(min(length, _MAX_HEADER_BYTES))
    except OSError:
        head = b""
    if f'"{FORMAT}"'.encode() in head:
        return True
    try:
        sidecar = json.loads(metadata_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(sidecar, dict) and sidecar.get("format") == FORMAT

"""The JSON sidecar of an exported model: `<name>.json` beside `<name>.onnx` or `<name>.tflite`.

It holds what the graph does not: model name, kind, labels, preprocessing, the graph's inputs and
outputs, and for stream graphs the state tensors (`states`: per state `key`, graph `input` and
`output` names, `shape`, `dtype`, `batch_axis`). `movinet.export.onnx` and `movinet.export.litert`
write it; its `format` says which ("movinet-onnx", "movinet-litert"). Reading it needs neither
torch nor a runtime.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from movinet.data.preprocessing import Preprocessing
from movinet.inference.backends.base import PredictorError
from movinet.limits import MAX_CLASSES, MAX_LABEL_CHARS, check_count

_REQUIRED_KEYS = ("model_name", "kind", "num_classes", "preprocessing", "inputs", "outputs")
# A sidecar with 100,000 labels is a few MB.
MAX_SIDECAR_BYTES = 64 << 20
# One stream state tensor: A5's largest buffers at 320 px are a few million values.
MAX_STATE_ELEMENTS = 1 << 28


class SidecarError(PredictorError):
    """The JSON sidecar of an exported model is missing, unreadable or made for another file."""


def sidecar_path(model_file: str | os.PathLike) -> Path:
    """`<name>.json` beside `<name>.onnx`."""
    return Path(model_file).with_suffix(".json")


def read_sidecar(model_file: str | os.PathLike, expected_format: str = "movinet-onnx") -> dict[str, Any]:
    """The sidecar JSON of an exported model file, whose `format` must be `expected_format`.

    Raises:
        SidecarError: missing, unreadable, or not a movinet ONNX sidecar.
    """
    path = sidecar_path(model_file)
    if not path.is_file():
        raise SidecarError(f"{model_file} has no sidecar {path.name} beside it; it holds the model name, labels "
                           "and preprocessing. Keep both files of `movinet export` together, or re-export")
    try:
        with open(path, "rb") as handle:
            text = handle.read(MAX_SIDECAR_BYTES + 1)
        if len(text) > MAX_SIDECAR_BYTES:
            raise SidecarError(f"sidecar {path} is larger than {MAX_SIDECAR_BYTES >> 20} MiB, too large to be a "
                               "movinet sidecar; re-export the model")
        data = json.loads(text.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SidecarError(f"cannot read sidecar {path}: {error}; re-export the model") from None
    except RecursionError:
        raise SidecarError(f"sidecar {path} nests its JSON too deeply to be a movinet sidecar; re-export the "
                           "model") from None
    if not isinstance(data, dict) or data.get("format") != expected_format:
        found = data.get("format") if isinstance(data, dict) else None
        raise SidecarError(f"{path} is not the sidecar of {Path(model_file).name} (format {found!r}, not "
                           f"{expected_format!r}); keep the JSON written with the model file, or re-export")
    for key in _REQUIRED_KEYS:
        if key not in data:
            raise SidecarError(f"sidecar {path} lacks {key!r}; re-export the model with `movinet export`")
    _check_values(data, path)
    return data


def _check_values(data: dict[str, Any], path: Path) -> None:
    """Bounds and types of every value that sizes something (`movinet.limits`), before use.

    Raises:
        SidecarError: naming the sidecar and the field.
    """
    try:
        num_classes = check_count(data["num_classes"], "num_classes", MAX_CLASSES)
        labels = data.get("labels")
        if labels is not None and (not isinstance(labels, list) or len(labels) != num_classes
                                   or not all(isinstance(label, str) and len(label) <= MAX_LABEL_CHARS
                                              for label in labels)):
            raise ValueError(f"labels must be a list of {num_classes} class names (strings)")
        Preprocessing.from_dict(data["preprocessing"])
        for role in ("inputs", "outputs"):
            entries = data[role]
            if not isinstance(entries, list) or not all(
                    isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("shape"), list)
                    for entry in entries):
                raise ValueError(f"{role} must be a list of {{\"name\", \"shape\"}} entries")
        states = data.get("states") or []
        if not isinstance(states, list):
            raise ValueError("states must be a list")
        for index, spec in enumerate(states):
            if isinstance(spec, dict) and "shape" in spec:
                _check_state_shape(spec["shape"], f"states.{index}.shape")
    except (ValueError, TypeError) as error:
        raise SidecarError(f"sidecar {path}: {error}; re-export the model") from None


def _check_state_shape(shape: Any, field: str) -> None:
    """A stream state tensor's shape: a list of sizes whose product stays bounded (it is allocated)."""
    if not isinstance(shape, list):
        raise ValueError(f"{field} must be a list of sizes, got {type(shape).__name__}")
    total = 1
    for size in shape:
        total *= check_count(size, field, MAX_STATE_ELEMENTS)
    if total > MAX_STATE_ELEMENTS:
        raise ValueError(f"{field} {shape} has {total:,} elements, more than the {MAX_STATE_ELEMENTS:,} a stream "
                         "state tensor may have")


def check_graph_input(preprocessing: Preprocessing, graph_shape: list[Any], path: Path) -> None:
    """The sidecar's input size must be one the graph takes: a fixed height or width of the
    graph's `video` input (B, 3, T, H, W) that the sidecar contradicts would fail on every call.

    Raises:
        SidecarError: naming the sidecar field and the graph's size.
    """
    if len(graph_shape) != 5:
        return
    for field, wanted, fixed in (("height", preprocessing.height, graph_shape[3]),
                                 ("width", preprocessing.width, graph_shape[4])):
        if isinstance(fixed, int) and fixed != wanted:
            raise SidecarError(f"sidecar {sidecar_path(path)}: preprocessing.{field} is {wanted}, but the graph "
                               f"{path.name} takes frames of {fixed} px; use the JSON written with this ONNX "
                               "file, or re-export the model")

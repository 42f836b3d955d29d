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

from movinet.inference.backends.base import PredictorError

_REQUIRED_KEYS = ("model_name", "kind", "num_classes", "preprocessing", "inputs", "outputs")


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
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SidecarError(f"cannot read sidecar {path}: {error}; re-export the model") from None
    if not isinstance(data, dict) or data.get("format") != expected_format:
        found = data.get("format") if isinstance(data, dict) else None
        raise SidecarError(f"{path} is not the sidecar of {Path(model_file).name} (format {found!r}, not "
                           f"{expected_format!r}); keep the JSON written with the model file, or re-export")
    for key in _REQUIRED_KEYS:
        if key not in data:
            raise SidecarError(f"sidecar {path} lacks {key!r}; re-export the model with `movinet export`")
    return data

"""The seed's model-file spellings: `--model_file` / `-w` (`--params_file`) to the one file to predict with."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from movinet.inference.backends.sidecar import sidecar_path

log = logging.getLogger(__name__)

_PADDLE_INFERENCE_SUFFIXES = (".pdmodel", ".pdiparams")


def _export_in(directory: Path, model_name: str | None) -> Path | None:
    """The one movinet ONNX export (an .onnx with its sidecar) in `directory`, of `model_name` if given."""
    found = [path for path in sorted(directory.glob("*.onnx")) if sidecar_path(path).is_file()]
    if model_name is not None:
        found = [path for path in found if path.stem == model_name] or found
    return found[0] if len(found) == 1 else None


def resolve_model_files(model_file: str | os.PathLike | None, weights: str | os.PathLike | None, *,
                        model_name: str | None = None) -> str:
    """The one file to predict with, from `--model_file` and `-w/--params_file` as the seed writes them.

    PaddleVideo's `predict.py` takes `--model_file DIR/MoViNet.pdmodel --params_file DIR/MoViNet.pdiparams`
    (graph + parameters). movinet's export is one ONNX file with its sidecar: a Paddle file name that does
    not exist stands for the movinet export in the same directory, and a `.pdiparams` next to an ONNX model
    is ignored (the ONNX file holds its weights).

    Raises:
        ValueError: nothing given, both an ONNX model and weights given, or a real Paddle Inference file.
    """
    if model_file is None and weights is None:
        raise ValueError("give --model_file OUT_DIR/<model>.onnx (from `movinet export`) or -w WEIGHTS.safetensors")
    if model_file is None:
        if Path(weights).suffix == ".pdiparams":
            raise ValueError(f"{weights} is a Paddle Inference parameter file, which only Paddle runs; give the "
                             "training weights (.pdparams or .safetensors) with -w, or a movinet ONNX export with "
                             "--model_file")
        return str(weights)
    model = Path(model_file)
    if model.suffix in _PADDLE_INFERENCE_SUFFIXES:
        if model.is_file():
            raise ValueError(f"{model} is a Paddle Inference model, which only Paddle runs; movinet runs ONNX: "
                             f"`movinet export -c CONFIG -p WEIGHTS -o {model.parent}`, then --model_file "
                             f"{model.parent}/<model>.onnx (or -w WEIGHTS to predict with PyTorch)")
        export = _export_in(model.parent, model_name) if model.parent.is_dir() else None
        if export is None:
            raise ValueError(f"{model} does not exist and {model.parent} holds no single movinet ONNX export to "
                             f"stand for it; export one with `movinet export -c CONFIG -p WEIGHTS -o {model.parent}` "
                             "and pass --model_file <dir>/<model>.onnx")
        log.warning("%s is a Paddle Inference name; using the movinet export %s in the same directory", model, export)
        model = export
    if weights is not None and Path(weights).suffix != ".pdiparams":
        raise ValueError(f"give either --model_file {model} (an ONNX export holds its weights) or -w {weights}, "
                         "not both")
    return str(model)

"""The one loader: any weights source in, a built model and its `ModelMetadata` out.

    model, meta = movinet.load_model("best.safetensors")    # meta.name, meta.labels, meta.preprocessing
    model = movinet.create_model("movinet_a0_stream", weights="kinetics600")

Sources: our `.safetensors` (`movinet.weights`), a training checkpoint (`.pt`, from `movinet train`),
a PaddleVideo `.pdparams` (through the restricted unpickler of `movinet.convert.pdparams`),
converted in memory, a release name ("kinetics600", "kinetics400"), which the hub downloads and
converts once (`movinet.hub.fetch_pretrained`), and a Hugging Face Hub repository
(`hf://ORG/NAME`, downloaded into huggingface_hub's cache and hash-checked by `movinet.hf`, then
read like a local `.safetensors`).

Layers: this module sits above the file format (`movinet.weights`), the converters, the hub and the
checkpoint reader (`movinet.engine.checkpoint`) and the Hugging Face download (`movinet.hf`), none
of which import it; training, evaluation,
export and inference load through it (tests/test_layering.py). Each source's reader is imported
when that source is read, so loading a `.safetensors` imports neither the converters nor the engine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from movinet.models.registry import get_model_info
from movinet.weights import (
    DamagedWeightsError,
    ModelMetadata,
    WeightsError,
    describe_model,
    metadata_path,
    read_weights,
)

if TYPE_CHECKING:
    import torch

    from movinet.models.movinet import MoViNet

log = logging.getLogger(__name__)

RELEASE_NAMES = ("kinetics600", "kinetics400")


def _read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], ModelMetadata]:
    """A `movinet train` checkpoint (.pt): its model tensors and the metadata record of its run."""
    from movinet.engine.checkpoint import checkpoint_metadata, load_checkpoint, strip_prefixes

    checkpoint = load_checkpoint(path)
    meta = replace(checkpoint_metadata(checkpoint, str(path)), source=f"training checkpoint {path}")
    return strip_prefixes(checkpoint["model"]), meta


def _read_pdparams(path: Path, model_name: str | None) -> tuple[dict[str, torch.Tensor], ModelMetadata]:
    """A PaddleVideo `.pdparams`, converted in memory."""
    from movinet.convert.paddle import paddle_to_state_dict
    from movinet.convert.pdparams import load_pdparams
    from movinet.labels import load_labels

    name = model_name or "movinet_a0_paddle"
    model, state = paddle_to_state_dict(load_pdparams(path), name)
    labels = load_labels("kinetics400") if model.num_classes == 400 else None
    return state, describe_model(model, name, labels=labels, source=f"PaddleVideo {path}")


def _resolve_source(weights: str | os.PathLike, model_name: str | None) -> Path:
    from movinet.hf import download_weights, is_hub_reference

    if is_hub_reference(weights):
        return download_weights(str(weights))
    if str(weights) in RELEASE_NAMES:
        if model_name is None:
            raise ValueError(f"a release name ({weights!r}) needs the model: "
                             f"create_model(NAME, weights={str(weights)!r}) or load_model(..., model_name=NAME)")
        from movinet.hub import fetch_pretrained

        return fetch_pretrained(model_name, str(weights))
    path = Path(weights).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist; pass a .safetensors file written by "
                                "`movinet convert` or training, a training checkpoint (.pt), a PaddleVideo "
                                ".pdparams, a release name like 'kinetics600', or hf://ORG/NAME")
    return path


def read_model_file(weights: str | os.PathLike, *,
                    model_name: str | None = None) -> tuple[dict[str, torch.Tensor], ModelMetadata]:
    """The tensors and metadata of any weights `load_model` accepts, each file read once.

    A cached release that turns out damaged (a disk that filled up, a copy cut short) is deleted
    and fetched again once, with a warning naming it, instead of failing every later run.
    """
    path = _resolve_source(weights, model_name)
    if path.suffix == ".pt":
        return _read_checkpoint(path)
    if path.suffix == ".pdparams":
        return _read_pdparams(path, model_name)
    try:
        return _read_ours(path)
    except DamagedWeightsError as error:
        if str(weights) not in RELEASE_NAMES:
            raise
        log.warning("the cached release %s is damaged (%s); deleting it and fetching it again", path, error)
        path.unlink(missing_ok=True)
        metadata_path(path).unlink(missing_ok=True)
        return _read_ours(_resolve_source(weights, model_name))


def _read_ours(path: Path) -> tuple[dict[str, torch.Tensor], ModelMetadata]:
    tensors, raw = read_weights(path)
    return tensors, ModelMetadata.from_dict(raw, str(path))


def _check_shapes(build: Callable[[], MoViNet], tensors: dict[str, torch.Tensor], weights: str | os.PathLike,
                  meta: ModelMetadata) -> None:
    """Every tensor of the file must have the shape the metadata's model gives it; checked on a
    model built on the "meta" device, before the real one is allocated.

    Raises:
        WeightsError: naming the first tensor that differs, and what its metadata says.
    """
    import torch

    with torch.device("meta"):
        expected = build().state_dict()
    for key, tensor in tensors.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            raise WeightsError(
                f"{weights}: tensor {key!r} has shape {list(tensor.shape)}, but the file's metadata ({meta.name}, "
                f"{meta.num_classes} classes) needs {list(expected[key].shape)}; the file is damaged or its "
                "metadata was edited: write it again with movinet")


def load_model(weights: str | os.PathLike, *, model_name: str | None = None, causal: bool | None = None,
               dropout: float | None = None, stochastic_depth: float | None = None) -> tuple[MoViNet, ModelMetadata]:
    """Build the model a weights file describes and load it: the one loader of movinet.

    Args:
        weights: our `.safetensors`, a training checkpoint `.pt`, a PaddleVideo `.pdparams`, a
            release name ("kinetics600", "kinetics400"; needs `model_name`), or a Hugging Face Hub
            repository `hf://ORG/NAME` (`movinet.hf`).
        model_name: the expected model; a file holding another model is an error.
        causal: rebuild causal (or not) regardless of the metadata (a base model's weights load
            into its causal 3D variant).
        dropout / stochastic_depth: training regularisation of the rebuilt model (fine-tuning).

    Returns:
        (model in eval mode, metadata).

    Raises:
        FileNotFoundError: no such file.
        WeightsError: unreadable, or made for another model.
    """
    from movinet.models.registry import build_model

    tensors, meta = read_model_file(weights, model_name=model_name)
    if model_name is not None and meta.name != model_name:
        raise WeightsError(f"{weights} holds weights for {meta.name!r}, not {model_name!r}; use "
                           f"model {meta.name!r} (e.g. create_model({meta.name!r}, weights=...)) or other weights")
    if causal is not None and causal != meta.causal:
        meta = replace(meta, causal=causal,
                       preprocessing=meta.preprocessing.for_causality(causal, get_model_info(meta.name).family))
    def build() -> MoViNet:
        return build_model(get_model_info(meta.name), num_classes=meta.num_classes, dropout=dropout,
                           stochastic_depth=stochastic_depth, causal=meta.causal,
                           se_hidden_channels=meta.se_hidden_channels)

    _check_shapes(build, tensors, weights, meta)
    model = build()
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise WeightsError(f"{weights} does not fit {meta.name}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval(), meta


def create_model(
    name: str,
    *,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
    dropout: float | None = None,
    stochastic_depth: float | None = None,
    causal: bool | None = None,
) -> MoViNet:
    """Build a registered MoViNet, optionally loading weights (`load_model`).

    Args:
        name: a name from `list_models()`.
        weights: None (random init), any file `load_model` reads, a release name
            ("kinetics600", "kinetics400") that is downloaded once and cached (see `movinet.hub`),
            or `hf://ORG/NAME` (a Hugging Face Hub repository, see `movinet.hf`).
        num_classes: classifier size; defaults to the weights' (or the model's) class count. A
            different value keeps every pretrained tensor except the final classifier layer,
            which is re-initialised (fine-tuning on a new label set).
        dropout / stochastic_depth: training regularisation (defaults: the recipe's dropout, 0).
        causal: True turns a base model into a causal 3D model that can `stream_step` and loads
            the same weights (train a stream model from base weights).

    Returns:
        MoViNet in eval mode when weights were loaded, train mode otherwise (PyTorch default).
    """
    from movinet.models.registry import build_model

    info = get_model_info(name)
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if weights is None:
        return build_model(info, num_classes=num_classes, dropout=dropout, stochastic_depth=stochastic_depth,
                           causal=causal)
    model, meta = load_model(weights, model_name=name, causal=causal, dropout=dropout,
                             stochastic_depth=stochastic_depth)
    if num_classes is not None and num_classes != meta.num_classes:
        log.info("replacing the %d-class classifier of %s with a new %d-class one", meta.num_classes, weights,
                 num_classes)
        model.reset_classifier(num_classes)
        return model.train()
    return model

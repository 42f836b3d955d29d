"""PaddleVideo MoViNet A0 weights (`.pdparams`) -> movinet state dict (no Paddle needed).

The `.pdparams` file is read by `movinet.convert.pdparams.load_pdparams`, a restricted unpickler
that only reconstructs numpy arrays. Key layout (PaddleVideo `movinet.py`, recognizer prefix
`backbone.`): `conv1`, `blocks.{k}.{expand,deep,se.fc1,se.fc2,project,res.{0,1}}`, `blocks.{k}.alpha`,
`conv7`, `classifier.{0,3}`, each conv block as `conv_1.0` (conv) + `conv_1.1` (BN).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from movinet.convert.common import ConversionError, check_complete, expected_tensors, layer_paths
from movinet.models.registry import build_model, get_model_info
from movinet.models.specs import ARCH_SPECS
from movinet.weights import save_weights

_BN = {"weight": "weight", "bias": "bias", "_mean": "running_mean", "_variance": "running_var"}
_SUBMODULES = {"expand": "expansion", "deep": "feature", "project": "projection", "se.fc1": "se.reduce",
               "se.fc2": "se.expand", "res.0": "skip.project", "res.1": "skip.project"}
_BLOCK = re.compile(r"^blocks\.(\d+)\.(expand|deep|project|se\.fc1|se\.fc2|res\.0|res\.1)\.conv_1\.([01])\.(\w+)$")
_ALPHA = re.compile(r"^blocks\.(\d+)\.alpha$")
_TOP = re.compile(r"^(conv1|conv7)\.conv_1\.([01])\.(\w+)$")
_CLASSIFIER = re.compile(r"^classifier\.([03])\.conv_1\.0\.(weight|bias)$")


def _conv_or_bn(module: str, index: str, leaf: str, plain_conv: bool) -> str | None:
    if index == "0":
        return f"{module}.{leaf}" if plain_conv else f"{module}.conv.{leaf}"
    return f"{module}.bn.{_BN[leaf]}" if leaf in _BN else None


def paddle_key_to_ours(key: str, layer_paths: list[str]) -> str | None:
    """Map one PaddleVideo state-dict key (without `backbone.`) to our tensor name, or None."""
    if match := _ALPHA.match(key):
        return f"{layer_paths[int(match[1])]}.rezero" if int(match[1]) < len(layer_paths) else None
    if match := _BLOCK.match(key):
        index = int(match[1])
        if index >= len(layer_paths):
            return None
        module = f"{layer_paths[index]}.{_SUBMODULES[match[2]]}"
        return _conv_or_bn(module, match[3], match[4], plain_conv=match[2].startswith("se."))
    if match := _TOP.match(key):
        module = "stem" if match[1] == "conv1" else "head.project"
        return _conv_or_bn(module, match[2], match[3], plain_conv=False)
    if match := _CLASSIFIER.match(key):
        return f"classifier.{'hidden' if match[1] == '0' else 'logits'}.{match[2]}"
    return None


def paddle_to_state_dict(arrays: dict[str, np.ndarray], model_name: str = "movinet_a0_paddle"):
    """Build `model_name` (class count from the file) and map the Paddle arrays onto it.

    Returns:
        (model with random weights, state dict to load into it).
    """
    info = get_model_info(model_name)
    if info.family != "paddle":
        raise ConversionError(f"{model_name} is not a PaddleVideo model; PaddleVideo ships only "
                              "movinet_a0_paddle (use `movinet convert tf` for official checkpoints)")
    stripped = {k[len("backbone."):] if k.startswith("backbone.") else k: v for k, v in arrays.items()}
    classifier = stripped.get("classifier.3.conv_1.0.weight")
    if classifier is None:
        raise ConversionError("no classifier weight 'backbone.classifier.3.conv_1.0.weight'; "
                              "is this a PaddleVideo MoViNet A0 .pdparams?")
    model = build_model(info, num_classes=int(classifier.shape[0]))
    layers = layer_paths(ARCH_SPECS[info.arch])
    expected = expected_tensors(model)
    state, problems = {}, []
    for key, value in stripped.items():
        target = paddle_key_to_ours(key, layers)
        if target is None or target not in expected:
            problems.append(f"{key}: matches no {model_name} tensor")
            continue
        tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)).reshape(
            expected[target].shape if value.size == expected[target].numel() else value.shape)
        if tuple(tensor.shape) != tuple(expected[target].shape):
            problems.append(f"{key}: shape {tuple(value.shape)}, {model_name} needs {tuple(expected[target].shape)}")
            continue
        state[target] = tensor
    check_complete(model_name, "Paddle key", expected, state, problems)
    return model, state


def convert_paddle(src: str | os.PathLike, model_name: str, out: str | os.PathLike) -> Path:
    """Convert a PaddleVideo `.pdparams` to a movinet .safetensors file (+ .json metadata)."""
    from movinet.convert.pdparams import load_pdparams
    from movinet.labels import load_labels

    model, state = paddle_to_state_dict(load_pdparams(src), model_name)
    model.load_state_dict(state, strict=False)
    labels = load_labels("kinetics400") if model.num_classes == 400 else None
    return save_weights(model, out, model_name=model_name, labels=labels, source=f"PaddleVideo {src}")

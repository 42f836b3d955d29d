"""Parameter counts and multiply-accumulate counts (the MoViNet README's "GFLOPs" are MACs).

MACs are counted by walking the layers with their output-size rules, so no arithmetic runs.
Every convolution is counted (stem, blocks, SE, head, classifier); batch norm, activations and
pooling are not, as in the TF paper's count.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from movinet.models.layers import ConvBNActivation
from movinet.models.movinet import MoViNet
from movinet.models.registry import build_model, get_model_info, list_models


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable parameters, and the total including BatchNorm running statistics."""
    trainable = sum(p.numel() for p in model.parameters())
    bn_stats = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    return {"trainable": trainable, "with_bn_stats": trainable + bn_stats}


def conv_macs(conv: nn.Conv3d, frames: int, height: int, width: int) -> int:
    """MACs of one Conv3d whose output has (frames, height, width) positions."""
    kt, kh, kw = conv.kernel_size
    return frames * height * width * conv.out_channels * (conv.in_channels // conv.groups) * kt * kh * kw


def _block_macs(block: ConvBNActivation, frames: int, height: int, width: int) -> tuple[int, tuple[int, int]]:
    """MACs of a conv block applied at (height, width), and its output size."""
    out_h, out_w = block.output_size(height, width)
    macs = conv_macs(block.conv, frames, out_h, out_w)
    if block.factorized:
        macs += conv_macs(block.conv_t, frames, out_h, out_w)
    return macs, (out_h, out_w)


def count_macs(model: MoViNet, frames: int, height: int, width: int) -> int:
    """Multiply-accumulates of one forward pass on a (1, 3, frames, height, width) clip.

    Walks the layers with their output-size rules instead of running them, so it costs
    microseconds for any model and input size. Counted: stem, expansion, depthwise feature,
    SE (once per clip, or once per frame when the SE vector is per frame), projection, skip,
    head projection and classifier.
    """
    macs, (height, width) = _block_macs(model.stem, frames, height, width)
    for stage in model.blocks:
        for layer in stage:
            macs += _block_macs(layer.expansion, frames, height, width)[0]
            feature_macs, (out_h, out_w) = _block_macs(layer.feature, frames, height, width)
            macs += feature_macs
            if layer.se is not None:
                se_positions = frames if (layer.se.causal or layer.se.se_type != "3d") else 1
                macs += conv_macs(layer.se.reduce, se_positions, 1, 1) + conv_macs(layer.se.expand, se_positions, 1, 1)
            macs += _block_macs(layer.projection, frames, out_h, out_w)[0]
            if layer.skip is not None:
                macs += conv_macs(layer.skip.project.conv, frames, out_h, out_w)
            height, width = out_h, out_w
    macs += _block_macs(model.head.project, frames, height, width)[0]
    return macs + conv_macs(model.classifier.hidden, 1, 1, 1) + conv_macs(model.classifier.logits, 1, 1, 1)


def model_table(pattern: str = "*") -> list[dict[str, Any]]:
    """One row per registered model: name, input size, classes, parameters and GMACs."""
    rows = []
    for name in list_models(pattern):
        info = get_model_info(name)
        with torch.device("meta"):
            model = build_model(info)
        params = count_parameters(model)
        macs = count_macs(model, *info.input_size)
        rows.append({
            "name": name, "kind": info.kind, "family": info.family, "input_size": list(info.input_size),
            "num_classes": info.num_classes, "params": params["trainable"],
            "params_with_bn_stats": params["with_bn_stats"], "gmacs": macs / 1e9,
        })
    return rows

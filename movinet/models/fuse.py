"""Inference-time rewrite: fold every BatchNorm into the convolution before it.

y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta  ==  conv'(x) with
W' = W * s and b' = beta - mean * s, s = gamma / sqrt(var + eps) per output channel.
The result computes the same function (to float rounding) with one op fewer per conv block.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from movinet.models.layers import ConvBNActivation
from movinet.models.movinet import MoViNet


def _fold(conv: nn.Conv3d, bn: nn.BatchNorm3d) -> None:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1, 1))
    conv.bias = nn.Parameter(bias)


def fuse_batchnorm(model: MoViNet) -> MoViNet:
    """A copy of `model` (in eval mode) with every conv-block BatchNorm folded into its conv.

    The copy is for inference and export only: its state dict no longer matches the training
    layout, and it has no BatchNorm statistics to update.
    """
    fused = copy.deepcopy(model).eval()
    with torch.no_grad():
        for module in fused.modules():
            if isinstance(module, ConvBNActivation) and isinstance(module.bn, nn.BatchNorm3d):
                _fold(module.conv, module.bn)
                module.bn = nn.Identity()
                if module.factorized:
                    _fold(module.conv_t, module.bn_t)
                    module.bn_t = nn.Identity()
    return fused

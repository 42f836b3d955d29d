"""Inference-time rewrite: fold every BatchNorm into the convolution before it.

y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta  ==  conv'(x) with
W' = W * s and b' = beta - mean * s, s = gamma / sqrt(var + eps) per output channel.
The result computes the same function (to float rounding) with one op fewer per conv block.
`fold_batchnorm` is the one place this arithmetic lives; `optimize_for_inference` uses it too.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from movinet.models.layers import ConvBNActivation
from movinet.models.movinet import MoViNet


def fold_batchnorm(conv: nn.Conv3d, bn: nn.BatchNorm3d, factor: Tensor | float = 1.0) -> tuple[Tensor, Tensor]:
    """Weight and bias of conv -> BN (eval statistics) -> x `factor`, as one conv.

    Returns detached copies: weight (C_out, C_in/g, kt, kh, kw) and bias (C_out,). `factor` is a
    scalar that follows the BN with nothing nonlinear in between (a ReZero gate), or 1.
    """
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C_out,)
        bias = bn.bias - bn.running_mean * scale
        if conv.bias is not None:
            bias = bias + conv.bias * scale
        weight = conv.weight * (scale * factor).view(-1, 1, 1, 1, 1)
        return weight.detach().clone(), (bias * factor).detach().clone()


def _fold_into(conv: nn.Conv3d, bn: nn.BatchNorm3d) -> None:
    weight, bias = fold_batchnorm(conv, bn)
    conv.weight = nn.Parameter(weight)
    conv.bias = nn.Parameter(bias)


def fuse_batchnorm(model: MoViNet) -> MoViNet:
    """A copy of `model` (in eval mode) with every conv-block BatchNorm folded into its conv.

    The copy is for inference and export only: its state dict no longer matches the training
    layout, and it has no BatchNorm statistics to update. `optimize_for_inference` goes further.
    """
    fused = copy.deepcopy(model).eval()
    with torch.no_grad():
        for module in fused.modules():
            if isinstance(module, ConvBNActivation) and isinstance(module.bn, nn.BatchNorm3d):
                _fold_into(module.conv, module.bn)
                module.bn = nn.Identity()
                if module.factorized:
                    _fold_into(module.conv_t, module.bn_t)
                    module.bn_t = nn.Identity()
    return fused

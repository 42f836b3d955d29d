"""The inference form of a trained MoViNet: the same network with its leaves folded.

    fast = movinet.optimize_for_inference(model)      # a MoViNet too; `model` is not modified
    logits = fast(video)                               # (B, 3, T, H, W) -> (B, num_classes)
    state = fast.init_state(1, 172, 172)               # causal models: the public state dict
    logits, state = fast.stream_step(clip, state)      # clip (B, 3, t, H, W), any t >= 1

`optimize_for_inference` deep-copies the model and swaps each leaf, by type, for its folded form
(`FOLDED_LEAVES`, see `movinet.models.folded`): `MoViNet.forward`, `stream_step` and `init_state`
stay the only orchestration, and every leaf of the copy takes the training leaf's arguments and
returns its outputs and state keys. `target` picks the kernels when converting: "eager" for
PyTorch calls, "onnx" or "litert" for a graph exported to that runtime (see `movinet.models.folded`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from movinet.models.folded import (
    TARGETS,
    FoldedCausalConvBlock,
    FoldedClassifier,
    FoldedConvBlock,
    FoldedHead,
    FoldedSkip,
    FoldedSqueezeExcite,
)
from movinet.models.layers import BottleneckLayer, CausalConvBlock, ConvBlock, Skip, SqueezeExcite
from movinet.models.movinet import Classifier, Head, MoViNet

# training leaf type -> its folded form, given the leaf and the kernel target
FOLDED_LEAVES: dict[type[nn.Module], Callable[[nn.Module, str], nn.Module]] = {
    ConvBlock: lambda leaf, target: FoldedConvBlock(leaf, target=target),
    CausalConvBlock: lambda leaf, target: FoldedCausalConvBlock(leaf, target=target),
    SqueezeExcite: lambda leaf, target: FoldedSqueezeExcite(leaf, target=target),
    Skip: lambda leaf, target: FoldedSkip(leaf, target=target),
    Head: lambda leaf, target: FoldedHead(leaf, target=target),
    Classifier: lambda leaf, target: FoldedClassifier(leaf),
}


def _fold_rezero_(layer: BottleneckLayer) -> None:
    """Scale the projection's BatchNorm by the ReZero scalar (nothing nonlinear lies between them)
    and drop the scalar: rezero * BN(z) == BN'(z) with gamma' = rezero * gamma, beta' = rezero * beta."""
    bn = layer.projection.bn
    bn.weight.mul_(layer.rezero)
    bn.bias.mul_(layer.rezero)
    layer.rezero = None


def _swap_leaves_(module: nn.Module, target: str) -> None:
    """Replace every child of `module` found in `FOLDED_LEAVES` by its folded form, depth first."""
    for name, child in module.named_children():
        fold = FOLDED_LEAVES.get(type(child))
        if fold is not None:
            setattr(module, name, fold(child, target))
        else:
            _swap_leaves_(child, target)


def _fuse_expansion_(layer: BottleneckLayer) -> None:
    """Move a layer's folded pointwise expansion into its feature block where TF SAME pads the
    feature conv's input with a cell after (see `FoldedBlock.fuse_expansion`); the layer's
    `expansion` becomes the identity. Not for a causal 3D conv, which buffers the expanded frames."""
    feature = layer.feature
    rule = feature.first_padding
    pads_after = rule.explicit is None and (max(rule.stride) > 1 or min(rule.kernel) % 2 == 0)
    if pads_after and (feature.spatial is not None or not feature.stateful):
        feature.fuse_expansion(layer.expansion)
        layer.expansion = nn.Identity()


def optimize_for_inference(model: MoViNet, *, target: str = "eager") -> MoViNet:
    """The inference form of a trained `MoViNet`: same calls, same answers (1e-4), faster.

    Args:
        model: a `MoViNet`; it is not modified. Its eval-mode BatchNorm statistics are folded, so
            convert it again after further training.
        target: "eager" (kernels for PyTorch calls), "onnx" or "litert" (kernels for a graph
            exported to that runtime).

    Returns:
        A `MoViNet` in eval mode whose leaves are folded (`inference_target` says for what); its
        buffers are derived weights, not a training checkpoint. A model already converted for
        `target` is returned as it is.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if not isinstance(model, MoViNet):
        raise ValueError(f"optimize_for_inference needs a movinet MoViNet, got {type(model).__name__}")
    if model.inference_target == target:
        return model
    if model.inference_target is not None:
        raise ValueError(f"this model is already the inference form for {model.inference_target!r}; convert the "
                         f"training model for {target!r}")
    with torch.no_grad():
        fast = copy.deepcopy(model).eval()
        for layer in fast._layers():
            _fold_rezero_(layer)
        _swap_leaves_(fast, target)
        if target == "eager":
            for layer in fast._layers():
                _fuse_expansion_(layer)
        stem_conv = fast.stem.spatial
        if stem_conv is not None:  # the video arrives NCDHW: laid out channels-last (and padded) in one copy
            stem_conv.lay_out_input = stem_conv.eager
    for parameter in fast.parameters():  # the reused positional-encoding scales
        parameter.requires_grad_(False)
    fast.inference_target = target
    return fast

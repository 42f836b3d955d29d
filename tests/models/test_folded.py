"""Each folded leaf computes what its training leaf computes (TF Model Garden's layer-test pattern).

For every leaf `optimize_for_inference` swaps (`FOLDED_LEAVES`), in every family and for both kernel
targets, the folded leaf and the training leaf it came from get the same random input and the same
random state: a whole clip (no state), a chunk of a stream, and a stream frame by frame with the
state fed back. Outputs and new state entries must agree within 1e-4 (relative; frame counters
exactly). A folded leaf passes one frame as a (B, C, H, W) map: the frame-by-frame case feeds it
maps and compares them with the training leaf's (B, C, 1, H, W).
"""

from __future__ import annotations

import pytest
import torch

import movinet
from movinet.models.layers import CausalConvBlock, SqueezeExcite
from movinet.models.movinet import Head
from movinet.models.optimize import FOLDED_LEAVES
from tests.conftest import random_model, relative_error

TOLERANCE = 1e-4
FAMILIES = {
    "official_base": ("movinet_a0_base", {}),
    "official_stream": ("movinet_a0_stream", {}),
    "causal_3d": ("movinet_a0_base", {"causal": True}),
    "paddle": ("movinet_a0_paddle", {}),
    "positional_encoding": ("movinet_a3_stream", {}),
}
CLIP = (2, 3, 4, 48, 56)  # an even and an odd side: both TF SAME parities


def leaf_input_shapes(model: movinet.MoViNet) -> dict[str, tuple[int, ...]]:
    """Module path -> input shape (B, C, T, H, W) of every leaf `FOLDED_LEAVES` converts, in a forward
    pass of the training model on a `CLIP` video."""
    shapes: dict[str, tuple[int, ...]] = {}

    def record(path: str, args: tuple) -> None:  # a pre-hook that returns nothing keeps the arguments
        shapes.setdefault(path, tuple(args[0].shape))

    hooks = [module.register_forward_pre_hook(lambda _, args, path=path: record(path, args))
             for path, module in model.named_modules() if type(module) in FOLDED_LEAVES]
    with torch.inference_mode():
        model(torch.rand(CLIP))
    for hook in hooks:
        hook.remove()
    return shapes


def reference(model: movinet.MoViNet, fast: movinet.MoViNet, path: str, shapes: dict[str, tuple[int, ...]]):
    """The training computation the folded leaf at `path` stands for, and its input shape: the
    leaf itself; times the layer's ReZero for a projection (folded into it); the layer's expansion
    then the leaf for a feature block that took the expansion in (it takes the layer's input)."""
    leaf = model.get_submodule(path)
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    if name == "projection":
        return (lambda x: parent.rezero * leaf(x)), shapes[path]
    if name == "feature" and fast.get_submodule(path).expansion is not None:
        return (leaf, parent.expansion), shapes[f"{parent_path}.expansion"]
    return leaf, shapes[path]


def random_state(leaf: torch.nn.Module, shape: tuple[int, ...], generator: torch.Generator) -> dict:
    """Random entries for every state key of a training `leaf` with input `shape` (float buffers and
    sums, int frame counters); none for a stateless leaf."""
    batch, _, _, height, width = shape
    if isinstance(leaf, CausalConvBlock):
        shapes = leaf.state_shapes(batch, height, width)
    elif isinstance(leaf, SqueezeExcite):
        shapes = leaf.state_shapes(batch)
    elif isinstance(leaf, Head):
        shapes = leaf.pool.state_shapes(batch, leaf.project.conv.out_channels)
    else:
        shapes = {}
    return {key: torch.randn(size, generator=generator) if dtype.is_floating_point
            else torch.randint(0, 30, size, generator=generator) for key, (size, dtype) in shapes.items()}


def as_clip(y: torch.Tensor) -> torch.Tensor:
    return y.unsqueeze(2) if y.dim() == 4 else y


def assert_close(ours: torch.Tensor, ref: torch.Tensor, what: str) -> None:
    ours = as_clip(ours)
    assert ours.shape == ref.shape, f"{what}: {tuple(ours.shape)} vs {tuple(ref.shape)}"
    if ref.is_floating_point():
        assert relative_error(ours.double().numpy(), ref.double().numpy()) <= TOLERANCE, what
    else:
        assert torch.equal(ours, ref), what


def run(leaf, x: torch.Tensor, state: dict | None):
    """(output, new state entries) of any leaf: stateless leaves take no state."""
    stateful = "state" in leaf.forward.__code__.co_varnames[:leaf.forward.__code__.co_argcount]
    if not stateful:
        return leaf(x), {}
    return leaf(x, state)


def run_reference(ref, x: torch.Tensor, state: dict | None):
    if isinstance(ref, tuple):  # a feature block after its layer's expansion
        block, expansion = ref
        return run(block, expansion(x), state)
    if isinstance(ref, torch.nn.Module):
        return run(ref, x, state)
    return ref(x), {}


@pytest.mark.parametrize("target", ["eager", "onnx", "litert"])
@pytest.mark.parametrize("family", FAMILIES)
def test_every_folded_leaf_equals_its_training_leaf(family, target):
    name, kwargs = FAMILIES[family]
    model = random_model(name, **kwargs)
    fast = movinet.optimize_for_inference(model, target=target)
    generator = torch.Generator().manual_seed(0)
    shapes = leaf_input_shapes(model)
    kinds = {type(model.get_submodule(path)) for path in shapes}
    assert kinds == set(FOLDED_LEAVES) - (set() if model.causal else {CausalConvBlock}), kinds
    checked = 0
    for path in shapes:
        leaf = fast.get_submodule(path)
        if isinstance(leaf, torch.nn.Identity):  # an expansion taken into its feature block
            assert fast.get_submodule(path.rpartition(".")[0]).feature.expansion is not None, path
            continue
        ref, shape = reference(model, fast, path, shapes)
        clip = torch.randn((*shape[:2], 3 if shape[2] > 1 else 1, *shape[3:]), generator=generator)  # pooled: T = 1
        with torch.inference_mode():
            # a whole clip, no state
            ours, ours_state = run(leaf, clip, None)
            theirs, their_state = run_reference(ref, clip, None)
            assert_close(ours, theirs, f"{path} clip")
            assert ours_state == their_state == {}, path
            # a chunk of a stream, then frame by frame, from a random state
            ours_state = their_state = random_state(model.get_submodule(path), shape, generator)
            ours, ours_state = run(leaf, clip, {**ours_state})
            theirs, their_state = run_reference(ref, clip, {**their_state})
            assert_close(ours, theirs, f"{path} chunk")
            for t in range(clip.shape[2]):
                frame = clip[:, :, t:t + 1]
                ours, new = run(leaf, frame[:, :, 0], {**ours_state})  # a folded leaf takes a frame as a map
                ours_state = {**ours_state, **new}
                theirs, new = run_reference(ref, frame, {**their_state})
                their_state = {**their_state, **new}
                assert_close(ours, theirs, f"{path} frame {t}")
            assert list(ours_state) == list(their_state), path
            for key, value in their_state.items():
                assert_close(ours_state[key], value, f"{path} state {key}")
        checked += 1
    assert checked >= 40


def test_the_folded_leaves_take_the_expansion_only_where_same_pads_after():
    """Eagerly, a strided TF SAME feature block takes its layer's expansion (it pads the narrow
    input); unstrided, PaddleVideo's explicit padding, exported graphs and causal 3D convs do not."""
    def fused(name: str, target: str = "eager", **kwargs) -> list[bool]:
        fast = movinet.optimize_for_inference(random_model(name, **kwargs), target=target)
        return [layer.feature.expansion is not None for layer in fast._layers()]

    layers = [spec for stage in random_model("movinet_a0_base").spec.stages for spec in stage.layers]
    strided = [any(s > 1 for s in spec.stride) for spec in layers]
    assert fused("movinet_a0_base") == strided and any(strided)
    assert fused("movinet_a0_stream") == strided
    assert not any(fused("movinet_a0_paddle"))
    assert not any(fused("movinet_a0_base", target="onnx"))
    buffered = [spec.kernel_size[0] > 1 for spec in layers]  # causal 3D blocks buffer the expanded frames
    assert fused("movinet_a0_base", causal=True) == [s and not b for s, b in zip(strided, buffered)]

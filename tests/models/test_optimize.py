"""The inference form (`movinet.optimize_for_inference`) computes what the training form computes.

Model-level checks, for every kernel target ("eager" PyTorch, "onnx" and "litert" graphs), on `random_model`
weights (ReZero, BN statistics, SE and positional-encoding scales perturbed), for each family:
official base (3D), official stream ((2+1)D, causal), causal 3D (`causal=True` on a base model)
and PaddleVideo's A0; stream paths per frame and in chunks, with the state compared key by key.
Each folded leaf is checked against its training leaf in `test_folded.py`; the fixture parity
tests run through the inference form too (`test_parity_tf.py`, `test_parity_paddle.py`).
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

import movinet
from movinet.models.movinet import MoViNet
from tests.conftest import random_model, relative_error

TOLERANCE = 1e-4  # ||fast - training|| / ||training||

FAMILIES = {
    "official_base": ("movinet_a0_base", {}),
    "official_stream": ("movinet_a0_stream", {}),
    "causal_3d": ("movinet_a0_base", {"causal": True}),
    "paddle": ("movinet_a0_paddle", {}),
}
STREAMING = {
    "official_stream": ("movinet_a0_stream", {}),
    "causal_3d": ("movinet_a0_base", {"causal": True}),
    "paddle_causal": ("movinet_a0_paddle", {"causal": True}),
    "positional_encoding": ("movinet_a3_stream", {}),
}


def rel(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return relative_error(ours.double().numpy(), ref.double().numpy())


def assert_same_state(ours: dict, ref: dict) -> None:
    """Same keys, shapes and dtypes; float values within the tolerance, counters equal."""
    assert list(ours) == list(ref)
    for key, value in ref.items():
        assert ours[key].shape == value.shape and ours[key].dtype == value.dtype, key
        if value.is_floating_point():
            assert rel(ours[key], value) <= TOLERANCE, key
        else:
            assert torch.equal(ours[key], value), key


def run_chunks(model, video: torch.Tensor, chunk: int, state: dict | None = None):
    """Per-step logits and the final state of `video` streamed `chunk` frames at a time."""
    state = model.init_state(video.shape[0], video.shape[3], video.shape[4]) if state is None else state
    logits = []
    for clip in video.split(chunk, dim=2):
        step_logits, state = model.stream_step(clip, state)
        logits.append(step_logits)
    return logits, state


@pytest.mark.parametrize("target", ["eager", "onnx", "litert"])
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("size", [(64, 64), (49, 55)])  # even and odd sides: both TF SAME parities
def test_fast_clip_logits_equal_the_training_form(family, size, target):
    name, kwargs = FAMILIES[family]
    model = random_model(name, **kwargs)
    fast = movinet.optimize_for_inference(model, target=target)
    video = torch.rand(2, 3, 6, *size)
    with torch.inference_mode():
        assert rel(fast(video), model(video)) <= TOLERANCE


@pytest.mark.parametrize("target", ["eager", "onnx", "litert"])
@pytest.mark.parametrize("family", STREAMING)
@pytest.mark.parametrize("chunk", [1, 3])
def test_fast_stream_equals_the_training_form_step_by_step(family, chunk, target):
    name, kwargs = STREAMING[family]
    model = random_model(name, **kwargs)
    fast = movinet.optimize_for_inference(model, target=target)
    video = torch.rand(2, 3, 7, 48, 56)
    with torch.inference_mode():
        ref_logits, ref_state = run_chunks(model, video, chunk)
        fast_logits, fast_state = run_chunks(fast, video, chunk)
        whole = model(video)
    for step, (ours, ref) in enumerate(zip(fast_logits, ref_logits)):
        assert rel(ours, ref) <= TOLERANCE, f"step {step}"
    assert rel(fast_logits[-1], whole) <= TOLERANCE
    assert_same_state(fast_state, ref_state)


@pytest.mark.parametrize("family", ["official_stream", "causal_3d"])
def test_a_stream_moves_between_the_two_forms_at_any_frame(family):
    """The state is the public one: start on either form, continue on the other."""
    name, kwargs = STREAMING[family]
    model = random_model(name, **kwargs)
    fast = movinet.optimize_for_inference(model)
    video = torch.rand(1, 3, 6, 48, 48)
    with torch.inference_mode():
        _, ref_state = run_chunks(model, video, 1)
        _, state = run_chunks(fast, video[:, :, :2], 1)
        _, state = run_chunks(model, video[:, :, 2:4], 2, state)
        _, state = run_chunks(fast, video[:, :, 4:], 1, state)
    assert_same_state(state, ref_state)


def test_fast_batched_step_of_streams_of_different_ages_equals_each_alone():
    model = random_model("movinet_a3_stream")  # positional encoding counters per stream
    fast = movinet.optimize_for_inference(model)
    histories = [torch.rand(1, 3, frames, 48, 48) for frames in (0, 1, 3)]
    with torch.inference_mode():
        states = [run_chunks(model, h, 1)[1] if h.shape[2] else model.init_state(1, 48, 48) for h in histories]
        batched = {key: torch.cat([s[key] for s in states]) for key in states[0]}
        for chunk in (1, 2):
            step = torch.rand(3, 3, chunk, 48, 48)
            logits, new_state = fast.stream_step(step, batched)
            for i, state in enumerate(states):
                ref_logits, ref_state = model.stream_step(step[i:i + 1], state)
                assert rel(logits[i:i + 1], ref_logits) <= TOLERANCE
                assert_same_state({k: v[i:i + 1] for k, v in new_state.items()}, ref_state)


def test_init_state_is_the_public_zero_state():
    model = random_model("movinet_a0_stream")
    fast = movinet.optimize_for_inference(model)
    ours, ref = fast.init_state(2, 64, 80), model.init_state(2, 64, 80)
    assert list(ours) == list(ref)
    for key, value in ref.items():
        assert ours[key].shape == value.shape and ours[key].dtype == value.dtype and not ours[key].any(), key


def test_the_training_model_is_untouched_and_the_fast_one_is_a_movinet_of_folded_leaves():
    model = random_model("movinet_a0_stream")
    before = copy.deepcopy(model.state_dict())
    fast = movinet.optimize_for_inference(model)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert model.inference_target is None and all(layer.rezero is not None for layer in model._layers())
    assert isinstance(fast, MoViNet) and fast.inference_target == "eager" and not fast.training
    assert not any(isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.Conv3d)) for m in fast.modules())
    assert all(layer.rezero is None for layer in fast._layers())  # folded into the projections
    assert not any(p.requires_grad for p in fast.parameters())
    assert movinet.optimize_for_inference(fast) is fast
    with pytest.raises(ValueError, match="already the inference form"):
        movinet.optimize_for_inference(fast, target="onnx")
    with pytest.raises(ValueError, match="target"):
        movinet.optimize_for_inference(model, target="fast")


def test_the_public_calls_of_the_network_work_on_the_inference_form():
    """forward_features / forward_head / the classifier / state_shapes are the training form's."""
    model = random_model("movinet_a0_stream")
    fast = movinet.optimize_for_inference(model)
    video = torch.rand(2, 3, 4, 64, 64)
    with torch.inference_mode():
        features, ref_features = fast.forward_features(video)[0], model.forward_features(video)[0]
        assert features.shape == ref_features.shape == (2, model.num_features, 1, 1, 1)
        assert rel(features, ref_features) <= TOLERANCE
        assert rel(fast.forward_head(features), model.forward_head(ref_features)) <= TOLERANCE
        assert rel(fast.classifier(features), model.classifier(ref_features)) <= TOLERANCE
    assert fast.state_shapes(2, 64, 80) == model.state_shapes(2, 64, 80)
    assert fast.num_classes == model.num_classes and fast.min_frame_size == model.min_frame_size
    with pytest.raises(ValueError, match="fine-tune the training model"):
        fast.reset_classifier(5)


def test_the_inference_form_is_not_saved_as_weights(tmp_path):
    from movinet.weights import save_weights

    with pytest.raises(ValueError, match="save the training model"):
        save_weights(movinet.optimize_for_inference(random_model("movinet_a0_base")), tmp_path / "fast.safetensors",
                     model_name="movinet_a0_base")
    assert not list(tmp_path.iterdir())


def test_the_stream_step_does_not_modify_the_state_it_is_given():
    fast = movinet.optimize_for_inference(random_model("movinet_a0_stream"))
    state = fast.init_state(1, 48, 48)
    with torch.inference_mode():
        _, state = fast.stream_step(torch.rand(1, 3, 2, 48, 48), state)
        kept = {k: v.clone() for k, v in state.items()}
        fast.stream_step(torch.rand(1, 3, 1, 48, 48), state)
    for key, value in kept.items():
        assert torch.equal(state[key], value), key


@pytest.mark.parametrize("target", ["eager", "onnx", "litert"])
def test_fast_base_model_refuses_stream_step_and_bad_input_like_the_training_form(target):
    fast = movinet.optimize_for_inference(random_model("movinet_a0_base"), target=target)
    with pytest.raises(ValueError, match="causal"):
        fast.stream_step(torch.rand(1, 3, 1, 48, 48), {})
    with pytest.raises(ValueError, match="5-D"):
        fast(torch.rand(3, 8, 64, 64))
    with pytest.raises(ValueError, match="MoViNet"):
        movinet.optimize_for_inference(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("padding", [None, (0, 1, 1), (0, 0, 0)])  # TF SAME, and PaddleVideo's two
def test_shortcut_pool_equals_the_training_pool_at_every_size(padding):
    """The eager window sums, and each graph target's pools (ONNX: average pools with ceil_mode for
    SAME's extra cell; LiteRT: window sums over explicit surplus padding) of a frame and of a clip,
    give the training form's windows."""
    from movinet.models.folded import FoldedSkip
    from movinet.models.layers import SpatialAvgPool

    training = random_model("movinet_a0_base").blocks[1][0].skip  # a strided shortcut
    training.pool = SpatialAvgPool(3, 2, padding)
    eager = FoldedSkip(training, target="eager")
    graphs = [FoldedSkip(training, target=target) for target in ("onnx", "litert")]
    channels = training.project.conv.in_channels
    for size in range(3, 24):
        clip = torch.randn(2, channels, 3, size, size + 1)
        ref = training.pool(clip)
        frames = clip[:, :, 0].contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(eager._pooled(frames), ref[:, :, 0], msg=f"size {size}")
        for graph in graphs:
            with warnings.catch_warnings():  # the tracer warns about the (by design constant) padding arithmetic
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(lambda t: graph._pooled(t), frames, check_trace=False)
            torch.testing.assert_close(traced(frames), ref[:, :, 0], msg=f"traced {graph.target}, size {size}")
            if graph._pools_clips(clip):
                torch.testing.assert_close(graph._pooled(clip), ref, msg=f"clip {graph.target}, size {size}")


def test_pad_after_equals_zero_padding_and_keeps_the_layout():
    from movinet.models.folded import pad_after

    x = torch.randn(3, 5, 7, 6).contiguous(memory_format=torch.channels_last)
    padded = pad_after(x, (0, 1, 0, 2))
    torch.testing.assert_close(padded, torch.nn.functional.pad(x, (0, 1, 0, 2)), rtol=0, atol=0)
    assert padded.is_contiguous(memory_format=torch.channels_last)

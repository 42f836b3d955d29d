"""Parity with the official TensorFlow models (fixtures produced by TF Model Garden)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import movinet
from movinet.convert.tf import tf_to_state_dict, variables_from_npz
from tests.conftest import fixture_path, relative_error, tf_clip

TOLERANCE = 1e-4  # ||ours - tf|| / ||tf||, the bound; observed errors are ~1e-6


def load_tf_model(kind: str):
    variables = variables_from_npz(fixture_path(f"tf_a0_{kind}", "weights.npz"))
    model, state = tf_to_state_dict(variables, f"movinet_a0_{kind}")
    model.load_state_dict(state, strict=False)
    return model.eval()


def in_form(model, form: str):
    """The training form as converted, or the inference form (`optimize_for_inference`) of it."""
    return movinet.optimize_for_inference(model) if form == "fast" else model


# Every parity test runs on both forms: the fast path must match TF as closely as the training form.
@pytest.fixture(scope="module", params=["training", "fast"])
def base_model(request):
    return in_form(load_tf_model("base"), request.param)


@pytest.fixture(scope="module", params=["training", "fast"])
def stream_model(request):
    return in_form(load_tf_model("stream"), request.param)


@pytest.mark.parametrize("clip, ref", [("input.npy", "logits.npy"), ("input_odd.npy", "logits_odd.npy")])
def test_base_logits_match_tf(base_model, clip, ref):
    with torch.inference_mode():
        logits = base_model(tf_clip(clip, "tf_a0_base")).numpy()
    assert relative_error(logits, np.load(fixture_path("tf_a0_base", ref))) <= TOLERANCE


@pytest.mark.parametrize("clip, ref", [("input.npy", "logits_whole_clip.npy"),
                                       ("input_odd.npy", "logits_odd_whole_clip.npy")])
def test_stream_whole_clip_logits_match_tf(stream_model, clip, ref):
    with torch.inference_mode():
        logits = stream_model(tf_clip(clip, "tf_a0_stream")).numpy()
    assert relative_error(logits, np.load(fixture_path("tf_a0_stream", ref))) <= TOLERANCE


@pytest.mark.parametrize("clip, ref", [("input.npy", "logits_per_frame.npy"),
                                       ("input_odd.npy", "logits_odd_per_frame.npy")])
def test_stream_per_frame_logits_match_tf(stream_model, clip, ref):
    video = tf_clip(clip, "tf_a0_stream")
    state = stream_model.init_state(1, video.shape[3], video.shape[4])
    outputs = []
    with torch.inference_mode():
        for t in range(video.shape[2]):
            logits, state = stream_model.stream_step(video[:, :, t:t + 1], state)
            outputs.append(logits.numpy())
    reference = np.load(fixture_path("tf_a0_stream", ref))  # (1, T, 600)
    per_frame = np.stack(outputs, axis=1)
    assert per_frame.shape == reference.shape
    for t in range(reference.shape[1]):
        assert relative_error(per_frame[:, t], reference[:, t]) <= TOLERANCE, f"frame {t}"


def tf_state_name(key: str) -> str:
    """Our state key -> the TF state name (e.g. blocks.1.0.feature.buffer -> state_block1_layer0_stream_buffer)."""
    parts = key.split(".")
    if parts[0] == "head":
        return f"state_head_pool_{'buffer' if parts[-1] == 'sum' else 'frame_count'}"
    prefix = f"state_block{parts[1]}_layer{parts[2]}"
    if parts[3] == "feature":
        return f"{prefix}_stream_buffer"
    if parts[4] == "pos_enc":
        return f"{prefix}_pos_enc_frame_count"
    return f"{prefix}_pool_{'buffer' if parts[-1] == 'sum' else 'frame_count'}"


def to_tf_layout(value: np.ndarray) -> np.ndarray:
    """(B, C, T, H, W) -> (B, T, H, W, C); counts stay as they are."""
    return value.transpose(0, 2, 3, 4, 1) if value.ndim == 5 else value


def test_stream_state_after_8_frames_matches_tf(stream_model):
    video = tf_clip("input.npy", "tf_a0_stream")
    state = stream_model.init_state(1, 172, 172)
    with torch.inference_mode():
        for t in range(video.shape[2]):
            _, state = stream_model.stream_step(video[:, :, t:t + 1], state)
    reference = np.load(fixture_path("tf_a0_stream", "states_final.npz"))
    ours = {tf_state_name(k): to_tf_layout(v.numpy()) for k, v in state.items()}
    assert sorted(ours) == sorted(reference.files)  # the same 43 states, one to one
    for name in reference.files:
        ref = reference[name]
        assert ours[name].shape == ref.shape, name
        if np.issubdtype(ref.dtype, np.integer):
            assert np.array_equal(ours[name], ref), name
        else:
            assert relative_error(ours[name], ref) <= TOLERANCE, name


def test_init_state_shapes_match_tf_states_json(stream_model):
    import json

    states = json.loads(fixture_path("tf_a0_stream", "states.json").read_text())["states"]
    ours = {tf_state_name(k): tuple(to_tf_layout(np.zeros(v.shape)).shape)
            for k, v in stream_model.init_state(1, 172, 172).items()}
    assert ours == {name: tuple(spec["shape"]) for name, spec in states.items()}

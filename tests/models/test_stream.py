"""The stream contract: frame-by-frame (any chunking) equals the whole clip; state is explicit."""

from __future__ import annotations

import copy

import pytest
import torch

import movinet
from tests.conftest import random_model, relative_error

HEAVY = ("movinet_a3_stream", "movinet_a4_stream", "movinet_a5_stream")
STREAM_MODELS = [pytest.param(name, marks=pytest.mark.slow) if name in HEAVY else name
                 for name in movinet.list_models("*stream")]


def run_chunks(model, video, chunk):
    state = model.init_state(video.shape[0], video.shape[3], video.shape[4])
    for clip in video.split(chunk, dim=2):
        logits, state = model.stream_step(clip, state)
    return logits, state


@pytest.mark.parametrize("name", STREAM_MODELS)
def test_stream_equals_whole_clip_for_every_chunk_size(name):
    model = random_model(name)
    video = torch.rand(1, 3, 7, 40, 48)
    with torch.inference_mode():
        whole = model(video)
        for chunk in (1, 3, 7):
            streamed, _ = run_chunks(model, video, chunk)
            torch.testing.assert_close(streamed, whole, rtol=1e-4, atol=1e-4 * float(whole.abs().max()))


def test_prefix_of_a_stream_equals_whole_call_on_the_prefix():
    model = random_model("movinet_a0_stream")
    video = torch.rand(2, 3, 6, 64, 64)
    with torch.inference_mode():
        streamed, _ = run_chunks(model, video[:, :, :4], 1)
        torch.testing.assert_close(streamed, model(video[:, :, :4]), rtol=1e-4, atol=1e-4)


def test_init_state_matches_what_stream_step_returns():
    model = random_model("movinet_a3_stream")  # with positional encoding counters
    state = model.init_state(2, 64, 72)
    _, new_state = model.stream_step(torch.rand(2, 3, 2, 64, 72), state)
    assert set(new_state) == set(state)
    for key, value in state.items():
        assert new_state[key].shape == value.shape and new_state[key].dtype == value.dtype, key
    assert any(key.endswith("pos_enc.count") for key in state)
    assert new_state["head.pool.count"].tolist() == [2, 2]  # one counter per stream (B,)


def test_empty_dict_state_is_a_fresh_stream():
    model = random_model("movinet_a0_stream")
    video = torch.rand(1, 3, 3, 48, 48)
    with torch.inference_mode():
        from_empty, _ = model.stream_step(video, {})
        from_zeros, _ = model.stream_step(video, model.init_state(1, 48, 48))
    torch.testing.assert_close(from_empty, from_zeros)


def test_stream_step_does_not_mutate_model_or_input_state():
    model = random_model("movinet_a1_stream")
    before = copy.deepcopy(model.state_dict())
    state = model.init_state(1, 48, 48)
    state_before = {k: v.clone() for k, v in state.items()}
    with torch.inference_mode():
        model.stream_step(torch.rand(1, 3, 2, 48, 48), state)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    for key, value in state.items():
        assert torch.equal(value, state_before[key]), key


def test_interleaved_streams_do_not_interfere():
    model = random_model("movinet_a0_stream")
    a, b = torch.rand(1, 3, 4, 48, 48), torch.rand(1, 3, 4, 48, 48)
    with torch.inference_mode():
        alone, _ = run_chunks(model, a, 1)
        state_a, state_b = model.init_state(1, 48, 48), model.init_state(1, 48, 48)
        for t in range(4):
            logits_a, state_a = model.stream_step(a[:, :, t:t + 1], state_a)
            _, state_b = model.stream_step(b[:, :, t:t + 1], state_b)
    torch.testing.assert_close(logits_a, alone)


def test_state_is_really_used():
    """A different history must change the output (the state is not ignored)."""
    model = random_model("movinet_a0_stream")
    frame = torch.rand(1, 3, 1, 48, 48)
    with torch.inference_mode():
        fresh, _ = model.stream_step(frame, model.init_state(1, 48, 48))
        _, history = model.stream_step(torch.rand(1, 3, 3, 48, 48), model.init_state(1, 48, 48))
        continued, _ = model.stream_step(frame, history)
    assert not torch.allclose(fresh, continued)


def test_base_model_refuses_stream_step_with_a_clear_message():
    model = movinet.create_model("movinet_a0_base").eval()
    with pytest.raises(ValueError, match="causal"):
        model.stream_step(torch.rand(1, 3, 1, 48, 48), {})
    with pytest.raises(ValueError, match="causal"):
        model.init_state(1, 48, 48)


def test_causal_base_variant_streams_and_loads_base_weights(tmp_path):
    from movinet.weights import save_weights

    base = random_model("movinet_a0_base")
    path = save_weights(base, tmp_path / "a0.safetensors", model_name="movinet_a0_base")
    causal = movinet.create_model("movinet_a0_base", weights=path, causal=True).eval()
    assert causal.is_causal
    video = torch.rand(1, 3, 5, 48, 48)
    with torch.inference_mode():
        streamed, _ = run_chunks(causal, video, 2)
        torch.testing.assert_close(streamed, causal(video), rtol=1e-4, atol=1e-4)
        # Causal padding changes the function: not the same logits as the non-causal base.
        assert not torch.allclose(causal(video), base(video))


@pytest.mark.parametrize("bad, message", [
    (torch.rand(3, 8, 64, 64), "5-D"),
    (torch.rand(1, 1, 8, 64, 64), "3 RGB channels"),
    (torch.rand(1, 3, 8, 16, 64), "at least"),
    (torch.zeros(1, 3, 8, 64, 64, dtype=torch.uint8), "floating-point"),
    (torch.rand(1, 3, 0, 64, 64), "T >= 1"),
])
def test_bad_video_gets_one_clear_error(bad, message):
    model = movinet.create_model("movinet_a0_stream").eval()
    with pytest.raises(ValueError, match=message):
        model(bad)
    with pytest.raises(ValueError, match=message):
        model.stream_step(bad, {})


@pytest.mark.parametrize("name", ["movinet_a0_stream", "movinet_a3_stream", "movinet_a0_base"])
def test_batched_step_of_streams_of_different_ages_equals_each_alone(name):
    """Streams that started at different times share one batched step (a server's case)."""
    model = random_model(name, causal=True)  # A3: positional encoding; A0 base: causal 3D
    histories = [torch.rand(1, 3, frames, 48, 48) for frames in (0, 1, 4)]
    step = torch.rand(3, 3, 2, 48, 48)
    with torch.inference_mode():
        states = [run_chunks(model, h, 1)[1] if h.shape[2] else model.init_state(1, 48, 48) for h in histories]
        alone = [model.stream_step(step[i:i + 1], states[i]) for i in range(3)]
        batched_state = {key: torch.cat([s[key] for s in states]) for key in states[0]}
        assert batched_state["head.pool.count"].tolist() == [0, 1, 4]
        logits, new_state = model.stream_step(step, batched_state)
    for i, (ref_logits, ref_state) in enumerate(alone):
        assert relative_error(logits[i:i + 1].numpy(), ref_logits.numpy()) <= 1e-5
        for key, value in ref_state.items():
            if value.is_floating_point():
                assert relative_error(new_state[key][i:i + 1].numpy(), value.numpy()) <= 1e-5, key
            else:
                assert torch.equal(new_state[key][i:i + 1], value), key

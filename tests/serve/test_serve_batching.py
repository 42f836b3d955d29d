"""Many streams, one model: a batched step of streams of different ages equals stepping each alone."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from movinet.serve.batching import BatchScheduler, SchedulerStopped
from movinet.serve.model import NotAStreamModelError, ServedModel, concat_states, split_state
from tests.conftest import relative_error
from tests.serve.conftest import motion_frames, reference_logits

AGES = (0, 1, 3, 6)  # frames each stream has seen before the shared step


def aged_states(served: ServedModel, histories: list[np.ndarray]) -> list[dict]:
    states = []
    for frames in histories:
        state = served.new_state()
        for frame in frames:
            _, (state,) = served.step_batch([served.prepare_frame(frame)], [state])
        states.append(state)
    return states


def as_numpy(value) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_batched_step_of_streams_of_different_ages_equals_each_alone(backend, torch_served, onnx_served):
    served = torch_served if backend == "torch" else onnx_served
    histories = [motion_frames(seed, age) if age else np.zeros((0, 40, 40, 3), np.uint8)
                 for seed, age in enumerate(AGES)]
    states = aged_states(served, histories)
    clips = [served.prepare_frame(motion_frames(10 + i, 1)[0]) for i in range(len(AGES))]

    logits, new_states = served.step_batch(clips, states)
    counters = [key for key in new_states[0] if key.endswith("count")]
    assert counters, "the stream state has frame counters"
    for i, (clip, state) in enumerate(zip(clips, states)):
        alone_logits, (alone_state,) = served.step_batch([clip], [state])
        assert relative_error(logits[i], alone_logits[0]) <= 1e-5
        for key, value in alone_state.items():
            assert as_numpy(new_states[i][key]).shape == as_numpy(value).shape, key
            if key in counters:
                assert as_numpy(new_states[i][key]).tolist() == [AGES[i] + 1], key
            else:
                assert relative_error(as_numpy(new_states[i][key]), as_numpy(value)) <= 1e-5, key


def test_batching_then_continuing_alone_keeps_each_stream_exact(torch_served):
    """Streams step together for a while, then alone: every logit equals a stream stepped alone throughout."""
    served = torch_served
    videos = [motion_frames(20 + i, 5) for i in range(3)]
    refs = [reference_logits(served, video) for video in videos]
    states = [served.new_state() for _ in videos]
    for t in range(3):
        logits, states = served.step_batch([served.prepare_frame(v[t]) for v in videos], states)
        for i in range(3):
            assert relative_error(logits[i], refs[i][t]) <= 1e-5
    for t in range(3, 5):
        for i, video in enumerate(videos):
            logits, (states[i],) = served.step_batch([served.prepare_frame(video[t])], [states[i]])
            assert relative_error(logits[0], refs[i][t]) <= 1e-5


def test_concat_and_split_are_inverse(onnx_served, torch_served):
    for served in (onnx_served, torch_served):
        states = aged_states(served, [motion_frames(1, 1), motion_frames(2, 2)])
        parts = split_state(concat_states(states), 2)
        for part, state in zip(parts, states):
            assert part.keys() == state.keys()
            for key in state:
                assert np.array_equal(as_numpy(part[key]), as_numpy(state[key])), key


def test_base_model_is_refused(tmp_path):
    from movinet.inference import TorchPredictor
    from tests.conftest import random_model

    predictor = TorchPredictor.from_model(random_model("movinet_a0_base", num_classes=3), "movinet_a0_base")
    with pytest.raises(NotAStreamModelError, match="needs a stream model"):
        ServedModel(predictor)


def test_scheduler_gathers_concurrent_streams_into_one_call(torch_served):
    """Four streams submitting at once go through fewer model calls, and each gets its own exact logits."""
    served = torch_served
    videos = [motion_frames(30 + i, 4) for i in range(4)]
    refs = [reference_logits(served, video) for video in videos]

    async def run() -> tuple[list[list[np.ndarray]], dict]:
        scheduler = BatchScheduler(served, max_batch=8, window_s=0.05)
        scheduler.active_streams = len(videos)
        await scheduler.start()

        async def stream(video: np.ndarray) -> list[np.ndarray]:
            state, out = served.new_state(), []
            for frame in video:
                output = await scheduler.step(served.prepare_frame(frame), state)
                state = output.state
                out.append(output.logits)
            return out

        try:
            results = await asyncio.gather(*(stream(video) for video in videos))
        finally:
            await scheduler.stop()
        with pytest.raises(SchedulerStopped):
            await scheduler.step(served.prepare_frame(videos[0][0]), served.new_state())
        return results, scheduler.stats.to_dict()

    results, stats = asyncio.run(run())
    for got, ref in zip(results, refs):
        for t in range(len(ref)):
            assert relative_error(got[t], ref[t]) <= 1e-5
    assert stats["steps"] == 16
    assert stats["largest_batch"] == 4 and stats["model_calls"] < 16


def test_unbatched_scheduler_steps_one_stream_per_call(torch_served):
    served = torch_served

    async def run() -> dict:
        scheduler = BatchScheduler(served, max_batch=1, window_s=0.05)
        await scheduler.start()
        try:
            await asyncio.gather(*(scheduler.step(served.prepare_frame(motion_frames(i, 1)[0]), served.new_state())
                                   for i in range(3)))
        finally:
            await scheduler.stop()
        return scheduler.stats.to_dict()

    stats = asyncio.run(run())
    assert (stats["steps"], stats["model_calls"], stats["largest_batch"]) == (3, 3, 1)

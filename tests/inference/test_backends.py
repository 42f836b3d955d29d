"""The backend interface: the runtime chosen by suffix, one state-key vocabulary, states that move between backends."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from movinet.inference import OnnxPredictor, SidecarError, TorchPredictor, load_clip, load_predictor
from movinet.inference.backends import BACKENDS, LoadOptions, backend_for
from movinet.inference.backends.base import Predictor, PredictorError
from tests.conftest import relative_error
from tests.inference.assets import PREPROCESSING, single_thread

pytest.importorskip("onnxruntime")

TOLERANCE = 1e-4  # ||onnx - torch|| / ||torch|| per step


@pytest.fixture(scope="module")
def torch_stream(stream_weights):
    with single_thread():
        return TorchPredictor(stream_weights, preprocessing=PREPROCESSING)


@pytest.fixture(scope="module")
def onnx_stream(stream_onnx):
    return OnnxPredictor(stream_onnx, num_threads=1)


@pytest.fixture(scope="module")
def frames(video, onnx_stream):
    """(1, 3, 8, 64, 64) float32: the test video as both backends' preprocessing makes it."""
    return load_clip(video, onnx_stream.preprocessing)[0][None]


def step_frames(predictor, clip, state):
    """Step `clip` frame by frame from `state`. -> ((t, classes) logits after each frame, final state)."""
    logits = []
    for t in range(clip.shape[2]):
        out, state = predictor.step(clip[:, :, t:t + 1], state)
        logits.append(np.asarray(out)[0])
    return np.stack(logits), state


def test_both_backends_key_their_states_by_the_models_state_keys(torch_stream, onnx_stream):
    ours, ref = onnx_stream.init_state(2), torch_stream.init_state(2)
    assert list(ours) == list(ref)
    assert "head.pool.count" in ours and not any(key.startswith(("state.", "new_state.")) for key in ours)
    for key, value in ref.items():
        assert ours[key].shape == tuple(value.shape) and ours[key].dtype == value.numpy().dtype, key
        assert not ours[key].any(), key
    _, stepped = onnx_stream.step(np.zeros((2, 3, 1, 64, 64), np.float32), ours)
    assert list(stepped) == list(ref) and stepped["head.pool.count"].tolist() == [1, 1]


def test_onnx_and_torch_streams_agree_frame_by_frame(torch_stream, onnx_stream, frames):
    ref, _ = step_frames(torch_stream, frames, torch_stream.init_state(1))
    ours, _ = step_frames(onnx_stream, frames, onnx_stream.init_state(1))
    assert np.abs(ref).max() > 1.0  # fixture weights: a real signal
    for t in range(frames.shape[2]):
        assert relative_error(ours[t], ref[t]) <= TOLERANCE, t


@pytest.mark.parametrize("first, second", [("torch", "onnx"), ("onnx", "torch")])
def test_a_stream_continues_on_the_other_backend(first, second, torch_stream, onnx_stream, frames):
    """Three frames on one backend, the rest on the other with its state as it is: the logits of one backend alone."""
    backends = {"torch": torch_stream, "onnx": onnx_stream}
    ref, _ = step_frames(torch_stream, frames, torch_stream.init_state(1))
    head, state = step_frames(backends[first], frames[:, :, :3], backends[first].init_state(1))
    tail, state = step_frames(backends[second], frames[:, :, 3:], state)
    assert relative_error(np.concatenate([head, tail]), ref) <= TOLERANCE
    assert int(np.asarray(state["head.pool.count"])[0]) == frames.shape[2]
    assert isinstance(state["head.pool.count"], torch.Tensor if second == "torch" else np.ndarray)


def test_onnx_step_names_a_missing_state_key(onnx_stream):
    state = onnx_stream.init_state(1)
    del state["head.pool.count"]
    with pytest.raises(PredictorError, match="head.pool.count"):
        onnx_stream.step(np.zeros((1, 3, 1, 64, 64), np.float32), state)


def test_a_sidecar_state_without_its_key_is_refused(tmp_path, stream_onnx):
    copy = tmp_path / stream_onnx.name
    shutil.copy(stream_onnx, copy)
    sidecar = json.loads(stream_onnx.with_suffix(".json").read_text())
    del sidecar["states"][0]["key"]
    copy.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(SidecarError, match="re-export"):
        OnnxPredictor(copy, num_threads=1)


class RecordingPredictor(Predictor):
    """A runtime plugged in by one `BACKENDS` entry: it records how it was opened."""

    backend = "recording"

    @classmethod
    def from_file(cls, model_file, options):
        self = cls(model_name="movinet_a0_stream", family="official", kind="stream", num_classes=3, labels=None,
                   preprocessing=PREPROCESSING)
        self.opened = (str(model_file), options)
        return self

    def _forward(self, video):
        return np.zeros((video.shape[0], 3), np.float32)

    def _init_state(self, batch_size):
        return {"head.pool.count": np.zeros(batch_size, np.int64)}

    def _step(self, clip, state):
        return self._forward(clip), {"head.pool.count": state["head.pool.count"] + clip.shape[2]}


def test_the_suffix_picks_the_backend_and_a_new_runtime_is_one_entry(monkeypatch):
    assert backend_for("export/m.onnx") is OnnxPredictor and backend_for("M.ONNX") is OnnxPredictor
    for weights in ("best.safetensors", "ckpt.pt", "a0.pdparams", "kinetics600"):
        assert backend_for(weights) is TorchPredictor, weights
    monkeypatch.setitem(BACKENDS, ".model", f"{__name__}:RecordingPredictor")
    predictor = load_predictor("phone/a0.model", use_gpu=True, num_threads=2, model_name="movinet_a0_stream")
    assert isinstance(predictor, RecordingPredictor)
    assert predictor.opened == ("phone/a0.model", LoadOptions(use_gpu=True, num_threads=2,
                                                              model_name="movinet_a0_stream"))
    logits = predictor.predict_clips(np.zeros((2, 3, 4, 64, 64), np.float32))
    assert logits.shape == (2, 3)

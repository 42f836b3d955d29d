"""The backend interface: the runtime chosen by the model file's suffix, a new runtime as one entry."""

from __future__ import annotations

import numpy as np
import pytest

from movinet.inference import OnnxPredictor, TorchPredictor, load_predictor
from movinet.inference.backends import BACKENDS, LoadOptions, backend_for
from movinet.inference.backends.base import Predictor
from tests.inference.assets import PREPROCESSING

pytest.importorskip("onnxruntime")


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

"""LiteRT export: the .tflite stream step and base clip against PyTorch through ai-edge-litert,
the sidecar, the LiteRT backend, and the errors that need no converter."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import movinet
from movinet.cli import main
from movinet.export import litert as litert_export
from movinet.export.litert import LiteRtUnavailableError, export_litert
from movinet.inference import SidecarError, TorchPredictor, load_clip, load_predictor
from movinet.inference.backends.litert import LiteRtPredictor
from tests.conftest import random_model, relative_error
from tests.inference.assets import PREPROCESSING
from tests.inference.test_backends import step_frames

TOLERANCE = 1e-4  # ||litert - torch|| / ||torch||


def sidecar(path):
    return json.loads(path.with_suffix(".json").read_text())


def test_stream_file_names_every_state_in_its_step_signature(stream_tflite, stream_weights):
    meta = sidecar(stream_tflite)
    model = movinet.load_model(stream_weights)[0]
    assert meta["format"] == "movinet-litert" and meta["signature"] == "step" and meta["kind"] == "stream"
    assert meta["verification"]["relative_error"] <= TOLERANCE
    assert "8 steps" in meta["verification"]["checks"][0]
    assert [s["key"] for s in meta["states"]] == list(model.init_state(1, 64, 64))
    runner = LiteRtPredictor(stream_tflite).runner
    inputs, outputs = runner.get_input_details(), runner.get_output_details()
    assert inputs["video"]["shape"].tolist() == [1, 1, 64, 64, 3]
    for spec in meta["states"]:
        assert inputs[spec["input"]]["shape"].tolist() == spec["shape"] == outputs[spec["output"]]["shape"].tolist()
        assert np.dtype(inputs[spec["input"]]["dtype"]) == np.dtype(spec["dtype"]) != np.int64
    buffer = next(s for s in meta["states"] if s["key"].endswith(".buffer"))
    assert buffer["layout"] == "B,T,H,W,C" and buffer["shape"][-1] > 3


def test_stream_file_agrees_with_pytorch_and_takes_over_a_torch_stream(stream_tflite, stream_weights, video):
    litert = load_predictor(stream_tflite)
    torch_stream = TorchPredictor(stream_weights, preprocessing=PREPROCESSING)
    assert isinstance(litert, LiteRtPredictor) and litert.max_chunk == 1
    clip = load_clip(video, litert.preprocessing)[0][None]  # (1, 3, 8, 64, 64)
    ours, _ = step_frames(litert, clip, litert.init_state(1))
    ref, _ = step_frames(torch_stream, clip, torch_stream.init_state(1))
    assert relative_error(ours, ref) <= TOLERANCE
    # a stream begun in PyTorch (channels-first buffers, int64 counters) continues in LiteRT
    _, handed = step_frames(torch_stream, clip[:, :, :3], torch_stream.init_state(1))
    rest, _ = step_frames(litert, clip[:, :, 3:], handed)
    assert relative_error(rest, ref[3:]) <= TOLERANCE


def test_a_batch_of_clips_runs_as_one_call_per_clip(stream_tflite, stream_weights):
    litert = load_predictor(stream_tflite)
    video = np.random.default_rng(3).random((2, 3, 4, 64, 64), dtype=np.float32)
    with torch.no_grad():
        ref = movinet.load_model(stream_weights)[0].eval()(torch.from_numpy(video)).numpy()
    ours = litert.predict_clips(video)
    assert ours.shape == ref.shape and relative_error(ours, ref) <= TOLERANCE
    assert ours[0].argmax() != ours[1].argmax() or not np.allclose(ours[0], ours[1], atol=1e-3)


@pytest.mark.slow
def test_base_file_agrees_with_pytorch(base_tflite, base_weights):
    meta = sidecar(base_tflite)
    assert meta["signature"] == "clip" and meta["inputs"][0]["shape"] == [1, 8, 64, 64, 3]
    video = np.random.default_rng(4).random((2, 3, 8, 64, 64), dtype=np.float32)
    with torch.no_grad():
        ref = movinet.load_model(base_weights)[0].eval()(torch.from_numpy(video)).numpy()
    assert relative_error(load_predictor(base_tflite).predict_clips(video), ref) <= TOLERANCE


def test_the_sidecar_must_be_this_files(stream_tflite, stream_onnx, tmp_path):
    shutil.copy(stream_tflite, tmp_path / "model.tflite")
    with pytest.raises(SidecarError, match="no sidecar"):
        LiteRtPredictor(tmp_path / "model.tflite")
    shutil.copy(stream_onnx.with_suffix(".json"), tmp_path / "model.json")  # an ONNX export's sidecar
    with pytest.raises(SidecarError, match="movinet-litert"):
        LiteRtPredictor(tmp_path / "model.tflite")
    with pytest.raises(ValueError, match="CPU"):
        load_predictor(stream_tflite, use_gpu=True)


def test_predict_and_stream_commands_run_the_file_without_torch(stream_tflite, video):
    script = (
        "import sys\nfrom movinet.cli import main\n"
        f"assert main(['predict', '--model_file', {str(stream_tflite)!r}, '-i', {str(video)!r}, '--json']) == 0\n"
        f"assert main(['stream', '--model_file', {str(stream_tflite)!r}, '--input', {str(video)!r},"
        " '--print_every', '0']) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.splitlines()[0])
    assert result["file"].endswith("clip.mp4") and result["top_k"]


def test_a_missing_extra_is_named_in_one_line(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "litert_torch" else real(name, *a))
    with pytest.raises(LiteRtUnavailableError, match=r'pip install "movinet\[litert\]"'):
        export_litert(random_model("movinet_a0_stream"), "unused", model_name="movinet_a0_stream")


def test_int8_without_calibration_data_is_refused_before_converting(monkeypatch, tmp_path):
    monkeypatch.setattr(litert_export, "_convert", lambda *a: pytest.fail("converted"))
    with pytest.raises(ValueError, match="calibration"):
        export_litert(random_model("movinet_a0_stream"), tmp_path, model_name="movinet_a0_stream", precision="int8")
    assert not any(tmp_path.iterdir())


def test_reduced_precision_needs_the_litert_format(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  name: movinet_a0_stream\n")
    weights = tmp_path / "w.safetensors"
    movinet.save_weights(random_model("movinet_a0_stream"), weights, model_name="movinet_a0_stream")
    assert main(["export", "-c", str(config), "-p", str(weights), "-o", str(tmp_path / "o"),
                 "--precision", "int8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--format litert" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_served_streams_step_together_as_each_alone(stream_tflite):
    from movinet.serve.model import ServedModel

    served = ServedModel.load(stream_tflite, fps=5)
    assert served.backend == "litert"
    clips = [np.random.default_rng(seed).random((3, 1, 64, 64), dtype=np.float32) for seed in (1, 2)]
    states = [served.new_state(), served.predictor.step(clips[0][None], served.new_state())[1]]  # different ages
    together, new_states = served.step_batch(clips, states)
    for i in range(2):
        alone, alone_state = served.predictor.step(clips[i][None], states[i])
        assert np.allclose(together[i], alone[0], atol=1e-5)
        assert all(np.array_equal(new_states[i][key], alone_state[key]) for key in alone_state)

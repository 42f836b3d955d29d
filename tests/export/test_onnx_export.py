"""ONNX export: base and stream graphs against eager PyTorch through ONNX Runtime, and the sidecar."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import movinet
from movinet.export import onnx as onnx_export
from movinet.export.onnx import ExportError, export_from_weights, export_onnx
from tests.conftest import random_model, relative_error
from tests.inference.assets import FRAMES, SIZE

ort = pytest.importorskip("onnxruntime")

TOLERANCE = 1e-4  # ||ort - torch|| / ||torch||


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load(weights):
    return movinet.load_model(weights)[0]


def sidecar(path):
    return json.loads(path.with_suffix(".json").read_text())


def test_base_graph_dynamic_batch_and_frames(base_onnx, base_weights):
    model = load(base_weights)
    video = torch.rand(2, 3, 5, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = model(video).numpy()
    ours = session(base_onnx).run(["logits"], {"video": video.numpy()})[0]
    assert relative_error(ours, ref) <= TOLERANCE
    assert np.abs(ref).max() > 1.0  # fixture weights: a real signal, not a near-zero output


def test_sidecar_describes_the_graph(base_onnx, stream_onnx, stream_weights):
    base, stream = sidecar(base_onnx), sidecar(stream_onnx)
    assert base["kind"] == "base" and stream["kind"] == "stream"
    for meta in (base, stream):
        assert meta["format"] == "movinet-onnx" and meta["family"] == "official"
        assert meta["num_classes"] == 600 and len(meta["labels"]) == 600 and meta["labels"][0] == "abseiling"
        assert meta["input_layout"] == "B,3,T,H,W" and meta["opset"] == 17
        prep = meta["preprocessing"]
        assert (prep["frames"], prep["height"], prep["width"], prep["normalize"]) == (FRAMES, SIZE, SIZE, "unit")
        assert prep["mean"] == [0.0, 0.0, 0.0] and prep["std"] == [1.0, 1.0, 1.0]
        assert meta["verification"]["relative_error"] <= TOLERANCE
    assert base["inputs"][0]["shape"] == ["batch", 3, "frames", SIZE, SIZE] and base["states"] == []
    shapes = load(stream_weights).state_shapes(1, SIZE, SIZE)
    assert [s["key"] for s in stream["states"]] == list(shapes)
    for entry in stream["states"]:
        shape, dtype = shapes[entry["key"]]
        assert entry["shape"] == list(shape) and entry["dtype"] == str(dtype).removeprefix("torch.")
    assert stream["prep" + "rocessing"]["stream_fps"] == 5.0
    assert stream["verification"]["state_max_abs_error"] < 1e-3


def test_stream_graph_inputs_are_the_state(stream_onnx, stream_weights):
    graph = session(stream_onnx)
    inputs = {node.name: node for node in graph.get_inputs()}
    outputs = [node.name for node in graph.get_outputs()]
    keys = list(load(stream_weights).state_shapes(1, SIZE, SIZE))
    assert list(inputs) == ["video"] + [f"state.{k}" for k in keys]
    assert outputs == ["logits"] + [f"new_state.{k}" for k in keys]
    assert inputs["state.head.pool.count"].type == "tensor(int64)"
    assert inputs["video"].shape[2] == 1  # the inference form's per-frame step
    assert sidecar(stream_onnx)["dynamic_axes"]["frames"] is False and sidecar(stream_onnx)["graph"] == "inference"


def _stream_inputs(model, clip, state):
    return {"video": clip.numpy(), **{f"state.{k}": v.numpy() for k, v in state.items()}}


def test_stream_feedback_equals_stream_step(stream_onnx, stream_weights):
    """8 single-frame steps and a 3-frame chunk (fed frame by frame to the graph), ONNX state fed
    back, against the training form's `stream_step`."""
    model, graph = load(stream_weights), session(stream_onnx)
    video = torch.rand(1, 3, 11, SIZE, SIZE, generator=torch.Generator().manual_seed(5))
    keys = list(model.state_shapes(1, SIZE, SIZE))
    state = model.init_state(1, SIZE, SIZE)
    feeds = {f"state.{k}": v.numpy() for k, v in state.items()}
    bounds = [(t, t + 1) for t in range(8)] + [(8, 11)]
    with torch.no_grad():
        for start, stop in bounds:
            ref, state = model.stream_step(video[:, :, start:stop], state)
            for t in range(start, stop):
                outputs = graph.run(None, {"video": video[:, :, t:t + 1].numpy(), **feeds})
                feeds = {f"state.{k}": value for k, value in zip(keys, outputs[1:])}
            assert relative_error(outputs[0], ref.numpy()) <= TOLERANCE, (start, stop)
        assert int(feeds["state.head.pool.count"][0]) == 11
        whole = model(video).numpy()
    assert relative_error(outputs[0], whole) <= TOLERANCE


def test_stream_state_is_not_frozen(stream_onnx, stream_weights):
    """A non-zero state, and the frame counters alone, change the output as in PyTorch."""
    model, graph = load(stream_weights), session(stream_onnx)
    video = torch.rand(1, 3, 4, SIZE, SIZE, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        _, warm = model.stream_step(video[:, :, :3], model.init_state(1, SIZE, SIZE))
        clip = video[:, :, 3:]  # one frame: the graph's step
        fresh = graph.run(["logits"], _stream_inputs(model, clip, model.init_state(1, SIZE, SIZE)))[0]
        ours = graph.run(["logits"], _stream_inputs(model, clip, warm))[0]
        ref, _ = model.stream_step(clip, warm)
        assert relative_error(ours, ref.numpy()) <= TOLERANCE
        assert np.abs(ours - fresh).max() > 0.1 * np.abs(fresh).max()
        # Only the counters differ: the running means must divide by them.
        recounted = {k: (v + 5 if k.endswith(".count") else v) for k, v in warm.items()}
        ref_counts, _ = model.stream_step(clip, recounted)
        ours_counts = graph.run(["logits"], _stream_inputs(model, clip, recounted))[0]
    assert relative_error(ours_counts, ref_counts.numpy()) <= TOLERANCE
    assert np.abs(ours_counts - ours).max() > 1e-3


def test_stream_graph_batch_axis_is_dynamic(stream_onnx, stream_weights):
    """Exported at batch 1; two streams of different ages side by side match each stepped alone."""
    model, graph = load(stream_weights), session(stream_onnx)
    video = torch.rand(2, 3, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        _, old = model.stream_step(video[:1, :, :2], model.init_state(1, SIZE, SIZE))  # 2 frames seen
        young = model.init_state(1, SIZE, SIZE)  # a stream that starts now
        state = {key: torch.cat([old[key], young[key]]) for key in old}
        assert state["head.pool.count"].tolist() == [2, 0]
        refs = [model.stream_step(video[i:i + 1, :, 2:], s)[0] for i, s in enumerate((old, young))]
    outputs = graph.run(None, _stream_inputs(model, video[:, :, 2:], state))
    assert relative_error(outputs[0], torch.cat(refs).numpy()) <= TOLERANCE
    names = [o.name for o in graph.get_outputs()]
    assert outputs[names.index("new_state.head.pool.count")].tolist() == [3, 1]


def test_export_restores_train_mode_and_rejects_bad_arguments(tmp_path):
    model = movinet.create_model("movinet_a0_stream")
    assert model.training
    with pytest.raises(ValueError, match="dynamic_spatial"):
        export_onnx(model, tmp_path, model_name="movinet_a0_stream", dynamic_spatial=True)
    with pytest.raises(ValueError, match="labels"):
        export_onnx(model, tmp_path, model_name="movinet_a0_stream", labels=["a", "b"])
    with pytest.raises(ValueError, match="MoViNet"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path, model_name="movinet_a0_base")
    assert model.training and list(tmp_path.iterdir()) == []


def test_export_from_weights_checks_the_model_name(base_weights, tmp_path):
    with pytest.raises(ValueError, match="movinet_a0_base"):
        export_from_weights(base_weights, tmp_path, model_name="movinet_a0_stream")
    with pytest.raises(FileNotFoundError):
        export_from_weights(tmp_path / "missing.safetensors", tmp_path)


def test_failed_verification_leaves_nothing(monkeypatch, tmp_path):
    """A graph that disagrees with PyTorch is an error, and no file is left behind."""
    model = movinet.create_model("movinet_a0_paddle").eval()
    monkeypatch.setattr(onnx_export, "MAX_RELATIVE_ERROR", -1.0)  # any real error now exceeds it
    with pytest.raises(ExportError, match="disagrees"):
        export_onnx(model, tmp_path, model_name="movinet_a0_paddle", frames=2, height=48, width=48)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_dynamic_spatial_base_graph(tmp_path):
    """Official SAME padding repeats every 32 px: the graph is verified at H and H + 32."""
    model = movinet.create_model("movinet_a0_base").eval()
    result = export_onnx(model, tmp_path, model_name="movinet_a0_base", frames=4, height=64, width=64,
                         dynamic_spatial=True)
    meta = json.loads(result.json_path.read_text())
    assert meta["spatial_multiple"] == 32 and meta["inputs"][0]["shape"][3:] == ["height", "width"]
    assert len(meta["verification"]["checks"]) == 3 and result.relative_error <= TOLERANCE


def test_copy_of_export_runs_without_movinet_metadata(stream_onnx, tmp_path):
    """The two files are self-contained: a runtime needs nothing else."""
    for suffix in (".onnx", ".json"):
        shutil.copy(stream_onnx.with_suffix(suffix), tmp_path / f"model{suffix}")
    meta = json.loads((tmp_path / "model.json").read_text())
    graph = session(tmp_path / "model.onnx")
    feeds = {e["input"]: np.zeros(e["shape"], dtype=e["dtype"]) for e in meta["states"]}
    video = np.random.default_rng(0).random((1, 3, 1, SIZE, SIZE), dtype=np.float32)
    logits = graph.run(["logits"], {"video": video, **feeds})[0]
    assert logits.shape == (1, meta["num_classes"]) and np.isfinite(logits).all()


def test_training_form_stream_graph_takes_chunks(tmp_path):
    """`optimize=False` writes the training form as it is: its step takes any number of frames."""
    model = random_model("movinet_a0_stream")
    result = export_onnx(model, tmp_path, model_name="movinet_a0_stream", height=48, width=48, stream_steps=2,
                         optimize=False)
    meta = json.loads(result.json_path.read_text())
    assert meta["graph"] == "training" and meta["dynamic_axes"]["frames"] is True
    assert meta["verification"]["checks"][0].startswith("stream 3 steps") and result.relative_error <= TOLERANCE


@pytest.mark.parametrize(("name", "causal"), [("movinet_a0_paddle", None), ("movinet_a0_base", True),
                                               ("movinet_a3_stream", None)])
def test_export_of_perturbed_models_matches_pytorch(name, causal, tmp_path):
    """Every parameter, ReZero and positional-encoding scale and BN statistic perturbed: PaddleVideo's
    padding, a causal 3D stream graph, and positional encodings with per-sample counters."""
    model = random_model(name, causal=causal)
    result = export_onnx(model, tmp_path, model_name=name, frames=3, height=48, width=48, stream_steps=3)
    assert result.relative_error <= TOLERANCE and result.kind == ("stream" if model.causal else "base")
    if model.causal:
        graph = session(result.onnx_path)
        video = torch.rand(2, 3, 2, 48, 48, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            _, state = model.stream_step(video[:1, :, :1], model.init_state(1, 48, 48))
            young = model.init_state(1, 48, 48)
            state = {key: torch.cat([state[key], young[key]]) for key in state}
            ref, _ = model.stream_step(video[:, :, 1:], state)
        ours = graph.run(["logits"], _stream_inputs(model, video[:, :, 1:], state))[0]
        assert relative_error(ours, ref.numpy()) <= TOLERANCE

"""Sizes, classes and rates read from weights metadata, ONNX sidecars, configs and options are bounded
before anything is allocated; a bad one is one line naming the file and the field (exit 2), never a
traceback and never the OOM killer."""

from __future__ import annotations

import json
import math

import pytest

import movinet
from movinet.cli import main
from movinet.engine.config import load_config
from movinet.inference.backends import load_predictor
from movinet.inference.backends.sidecar import SidecarError
from movinet.weights import WeightsError, save_weights
from tests.conftest import one_line_error


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "t0.safetensors"
    return save_weights(movinet.create_model("movinet_t0_base", num_classes=3), path, model_name="movinet_t0_base")


def with_metadata(weights, tmp_path, edit) -> str:
    """A copy of `weights` whose movinet metadata went through `edit(dict) -> dict or str`."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(weights), framework="pt") as handle:
        meta = json.loads(handle.metadata()["movinet"])
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    edited = edit(meta)
    out = tmp_path / "edited.safetensors"
    save_file(tensors, str(out), metadata={"movinet": edited if isinstance(edited, str) else json.dumps(edited)})
    return str(out)


def set_key(path: str, value):
    def edit(meta):
        node = meta
        for key in path.split(".")[:-1]:
            node = node[key]
        node[path.split(".")[-1]] = value
        return meta
    return edit


@pytest.mark.parametrize(("field", "value", "words"), [
    ("preprocessing.frames", 1e9, "preprocessing.frames must be a whole number from 1 to 1024"),
    ("preprocessing.height", 100000, "preprocessing.height must be a whole number from 1 to 2048"),
    ("preprocessing.stream_fps", "inf", "preprocessing.stream_fps must be positive and at most 1000 frames per second"),
    ("num_classes", 1e30, "num_classes must be a whole number from 1 to 100000"),
    ("labels", "not a list", "labels must be a list of class names"),
    ("labels", ["only one"], "labels has 1 names for 3 classes"),
])
def test_malformed_weights_metadata_is_one_line_naming_the_field(weights, tmp_path, field, value, words, capsys):
    edited = with_metadata(weights, tmp_path, set_key(field, value))
    with pytest.raises(WeightsError, match=f"{edited}: {words}"):
        movinet.load_model(edited)
    video = tmp_path / "missing.mp4"
    assert main(["predict", "-i", str(video), "-w", edited]) == 2
    err = one_line_error(capsys)
    assert edited in err and words in err


def test_deeply_nested_metadata_is_damaged_not_a_traceback(weights, tmp_path):
    edited = with_metadata(weights, tmp_path, lambda meta: "[" * 100_000 + "]" * 100_000)
    with pytest.raises(WeightsError, match="metadata is not readable JSON"):
        movinet.load_model(edited)


def test_tensor_shapes_that_disagree_with_the_metadata_name_the_tensor(weights, tmp_path):
    edited = with_metadata(weights, tmp_path, lambda meta: {**meta, "num_classes": 5, "labels": None})
    with pytest.raises(WeightsError, match=r"tensor 'classifier\.logits\.(weight|bias)' has shape \[3.*needs \[5"):
        movinet.load_model(edited)


def test_a_damaged_file_of_ours_is_called_damaged(weights, tmp_path):
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(WeightsError, match="is a movinet weights file but it is damaged") as caught:
        movinet.load_model(cut)
    assert "convert foreign" not in str(caught.value)
    foreign = tmp_path / "foreign.safetensors"
    foreign.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header....")
    with pytest.raises(WeightsError, match="convert foreign checkpoints"):
        movinet.load_model(foreign)


def sidecar_model(tmp_path, **changes) -> str:
    """A model file whose sidecar is a well-formed movinet sidecar with `changes` (the graph itself is
    never opened: the sidecar is checked first)."""
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not opened")
    prep = {"frames": 8, "height": 64, "width": 64, "resize": 72}
    sidecar = {"format": "movinet-onnx", "model_name": "movinet_a0_base", "kind": "base", "num_classes": 3,
               "labels": ["a", "b", "c"], "preprocessing": prep,
               "inputs": [{"name": "video", "shape": ["batch", 3, "frames", 64, 64]}],
               "outputs": [{"name": "logits", "shape": ["batch", 3]}]}
    for key, value in changes.items():
        node = sidecar
        parts = key.split("__")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    (tmp_path / "model.json").write_text(json.dumps(sidecar) if changes.get("raw") is None else changes["raw"])
    return str(model)


@pytest.mark.parametrize(("changes", "words"), [
    ({"preprocessing__frames": 1e9}, "preprocessing.frames must be a whole number from 1 to 1024"),
    ({"preprocessing__stream_fps": 0}, "preprocessing.stream_fps must be positive and at most 1000 frames per second"),
    ({"num_classes": 1e30}, "num_classes must be a whole number from 1 to 100000"),
    ({"labels": {"a": 1}}, "labels must be a list of 3 class names"),
    ({"states": [{"key": "k", "input": "s", "output": "t", "shape": [1 << 20, 1 << 20], "dtype": "float32"}]},
     "states.0.shape"),
])
def test_malformed_sidecar_values_name_the_sidecar_and_field(tmp_path, changes, words, capsys):
    model = sidecar_model(tmp_path, **changes)
    with pytest.raises(SidecarError, match=words):
        load_predictor(model)
    assert main(["predict", "-i", str(tmp_path / "x.mp4"), "--model_file", model]) == 2
    err = one_line_error(capsys)
    assert str(tmp_path / "model.json") in err and words in err


def test_deeply_nested_sidecar_json(tmp_path):
    model = sidecar_model(tmp_path, raw="[" * 100_000 + "]" * 100_000)
    with pytest.raises(SidecarError, match="nests its JSON too deeply"):
        load_predictor(model)


def test_config_sizes_are_bounded(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  name: movinet_a0_base\n")
    for override, words in (("data.sampling.num_frames=100000", "data.sampling.num_frames must be a whole number"),
                            ("test.num_frames=100000", "test.num_frames must be"),
                            ("data.transform.crop_size=100000", "data.transform.crop_size must be"),
                            ("model.num_classes=10000000", "model.num_classes must be")):
        with pytest.raises(ValueError, match=f"{config}: {words}"):
            load_config(config, [override])


@pytest.mark.parametrize("rate", ["inf", "nan", "0", "-1", "1e9"])
@pytest.mark.parametrize("command", [["stream", "--input", "x.mp4"], ["serve", "--port", "0"]])
def test_stream_and_serve_refuse_a_rate_that_is_not_a_frame_rate(command, rate, tmp_path, capsys):
    # Checked before the model is loaded or a port opened: `serve --fps 0` once meant 5 fps, inf a 500.
    assert main([*command, "--model_file", str(tmp_path / "m.onnx"), "--fps", rate]) == 2
    assert "--fps must be positive and at most 1000 frames per second" in one_line_error(capsys)


def test_the_rate_check():
    from movinet.limits import MAX_RATE, LimitError, check_rate

    assert check_rate("5") == 5.0 and check_rate(29.97, "--fps") == 29.97 and check_rate(MAX_RATE) == MAX_RATE
    for bad in (0, -1, math.inf, math.nan, "abc", None, True, MAX_RATE * 2):
        with pytest.raises(LimitError, match="must be positive and at most"):
            check_rate(bad, "--fps")

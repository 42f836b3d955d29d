"""A base model fine-tuned causal (`model.causal: true`) exports and streams as a stream model: `export`
and `stream` take the config's `model.causal` instead of ignoring it."""

from __future__ import annotations

import json

import pytest
import torch

import movinet
from movinet.cli import main
from movinet.data.synthetic import make_motion_video
from movinet.weights import save_weights

CONFIG = """\
model:
  name: movinet_a0_base
  causal: {causal}
data:
  sampling: {{mode: clips, num_frames: 4, temporal_stride: 1}}
  transform: {{preset: tf, short_size: 72, crop_size: 64, normalize: unit}}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("causal")
    for causal in ("true", "false"):
        (root / f"{causal}.yaml").write_text(CONFIG.format(causal=causal))
    torch.manual_seed(0)
    model = movinet.create_model("movinet_a0_base", num_classes=3)  # base weights, as released
    save_weights(model, root / "base.safetensors", model_name="movinet_a0_base", labels=["a", "b", "c"])
    make_motion_video(root / "clip.mp4", "grow", num_frames=6, size=72, seed=1)
    return root


def test_export_of_a_causal_config_writes_a_stream_step_graph(files, capsys):
    assert main(["export", "-c", str(files / "true.yaml"), "-w", str(files / "base.safetensors"),
                 "-o", str(files / "stream_export")]) == 0
    sidecar = json.loads((files / "stream_export" / "movinet_a0_base.json").read_text())
    assert sidecar["kind"] == "stream" and sidecar["states"]
    # Without a config the weights' own record decides: base weights export a base graph.
    assert main(["export", "-w", str(files / "base.safetensors"), "-o", str(files / "base_export")]) == 0
    sidecar = json.loads((files / "base_export" / "movinet_a0_base.json").read_text())
    assert sidecar["kind"] == "base" and sidecar["labels"] == ["a", "b", "c"]
    capsys.readouterr()
    assert main(["stream", "-i", str(files / "clip.mp4"), "--model_file",
                 str(files / "stream_export" / "movinet_a0_base.onnx"), "--print_every", "0"]) == 0


def test_stream_takes_base_weights_causal_when_the_config_says_so(files, capsys):
    steps = files / "steps.jsonl"
    assert main(["stream", "-i", str(files / "clip.mp4"), "-w", str(files / "base.safetensors"),
                 "-c", str(files / "true.yaml"), "--json_out", str(steps), "--print_every", "0"]) == 0
    assert len(steps.read_text().splitlines()) >= 2
    capsys.readouterr()
    assert main(["stream", "-i", str(files / "clip.mp4"), "-w", str(files / "base.safetensors"),
                 "-c", str(files / "false.yaml")]) == 2
    assert "base model" in capsys.readouterr().err

"""The command line, in process: export -> predict -> stream on a small stream model and a real video."""

from __future__ import annotations

import json

import pytest
import torch

import movinet
from movinet.cli import build_parser, main
from movinet.data.synthetic import make_motion_video
from movinet.weights import save_weights

CONFIG = """\
model:
  name: movinet_a0_stream
data:
  sampling: {mode: clips, num_frames: 6, temporal_stride: 2}
  transform: {preset: tf, short_size: 72, crop_size: 64, normalize: unit}
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("cli")
    (root / "config.yaml").write_text(CONFIG)
    model = movinet.create_model("movinet_a0_stream", num_classes=6).eval()
    save_weights(model, root / "model.safetensors", model_name="movinet_a0_stream",
                 labels=["grow", "move_down", "move_up", "narrow", "shrink", "widen"])
    make_motion_video(root / "clip.mp4", "grow", num_frames=12, size=72, seed=1)
    return root


def test_every_command_has_help(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"list", "convert", "prepare", "export", "predict", "stream"} <= set(commands)
    for name, sub in commands.items():
        assert sub.description, name
        assert sub.format_help()


def test_export_predict_stream_round_trip(workdir, capsys):
    out = workdir / "inference"
    assert main(["export", "-c", str(workdir / "config.yaml"), "-p", str(workdir / "model.safetensors"),
                 "-o", str(out)]) == 0
    exported = capsys.readouterr().out
    assert "relative error" in exported
    onnx_file = out / "movinet_a0_stream.onnx"
    assert onnx_file.is_file() and (out / "movinet_a0_stream.json").is_file()

    assert main(["predict", "--input_file", str(workdir / "clip.mp4"), "--config", str(workdir / "config.yaml"),
                 "--model_file", str(onnx_file)]) == 0
    text = capsys.readouterr().out
    assert f"Current video file: {workdir / 'clip.mp4'}" in text
    assert "top-1 class:" in text and "top-1 label:" in text and "top-1 score:" in text

    assert main(["predict", "--input_file", str(workdir / "clip.mp4"), "--model_file", str(onnx_file),
                 "--json", "--top_k", "3"]) == 0
    onnx_top = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["top_k"]
    assert len(onnx_top) == 3 and onnx_top[0]["label"] in ("grow", "move_down", "move_up", "narrow", "shrink", "widen")

    assert main(["predict", "--input_file", str(workdir / "clip.mp4"), "-w", str(workdir / "model.safetensors"),
                 "-c", str(workdir / "config.yaml"), "--json", "--top_k", "3"]) == 0
    torch_top = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["top_k"]
    assert [entry["class"] for entry in torch_top] == [entry["class"] for entry in onnx_top]
    for ours, theirs in zip(torch_top, onnx_top):  # the same frames and the same model: the same scores
        assert ours["score"] == pytest.approx(theirs["score"], abs=1e-4)

    json_out = workdir / "steps.jsonl"
    assert main(["stream", "--input", str(workdir / "clip.mp4"), "--model_file", str(onnx_file),
                 "--json_out", str(json_out), "--print_every", "0"]) == 0
    steps = [json.loads(line) for line in json_out.read_text().splitlines()]
    assert len(steps) >= 2


def test_bad_inputs_exit_nonzero_with_one_line(workdir, capsys):
    assert main(["predict", "--input_file", str(workdir / "missing.mp4"),
                 "-w", str(workdir / "model.safetensors")]) == 1
    assert main(["predict", "--input_file", str(workdir / "clip.mp4")]) == 2
    assert "--model_file" in capsys.readouterr().err
    assert main(["export", "-c", str(workdir / "nope.yaml"), "-p", "x", "-o", "y"]) == 2
    assert "not found" in capsys.readouterr().err
    bad = workdir / "bad.yaml"
    bad.write_text("model:\n  nmae: movinet_a0_base\n")
    assert main(["export", "-c", str(bad), "-p", str(workdir / "model.safetensors"), "-o", str(workdir / "o")]) == 2
    assert "model.nmae" in capsys.readouterr().err


def test_prepare_frames_and_video_list(tmp_path, capsys):
    for name in ("grow", "shrink"):
        make_motion_video(tmp_path / "videos" / name / f"{name}_0.mp4", name, num_frames=8, size=48)
    assert main(["prepare", "frames", str(tmp_path / "videos"), "-o", str(tmp_path / "frames"),
                 "--list", str(tmp_path / "frames.list")]) == 0
    lines = (tmp_path / "frames.list").read_text().split("\n")
    assert lines[0].split()[1:] == ["8", "0"]
    assert main(["prepare", "videolist", str(tmp_path / "videos"), "--list", str(tmp_path / "videos.list")]) == 0
    assert (tmp_path / "videos.list").read_text().startswith("grow/grow_0.mp4 0")
    assert main(["prepare", "frames", str(tmp_path / "videos"), "--list", str(tmp_path / "x.list")]) == 2

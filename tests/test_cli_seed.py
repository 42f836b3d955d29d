"""The seed's (PaddleVideo's) command-line spellings: `--flag=True`, underscore and dashed names, its aliases."""

from __future__ import annotations

import importlib

import pytest

from movinet.cli import build_parser, main
from movinet.inference import resolve_model_files


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize("spelling, expected", [
    (["--use_gpu"], True), (["--use_gpu=True"], True), (["--use_gpu=False"], False), (["--use_gpu", "True"], True),
    (["--use_gpu", "false"], False), (["--use_gpu=1"], True), ([], False),
])
def test_boolean_options_take_every_seed_spelling(spelling, expected):
    args = parse("predict", "-i", "v.mp4", "--model_file", "m.onnx", *spelling, "--use_tensorrt=False")
    assert args.use_gpu is expected and args.use_tensorrt is False


def test_a_bad_boolean_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        parse("predict", "-i", "v.mp4", "--use_gpu=maybe")
    assert info.value.code == 2 and "expected True or False" in capsys.readouterr().err


def test_underscore_and_dashed_spellings_are_the_same_option():
    for spelling in ("--sync_bn", "--sync-bn"):
        assert parse("train", "-c", "x.yaml", spelling).sync_bn is True
    dashed = parse("predict", "--input-file", "v.mp4", "--model-file", "m.onnx", "--top-k", "3", "--batch-size=2",
                   "--use-gpu=True", "--cpu-threads", "1")
    underscored = parse("predict", "--input_file", "v.mp4", "--model_file", "m.onnx", "--top_k", "3",
                        "--batch_size=2", "--use_gpu=True", "--cpu_threads", "1")
    assert vars(dashed) == vars(underscored)
    assert parse("stream", "--input", "v.mp4", "--print-every", "0", "--max-frames", "4").print_every == 0


def test_seed_aliases():
    export = parse("export", "-c", "c.yaml", "--pretrained_params", "w.pdparams", "--output_path", "out")
    assert (export.params, export.output) == ("w.pdparams", "out")
    predict = parse("predict", "-i", "v.mp4", "--params_file", "w.safetensors", "-b", "4")
    assert (predict.weights, predict.batch_size) == ("w.safetensors", 4)
    train = parse("train", "--test", "-c", "c.yaml", "-w", "best.pdparams")
    assert train.test is True and train.weights == "best.pdparams"


def test_train_test_runs_the_test_command(monkeypatch, tmp_path, capsys):
    calls = []

    def fake_test(cfg, weights, overwrite=False):
        calls.append((cfg.model.name, weights))
        return {"top1": 0.5, "top5": 1.0, "num_samples": 2, "report": "r.json", "confusion_png": "c.png"}

    monkeypatch.setattr(importlib.import_module("movinet.engine.evaluate"), "test", fake_test)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--test", "-c", "movinet_k400_frame.yaml", "-w", "best.safetensors"]) == 0
    assert calls == [("movinet_a0_paddle", "best.safetensors")]
    assert "top-1 0.5000" in capsys.readouterr().out


def test_paddle_inference_names_stand_for_the_movinet_export(tmp_path):
    out = tmp_path / "inference" / "MoViNetA0"
    out.mkdir(parents=True)
    (out / "movinet_a0_paddle.onnx").write_bytes(b"graph")
    (out / "movinet_a0_paddle.json").write_text("{}")
    chosen = resolve_model_files(out / "MoViNet.pdmodel", out / "MoViNet.pdiparams", model_name="movinet_a0_paddle")
    assert chosen == str(out / "movinet_a0_paddle.onnx")
    assert resolve_model_files(out / "movinet_a0_paddle.onnx", out / "MoViNet.pdiparams") == chosen
    assert resolve_model_files(None, "w.safetensors") == "w.safetensors"


def test_paddle_inference_files_and_conflicting_pairs_are_refused(tmp_path):
    (tmp_path / "MoViNet.pdmodel").write_bytes(b"paddle program")
    with pytest.raises(ValueError, match="Paddle Inference model.*movinet export"):
        resolve_model_files(tmp_path / "MoViNet.pdmodel", tmp_path / "MoViNet.pdiparams")
    with pytest.raises(ValueError, match="holds no single movinet ONNX export"):
        resolve_model_files(tmp_path / "missing" / "MoViNet.pdmodel", None)
    with pytest.raises(ValueError, match="not both"):
        resolve_model_files(tmp_path / "m.onnx", tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="only Paddle runs"):
        resolve_model_files(None, tmp_path / "MoViNet.pdiparams")

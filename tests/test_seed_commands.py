"""Every command of the seed's model-zoo page (PaddleVideo docs/en/model_zoo/recognition/movinet.md),
adapted only by the program name, on the PaddleVideo A0 fixture `.pdparams`.

The seed page's commands, as a PaddleVideo user copies them:

    python3.7 -B -m paddle.distributed.launch --gpus="0,1,2,3,4,5,6,7" --log_dir=log_movinet main.py \\
        --validate -c configs/recognition/movinet/movinet_k400_frame.yaml
    python3.7 main.py --test -c configs/recognition/movinet/movinet_k400_frame.yaml \\
        -w output/MoViNet/MoViNet_best.pdparams
    python3.7 tools/export_model.py -c configs/recognition/movinet/movinet_k400_frame.yaml \\
        -p data/MoViNetA0_k400.pdparams -o inference/MoViNetA0
    python3.7 tools/predict.py --input_file data/example.avi \\
        --config configs/recognition/movinet/movinet_k400_frame.yaml \\
        --model_file inference/MoViNetA0/MoViNet.pdmodel --params_file inference/MoViNetA0/MoViNet.pdiparams \\
        --use_gpu=True --use_tensorrt=False

`main.py` (and its launcher) becomes `movinet train`, `tools/export_model.py` `movinet export`,
`tools/predict.py` `movinet predict`; the arguments stay as written. The config at the seed's path
is a movinet recipe shrunk to a few seconds (the packaged `movinet_k400_frame.yaml` trains 160
epochs at 50 x 172 px), fine-tuning from the `.pdparams` the page downloads to `data/`, with the
seed's data layout (extracted frames, `frame_dir num_frames label` lists under `data/k400/`).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from movinet.cli import main
from movinet.data.video import write_video
from tests.conftest import fixture_path

CONFIG = "configs/recognition/movinet/movinet_k400_frame.yaml"
SMALL_RECIPE = """\
# movinet_k400_frame.yaml shrunk for a test: 4 frames at 64 px, one epoch of two steps.
model: {name: movinet_a0_paddle, num_classes: 400, weights: data/MoViNetA0_k400.pdparams}
data:
  format: frames
  root: data/k400/rawframes
  train_list: data/k400/train_frames.list
  val_list: data/k400/val_frames.list
  test_list: data/k400/val_frames.list
  batch_size: 2
  val_batch_size: 2
  test_batch_size: 2
  num_workers: 0
  sampling: {mode: segments, num_frames: 4}
  transform: {preset: paddle, short_size: 72, crop_size: 64, normalize: imagenet}
lr_schedule: {name: constant, base_lr: 0.001}
train: {output_dir: output/MoViNet, epochs: 1, device: cpu, progress: false}
"""

SEED_TRAIN = f"--validate -c {CONFIG}"
SEED_TEST = f"--test -c {CONFIG} -w output/MoViNet/MoViNet_best.pdparams"
SEED_EXPORT = f"-c {CONFIG} -p data/MoViNetA0_k400.pdparams -o inference/MoViNetA0"
SEED_PREDICT = (f"--input_file data/example.avi --config {CONFIG} --model_file inference/MoViNetA0/MoViNet.pdmodel "
                "--params_file inference/MoViNetA0/MoViNet.pdiparams --use_gpu=True --use_tensorrt=False")


@pytest.fixture
def seed_checkout(tmp_path, monkeypatch):
    """A working directory laid out as the seed page expects, with the fixture weights downloaded."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    lines = []
    for index in range(4):
        folder = tmp_path / "data" / "k400" / "rawframes" / f"clip_{index}"
        folder.mkdir(parents=True)
        for frame in range(8):
            pixels = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"img_{frame + 1:05d}.jpg")
        lines.append(f"clip_{index} 8 {index * 7}")
    (tmp_path / "data" / "k400" / "train_frames.list").write_text("\n".join(lines) + "\n")
    (tmp_path / "data" / "k400" / "val_frames.list").write_text("\n".join(lines[:2]) + "\n")
    shutil.copy(fixture_path("paddle_a0", "MoViNetA0_fixture.pdparams"), tmp_path / "data" / "MoViNetA0_k400.pdparams")
    write_video(tmp_path / "data" / "example.avi", (rng.random((20, 48, 64, 3)) * 255).astype(np.uint8), 25)
    (tmp_path / CONFIG).parent.mkdir(parents=True)
    (tmp_path / CONFIG).write_text(SMALL_RECIPE)
    return tmp_path


def run(command: str, arguments: str) -> int:
    return main([command, *arguments.split()])


def test_the_seed_page_commands_run_as_written(seed_checkout, capsys):
    import onnxruntime

    assert run("train", SEED_TRAIN) == 0  # fine-tunes from the .pdparams the config names
    trained = capsys.readouterr().out
    assert "best top-1" in trained and (seed_checkout / "output" / "MoViNet" / "best.safetensors").is_file()

    # PaddleVideo's training would have written this file; the page tests it.
    shutil.copy(seed_checkout / "data" / "MoViNetA0_k400.pdparams",
                seed_checkout / "output" / "MoViNet" / "MoViNet_best.pdparams")
    assert run("train", SEED_TEST) == 0
    assert "top-1" in capsys.readouterr().out and (seed_checkout / "output/MoViNet/test/test_report.json").is_file()

    assert run("export", SEED_EXPORT) == 0
    assert (seed_checkout / "inference" / "MoViNetA0" / "movinet_a0_paddle.onnx").is_file()
    capsys.readouterr()

    code = run("predict", SEED_PREDICT)
    captured = capsys.readouterr()
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        assert code == 0, captured.err
    else:  # --use_gpu=True on a machine without a GPU runtime: the reason in one line, not a parse error
        assert code == 2
        assert "CUDAExecutionProvider is not available" in captured.err and "--use_gpu=False" in captured.err
    assert run("predict", SEED_PREDICT.replace("--use_gpu=True", "--use_gpu=False")) == 0
    printed = capsys.readouterr().out
    assert "Current video file: data/example.avi" in printed
    assert "\ttop-1 class: " in printed and "\ttop-1 score: " in printed


def test_the_seed_test_command_as_movinet_test(seed_checkout, capsys):
    """`movinet test` takes the same arguments as `main.py --test`, a `.pdparams` included."""
    assert run("test", f"-c {CONFIG} -w data/MoViNetA0_k400.pdparams") == 0
    assert "top-1" in capsys.readouterr().out


def test_predict_takes_the_seed_pdparams_directly(seed_checkout, capsys):
    assert run("predict", f"--input_file data/example.avi --config {CONFIG} -w data/MoViNetA0_k400.pdparams") == 0
    assert "Current video file: data/example.avi" in capsys.readouterr().out

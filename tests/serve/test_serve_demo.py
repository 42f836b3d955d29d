"""`movinet demo` reaches the page: it writes a stream model of what it trained, at the rate the
model saw the demo's clips, and the one `movinet serve` command it prints serves the demo's classes.

The full demo (minutes of training) runs in tests/engine/test_demo_run.py, which runs the printed
command too; here the demo's last steps run on base weights of the demo's shape, saved as training
saves them."""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import sys
from collections.abc import Iterator

import numpy as np

from movinet.serve.client import StreamClient, model_info
from tests.serve.test_serve_cli import REPO, wait_for_url


@contextlib.contextmanager
def running(command: str) -> Iterator[str]:
    """Run a printed `movinet serve ...` command (on a free port, one model thread); yields its URL."""
    argv = shlex.split(command)
    assert argv[:2] == ["movinet", "serve"], command
    process = subprocess.Popen([sys.executable, "-m", "movinet", *argv[1:], "--port", "0", "--threads", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        yield wait_for_url(process)
    finally:
        process.terminate()
        process.communicate(timeout=30)


def assert_serves_the_classes(url: str, classes: list[str], clip: np.ndarray) -> list[dict]:
    """The server has the demo's classes at 4 fps, and streaming `clip` gives results in those classes."""
    info = model_info(url)
    assert info["labels"] == classes and info["kind"] == "stream"
    assert info["stream_fps"] == 4.0  # 8-fps clips, every 2nd frame seen in training
    with StreamClient(url, top_k=3) as stream:
        assert stream.hello["fps"] == 4.0
        replies = stream.stream(clip, pace=False, max_in_flight=1)
    assert [reply["type"] for reply in replies] == ["result"] * len(clip)
    assert {entry["label"] for reply in replies for entry in reply["top_k"]} <= set(classes)
    return replies


def test_the_demo_prints_the_serve_command_of_its_stream_model(tmp_path, capsys):
    from movinet.data.preprocessing import Preprocessing
    from movinet.data.synthetic import SQUARE_CLASSES, render_square_clip
    from movinet.engine.demo import NUM_CLASSES, demo_config, export_demo_stream_model, serve_command
    from movinet.weights import save_weights
    from tests.conftest import random_model

    classes = sorted(SQUARE_CLASSES[:NUM_CLASSES])
    data = {"root": str(tmp_path / "data"), "train_list": "train", "val_list": "val", "test_dir": "val",
            "labels_file": "labels.txt"}
    cfg = demo_config(tmp_path, data, seed=0, time_limit_minutes=1)
    assert cfg.model.name.endswith("_base")  # the demo trains a base model: serving needs its stream model
    weights = save_weights(random_model(cfg.model.name, seed=1, num_classes=NUM_CLASSES),
                           tmp_path / "run" / "best.safetensors", model_name=cfg.model.name, labels=classes,
                           preprocessing=Preprocessing.from_config(cfg))

    exported = export_demo_stream_model(cfg, str(weights), tmp_path)
    command = serve_command(exported.onnx_path)
    printed = capsys.readouterr().out
    assert str(exported.onnx_path) in printed and "4 fps" in printed

    clip = render_square_clip("move_up", np.random.default_rng(5), num_frames=16, size=64)
    with running(command) as url:
        assert_serves_the_classes(url, classes, clip[::2])

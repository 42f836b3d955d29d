"""`movinet serve` as a person runs it: a subprocess that prints its URL and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from movinet.serve.client import StreamClient, health
from tests.serve.conftest import motion_frames

REPO = Path(__file__).resolve().parents[2]


def start_serve(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "movinet", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


def wait_for_url(process: subprocess.Popen, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "open http://" in line:
            return line.split("open ", 1)[1].split()[0].rstrip("/")
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"movinet serve printed no URL: {process.stderr.read()}")


def test_serve_prints_its_url_serves_and_stops_on_sigterm(onnx_file):
    process = start_serve("--model_file", str(onnx_file), "--port", "0", "--threads", "1", "--fps", "10")
    try:
        url = wait_for_url(process)
        assert url.startswith("http://127.0.0.1:")  # loopback unless told otherwise
        assert health(url)["status"] == "ok"
        stream = StreamClient(url)
        assert stream.stream([motion_frames(0, 1)[0]])[0]["type"] == "result"
        process.send_signal(signal.SIGTERM)  # with a stream still open
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "movinet serve: stopped" in out
    stream.close()


def test_serve_user_errors_are_one_line_and_exit_2(onnx_file, tmp_path):
    from movinet.cli import main

    assert main(["serve"]) == 2
    assert main(["serve", "--model_file", str(tmp_path / "missing.onnx")]) == 2

    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        process = start_serve("--model_file", str(onnx_file), "--port", str(port), "--threads", "1")
        _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "choose another --port" in err and "Traceback" not in err


def test_serve_refuses_a_base_model(tmp_path, capsys):
    from movinet.cli import main
    from movinet.weights import save_weights
    from tests.conftest import random_model

    weights = tmp_path / "base.safetensors"
    save_weights(random_model("movinet_a0_base", num_classes=3), weights, model_name="movinet_a0_base")
    assert main(["serve", "-w", str(weights), "--port", "0"]) == 2
    assert "needs a stream model" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--max_batch", "--max_streams"])
def test_serve_rejects_bad_limits(onnx_file, flag):
    from movinet.cli import main

    assert main(["serve", "--model_file", str(onnx_file), flag, "0"]) == 2


@pytest.mark.parametrize("fps", ["0", "-5", "inf", "nan"])
def test_serve_refuses_a_rate_that_is_not_a_positive_number_in_one_line(onnx_file, fps):
    process = start_serve("--model_file", str(onnx_file), "--port", "0", "--threads", "1", f"--fps={fps}")
    try:
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:  # it started serving at that rate
            process.kill()
            process.communicate()
    assert process.returncode == 2 and "open http" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--fps" in lines[0] and "positive" in lines[0], err

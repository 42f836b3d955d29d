"""`movinet stream` over HTTP from a local server on 127.0.0.1, and the stream options' edge values."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest

import movinet
from movinet.cli import main
from movinet.data.preprocessing import Preprocessing
from movinet.data.video import write_video
from movinet.weights import save_weights

FPS = 25.0


class NoRangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves the files of `server.root` whole (status 200, Range ignored, like many simple servers);
    with `server.die_after` set, closes the connection after that fraction of the bytes."""

    timeout = 10

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.server.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        cut = len(data) if self.server.die_after is None else int(len(data) * self.server.die_after)
        try:
            self.wfile.write(data[:cut])
        except (BrokenPipeError, ConnectionResetError):
            return
        if self.server.die_after is not None:
            self.close_connection = True
            self.connection.close()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NoRangeHandler)
    httpd.root, httpd.die_after = tmp_path, None
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def url(server, name: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{name}"


def moving_frames(count: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    frames = (rng.random((count, size, size, 3)) * 80).astype(np.uint8)
    for index in range(count):
        frames[index, :, (index * 3) % (size - 8):(index * 3) % (size - 8) + 8] = 255
    return frames


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    model = movinet.create_model("movinet_a0_stream", num_classes=4)
    prep = Preprocessing(frames=8, height=32, width=32, resize=32, stream_fps=5.0)
    return save_weights(model, tmp_path_factory.mktemp("w") / "stream.safetensors", model_name="movinet_a0_stream",
                        preprocessing=prep)


def stream(source: str, weights: Path, *extra: str) -> int:
    return main(["stream", "--input", source, "-w", str(weights), "--top_k", "2", *extra])


def test_a_faststart_mp4_streams_over_http_like_the_local_file(server, weights, tmp_path, capsys):
    write_video(tmp_path / "fast.mp4", moving_frames(40, 48), FPS, container_options={"movflags": "faststart"})
    assert stream(str(tmp_path / "fast.mp4"), weights, "--json_out", str(tmp_path / "local.jsonl")) == 0
    assert stream(url(server, "fast.mp4"), weights, "--json_out", str(tmp_path / "http.jsonl")) == 0
    local, remote = ([json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
                     for name in ("local.jsonl", "http.jsonl"))
    assert len(remote) == len(local) >= 8  # 40 frames at 25 fps fed at 5 fps, plus the summary
    assert remote[-2]["top_k"] == local[-2]["top_k"]
    capsys.readouterr()


def test_a_non_faststart_mp4_from_a_server_without_range_says_what_works(server, weights, tmp_path, capsys):
    frames = (np.random.default_rng(1).random((120, 128, 128, 3)) * 255).astype(np.uint8)  # index after ~1 MB
    write_video(tmp_path / "plain.mp4", frames, FPS)
    assert stream(url(server, "plain.mp4"), weights) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "faststart" in err and "Range requests" in err and "RTSP" in err


def test_the_server_dying_mid_stream_keeps_partial_results_and_exits_1(server, weights, tmp_path, capsys):
    write_video(tmp_path / "fast.mp4", moving_frames(100, 48), FPS, container_options={"movflags": "faststart"})
    server.die_after = 0.5
    assert stream(url(server, "fast.mp4"), weights, "--json_out", str(tmp_path / "steps.jsonl")) == 1
    out = capsys.readouterr().out
    assert ": error (" in out  # the summary says how it ended
    records = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    summary = records[-1]["summary"]
    assert summary["ended"] == "error" and 0 < summary["frames"] < 20 and len(records) == summary["steps"] + 1
    assert summary["final_top_k"]  # the prediction so far is kept


def test_print_every_0_prints_only_the_summary(weights, tmp_path, capsys):
    write_video(tmp_path / "clip.mp4", moving_frames(20, 32), FPS)
    assert stream(str(tmp_path / "clip.mp4"), weights, "--print_every", "0") == 0
    out = capsys.readouterr().out
    assert "end of stream" in out and "final top-2" in out
    assert "frame " not in out.split("stream ")[0]  # no per-step lines before the summary


@pytest.mark.parametrize("fps", ["0", "-2", "nan"])
def test_a_frame_rate_that_is_not_positive_is_refused(weights, tmp_path, capsys, fps):
    write_video(tmp_path / "clip.mp4", moving_frames(10, 32), FPS)
    assert stream(str(tmp_path / "clip.mp4"), weights, "--fps", fps) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--fps" in err and "must be positive" in err and "5 fps" in err

"""The HTTP side of `movinet serve`: /health, /model, POST /predict, the page and its static files."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from movinet.serve.client import ServeClientError, health, model_info, predict_file
from tests.serve.conftest import FPS, LABELS, SIZE, http_request, motion_frames


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    from movinet.data.video import write_video

    return write_video(tmp_path_factory.mktemp("serve-videos") / "clip.mp4", motion_frames(5, 12, 64, 80), 10.0)


request = http_request


def test_health_and_model(server):
    status = health(server.url)
    assert status["status"] == "ok" and status["model"] == "movinet_a0_stream" and status["streams"] == 0
    info = model_info(server.url)
    assert info["labels"] == LABELS and info["num_classes"] == len(LABELS)
    assert info["kind"] == "stream" and info["backend"] == "onnxruntime" and info["stream_fps"] == FPS
    assert (info["preprocessing"]["height"], info["preprocessing"]["resize"]) == (SIZE, 56)
    assert info["frame"]["send_short_side"] == 56 and "jpeg" in info["frame"]["formats"]


def test_predict_upload_equals_movinet_predict_json(server, onnx_file, video, capsys):
    from movinet.cli import main

    assert main(["predict", "-i", str(video), "--model_file", str(onnx_file), "--top_k", "3", "--json"]) == 0
    expected = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    got = predict_file(server.url, video, top_k=3)
    assert got["file"] == "clip.mp4"
    assert [e["class"] for e in got["top_k"]] == [e["class"] for e in expected["top_k"]]
    assert [e["label"] for e in got["top_k"]] == [e["label"] for e in expected["top_k"]]
    assert got["top_k"][0]["score"] == pytest.approx(expected["top_k"][0]["score"], rel=1e-5)
    assert set(got["timings"]) == {"decode", "preprocess", "model"}

    boundary = "movinet-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../evil.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode() + video.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    status, raw = request(server.url, "POST", "/predict?top_k=3", body,
                          {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    multipart = json.loads(raw)
    assert status == 200 and multipart["top_k"] == got["top_k"]
    assert multipart["file"] == "../../evil.mp4"  # reported as given, never used as a path


def test_predict_writes_nothing_outside_a_temp_dir(server, video, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(Path(tempfile.gettempdir()).glob("movinet-serve-*"))
    predict_file(server.url, video)
    assert not list(tmp_path.iterdir())
    assert set(Path(tempfile.gettempdir()).glob("movinet-serve-*")) == before  # the upload's temp dir is gone


def test_predict_bad_uploads(server, tmp_path):
    garbage = tmp_path / "notes.mp4"
    garbage.write_bytes(b"this is not a video" * 50)
    result = predict_file(server.url, garbage)
    assert result["file"] == "notes.mp4" and "error" in result and "top_k" not in result
    status, raw = request(server.url, "POST", "/predict", b"", {"Content-Type": "application/octet-stream"})
    assert status == 400 and "empty upload" in json.loads(raw)["error"]
    status, raw = request(server.url, "POST", "/predict?top_k=0", b"x")
    assert status == 400 and "top_k" in json.loads(raw)["error"]
    status, raw = request(server.url, "POST", "/predict", b"--x\r\n\r\n",
                          {"Content-Type": "multipart/form-data; boundary=x"})
    assert status == 400
    assert health(server.url)["status"] == "ok"


def test_upload_size_cap(onnx_served, video):
    from movinet.serve import ServeSettings, ServerThread, create_app

    settings = ServeSettings(max_upload_bytes=1000)
    with ServerThread(create_app(onnx_served, settings), settings) as small:
        with pytest.raises(ServeClientError, match="over the limit of 1000 bytes") as caught:
            predict_file(small.url, video)
        assert caught.value.status == 413
        # Without a Content-Length (chunked), the cap applies while the body streams in.
        chunks = (video.read_bytes()[i:i + 400] for i in range(0, 4000, 400))
        status, raw = request(small.url, "POST", "/predict", chunks, {"Content-Type": "video/mp4"})
        assert status == 413 and "over the limit" in json.loads(raw)["error"]
        assert health(small.url)["status"] == "ok"


def test_page_and_static_files(server):
    status, page = request(server.url, "GET", "/")
    assert status == 200 and b'<script src="/static/app.js">' in page and b'id="top1"' in page
    for name, marker in (("app.js", b"new WebSocket"), ("style.css", b".topk")):
        status, body = request(server.url, "GET", f"/static/{name}")
        assert status == 200 and marker in body


@pytest.mark.parametrize("path", [
    "/static/../app.py",
    "/static/../../cli.py",
    "/static/%2e%2e/app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e%2f%2e%2e%2fcli.py",
    "/static/....//app.py",
    "/static//etc/passwd",
    "/static/../../../../../../etc/passwd",
    "/static/%2fetc%2fpasswd",
])
def test_static_files_cannot_escape_the_page_folder(server, path):
    status, body = request(server.url, "GET", path)
    assert status in (400, 404), (status, body[:200])
    assert b"import" not in body and b"root:" not in body

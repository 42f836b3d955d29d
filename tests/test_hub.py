"""Pretrained-weight download, conversion and cache, against a local HTTP server on 127.0.0.1.

The server publishes a release-style tarball built from the TF fixture checkpoint; nothing leaves
the machine.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import movinet
from movinet import hub
from movinet.hub import DownloadError, fetch_pretrained
from movinet.labels import load_labels
from tests.conftest import fixture_path, relative_error, tf_clip


class ReleaseServer:
    """Serves `files` over HTTP; `modes[name]` = "ok", "truncate" (close half-way) or "hang"."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, str] = {}
        self.requests: list[str] = []
        self.release_hang = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                if name not in server.files:
                    self.send_error(404)
                    return
                body, mode = server.files[name], server.modes.get(name, "ok")
                if mode == "hang":
                    server.release_hang.wait(5.0)  # bounded: the test's client gives up first
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if mode == "ok" else body[: len(body) // 2])

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/releases/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release_hang.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5.0)


def release_tarball(folder: Path, name: str) -> Path:
    """A tarball laid out like the official ones: `<name>/checkpoint`, `<name>/ckpt-1.*`."""
    out = folder / f"{name}.tar.gz"
    with tarfile.open(out, "w:gz") as archive:
        for path in sorted(fixture_path(name.replace("movinet_", "tf_"), "ckpt").iterdir()):
            archive.add(path, arcname=f"{name}/{path.name}")
    return out


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> bytes:
    return release_tarball(tmp_path_factory.mktemp("release"), "movinet_a0_base").read_bytes()


@pytest.fixture
def server(monkeypatch, tmp_path, tarball):
    served = ReleaseServer()
    served.files["movinet_a0_base.tar.gz"] = tarball
    monkeypatch.setenv("MOVINET_WEIGHTS_URL", served.url)
    monkeypatch.setenv("MOVINET_HOME", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    yield served
    served.close()


def cache_files(tmp_path: Path) -> list[str]:
    root = tmp_path / "cache"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_download_convert_and_cache(server, tmp_path, tarball):
    model, meta = movinet.load_model("kinetics600", model_name="movinet_a0_base")
    with torch.no_grad():
        logits = model(tf_clip("input.npy", "tf_a0_base")).numpy()
    assert relative_error(logits, np.load(fixture_path("tf_a0_base", "logits.npy"))) <= 1e-4
    assert meta.labels == load_labels("kinetics600") and meta.name == "movinet_a0_base"
    assert server.requests == ["movinet_a0_base.tar.gz"]
    manifest = json.loads((tmp_path / "cache" / "manifest.json").read_text())
    assert manifest["movinet_a0_base.tar.gz"]["sha256"] == hashlib.sha256(tarball).hexdigest()
    assert manifest["movinet_a0_base.tar.gz"]["url"] == server.url + "movinet_a0_base.tar.gz"
    # Second time: straight from the cache, no request at all.
    path = fetch_pretrained("movinet_a0_base", "kinetics600")
    movinet.create_model("movinet_a0_base", weights="kinetics600")
    assert server.requests == ["movinet_a0_base.tar.gz"] and path.parent.name == "weights"
    assert not [name for name in cache_files(tmp_path) if name.endswith((".part", ".tmp"))]


def test_verified_download_is_reused_and_a_tampered_one_is_not(server, tmp_path):
    path = fetch_pretrained("movinet_a0_base", progress=False)
    path.unlink()
    assert fetch_pretrained("movinet_a0_base", progress=False) == path
    assert len(server.requests) == 1  # reconverted from the verified download
    path.unlink()
    download = tmp_path / "cache" / "downloads" / "movinet_a0_base.tar.gz"
    data = download.read_bytes()
    download.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    fetch_pretrained("movinet_a0_base", progress=False)
    assert len(server.requests) == 2


def test_interrupted_download_leaves_no_cache_entry(server, tmp_path):
    server.modes["movinet_a0_base.tar.gz"] = "truncate"
    with pytest.raises(DownloadError, match="interrupted"):
        fetch_pretrained("movinet_a0_base", progress=False)
    assert cache_files(tmp_path) == []
    server.modes["movinet_a0_base.tar.gz"] = "ok"
    assert fetch_pretrained("movinet_a0_base", progress=False).is_file()


def test_corrupt_release_is_deleted(server, tmp_path):
    server.files["movinet_a0_base.tar.gz"] = b"\x1f\x8b" + bytes(1000)
    with pytest.raises(DownloadError, match="does not hold movinet_a0_base"):
        fetch_pretrained("movinet_a0_base", progress=False)
    assert [name for name in cache_files(tmp_path) if not name.endswith("manifest.json")] == []
    assert json.loads((tmp_path / "cache" / "manifest.json").read_text()) == {}


def test_offline_fails_at_once_with_a_way_out(monkeypatch, tmp_path):
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MOVINET_WEIGHTS_URL", f"http://127.0.0.1:{port}/")
    monkeypatch.setenv("MOVINET_HOME", str(tmp_path / "cache"))
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        movinet.create_model("movinet_a0_stream", weights="kinetics600")
    message = str(info.value)
    assert time.monotonic() - start < 5
    assert f"http://127.0.0.1:{port}/movinet_a0_stream.tar.gz" in message and "refused" in message
    assert "weights=PATH" in message and "--weights PATH" in message
    assert cache_files(tmp_path) == []


def test_timeout_and_http_errors(server, monkeypatch, tmp_path):
    monkeypatch.setattr(hub, "TIMEOUT_S", 0.3)
    server.modes["movinet_a0_base.tar.gz"] = "hang"
    with pytest.raises(DownloadError, match="no answer within"):
        fetch_pretrained("movinet_a0_base", progress=False)
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_pretrained("movinet_a1_base", "kinetics400", progress=False)
    assert cache_files(tmp_path) == []


def test_release_table_and_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("MOVINET_WEIGHTS_URL", raising=False)
    assert hub.get_release("movinet_a3_stream", "kinetics600").url == (
        "https://storage.googleapis.com/tf_model_garden/vision/movinet/movinet_a3_stream.tar.gz")
    assert hub.get_release("movinet_a5_base", "kinetics400").filename == "movinet_a5_base_k400.tar.gz"
    assert hub.get_release("movinet_a0_paddle", "kinetics400").url == (
        "https://videotag.bj.bcebos.com/PaddleVideo-release2.3/MoViNetA0_k400.pdparams")
    assert len(hub.available_pretrained()) == 6 * 3 + 1
    with pytest.raises(ValueError, match="kinetics600"):
        fetch_pretrained("movinet_a0_stream", "kinetics400")
    monkeypatch.delenv("MOVINET_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.default_cache_dir() == tmp_path / "xdg" / "movinet"
    monkeypatch.setenv("MOVINET_HOME", str(tmp_path / "home"))
    assert hub.default_cache_dir() == tmp_path / "home"


def test_paddle_release(server, tmp_path):
    server.files["MoViNetA0_k400.pdparams"] = fixture_path("paddle_a0", "MoViNetA0_fixture.pdparams").read_bytes()
    model = movinet.create_model("movinet_a0_paddle", weights="kinetics400")
    video = torch.from_numpy(np.load(fixture_path("paddle_a0", "input_small.npy"))).permute(0, 2, 1, 3, 4)
    with torch.no_grad():
        logits = model(video.contiguous()).numpy()
    assert np.abs(logits - np.load(fixture_path("paddle_a0", "logits_small.npy"))).max() <= 1e-4
    assert server.requests == ["MoViNetA0_k400.pdparams"]

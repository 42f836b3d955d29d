"""`POST /predict` from a client that is not the server's owner: an upload is one video, never a way to
read server files, never a way to stall the live streams or hold the upload slots."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from movinet.serve.client import StreamClient, health, predict_file
from tests.serve.conftest import FPS, http_request, motion_frames, server_log


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    from movinet.data.video import write_video

    return write_video(tmp_path_factory.mktemp("upload-videos") / "clip.mp4", motion_frames(5, 12, 64, 80), 10.0)


@pytest.fixture(scope="module")
def server_files(tmp_path_factory) -> Path:
    """A folder of files that exist on the server's machine only: a video and a subfolder."""
    from movinet.data.video import write_video

    folder = tmp_path_factory.mktemp("server-private")
    write_video(folder / "private.mp4", motion_frames(6, 12, 64, 80), 10.0)
    (folder / "videos").mkdir()
    write_video(folder / "videos" / "other.mp4", motion_frames(7, 12, 64, 80), 10.0)
    return folder


def leaked_paths(reply: bytes, *folders: Path) -> list[str]:
    text = reply.decode("utf-8", "replace")
    return [str(folder) for folder in (*folders, Path(tempfile.gettempdir())) if str(folder) in text]


@pytest.mark.parametrize("filename,body", [
    ("list.txt", "{private}\n"),
    ("list.list", "{private} 3\n"),
    ("missing.txt", "/etc/passwd\n{folder}/no-such-file.mp4\n{folder}/videos\n"),
    ("folder.txt", "{folder}/videos\n"),
    ("play.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.2,\n{private}\n#EXT-X-ENDLIST\n"),
    ("concat.ffconcat", "ffconcat version 1.0\nfile '{private}'\n"),
])
def test_an_upload_never_reads_server_files(server, server_files, filename, body):
    """A list, a playlist or a concat file naming server paths is not a video: 422, and the reply
    says nothing about those paths (whether they exist, are folders, are readable)."""
    text = body.format(private=server_files / "private.mp4", folder=server_files)
    for headers in ({"X-Filename": filename, "Content-Type": "application/octet-stream"},):
        status, raw = http_request(server.url, "POST", "/predict?top_k=3", text.encode(), headers)
        reply = json.loads(raw)
        assert status == 422 and "top_k" not in reply, reply  # no server video was classified
        assert reply["file"] == filename and "error" in reply
        assert not leaked_paths(raw, server_files), reply
        assert "passwd" not in reply["error"]
    boundary = "b0undary"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\r\n"
            f"{text}\r\n--{boundary}--\r\n").encode()
    status, raw = http_request(server.url, "POST", "/predict", form,
                               {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 422 and "top_k" not in json.loads(raw) and not leaked_paths(raw, server_files)


def test_upload_errors_name_the_client_file_not_a_server_path(server, tmp_path):
    garbage = tmp_path / "notes.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42 but not really a video" * 40)
    status, raw = http_request(server.url, "POST", "/predict", garbage.read_bytes(), {"X-Filename": "notes.mp4"})
    reply = json.loads(raw)
    assert status == 422 and reply["file"] == "notes.mp4" and "notes.mp4" in reply["error"]
    assert not leaked_paths(raw), reply
    assert "movinet-serve-" not in reply["error"]


def test_upload_decoding_never_stalls_the_live_streams(onnx_served, video, monkeypatch):
    """A video that takes 2 s to decode, uploaded while a stream plays: the stream's frames are
    answered as fast as without the upload (decoding runs off the model thread; the upload's model
    work is single-frame steps among the streams')."""
    from movinet.data.video import VideoReader
    from movinet.serve import ServeSettings, ServerThread, create_app

    read_frames = VideoReader.read_frames

    def slow_read_frames(self, indices):
        time.sleep(2.0)
        return read_frames(self, indices)

    monkeypatch.setattr(VideoReader, "read_frames", slow_read_frames)
    frames = motion_frames(11, 12)
    settings = ServeSettings()
    with ServerThread(create_app(onnx_served, settings), settings) as server:
        uploaded: dict = {}
        upload = threading.Thread(target=lambda: uploaded.update(predict_file(server.url, video, top_k=3)))
        with StreamClient(server.url) as stream:
            stream.stream(frames[:2])  # warm
            upload.start()
            time.sleep(0.2)  # the upload is decoding now
            waits = []
            for frame in frames[2:]:
                sent = time.monotonic()
                stream.stream([frame], pace=False)
                waits.append(time.monotonic() - sent)
                time.sleep(max(0.0, 1 / FPS - waits[-1]))
        upload.join(60)
    assert uploaded.get("top_k"), uploaded
    assert max(waits) < 1.0, f"stream frames waited {max(waits):.2f} s behind the upload: {waits}"


def raw_upload(url: str, declared: int, first_bytes: bytes) -> socket.socket:
    """A POST /predict whose headers promise `declared` bytes, of which only `first_bytes` are sent."""
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(f"POST /predict HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: video/mp4\r\n"
                 f"Content-Length: {declared}\r\n\r\n".encode() + first_bytes)
    return sock


def read_status(sock: socket.socket, timeout: float) -> int | None:
    sock.settimeout(timeout)
    try:
        head = sock.recv(4096)
    except (socket.timeout, ConnectionError):
        return None
    finally:
        sock.close()
    return int(head.split()[1]) if head.startswith(b"HTTP/1.1") else None


def test_trickling_uploads_hold_no_slot_and_time_out(onnx_served, video):
    """Two uploads that send a few bytes and then nothing: another upload is classified at once
    (slots are taken only when a body is complete), and the two get 408 after the deadline."""
    from movinet.serve import ServeSettings, ServerThread, create_app

    settings = ServeSettings(max_concurrent_uploads=2, upload_timeout_s=2.0)
    with ServerThread(create_app(onnx_served, settings), settings) as server:
        slow = [raw_upload(server.url, 1_000_000, video.read_bytes()[:100]) for _ in range(2)]
        time.sleep(0.3)
        started = time.monotonic()
        result = predict_file(server.url, video, top_k=2, timeout=20)
        assert result.get("top_k") and time.monotonic() - started < 10
        assert [read_status(sock, timeout=10) for sock in slow] == [408, 408]
        assert health(server.url)["uploads"] == {"receiving": 0, "classifying": 0}


def test_uploads_arriving_at_once_are_capped(onnx_served, video):
    from movinet.serve import ServeSettings, ServerThread, create_app

    settings = ServeSettings(max_receiving_uploads=2, upload_timeout_s=30.0)
    with ServerThread(create_app(onnx_served, settings), settings) as server:
        slow = [raw_upload(server.url, 1_000_000, b"x" * 10) for _ in range(2)]
        time.sleep(0.3)
        status, raw = http_request(server.url, "POST", "/predict", video.read_bytes(), {"X-Filename": "clip.mp4"})
        assert status == 503 and "try again" in json.loads(raw)["error"]
        for sock in slow:
            sock.close()


def test_clients_leaving_mid_upload_cost_one_log_line_each_at_most(onnx_served, video):
    from movinet.serve import ServeSettings, ServerThread, create_app

    settings = ServeSettings(max_receiving_uploads=64)
    with ServerThread(create_app(onnx_served, settings), settings) as server, server_log() as log:
        for _ in range(20):
            sock = raw_upload(server.url, 1_000_000, video.read_bytes()[:2000])
            time.sleep(0.02)
            sock.close()
        deadline = time.monotonic() + 10
        while health(server.url)["uploads"]["receiving"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert predict_file(server.url, video).get("top_k")  # still serving
    assert not log.tracebacks(), [record.getMessage() for record in log.tracebacks()][:2]
    left = [line for line in log.lines() if "left during its upload" in line]
    assert 1 <= len(left) <= 5, log.lines()  # one line per client, rate-limited
    assert all("\n" not in line for line in log.lines())


def test_an_upload_is_classified_frame_by_frame_among_the_streams_steps(onnx_served, video):
    """The upload's model work is single-frame steps of the streams' scheduler (one per clip frame),
    never a whole-clip call on the model thread."""
    from movinet.serve import ServeSettings, ServerThread, create_app

    settings = ServeSettings()
    with ServerThread(create_app(onnx_served, settings), settings) as server:
        before = health(server.url)["scheduler"]["steps"]
        assert predict_file(server.url, video, top_k=2).get("top_k")
        after = health(server.url)["scheduler"]
    assert after["steps"] - before == onnx_served.preprocessing.frames  # 8 frames, 8 steps

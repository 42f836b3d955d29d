"""Clients that misbehave: they flood pings and read nothing, idle, open many streams, send
decompression bombs, deeply nested JSON and text that is not UTF-8. None of them may grow the
server's memory without bound, hold its places forever, crash a connection with a traceback, or
cost more than a rate-limited log line. And at shutdown every frame still gets its one reply."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import struct
import threading
import time
import urllib.parse

import numpy as np
import pytest

from movinet.serve.client import ServeClientError, StreamClient, encode_frame, health, ws_url
from tests.serve.conftest import motion_frames, server_log


def open_raw_websocket(url: str) -> socket.socket:
    """A WebSocket handshake on a plain socket (which then reads nothing unless told)."""
    parts = urllib.parse.urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """One client-to-server frame (clients must mask), payload < 126 bytes."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask + body


def test_a_ping_flood_that_reads_nothing_is_bounded_and_closed(onnx_served):
    """Pings answered with pongs the client never reads: the server stops reading it once its
    replies pile up (so it cannot be made to buffer more than the socket buffers hold) and closes
    it after `write_stall_timeout_s`, while a good stream goes on."""
    from movinet.serve import ServeSettings, ServerThread, create_app

    settings = ServeSettings(write_stall_timeout_s=2.0)
    flood = masked_frame(0x9, b"p" * 125) * 512  # 512 pings, 67 KB
    limit = 96 * 2**20
    with ServerThread(create_app(onnx_served, settings), settings) as server:
        sock = open_raw_websocket(server.url)
        sock.settimeout(0.5)
        sent, closed, started = 0, False, time.monotonic()
        with StreamClient(server.url) as good:
            while sent < limit and time.monotonic() - started < 20:
                try:
                    sent += sock.send(flood)
                except socket.timeout:
                    continue
                except OSError:  # reset or broken pipe: the server closed the flooder
                    closed = True
                    break
            replies = good.stream(motion_frames(3, 4))
        sock.close()
        assert health(server.url)["status"] == "ok"
    assert closed, f"the server read {sent / 2**20:.0f} MB of pings from a client that read nothing and kept it open"
    assert sent < 48 * 2**20, f"the server accepted {sent / 2**20:.0f} MB of pings from a client that reads nothing"
    assert [reply["type"] for reply in replies] == ["result"] * 4


def test_idle_streams_are_closed_and_one_client_has_few_places(onnx_served):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from movinet.serve import ServeSettings, ServerThread, StreamLimits, create_app

    settings = ServeSettings(max_streams_per_client=2, streams=StreamLimits(idle_timeout_s=1.0))
    frame = encode_frame(motion_frames(4, 1)[0])
    with ServerThread(create_app(onnx_served, settings), settings) as server:
        with connect(ws_url(server.url)) as idle, StreamClient(server.url) as busy:
            assert json.loads(idle.recv(timeout=10))["type"] == "hello"
            with pytest.raises(ServeClientError, match="at most 2 streams per client"):
                StreamClient(server.url)
            started = time.monotonic()
            for _ in range(6):  # a stream that sends frames stays open
                busy.stream([frame], pace=False)
                time.sleep(0.3)
            message = json.loads(idle.recv(timeout=10))
            assert message["type"] == "error" and message["code"] == "idle_timeout" and message["frame"] is None
            with pytest.raises(ConnectionClosed) as closed:
                idle.recv(timeout=10)
            assert closed.value.rcvd.code == 4408
            assert time.monotonic() - started < 5
            assert busy.stream([frame], pace=False)[0]["type"] == "result"
            with StreamClient(server.url) as third:  # the idle one's place is free again
                assert third.stream([frame], pace=False)[0]["type"] == "result"


def decompression_bomb_jpeg(side: int = 30000) -> bytes:
    """A small valid JPEG whose header declares side x side pixels."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def test_bombs_and_nested_json_get_an_error_reply_not_a_crash(server):
    bomb = decompression_bomb_jpeg()
    assert len(bomb) < 1000
    with server_log() as log, StreamClient(server.url) as stream:
        stream.send_frame(bomb)
        stream.send_text("[" * 100_000)
        stream.send_text('{"type": "ping", "pad": "' + "x" * 2000 + '"}')  # over the text size limit
        stream.send_text('{"type": "ping", "deep": ' + "[" * 400 + "]" * 400 + "}")  # small enough: parsed
        stream.wait_for_replies()
        for _ in range(3):
            stream.receive()
        assert stream.replies[0]["type"] == "error" and stream.replies[0]["code"] == "frame_size"
        assert [message.get("code") or message["type"] for message in stream.other] == [
            "bad_message", "bad_message", "pong"]
        assert stream.stream([motion_frames(2, 1)[0]])[0]["type"] == "result"  # the stream goes on
    assert not log.tracebacks(), [record.getMessage() for record in log.tracebacks()][:2]


def test_text_that_is_not_utf8_closes_with_1007_and_one_log_line(server):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with server_log() as log:
        for _ in range(12):
            with connect(ws_url(server.url)) as ws:
                ws.recv(timeout=10)  # hello
                ws.send(b"\xff\xfe not utf-8", text=True)
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        ws.recv(timeout=10)
                assert closed.value.rcvd.code == 1007
        time.sleep(0.2)
    assert not log.tracebacks(), [record.getMessage() for record in log.tracebacks()][:2]
    lines = [line for line in log.lines() if "UTF-8" in line]
    assert 1 <= len(lines) <= 5, log.lines()  # rate-limited
    assert health(server.url)["status"] == "ok"


def shutdown_client(url: str, frame: bytes, ready: threading.Barrier, out: list, index: int) -> None:
    """Streams with 2 frames in flight until the server stops; stops sending once told `server_shutdown`."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    sent, replies, close_code, stop_sending = 0, [], None, False
    with connect(ws_url(url), max_size=None) as ws:
        json.loads(ws.recv(timeout=30))  # hello
        ready.wait(30)
        try:
            while True:
                while not stop_sending and sent - len(replies) < 2:
                    ws.send(frame)
                    sent += 1
                message = json.loads(ws.recv(timeout=30))
                if message.get("frame") is not None:
                    replies.append(message)
                    stop_sending = stop_sending or message.get("code") == "server_shutdown"
        except ConnectionClosed as closed:
            close_code = closed.rcvd.code if closed.rcvd else None
    out[index] = (sent, replies, close_code)


def test_every_frame_gets_one_reply_at_shutdown(onnx_served):
    from movinet.serve import ServeSettings, ServerThread, StreamLimits, create_app

    settings = ServeSettings(streams=StreamLimits(rate_limit=False))
    frame = encode_frame(motion_frames(8, 1)[0])
    clients = 4
    out: list = [None] * clients
    ready = threading.Barrier(clients + 1)
    server = ServerThread(create_app(onnx_served, settings), settings).start()
    threads = [threading.Thread(target=shutdown_client, args=(server.url, frame, ready, out, i), daemon=True)
               for i in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait(30)
    time.sleep(1.0)  # streaming
    server.stop()
    for thread in threads:
        thread.join(30)
    assert all(result is not None for result in out), "a client did not finish"
    shutdown_replies = 0
    for sent, replies, close_code in out:
        assert sorted(reply["frame"] for reply in replies) == list(range(sent)), "a frame got no reply, or two"
        assert [reply["frame"] for reply in replies] == list(range(sent)), "replies out of order"
        kinds = [reply.get("code") or reply["type"] for reply in replies]
        assert set(kinds) <= {"result", "server_shutdown"}
        first = kinds.index("server_shutdown") if "server_shutdown" in kinds else len(kinds)
        assert set(kinds[first:]) <= {"server_shutdown"}  # no result after the first server_shutdown
        shutdown_replies += len(kinds) - first
        assert close_code == 1012
    assert shutdown_replies >= 1

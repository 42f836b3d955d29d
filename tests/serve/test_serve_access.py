"""Who may use a server: pages from other sites cannot, a rebound DNS name cannot, and a server that
is not on loopback needs its token (except /health)."""

from __future__ import annotations

import json

import pytest

from movinet.serve.access import AccessError, AccessPolicy, access_policy
from movinet.serve.client import ServeClientError, StreamClient, health, model_info
from tests.serve.conftest import http_request, motion_frames

TOKEN = "s3cret-token-for-tests"


def ws_handshake(url: str, *, origin: str | None = None, host: str | None = None, path: str = "/ws") -> int:
    """The HTTP status a WebSocket handshake gets (101: accepted)."""
    import base64
    import os
    import socket
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    headers = {"Host": host or parts.netloc, "Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), "Sec-WebSocket-Version": "13"}
    if origin is not None:
        headers["Origin"] = origin
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall((f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                      + "\r\n").encode())
        return int(sock.recv(4096).split()[1])


def test_ws_refuses_pages_from_other_origins(server):
    own = server.url  # http://127.0.0.1:PORT
    assert ws_handshake(server.url, origin=own) == 101
    assert ws_handshake(server.url, origin=own.replace("127.0.0.1", "localhost"),
                        host=server.url.split("//")[1].replace("127.0.0.1", "localhost")) == 101
    for origin in ("http://evil.example", "http://evil.example:" + own.rsplit(":", 1)[1], "null",
                   "http://127.0.0.1:1", "file://"):
        assert ws_handshake(server.url, origin=origin) == 403, origin
    assert ws_handshake(server.url) == 101  # no Origin: not a browser (the Python client, curl)


def test_other_sites_cannot_post_uploads(server):
    boundary = "x"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n"
            f"abc\r\n--{boundary}--\r\n")
    status, raw = http_request(server.url, "POST", "/predict", body.encode(),
                               {"Content-Type": f"multipart/form-data; boundary={boundary}",
                                "Origin": "http://evil.example"})
    assert status == 403 and "--allow_origin" in json.loads(raw)["error"]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "attacker.test.", "192.0.2.1"])
def test_a_rebound_dns_name_is_refused(server, host):
    status, raw = http_request(server.url, "GET", "/model", headers={"Host": host})
    assert status == 400 and "--allow_host" in json.loads(raw)["error"]
    assert ws_handshake(server.url, host=host) == 400


def test_allowed_origins_and_hosts(onnx_served):
    from movinet.serve import ServeSettings, ServerThread, create_app

    policy = access_policy("127.0.0.1", allow_hosts=["movinet.example"], allow_origins=["https://app.example/"])
    settings = ServeSettings(access=policy)
    with ServerThread(create_app(onnx_served, settings), settings) as server:
        assert ws_handshake(server.url, origin="https://app.example") == 101
        assert ws_handshake(server.url, origin="https://other.example") == 403
        assert http_request(server.url, "GET", "/model", headers={"Host": "movinet.example:8000"})[0] == 200
        assert http_request(server.url, "GET", "/model", headers={"Host": "other.example"})[0] == 400


def test_a_token_guards_every_route_but_health(onnx_served):
    from movinet.serve import ServeSettings, ServerThread, create_app

    settings = ServeSettings(access=AccessPolicy(token=TOKEN))
    with ServerThread(create_app(onnx_served, settings), settings) as server:
        assert health(server.url)["status"] == "ok"  # open: load balancers and probes have no token
        for path in ("/", "/model", "/static/app.js", "/model?token=wrong"):
            status, raw = http_request(server.url, "GET", path)
            assert status == 401 and "token" in json.loads(raw)["error"], path
        assert http_request(server.url, "POST", "/predict", b"abc")[0] == 401
        with pytest.raises(ServeClientError):
            StreamClient(server.url)
        assert ws_handshake(server.url, path="/ws?token=wrong") == 401

        # The printed URL (?token=) opens the page and sets the cookie its script's requests carry.
        import http.client
        import urllib.parse

        parts = urllib.parse.urlsplit(server.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.request("GET", f"/?token={TOKEN}")
        response = connection.getresponse()
        response.read()
        cookie = response.getheader("set-cookie")
        assert response.status == 200 and TOKEN in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        connection.close()
        assert http_request(server.url, "GET", "/model", headers={"Cookie": cookie.split(";")[0]})[0] == 200
        assert http_request(server.url, "GET", "/static/app.js", headers={"Cookie": cookie.split(";")[0]})[0] == 200
        assert http_request(server.url, "GET", "/model", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
        assert model_info(f"{server.url}/?token={TOKEN}")["num_classes"] == 7
        with StreamClient(server.url, token=TOKEN) as stream:
            assert stream.stream([motion_frames(1, 1)[0]])[0]["type"] == "result"
        with StreamClient(f"{server.url}/?token={TOKEN}") as stream:  # the printed URL as it is
            assert stream.hello["type"] == "hello"


def test_only_a_loopback_server_goes_without_a_token():
    assert access_policy("127.0.0.1").token is None
    assert access_policy("localhost", bound_address="::1").token is None
    generated = access_policy("0.0.0.0").token
    assert generated and len(generated) >= 32 and generated != access_policy("0.0.0.0").token
    assert access_policy("192.0.2.7", bound_address="192.0.2.7").token  # a LAN address: a token
    assert access_policy("0.0.0.0", token="mine").token == "mine"
    assert access_policy("0.0.0.0", no_token=True).token is None  # the explicit opt-out
    assert access_policy("127.0.0.1", token="mine").token == "mine"  # asked for on loopback too
    with pytest.raises(AccessError, match="contradict"):
        access_policy("0.0.0.0", token="mine", no_token=True)
    with pytest.raises(AccessError, match="empty"):
        AccessPolicy(token="")
    wildcard = access_policy("0.0.0.0")
    assert wildcard.host_allowed("localhost:8000") and wildcard.host_allowed("127.0.0.1")
    assert wildcard.host_allowed("10.1.2.3:8000", local_address="10.1.2.3")  # the address it was reached at
    assert not wildcard.host_allowed("evil.example", local_address="10.1.2.3")
    lan = access_policy("192.0.2.7", bound_address="192.0.2.7")
    assert lan.host_allowed("192.0.2.7:8000") and not lan.host_allowed("localhost")


def test_serve_prints_the_url_with_its_token(onnx_file, monkeypatch):
    """`movinet serve` with a token (here from the environment, on loopback: no wildcard bind in tests)
    prints the URL that opens the page, and refuses requests without it."""
    from tests.serve.test_serve_cli import start_serve, wait_for_url

    monkeypatch.setenv("MOVINET_SERVE_TOKEN", TOKEN)
    process = start_serve("--model_file", str(onnx_file), "--port", "0", "--threads", "1", "--fps", "10")
    try:
        url = wait_for_url(process)
        assert url.endswith(f"/?token={TOKEN}")
        base = url.split("/?")[0]
        assert http_request(base, "GET", "/model")[0] == 401
        assert model_info(url)["num_classes"] == 7
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_serve_refuses_contradictory_token_options(onnx_file, capsys):
    from movinet.cli import main

    assert main(["serve", "--model_file", str(onnx_file), "--port", "0", "--token", "x", "--no_token"]) == 2
    assert "contradict" in capsys.readouterr().err

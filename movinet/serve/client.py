"""A small Python client of `movinet serve`: the HTTP API and WebSocket streams.

    from movinet.serve.client import StreamClient, model_info, predict_file

    print(model_info("http://127.0.0.1:8000")["labels"][:5])     # a token: token="..." or the URL's ?token=
    print(predict_file("http://127.0.0.1:8000", "clip.mp4", top_k=5))       # as `movinet predict --json`
    with StreamClient("http://127.0.0.1:8000") as stream:
        replies = stream.stream(frames)              # (H, W, 3) uint8 frames, paced at the server's fps
        print(replies[-1]["top_k"][0]["label"])

Frames are sent as PNG (lossless, so a stream gets exactly the pixels it was given) or JPEG.
Needs only `websockets` (installed with movinet) and the standard library.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

FRAME_REPLIES = ("result", "dropped", "error")


class ServeClientError(OSError):
    """The server refused a request or is not reachable.

    Attributes:
        status: the HTTP status (None when there was no response).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _http(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None, token: str | None = None,
          timeout: float = 60.0) -> tuple[int, dict[str, Any]]:
    method = "POST" if data is not None else "GET"
    request = urllib.request.Request(url, data=data, headers={**(headers or {}), **_auth(token)}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            body = json.loads(error.read())
        except (json.JSONDecodeError, OSError):
            body = {"error": error.reason}
        return error.code, body
    except (urllib.error.URLError, OSError) as error:
        raise ServeClientError(f"cannot reach {url}: {getattr(error, 'reason', error)}") from None


def _base(url: str) -> str:
    """The server's root URL, without a query (a token in it is taken by `_token`)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")).rstrip("/")


def _token(url: str, token: str | None) -> str | None:
    """The token given, else the one in the URL `movinet serve` printed (`.../?token=...`)."""
    if token is not None:
        return token
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("token")
    return values[-1] if values else None


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def health(url: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """`GET /health` (needs no token)."""
    status, body = _http(_base(url) + "/health", timeout=timeout)
    if status != 200:
        raise ServeClientError(f"/health answered {status}: {body.get('error')}", status)
    return body


def model_info(url: str, *, token: str | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """`GET /model`: name, labels, preprocessing, stream fps, frame rules."""
    status, body = _http(_base(url) + "/model", token=_token(url, token), timeout=timeout)
    if status != 200:
        raise ServeClientError(f"/model answered {status}: {body.get('error')}", status)
    return body


def predict_file(url: str, path: str | os.PathLike, *, top_k: int = 1, token: str | None = None,
                 timeout: float = 300.0) -> dict[str, Any]:
    """`POST /predict` of a video file.

    Returns:
        The `movinet predict --json` record: {"file", "top_k": [{"class", "label", "score"}], "timings"},
        or {"file", "error"} when the server could not decode the video.

    Raises:
        ServeClientError: the upload was refused (too large: status 413; bad request: 400).
    """
    path = Path(path)
    query = urllib.parse.urlencode({"top_k": top_k})
    status, body = _http(f"{_base(url)}/predict?{query}", data=path.read_bytes(), timeout=timeout,
                         token=_token(url, token),
                         headers={"Content-Type": "application/octet-stream", "X-Filename": path.name})
    if status not in (200, 422):
        raise ServeClientError(f"/predict answered {status}: {body.get('error')}", status)
    return body


def encode_frame(frame: np.ndarray, image_format: str = "png", quality: int = 90) -> bytes:
    """(H, W, 3) uint8 RGB -> PNG or JPEG bytes, one frame message."""
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8))
    if image_format == "png":
        image.save(buffer, format="PNG", compress_level=1)
    elif image_format in ("jpeg", "jpg"):
        image.save(buffer, format="JPEG", quality=quality)
    else:
        raise ValueError(f"image_format must be 'png' or 'jpeg', got {image_format!r}")
    return buffer.getvalue()


def ws_url(url: str, top_k: int | None = None) -> str:
    """The stream endpoint of a server URL: http://host:port -> ws://host:port/ws[?top_k=K]."""
    parts = urllib.parse.urlsplit(_base(url))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path.endswith("/ws") else parts.path + "/ws"
    query = urllib.parse.urlencode({"top_k": top_k}) if top_k is not None else ""
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, query, ""))


class StreamClient:
    """One WebSocket stream: its own model state on the server, one reply per frame.

    Args:
        url: the server (http://host:port) or its ws://host:port/ws endpoint.
        top_k: classes per result (default: the server's).
        token: the server's access token (default: the one in `url`, if any).
        image_format: "png" (lossless) or "jpeg" for numpy frames.
        timeout: seconds to wait for the connection and for each reply.

    Raises:
        ServeClientError: the connection failed, or the server refused the stream (too many streams).
    """

    def __init__(self, url: str, *, top_k: int | None = None, token: str | None = None, image_format: str = "png",
                 timeout: float = 30.0) -> None:
        from websockets.exceptions import InvalidHandshake, InvalidURI
        from websockets.sync.client import connect

        self.url, self.image_format, self.timeout = ws_url(url, top_k), image_format, timeout
        self._exit = contextlib.ExitStack()  # websockets wants its connection used as a context manager
        try:
            self._ws = self._exit.enter_context(connect(self.url, open_timeout=timeout, max_size=None,
                                                        max_queue=4096, additional_headers=_auth(_token(url, token))))
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
            raise ServeClientError(f"cannot open a stream at {self.url}: {error}") from None
        self.frames_sent = 0
        self.replies: dict[int, dict[str, Any]] = {}  # frame index -> its reply
        self.other: list[dict[str, Any]] = []  # messages not about a frame (reset, pong, stream errors)
        first = self.receive()
        if first.get("type") != "hello":
            self.close()
            raise ServeClientError(f"the server refused the stream: {first.get('message', first)}")
        self.hello: dict[str, Any] = first
        self.fps: float = float(first["fps"])

    # -- low level -------------------------------------------------------------------------------

    def send_frame(self, frame: np.ndarray | bytes) -> int:
        """Send one frame (a (H, W, 3) uint8 array or already encoded bytes); returns its index."""
        data = frame if isinstance(frame, (bytes, bytearray)) else encode_frame(frame, self.image_format)
        self._ws.send(bytes(data))
        self.frames_sent += 1
        return self.frames_sent - 1

    def send_text(self, text: str) -> None:
        self._ws.send(text)

    def reset(self) -> None:
        """Start a fresh stream state (applies after the frames already sent)."""
        self._ws.send(json.dumps({"type": "reset"}))

    def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message, filed under `replies` (frame replies) or `other`.

        Raises:
            ServeClientError: nothing within the timeout, or the server closed the stream.
        """
        from websockets.exceptions import ConnectionClosed

        try:
            message = json.loads(self._ws.recv(timeout=self.timeout if timeout is None else timeout))
        except TimeoutError:
            raise ServeClientError(f"no message from {self.url} within {timeout or self.timeout:g} s") from None
        except ConnectionClosed as error:
            raise ServeClientError(f"the server closed the stream ({error.rcvd.code if error.rcvd else 'no code'}"
                                   f"{': ' + error.rcvd.reason if error.rcvd and error.rcvd.reason else ''})") from None
        if message.get("type") in FRAME_REPLIES and message.get("frame") is not None:
            self.replies[int(message["frame"])] = message
        elif message.get("type") != "hello":
            self.other.append(message)
        return message

    @property
    def unanswered(self) -> int:
        return self.frames_sent - len(self.replies)

    def wait_for_replies(self, max_unanswered: int = 0, timeout: float | None = None) -> None:
        """Receive until at most `max_unanswered` frames wait for their reply."""
        while self.unanswered > max_unanswered:
            self.receive(timeout)

    # -- streaming -------------------------------------------------------------------------------

    def stream(self, frames: Iterable[np.ndarray | bytes], *, fps: float | None = None, pace: bool = True,
               max_in_flight: int | None = 4) -> list[dict[str, Any]]:
        """Send frames and collect one reply per frame.

        Args:
            frames: (H, W, 3) uint8 RGB arrays or encoded images.
            fps: sending rate when pacing (default: the server's stream rate, from the hello).
            pace: send at `fps` in real time, as a camera would; False sends as fast as allowed.
            max_in_flight: most frames awaiting their reply (None: no limit, e.g. to flood).

        Returns:
            The replies of these frames ("result", "dropped" or "error" messages), in frame order.
        """
        rate = fps or self.fps
        first = self.frames_sent
        started = time.monotonic()
        for count, frame in enumerate(frames):
            if pace:
                delay = started + count / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if max_in_flight is not None:
                self.wait_for_replies(max_in_flight - 1)
            self.send_frame(frame)
        self.wait_for_replies(0)
        return [self.replies[index] for index in range(first, self.frames_sent)]

    def close(self) -> None:
        self._exit.close()

    def __enter__(self) -> StreamClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

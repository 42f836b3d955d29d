"""Running the app with uvicorn: `movinet serve` in the foreground, or a background thread.

    serve("export/movinet_a0_stream.onnx", host="127.0.0.1", port=8000)   # blocks; Ctrl-C / SIGTERM stop it

    with ServerThread(create_app(model)) as server:                         # tests, notebooks, benchmarks
        print(server.url)                                                   # http://127.0.0.1:PORT

Uvicorn installs the SIGINT/SIGTERM handlers in the foreground case: open streams answer the frames
they hold (`server_shutdown`) and are closed with 1012 (service restart), the scheduler stops, and
the process exits 0. A server not on loopback needs a token (`access.py`), printed in its URL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any, TextIO

from movinet.limits import check_rate
from movinet.serve.access import TOKEN_ENV, AccessError, AccessPolicy, access_policy, is_loopback, is_wildcard
from movinet.serve.app import ServeSettings, create_app
from movinet.serve.model import ServedModel
from movinet.serve.protocol import guarded_protocol

SHUTDOWN_GRACE_S = 5


class ServeError(ValueError):
    """The server cannot start (address in use, bad host)."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one).

    Raises:
        ServeError: the address cannot be bound.
    """
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ServeError(f"cannot resolve --host {host!r}: {error}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror or error}; choose another --port "
                         "(or --port 0 for a free one)") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def _uvicorn_server(app: Any, settings: ServeSettings | None, log_level: str) -> Any:
    import uvicorn

    server = getattr(getattr(app, "state", None), "server", None)  # the app's `_Server`, when it is ours
    settings = settings or (server.settings if server is not None else ServeSettings())
    protocol = guarded_protocol(write_stall_timeout_s=settings.write_stall_timeout_s,
                                drain_hook=server.begin_shutdown if server is not None else None)
    config = uvicorn.Config(app, ws=protocol, ws_max_size=settings.ws_max_size, log_level=log_level, lifespan="on",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S, access_log=log_level == "debug")
    return uvicorn.Server(config)


def serve(model_file: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8000,
          settings: ServeSettings | None = None, use_gpu: bool = False, num_threads: int | None = None,
          fps: float | None = None, token: str | None = None, no_token: bool = False,
          allow_hosts: Sequence[str] = (), allow_origins: Sequence[str] = (), log_level: str = "warning",
          out: TextIO | None = None) -> None:
    """Serve a stream model until Ctrl-C or SIGTERM (`movinet serve`).

    Args:
        model_file: a stream `.onnx` export (with its sidecar) or stream `.safetensors` weights.
        host / port: where to listen (port 0: a free port); 127.0.0.1 unless told otherwise.
        settings: limits and batching (its `access` is replaced by the one made from the arguments below).
        use_gpu: CUDA (ONNX Runtime CUDA provider or torch "cuda").
        num_threads: CPU threads of the model.
        fps: classify streams at this rate instead of the model's training rate.
        token: the access token (default $MOVINET_SERVE_TOKEN; generated when the server is not on loopback).
        no_token: serve without a token even when not on loopback.
        allow_hosts / allow_origins: more names the server answers to / pages that may use it.
        log_level: uvicorn's log level.
        out: where the URL is printed (stdout).

    Raises:
        ServeError: the address cannot be bound.
        AccessError: contradictory token options.
        ValueError: `fps` is not a frame rate (`movinet.limits.check_rate`).
        PredictorError / FileNotFoundError: the model cannot be loaded or is not a stream model.
    """
    if fps is not None:
        check_rate(fps, "fps")
    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
    if no_token and token is not None:
        raise AccessError(f"--no_token contradicts --token / ${TOKEN_ENV}; give one of them")
    settings = settings or ServeSettings()
    model = ServedModel.load(model_file, use_gpu=use_gpu, num_threads=num_threads, fps=fps)
    sock = bind_socket(host, port)
    try:
        policy = access_policy(host, bound_address=sock.getsockname()[0], token=token, no_token=no_token,
                               allow_hosts=allow_hosts, allow_origins=allow_origins)
    except AccessError:
        sock.close()
        raise
    settings = replace(settings, access=policy)
    out = out or sys.stdout
    prep = model.preprocessing
    print(f"movinet serve: {model.name} ({model.backend}, {model.num_classes} classes, "
          f"{prep.height}x{prep.width} px at {model.fps:g} fps), up to {settings.max_streams} streams, "
          f"batches of up to {settings.max_batch}", file=out, flush=True)
    for line in startup_lines(sock, policy, token_given=token is not None):
        print(f"movinet serve: {line}", file=out, flush=True)
    server = _uvicorn_server(create_app(model, settings), settings, log_level)
    with _stop_signals_end_cleanly():
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
    print("movinet serve: stopped", file=out, flush=True)


def startup_lines(sock: socket.socket, policy: AccessPolicy, *, token_given: bool) -> list[str]:
    """What `movinet serve` prints about where to open it: the URL (with the token in it, like
    Jupyter, when one is needed) and a warning for a server anyone on the network may use."""
    address = sock.getsockname()[0]
    query = f"?token={policy.token}" if policy.token else ""
    urls = [url_of(sock)]
    if is_wildcard(address):
        port = sock.getsockname()[1]
        urls = [f"http://{socket.gethostname()}:{port}", f"http://127.0.0.1:{port}"]
    lines = [f"open {urls[0]}/{query}  (Ctrl-C to stop)"] + [f"   or {url}/{query}" for url in urls[1:]]
    if policy.token and not token_given:
        lines.append(f"the token was generated for this run; set ${TOKEN_ENV} or --token to choose it")
    if policy.token is None and not is_loopback(address):
        lines.append(f"warning: no token (--no_token): anyone who can reach {address} can use this server")
    return lines
@contextlib.contextmanager
def _stop_signals_end_cleanly() -> Iterator[None]:
    """Uvicorn shuts down on SIGINT/SIGTERM, then re-raises the signal to the handler it found; a
    no-op handler here makes Ctrl-C and SIGTERM a clean stop (exit 0) instead of a kill."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in stops}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ServerThread:
    """Uvicorn serving `app` on 127.0.0.1 (a free port) in a background thread.

    Args:
        app: the ASGI app (`create_app`).
        settings: the app's settings (for the WebSocket message size limit).
        host / port: where to listen.
        start_timeout: seconds to wait for the server to come up.
    """

    def __init__(self, app: Any, settings: ServeSettings | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 start_timeout: float = 30.0, log_level: str = "warning") -> None:
        self.sock = bind_socket(host, port)
        self.url = url_of(self.sock)
        self.ws_url = "ws" + self.url[len("http"):] + "/ws"
        self._server = _uvicorn_server(app, settings, log_level)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.sock]},
                                        name="movinet-serve", daemon=True)
        self.start_timeout = start_timeout

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ServeError(f"the server at {self.url} did not start within {self.start_timeout:g} s")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = SHUTDOWN_GRACE_S + 5) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

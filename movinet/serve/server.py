"""Running the app with uvicorn: `movinet serve` in the foreground, or a background thread.

    serve("export/movinet_a0_stream.onnx", host="127.0.0.1", port=8000)   # blocks; Ctrl-C / SIGTERM stop it

    with ServerThread(create_app(model)) as server:                         # tests, notebooks, benchmarks
        print(server.url)                                                   # http://127.0.0.1:PORT

Uvicorn installs the SIGINT/SIGTERM handlers in the foreground case: open streams are closed with
1012 (service restart), the scheduler stops, and the process exits 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from movinet.serve.app import ServeSettings, create_app
from movinet.serve.model import ServedModel

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


def _uvicorn_server(app: Any, settings: ServeSettings, log_level: str) -> Any:
    import uvicorn

    config = uvicorn.Config(app, ws_max_size=settings.ws_max_size, log_level=log_level, lifespan="on",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S, access_log=log_level == "debug")
    return uvicorn.Server(config)


def serve(model_file: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 8000,
          settings: ServeSettings | None = None, use_gpu: bool = False, num_threads: int | None = None,
          fps: float | None = None, log_level: str = "warning", out: TextIO | None = None) -> None:
    """Serve a stream model until Ctrl-C or SIGTERM (`movinet serve`).

    Args:
        model_file: a stream `.onnx` export (with its sidecar) or stream `.safetensors` weights.
        host / port: where to listen (port 0: a free port); 127.0.0.1 unless told otherwise.
        settings: limits and batching.
        use_gpu: CUDA (ONNX Runtime CUDA provider or torch "cuda").
        num_threads: CPU threads of the model.
        fps: classify streams at this rate instead of the model's training rate.
        log_level: uvicorn's log level.
        out: where the URL is printed (stdout).

    Raises:
        ServeError: the address cannot be bound.
        PredictorError / FileNotFoundError: the model cannot be loaded or is not a stream model.
    """
    settings = settings or ServeSettings()
    model = ServedModel.load(model_file, use_gpu=use_gpu, num_threads=num_threads, fps=fps)
    sock = bind_socket(host, port)
    out = out or sys.stdout
    prep = model.preprocessing
    print(f"movinet serve: {model.name} ({model.backend}, {model.num_classes} classes, "
          f"{prep.height}x{prep.width} px at {model.fps:g} fps), up to {settings.max_streams} streams, "
          f"batches of up to {settings.max_batch}", file=out, flush=True)
    print(f"movinet serve: open {url_of(sock)}/  (Ctrl-C to stop)", file=out, flush=True)
    server = _uvicorn_server(create_app(model, settings), settings, log_level)
    with _stop_signals_end_cleanly():
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
    print("movinet serve: stopped", file=out, flush=True)


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
        self._server = _uvicorn_server(app, settings or ServeSettings(), log_level)
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

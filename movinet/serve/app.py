"""The ASGI application of `movinet serve` (Starlette): the page, the HTTP API and the WebSocket.

    app = create_app(ServedModel.load("export/movinet_a0_stream.onnx"), ServeSettings())

Routes:
    GET  /            the live page (static/index.html); /static/* its script and style
    GET  /health      {"status": "ok", streams, scheduler counters, ...} (open without the token)
    GET  /model       name, labels, preprocessing, stream fps
    POST /predict     a video upload (raw body or multipart field "file") -> the `movinet predict --json` record
    WS   /ws          a stream: binary messages are frames, replies are JSON (see `connection.py`)

Every route but /health sits behind `access.AccessGuard` (Host, Origin, token). An upload is one
video: its body is read within `upload_timeout_s` into a private folder under a fixed name, then it
takes one of `max_concurrent_uploads` slots; it is decoded in a worker thread as that single file
(`ServedModel.load_upload`), and its frames are stepped through the streams' batch scheduler.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from movinet.data.video import VideoDecodeError
from movinet.serve.access import AccessGuard, AccessPolicy
from movinet.serve.batching import BatchScheduler, SchedulerStopped
from movinet.serve.connection import (CLOSE_SERVICE_RESTART, CLOSE_TRY_AGAIN_LATER, StreamConnection,
                                      StreamLimits)
from movinet.serve.frames import FrameLimits
from movinet.serve.model import ServedModel
from movinet.serve.protocol import CLIENT_LOG

STATIC_DIR = Path(__file__).resolve().parent / "static"
UPLOAD_NAME = "video"  # every upload is stored under this name: the client's name never reaches FFmpeg
_CHUNK = 1 << 16


@dataclass(frozen=True)
class ServeSettings:
    """Limits, batching and access of a server.

    Attributes:
        max_streams: concurrent WebSocket streams; one more gets `too_many_streams` and close 1013.
        max_streams_per_client: concurrent streams from one client address (`too_many_client_streams`, 1013).
        max_batch: most streams per model call (1 disables batching).
        batch_window_ms: how long a step waits for other streams' steps to join its call.
        top_k: classes per result (a client may ask for fewer or more with `/ws?top_k=K`).
        max_upload_bytes: largest `POST /predict` body.
        max_concurrent_uploads: uploads decoded and classified at once; more wait (once their body is in).
        max_receiving_uploads: upload bodies being received at once; more are refused (503).
        upload_timeout_s: an upload body must arrive within this time (408 otherwise).
        write_stall_timeout_s: a WebSocket client whose replies pile up unread this long is closed.
        frames: what a frame message may be (bytes, sides).
        streams: per-stream flood control and idle timeout.
        access: Host, Origin and token rules (`access.access_policy`); the default serves loopback.
    """

    max_streams: int = 32
    max_streams_per_client: int = 8
    max_batch: int = 16
    batch_window_ms: float = 4.0
    top_k: int = 5
    max_upload_bytes: int = 100 * 1024 * 1024
    max_concurrent_uploads: int = 2
    max_receiving_uploads: int = 8
    upload_timeout_s: float = 60.0
    write_stall_timeout_s: float = 30.0
    frames: FrameLimits = field(default_factory=FrameLimits)
    streams: StreamLimits = field(default_factory=StreamLimits)
    access: AccessPolicy = field(default_factory=AccessPolicy)

    def __post_init__(self) -> None:
        for name in ("max_streams", "max_streams_per_client", "max_batch", "top_k", "max_upload_bytes",
                     "max_concurrent_uploads", "max_receiving_uploads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("upload_timeout_s", "write_stall_timeout_s"):
            if not 0 < getattr(self, name) < float("inf"):
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)}")
        if not 0 <= self.batch_window_ms < float("inf"):
            raise ValueError(f"batch_window_ms must be >= 0, got {self.batch_window_ms}")

    @property
    def ws_max_size(self) -> int:
        """The WebSocket message size at which the server closes a connection (1009): well above
        the frame limit, so that an oversized frame normally gets an error reply instead."""
        return 4 * self.frames.max_bytes + _CHUNK


class UploadTooLarge(ValueError):
    """A `POST /predict` body over `max_upload_bytes`."""


class UploadTimeout(ValueError):
    """A `POST /predict` body that did not arrive within `upload_timeout_s`."""


class _Server:
    """What the routes share: the model, the scheduler, the open streams, the uploads."""

    def __init__(self, model: ServedModel, settings: ServeSettings) -> None:
        self.model, self.settings = model, settings
        self.scheduler = BatchScheduler(model, max_batch=settings.max_batch, window_s=settings.batch_window_ms / 1000)
        self.streams: set[StreamConnection] = set()
        self.streams_of: dict[str, int] = {}  # client address -> open streams
        self.started = time.time()
        self.uploads = asyncio.Semaphore(settings.max_concurrent_uploads)
        self.receiving = 0  # upload bodies being received
        self.classifying = 0  # uploads whose frames are in the scheduler
        self.frames_dropped = 0
        self.draining = False

    def begin_shutdown(self) -> None:
        """The server is stopping (called by the WebSocket protocol): every stream answers the
        frames it holds with `server_shutdown` and closes with 1012."""
        self.draining = True
        for connection in list(self.streams):
            connection.begin_shutdown()

    def _count_active(self) -> None:
        self.scheduler.active_streams = len(self.streams) + self.classifying

    # -- routes ----------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    async def health(self, request: Request) -> Response:
        status = "ok" if self.scheduler.running and not self.draining else "stopping"
        return JSONResponse({"status": status, "model": self.model.name,
                             "streams": len(self.streams), "max_streams": self.settings.max_streams,
                             "uploads": {"receiving": self.receiving, "classifying": self.classifying},
                             "uptime_s": round(time.time() - self.started, 1),
                             "scheduler": self.scheduler.stats.to_dict(),
                             "frames_dropped": self.frames_dropped + sum(s.dropped for s in self.streams)})

    async def model_info(self, request: Request) -> Response:
        return JSONResponse({**self.model.describe(),
                             "frame": {**self.settings.frames.to_dict(),
                                       "send_short_side": self.model.preprocessing.resize}})

    async def predict(self, request: Request) -> Response:
        try:
            top_k = _top_k(request.query_params.get("top_k", "1"), self.model.num_classes)
        except ValueError as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        settings = self.settings
        if self.draining:
            return JSONResponse({"error": "the server is shutting down"}, status_code=503)
        if self.receiving >= settings.max_receiving_uploads:
            return JSONResponse({"error": f"{self.receiving} uploads are already arriving; try again later"},
                                status_code=503, headers={"Retry-After": "5"})
        folder = Path(tempfile.mkdtemp(prefix="movinet-serve-"))
        name = "upload"
        try:
            path, name = await self._receive_upload(request, folder)
            async with self.uploads:  # a slot only once the whole body is in
                record = await self._classify_upload(path, name, top_k)
            return JSONResponse(record)
        except UploadTimeout as error:
            return JSONResponse({"error": str(error)}, status_code=408)
        except ClientDisconnect:
            CLIENT_LOG.warning("upload_disconnect", f"a client ({_client_address(request)}) left during its upload")
            return Response(status_code=400)
        except UploadTooLarge as error:
            return JSONResponse({"error": str(error)}, status_code=413)
        except SchedulerStopped as error:
            return JSONResponse({"error": str(error)}, status_code=503)
        except VideoDecodeError as error:
            return JSONResponse({"file": name, "error": _without_paths(str(error), folder, name)}, status_code=422)
        except ValueError as error:
            return JSONResponse({"error": _without_paths(str(error), folder, name)}, status_code=400)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def _receive_upload(self, request: Request, folder: Path) -> tuple[Path, str]:
        """The body, saved into `folder` within `upload_timeout_s`. -> (path, the client's name)."""
        settings = self.settings
        self.receiving += 1
        try:
            return await asyncio.wait_for(_save_upload(request, folder, settings.max_upload_bytes),
                                          settings.upload_timeout_s)
        except asyncio.TimeoutError:
            raise UploadTimeout(f"the upload did not arrive within {settings.upload_timeout_s:g} s "
                                "(--upload_timeout)") from None
        finally:
            self.receiving -= 1

    async def _classify_upload(self, path: Path, name: str, top_k: int) -> dict[str, Any]:
        """Decode in a worker thread, then step the frames through the scheduler: the predict record."""
        clip, timings = await asyncio.to_thread(self.model.load_upload, path)
        self.classifying += 1
        self._count_active()
        try:
            logits, model_seconds = await self.scheduler.classify_clip(clip)
        finally:
            self.classifying -= 1
            self._count_active()
        return self.model.upload_record(name, logits, {**timings, "model": model_seconds}, top_k)

    async def stream(self, websocket: WebSocket) -> None:
        await websocket.accept()
        settings = self.settings
        try:
            default = str(min(settings.top_k, self.model.num_classes))
            top_k = _top_k(websocket.query_params.get("top_k", default), self.model.num_classes)
        except ValueError as error:
            await _refuse_stream(websocket, "bad_request", str(error), 1008)
            return
        client = websocket.client.host if websocket.client else "unknown"
        if self.draining:
            await _refuse_stream(websocket, "server_shutdown", "the server is shutting down", CLOSE_SERVICE_RESTART)
            return
        if len(self.streams) >= settings.max_streams:
            await _refuse_stream(websocket, "too_many_streams", f"the server serves at most {settings.max_streams} "
                                 "streams at once; try again later", CLOSE_TRY_AGAIN_LATER)
            return
        if self.streams_of.get(client, 0) >= settings.max_streams_per_client:
            await _refuse_stream(websocket, "too_many_client_streams", f"at most {settings.max_streams_per_client} "
                                 "streams per client address; close one first", CLOSE_TRY_AGAIN_LATER)
            return
        connection = StreamConnection(websocket, self.model, self.scheduler, frame_limits=settings.frames,
                                      stream_limits=settings.streams, top_k=top_k, fps=self.model.fps)
        self.streams.add(connection)
        self.streams_of[client] = self.streams_of.get(client, 0) + 1
        self._count_active()
        try:
            await connection.run()
        finally:
            self.streams.discard(connection)
            self.streams_of[client] -= 1
            if not self.streams_of[client]:
                del self.streams_of[client]
            self._count_active()
            self.frames_dropped += connection.dropped

    # -- life ------------------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.scheduler.start()
        try:
            yield
        finally:
            self.begin_shutdown()
            await self.scheduler.stop()


async def _refuse_stream(websocket: WebSocket, code: str, message: str, close_code: int) -> None:
    await websocket.send_json({"type": "error", "frame": None, "code": code, "message": message})
    await websocket.close(close_code, code.replace("_", " "))


def _client_address(request: Request) -> str:
    return f"{request.client.host}:{request.client.port}" if request.client else "unknown address"


def _without_paths(text: str, folder: Path, name: str) -> str:
    """`text` with the upload's server-side path replaced by the client's name for it."""
    return text.replace(str(folder / UPLOAD_NAME), name).replace(str(folder), "(upload)")


def _top_k(text: str, num_classes: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"top_k must be an integer, got {text!r}") from None
    if not 1 <= value <= num_classes:
        raise ValueError(f"top_k must be in [1, {num_classes}], got {value}")
    return value


async def _capped_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body, failing with UploadTooLarge as soon as more than `limit` bytes arrive."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"upload of {int(declared)} bytes is over the limit of {limit} bytes (--max_upload_mb)")
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise UploadTooLarge(f"upload is over the limit of {limit} bytes (--max_upload_mb)")
        yield chunk


async def _save_upload(request: Request, folder: Path, limit: int) -> tuple[Path, str]:
    """Write the uploaded video into `folder` (a temp dir); returns (path, the name to report).

    A multipart/form-data body must carry the video in a field named "file"; any other body is the
    video itself (`X-Filename` may name it). The client's file name is only reported, never used
    as a path.
    """
    content_type = request.headers.get("content-type", "")
    body = _capped_body(request, limit)
    if content_type.startswith("multipart/form-data"):
        from starlette.datastructures import UploadFile
        from starlette.formparsers import MultiPartException, MultiPartParser

        parser = MultiPartParser(request.headers, body, max_files=1, max_fields=8)
        try:
            form = await parser.parse()
        except MultiPartException as error:
            raise ValueError(f"bad multipart upload: {error.message}") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValueError("multipart upload needs the video in a file field named 'file' "
                             "(curl -F file=@video.mp4 ...)")
        name = upload.filename or "upload"
        path = folder / UPLOAD_NAME
        with path.open("wb") as out:
            while chunk := await upload.read(_CHUNK):
                out.write(chunk)
        await upload.close()
        return path, name
    name = request.headers.get("x-filename") or "upload"
    path = folder / UPLOAD_NAME
    size = 0
    with path.open("wb") as out:
        async for chunk in body:
            out.write(chunk)
            size += len(chunk)
    if size == 0:
        raise ValueError("empty upload: send the video as the request body or as multipart field 'file'")
    return path, name


def create_app(model: ServedModel, settings: ServeSettings | None = None) -> Starlette:
    """The Starlette app serving `model` behind its access guard (run it with uvicorn: `movinet.serve.server`)."""
    settings = settings or ServeSettings()
    server = _Server(model, settings)
    routes = [
        Route("/", server.index, methods=["GET"]),
        Route("/health", server.health, methods=["GET"]),
        Route("/model", server.model_info, methods=["GET"]),
        Route("/predict", server.predict, methods=["POST"]),
        WebSocketRoute("/ws", server.stream),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=server.lifespan,
                    middleware=[Middleware(AccessGuard, policy=settings.access)])
    app.state.server = server
    return app

"""The ASGI application of `movinet serve` (Starlette): the page, the HTTP API and the WebSocket.

    app = create_app(ServedModel.load("export/movinet_a0_stream.onnx"), ServeSettings())

Routes:
    GET  /            the live page (static/index.html); /static/* its script and style
    GET  /health      {"status": "ok", streams, scheduler counters, ...}
    GET  /model       name, labels, preprocessing, stream fps
    POST /predict     a video upload (raw body or multipart field "file") -> the `movinet predict --json` record
    WS   /ws          a stream: binary messages are frames, replies are JSON (see `connection.py`)
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from movinet.serve.batching import BatchScheduler, SchedulerStopped
from movinet.serve.connection import CLOSE_TRY_AGAIN_LATER, StreamConnection, StreamLimits
from movinet.serve.frames import FrameLimits
from movinet.serve.model import ServedModel

STATIC_DIR = Path(__file__).resolve().parent / "static"
_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
_CHUNK = 1 << 16


@dataclass(frozen=True)
class ServeSettings:
    """Limits and batching of a server.

    Attributes:
        max_streams: concurrent WebSocket streams; one more gets `too_many_streams` and close 1013.
        max_batch: most streams per model call (1 disables batching).
        batch_window_ms: how long a step waits for other streams' steps to join its call.
        top_k: classes per result (a client may ask for fewer or more with `/ws?top_k=K`).
        max_upload_bytes: largest `POST /predict` body.
        max_concurrent_uploads: uploads classified at once; more wait.
        frames: what a frame message may be (bytes, sides).
        streams: per-stream flood control.
    """

    max_streams: int = 32
    max_batch: int = 16
    batch_window_ms: float = 4.0
    top_k: int = 5
    max_upload_bytes: int = 100 * 1024 * 1024
    max_concurrent_uploads: int = 2
    frames: FrameLimits = field(default_factory=FrameLimits)
    streams: StreamLimits = field(default_factory=StreamLimits)

    def __post_init__(self) -> None:
        for name in ("max_streams", "max_batch", "top_k", "max_upload_bytes", "max_concurrent_uploads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_window_ms < 0:
            raise ValueError(f"batch_window_ms must be >= 0, got {self.batch_window_ms}")

    @property
    def ws_max_size(self) -> int:
        """The WebSocket message size at which the server closes a connection (1009): well above
        the frame limit, so that an oversized frame normally gets an error reply instead."""
        return 4 * self.frames.max_bytes + _CHUNK


class UploadTooLarge(ValueError):
    """A `POST /predict` body over `max_upload_bytes`."""


class _Server:
    """What the routes share: the model, the scheduler, the open streams."""

    def __init__(self, model: ServedModel, settings: ServeSettings) -> None:
        self.model, self.settings = model, settings
        self.scheduler = BatchScheduler(model, max_batch=settings.max_batch, window_s=settings.batch_window_ms / 1000)
        self.streams: set[StreamConnection] = set()
        self.started = time.time()
        self.uploads = asyncio.Semaphore(settings.max_concurrent_uploads)
        self.frames_dropped = 0

    # -- routes ----------------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok" if self.scheduler.running else "stopping", "model": self.model.name,
                             "streams": len(self.streams), "max_streams": self.settings.max_streams,
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
        async with self.uploads:
            folder = Path(tempfile.mkdtemp(prefix="movinet-serve-"))
            try:
                path, name = await _save_upload(request, folder, self.settings.max_upload_bytes)
                result = await self.scheduler.run_in_model_thread(self.model.predict_file, path, top_k=top_k,
                                                                  name=name)
            except UploadTooLarge as error:
                return JSONResponse({"error": str(error)}, status_code=413)
            except SchedulerStopped as error:
                return JSONResponse({"error": str(error)}, status_code=503)
            except ValueError as error:
                return JSONResponse({"error": str(error)}, status_code=400)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        return JSONResponse(result, status_code=422 if "error" in result else 200)

    async def stream(self, websocket: WebSocket) -> None:
        await websocket.accept()
        settings = self.settings
        try:
            default = str(min(settings.top_k, self.model.num_classes))
            top_k = _top_k(websocket.query_params.get("top_k", default), self.model.num_classes)
        except ValueError as error:
            await websocket.send_json({"type": "error", "frame": None, "code": "bad_request", "message": str(error)})
            await websocket.close(1008)
            return
        if len(self.streams) >= settings.max_streams:
            await websocket.send_json({"type": "error", "frame": None, "code": "too_many_streams",
                                       "message": f"the server serves at most {settings.max_streams} streams at "
                                       "once; try again later"})
            await websocket.close(CLOSE_TRY_AGAIN_LATER, "too many streams")
            return
        connection = StreamConnection(websocket, self.model, self.scheduler, frame_limits=settings.frames,
                                      stream_limits=settings.streams, top_k=top_k, fps=self.model.fps)
        self.streams.add(connection)
        self.scheduler.active_streams = len(self.streams)
        try:
            await connection.run()
        finally:
            self.streams.discard(connection)
            self.scheduler.active_streams = len(self.streams)
            self.frames_dropped += connection.dropped

    # -- life ------------------------------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.scheduler.start()
        try:
            yield
        finally:
            await self.scheduler.stop()


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
        path = folder / ("upload" + _suffix(name))
        with path.open("wb") as out:
            while chunk := await upload.read(_CHUNK):
                out.write(chunk)
        await upload.close()
        return path, name
    name = request.headers.get("x-filename") or "upload"
    path = folder / ("upload" + _suffix(name))
    size = 0
    with path.open("wb") as out:
        async for chunk in body:
            out.write(chunk)
            size += len(chunk)
    if size == 0:
        raise ValueError("empty upload: send the video as the request body or as multipart field 'file'")
    return path, name


def _suffix(name: str) -> str:
    suffix = Path(name).suffix
    return suffix if _SAFE_SUFFIX.match(suffix) else ""


def create_app(model: ServedModel, settings: ServeSettings | None = None) -> Starlette:
    """The Starlette app serving `model` (run it with uvicorn: `movinet.serve.server`)."""
    server = _Server(model, settings or ServeSettings())
    routes = [
        Route("/", server.index, methods=["GET"]),
        Route("/health", server.health, methods=["GET"]),
        Route("/model", server.model_info, methods=["GET"]),
        Route("/predict", server.predict, methods=["POST"]),
        WebSocketRoute("/ws", server.stream),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=server.lifespan)
    app.state.server = server
    return app

"""One WebSocket stream: its own model state, frame checks, flood control, and one reply per frame.

Every binary message (a frame) gets exactly one reply naming its index `frame`: a `result`, a
`dropped` (the frame arrived faster than the stream's rate allows, or too many frames are already
waiting) or an `error` (not an image, wrong size, too large, or `server_shutdown`). Replies come in
frame order. A stream that sends no frame for `idle_timeout_s` is closed (4408); at server shutdown
the frames a stream holds are answered `server_shutdown` (the one in the model finishes) and the
stream is closed with 1012. The README's "Serving" section is the protocol reference.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from movinet.serve.batching import BatchScheduler, SchedulerStopped
from movinet.serve.frames import FrameError, FrameLimits, check_frame_bytes, decode_frame
from movinet.serve.model import ServedModel

PROTOCOL_VERSION = 1
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # a protocol violation by the client
CLOSE_SERVICE_RESTART = 1012  # the server is shutting down
CLOSE_TRY_AGAIN_LATER = 1013  # too many streams
CLOSE_IDLE = 4408  # no frame for `idle_timeout_s` (an application code, after HTTP's 408)
MAX_TEXT_BYTES = 1024  # text messages are small JSON commands; longer ones are refused unparsed
_RESET = "reset"
_STOP = "stop"


@dataclass(frozen=True)
class StreamLimits:
    """Per-connection flood control.

    Attributes:
        rate_limit: drop frames that arrive faster than the stream rate allows.
        rate_tolerance: sustained frames accepted per second = fps * (1 + tolerance).
        burst_seconds: how many seconds' worth of frames may arrive at once (at least 4 frames).
        max_pending: frames decoded and waiting for the model; a frame beyond that is dropped.
        idle_timeout_s: a stream that sends no frame for this long is closed (`idle_timeout`, 4408).
        shutdown_linger_s: at shutdown, how long after its last frame a stream is still read (frames
            are answered `server_shutdown`) before it is closed; at most 4 times this in all.
    """

    rate_limit: bool = True
    rate_tolerance: float = 0.5
    burst_seconds: float = 2.0
    max_pending: int = 8
    idle_timeout_s: float = 60.0
    shutdown_linger_s: float = 0.3

    def __post_init__(self) -> None:
        for name in ("idle_timeout_s", "burst_seconds"):
            if not 0 < getattr(self, name) < float("inf"):
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)}")
        if self.max_pending < 1 or not 0 <= self.shutdown_linger_s < float("inf") or not self.rate_tolerance >= 0:
            raise ValueError(f"bad stream limits: {self}")


class TokenBucket:
    """Admits `rate` events per second on average, up to `capacity` at once."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens = capacity
        self.last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class StreamConnection:
    """Serves one WebSocket stream until the client leaves or the server stops.

    Args:
        websocket: the accepted connection.
        model: the served model.
        scheduler: the batch scheduler shared by all streams.
        frame_limits / stream_limits: what frames may be and how fast they may come.
        top_k: classes per result.
        fps: the stream rate the model expects.
    """

    def __init__(self, websocket: WebSocket, model: ServedModel, scheduler: BatchScheduler, *,
                 frame_limits: FrameLimits, stream_limits: StreamLimits, top_k: int, fps: float) -> None:
        self.websocket, self.model, self.scheduler = websocket, model, scheduler
        self.frame_limits, self.limits, self.top_k, self.fps = frame_limits, stream_limits, top_k, fps
        burst = max(4.0, fps * stream_limits.burst_seconds)
        self.bucket = TokenBucket(fps * (1.0 + stream_limits.rate_tolerance), burst)
        self.state = model.new_state()
        self.frames_received = 0  # binary messages, i.e. the next frame index
        self.frames_stepped = 0  # frames the model has seen in this stream (since the last reset)
        self.dropped = 0
        self.errors = 0
        self._pending: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._send_lock = asyncio.Lock()
        self._served_times: deque[float] = deque(maxlen=64)
        self._closed = False
        self._draining = False
        self._wake = asyncio.Event()  # set when the server begins shutting down

    # -- sending ---------------------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message; a connection that is gone is ignored (its reader notices)."""
        if self._closed:
            return
        async with self._send_lock:
            try:
                await self.websocket.send_text(json.dumps(message, ensure_ascii=False))
            except (WebSocketDisconnect, RuntimeError, OSError):
                self._closed = True

    async def close(self, code: int, reason: str = "") -> None:
        if self._closed or self.websocket.application_state == WebSocketState.DISCONNECTED:
            self._closed = True
            return
        self._closed = True
        try:
            await self.websocket.close(code, reason)
        except (RuntimeError, OSError):
            pass

    def hello(self) -> dict[str, Any]:
        """The first message of every stream: model, rate, frame rules and limits."""
        prep = self.model.preprocessing
        burst = int(self.bucket.capacity)
        return {"type": "hello", "protocol": PROTOCOL_VERSION, "model": self.model.name,
                "num_classes": self.model.num_classes, "fps": self.fps, "top_k": self.top_k,
                "input": {"height": prep.height, "width": prep.width, "resize": prep.resize,
                          "preset": prep.preset},
                "frame": {**self.frame_limits.to_dict(), "send_short_side": prep.resize},
                "limits": {"rate_limit": self.limits.rate_limit,
                           "max_fps": self.fps * (1.0 + self.limits.rate_tolerance) if self.limits.rate_limit else None,
                           "burst": burst if self.limits.rate_limit else None,
                           "max_pending": self.limits.max_pending}}

    # -- the connection's life -------------------------------------------------------------------

    async def run(self) -> None:
        """Hello, then read frames and step them until the client leaves, idles or the server stops."""
        await self.send(self.hello())
        stepper = asyncio.create_task(self._step_loop(), name="movinet-stream-steps")
        try:
            await self._read_loop()
            if self._draining:
                await self._finish_draining(stepper)
        finally:
            stepper.cancel()
            try:
                await stepper
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the stream is over either way
                pass
            self.state = {}  # the stream's state goes with its connection

    def begin_shutdown(self) -> None:
        """The server is stopping: answer the frames held with `server_shutdown`, then close (1012)."""
        self._draining = True
        self._wake.set()

    async def _read_loop(self) -> None:
        """Read messages until the client leaves, idles out, or the server begins shutting down."""
        receive: asyncio.Future | None = None
        last_frame = time.monotonic()
        try:
            while not self._closed and not self._draining:
                receive = receive or asyncio.ensure_future(self.websocket.receive())
                wake = asyncio.ensure_future(self._wake.wait())
                idle_left = last_frame + self.limits.idle_timeout_s - time.monotonic()
                done, _ = await asyncio.wait({receive, wake}, timeout=max(0.0, idle_left),
                                             return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
                if receive not in done:
                    if not self._draining and time.monotonic() - last_frame >= self.limits.idle_timeout_s:
                        await self._close_idle()
                    continue
                message, receive = receive.result(), None
                if await self._on_message(message):
                    last_frame = time.monotonic()
            if self._draining and not self._closed:
                await self._read_while_draining(receive)
                receive = None
        finally:
            if receive is not None:
                receive.cancel()

    async def _close_idle(self) -> None:
        limit = self.limits.idle_timeout_s
        await self.send({"type": "error", "frame": None, "code": "idle_timeout",
                         "message": f"no frame for {limit:g} s: the stream is closed to free its place; "
                         "reconnect to stream again"})
        await self.close(CLOSE_IDLE, "idle timeout")

    async def _read_while_draining(self, receive: asyncio.Future | None) -> None:
        """At shutdown: keep answering frames (`server_shutdown`, through the step loop, so in
        order) until the client has been quiet for `shutdown_linger_s`, at most 4 times that."""
        linger = self.limits.shutdown_linger_s
        deadline = time.monotonic() + 4 * linger
        try:
            while not self._closed:
                receive = receive or asyncio.ensure_future(self.websocket.receive())
                quiet = min(linger, deadline - time.monotonic())
                if quiet <= 0:
                    return
                done, _ = await asyncio.wait({receive}, timeout=quiet)
                if not done:
                    return
                message, receive = receive.result(), None
                await self._on_message(message)
        finally:
            if receive is not None:
                receive.cancel()

    async def _finish_draining(self, stepper: asyncio.Task) -> None:
        self._pending.put_nowait((_STOP, None))
        try:
            await asyncio.wait_for(asyncio.shield(stepper), timeout=30.0)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - closing is what is left to do
            pass
        await self.close(CLOSE_SERVICE_RESTART, "server shutting down")

    async def _on_message(self, message: dict[str, Any]) -> bool:
        """Handle one received ASGI message; returns whether it was a frame."""
        if message["type"] == "websocket.disconnect":
            self._closed = True
        elif message.get("bytes") is not None:
            await self._on_frame(message["bytes"])
            return True
        elif message.get("text") is not None:
            await self._on_text(message["text"])
        return False

    async def _on_frame(self, data: bytes) -> None:
        index = self.frames_received
        self.frames_received += 1
        if self._draining:
            self._pending.put_nowait((index, None))  # answered `server_shutdown`, in order, by the step loop
            return
        try:
            check_frame_bytes(data, self.frame_limits)
        except FrameError as error:
            await self._error(index, error.code, str(error))
            return
        if self.limits.rate_limit and not self.bucket.allow():
            await self._drop(index, "rate", f"frames arrive faster than {self.fps:g} fps (the model's stream rate)")
            return
        if self._pending.qsize() >= self.limits.max_pending:
            await self._drop(index, "busy", f"{self._pending.qsize()} frames are already waiting for the model")
            return
        try:
            clip = await asyncio.to_thread(self._prepare, data)
        except FrameError as error:
            await self._error(index, error.code, str(error))
            return
        self._pending.put_nowait((index, clip))

    def _prepare(self, data: bytes) -> np.ndarray:
        """Decode and preprocess one frame (in a worker thread). -> (3, 1, h, w) float32."""
        frame = decode_frame(data, self.frame_limits)
        try:
            return self.model.prepare_frame(frame)
        except (ValueError, RuntimeError) as error:  # an image the pipeline cannot take stays one bad frame
            height, width = frame.shape[:2]
            raise FrameError("bad_frame", f"cannot preprocess a {width}x{height} frame: {error}") from None

    async def _on_text(self, text: str) -> None:
        kind = _command_of(text)
        if kind == _RESET:
            self._pending.put_nowait((_RESET, self.frames_received))
        elif kind == "ping":
            await self.send({"type": "pong", "frames": self.frames_received})
        else:
            await self._error(None, "bad_message", f"text messages must be JSON objects of type 'reset' or 'ping' of "
                              f"at most {MAX_TEXT_BYTES} bytes; frames go in binary messages")

    async def _error(self, index: int | None, code: str, text: str) -> None:
        self.errors += 1
        await self.send({"type": "error", "frame": index, "code": code, "message": text})

    async def _drop(self, index: int, reason: str, text: str) -> None:
        self.dropped += 1
        await self.send({"type": "dropped", "frame": index, "reason": reason, "dropped": self.dropped,
                         "message": f"frame {index} dropped: {text} ({self.dropped} dropped so far)"})

    async def _step_loop(self) -> None:
        """Step the stream's frames in arrival order, one model step at a time; once the server is
        shutting down, answer the frames still waiting with `server_shutdown` instead."""
        while True:
            item = await self._pending.get()
            if item[0] == _STOP:
                return
            if item[0] == _RESET:
                self.state, self.frames_stepped = self.model.new_state(), 0
                await self.send({"type": "reset", "frame": item[1]})
                continue
            index, clip = item
            if self._draining or clip is None:
                await self._shutdown_reply(index)
                continue
            try:
                output = await self.scheduler.step(clip, self.state)
            except SchedulerStopped:
                self.begin_shutdown()
                await self._shutdown_reply(index)
                continue
            except Exception as error:  # noqa: BLE001 - a failed model call fails its frames only
                await self._error(index, "model_error", f"{type(error).__name__}: {error}")
                continue
            self.state = output.state
            self.frames_stepped += 1
            await self.send(self._result(index, output))

    async def _shutdown_reply(self, index: int) -> None:
        await self.send({"type": "error", "frame": index, "code": "server_shutdown",
                         "message": "the server is shutting down: this frame was not classified; stop sending, "
                                    "the stream closes with 1012"})

    def _result(self, index: int, output: Any) -> dict[str, Any]:
        now = time.monotonic()
        self._served_times.append(now)
        times = [t for t in self._served_times if now - t <= 2.0]
        served_fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        return {"type": "result", "frame": index, "frames": self.frames_stepped,
                "top_k": self.model.top_k(output.logits, self.top_k),
                "latency_ms": round(output.latency_ms, 3), "batch": output.batch_size,
                "wait_ms": round(output.wait_ms, 3), "served_fps": round(served_fps, 3), "dropped": self.dropped}


def _command_of(text: str) -> str | None:
    """The `type` of a small JSON command, or None for anything else (too long, not JSON, nested
    too deep, not an object)."""
    if len(text) > MAX_TEXT_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        return None
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return None
    kind = message.get("type") if isinstance(message, dict) else None
    return kind if isinstance(kind, str) else None

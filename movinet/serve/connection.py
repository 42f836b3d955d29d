"""One WebSocket stream: its own model state, frame checks, flood control, and one reply per frame.

Every binary message (a frame) gets exactly one reply naming its index `frame`: a `result`, a
`dropped` (the frame arrived faster than the stream's rate allows, or too many frames are already
waiting) or an `error` (not an image, wrong size, too large). Results come in frame order. The
README's "Serving" section is the protocol reference.
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
_RESET = "reset"


@dataclass(frozen=True)
class StreamLimits:
    """Per-connection flood control.

    Attributes:
        rate_limit: drop frames that arrive faster than the stream rate allows.
        rate_tolerance: sustained frames accepted per second = fps * (1 + tolerance).
        burst_seconds: how many seconds' worth of frames may arrive at once (at least 4 frames).
        max_pending: frames decoded and waiting for the model; a frame beyond that is dropped.
    """

    rate_limit: bool = True
    rate_tolerance: float = 0.5
    burst_seconds: float = 2.0
    max_pending: int = 8


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
        """Hello, then read frames and step them until the client disconnects."""
        await self.send(self.hello())
        stepper = asyncio.create_task(self._step_loop(), name="movinet-stream-steps")
        try:
            await self._read_loop(stepper)
        finally:
            stepper.cancel()
            try:
                await stepper
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the stream is over either way
                pass
            self.state = {}  # the stream's state goes with its connection

    async def _read_loop(self, stepper: asyncio.Task) -> None:
        while not self._closed:
            receive = asyncio.ensure_future(self.websocket.receive())
            done, _ = await asyncio.wait({receive, stepper}, return_when=asyncio.FIRST_COMPLETED)
            if receive not in done:  # the stepper ended (server shutdown): stop reading
                receive.cancel()
                return
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                self._closed = True
                return
            if message.get("bytes") is not None:
                await self._on_frame(message["bytes"])
            elif message.get("text") is not None:
                await self._on_text(message["text"])

    async def _on_frame(self, data: bytes) -> None:
        index = self.frames_received
        self.frames_received += 1
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
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == _RESET:
            self._pending.put_nowait((_RESET, self.frames_received))
        elif kind == "ping":
            await self.send({"type": "pong", "frames": self.frames_received})
        else:
            await self._error(None, "bad_message", "text messages must be JSON objects of type 'reset' or 'ping'; "
                              "frames go in binary messages")

    async def _error(self, index: int | None, code: str, text: str) -> None:
        self.errors += 1
        await self.send({"type": "error", "frame": index, "code": code, "message": text})

    async def _drop(self, index: int, reason: str, text: str) -> None:
        self.dropped += 1
        await self.send({"type": "dropped", "frame": index, "reason": reason, "dropped": self.dropped,
                         "message": f"frame {index} dropped: {text} ({self.dropped} dropped so far)"})

    async def _step_loop(self) -> None:
        """Step the stream's frames in arrival order, one model step at a time."""
        while True:
            item = await self._pending.get()
            if item[0] == _RESET:
                self.state, self.frames_stepped = self.model.new_state(), 0
                await self.send({"type": "reset", "frame": item[1]})
                continue
            index, clip = item
            try:
                output = await self.scheduler.step(clip, self.state)
            except SchedulerStopped:
                await self.send({"type": "error", "frame": index, "code": "server_shutdown",
                                 "message": "the server is shutting down"})
                await self.close(CLOSE_SERVICE_RESTART, "server shutting down")
                return
            except Exception as error:  # noqa: BLE001 - a failed model call fails its frames only
                await self._error(index, "model_error", f"{type(error).__name__}: {error}")
                continue
            self.state = output.state
            self.frames_stepped += 1
            await self.send(self._result(index, output))

    def _result(self, index: int, output: Any) -> dict[str, Any]:
        now = time.monotonic()
        self._served_times.append(now)
        times = [t for t in self._served_times if now - t <= 2.0]
        served_fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        return {"type": "result", "frame": index, "frames": self.frames_stepped,
                "top_k": self.model.top_k(output.logits, self.top_k),
                "latency_ms": round(output.latency_ms, 3), "batch": output.batch_size,
                "wait_ms": round(output.wait_ms, 3), "served_fps": round(served_fps, 3), "dropped": self.dropped}

"""The server's WebSocket protocol and its log: what uvicorn does per connection, bounded.

uvicorn's WebSocket protocol (the `websockets` sans-I/O one) answers every ping by writing a pong
to the socket's send buffer, whether or not the client reads. A client that floods pings and never
reads makes that buffer, i.e. the server's memory, grow without bound. `GuardedWebSocketProtocol`:

* stops reading a client while its send buffer is over the transport's high-water mark (64 KiB), so
  what a client can make the server buffer is bounded by that mark plus the kernel's socket buffers;
* closes a client whose send buffer stays full for `write_stall_timeout_s` (it reads nothing);
* closes a client that sends a text message that is not UTF-8 with 1007 and one log line, not a
  traceback (uvicorn logs the exception);
* at server shutdown, hands each open stream to the app (`drain_hook`), which answers the frames it
  holds (`server_shutdown`) and closes with 1012 itself, instead of the transport being closed under
  the frames in flight.

`RateLimitedLog` writes the one-line messages about misbehaving clients: a client cannot flood the
server's log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

LOGGER_NAME = "uvicorn.error"  # the server's log: shown at --log_level, like uvicorn's own lines
CLOSE_INVALID_DATA = 1007


class RateLimitedLog:
    """One-line warnings, at most `burst` per `period_s` for each kind; the rest are counted and
    reported in the next line of that kind ("... (12 more like this suppressed)").

    Args:
        logger: where the lines go.
        burst: lines per kind and period.
        period_s: the period.
    """

    def __init__(self, logger: logging.Logger | None = None, *, burst: int = 5, period_s: float = 60.0) -> None:
        self.logger = logger or logging.getLogger(LOGGER_NAME)
        self.burst, self.period_s = burst, period_s
        self._windows: dict[str, tuple[float, int, int]] = {}  # kind -> (window start, lines, suppressed)

    def warning(self, kind: str, message: str) -> bool:
        """Log `message` unless this kind is over its budget; returns whether it was logged."""
        now = time.monotonic()
        start, lines, suppressed = self._windows.get(kind, (now, 0, 0))
        if now - start >= self.period_s:
            start, lines = now, 0
        if lines >= self.burst:
            self._windows[kind] = (start, lines, suppressed + 1)
            return False
        more = f" ({suppressed} more like this suppressed)" if suppressed else ""
        self._windows[kind] = (start, lines + 1, 0)
        self.logger.warning("movinet serve: %s%s", message, more)
        return True


CLIENT_LOG = RateLimitedLog()


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol with bounded buffering, quiet UTF-8 errors and a draining shutdown.

    Configured per server by `guarded_protocol`; the class attributes are its settings.
    """

    write_stall_timeout_s: float = 30.0
    drain_hook: Callable[[], None] | None = None
    log: RateLimitedLog = CLIENT_LOG

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stall_timer: Any = None

    # -- flow control ------------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if not self.transport.is_closing():
            self.transport.pause_reading()  # nothing more from a client that does not read its replies
            self._stall_timer = self.loop.call_later(self.write_stall_timeout_s, self._close_stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_stall_timer()
        if not self.read_paused and not self.transport.is_closing():
            self.transport.resume_reading()

    async def receive(self) -> Any:
        message = await self.queue.get()
        if self.read_paused and self.queue.empty():
            self.read_paused = False
            if self.writable.is_set() and not self.transport.is_closing():
                self.transport.resume_reading()
        return message

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_stall_timer()
        super().connection_lost(exc)

    def _cancel_stall_timer(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _close_stalled(self) -> None:
        self._stall_timer = None
        if self.writable.is_set() or self.transport.is_closing():
            return
        self.log.warning("stalled_client", f"closed a WebSocket client ({_address(self.client)}) that read nothing "
                         f"for {self.write_stall_timeout_s:g} s while its replies piled up")
        self.transport.abort()

    # -- messages ----------------------------------------------------------------------------------

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            try:
                data.decode()
            except UnicodeDecodeError:
                self.frames = []
                self.log.warning("bad_utf8", f"closed a WebSocket client ({_address(self.client)}) that sent a text "
                                 f"message that is not UTF-8 ({CLOSE_INVALID_DATA})")
                self.conn.send_close(CLOSE_INVALID_DATA, "text messages must be UTF-8")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    # -- shutdown ----------------------------------------------------------------------------------

    def shutdown(self) -> None:
        streaming = self.handshake_complete and self.initial_response is None and not self.close_sent
        if streaming and not self.disconnected and self.drain_hook is not None:
            self.drain_hook()  # the app answers what it holds, then closes with 1012 itself
            return
        super().shutdown()


def guarded_protocol(*, write_stall_timeout_s: float, drain_hook: Callable[[], None] | None = None,
                     log: RateLimitedLog | None = None) -> type[GuardedWebSocketProtocol]:
    """A `GuardedWebSocketProtocol` class with these settings, for `uvicorn.Config(ws=...)`."""
    return type("GuardedWebSocketProtocol", (GuardedWebSocketProtocol,), {
        "write_stall_timeout_s": write_stall_timeout_s, "drain_hook": staticmethod(drain_hook) if drain_hook else None,
        "log": log or CLIENT_LOG})


def _address(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "unknown address"

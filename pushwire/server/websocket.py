"""The WebSocket connection (layer 4): moves bytes between a socket and the sans-I/O machines.

Inbound: bytes -> :class:`~pushwire.protocol.websocket.ServerWebSocket` (RFC 6455) -> text messages ->
:class:`~pushwire.protocol.session.Session` (the pushwire session) -> events, handed to the service that
decides what to do with them. Outbound: broadcast frames arrive pre-encoded (one shared ``bytes`` per
publication) and go through the connection's :class:`~pushwire._core.fanout.Outbox`; control frames
(pong, close) are written at once, between whole frames.

The same class serves ``/rps/echo`` (``echo=True``): every message comes straight back. That endpoint exists so
the Autobahn conformance cases exercise exactly the framing code that ``/rps`` uses.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .._core.wsframe import OP_TEXT, encode_ws_frame
from ..errors import CloseCode, ErrorCode
from ..protocol.messages import AuthOk, Error, Goodbye, Op, encode_op
from ..protocol.session import Session
from ..protocol.websocket import (
    BinaryMessage,
    CloseReceived,
    ConnectionFailed,
    PongReceived,
    ServerWebSocket,
    State,
    TextMessage,
)
from .outbound import OUT_WS
from .sockwrite import SocketWriter

if TYPE_CHECKING:
    from .service import PushService

__all__ = ["WebSocketConnection"]

log = logging.getLogger("pushwire.server")

#: messages held while the auth is decided (more closes with 1008, docs/protocol.md 5.1)
_MAX_HELD_BEFORE_AUTH = 64
#: messages held while a subscribe is validated before the socket stops being read
_MAX_HELD_LIVE = 1024


class WebSocketConnection(asyncio.Protocol):
    """One client's WebSocket: the ``/rps`` session, or the ``/rps/echo`` endpoint."""

    __slots__ = ("service", "ws", "session", "transport", "echo", "client_id", "session_token", "auth_token", "streams",
                 "connected_at", "last_received", "ping_sent_at", "closing_since", "closed", "authenticated",
                 "inbox", "handlers_pending", "close_code", "kind", "outbox", "loop", "metrics", "head",
                 "writer")

    def __init__(self, service: PushService, *, echo: bool = False, head: bytes = b"") -> None:
        self.service = service
        #: the handshake answer (the 101), written ahead of the first frames at the end of this loop pass
        self.head = head
        config = service.config.websocket
        self.ws = ServerWebSocket(max_message_bytes=config.max_message_bytes)
        self.session = Session(service.channels)
        self.transport: asyncio.Transport | None = None
        #: every byte this connection writes goes through it (made by connection_made)
        self.writer: SocketWriter | None = None
        self.echo = echo
        self.client_id: str = ""
        self.session_token: str = ""
        self.auth_token: str | None = None
        #: names of the streams this connection is subscribed to (live or being prepared)
        self.streams: set[str] = set()
        now = service.loop.time()
        self.connected_at = now
        self.last_received = now
        self.ping_sent_at: float | None = None
        self.closing_since: float | None = None
        self.closed = False
        self.authenticated = False
        #: messages that arrived while an asynchronous step (auth) was running; processed after it
        self.inbox: list[bytes] | None = None
        #: asynchronous handler calls started for this connection and not finished yet
        self.handlers_pending = 0
        self.close_code: int | None = None
        self.kind = "ws"
        self.loop = service.loop
        self.metrics = service.metrics
        self.outbox = service.make_outbox(self, OUT_WS)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        high = self.service.config.queue.write_high_water_bytes
        low = self.service.config.queue.write_low_water_bytes
        transport.set_write_buffer_limits(high=high, low=low)  # type: ignore[attr-defined]
        # the 101 goes out with the first frames, or at the end of this loop pass with the other connections'
        # answers: one burst of writes instead of one write between each connection's set-up work
        head, self.head = self.head, b""
        self.writer = SocketWriter(transport, head, self.service.config.queue.direct_writes)
        self.outbox.write = self.writer
        if head:
            self.loop.call_soon(self._write_head)
        self.service.track(self)
        self.metrics.inc("ws_connections")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.writer is not None:
            self.writer.detach()  # the transport closes the socket once this returns
        self.closed = True
        self.outbox.stop()
        self.service.connection_closed(self)

    def data_received(self, data: bytes) -> None:
        self.last_received = self.loop.time()
        self.ping_sent_at = None
        try:
            self.ws.receive_data(data)
            self._handle_ws_events()
        except Exception:
            # a bug of ours, not the client's: this connection ends with 1011, the server goes on
            self.metrics.inc("internal_errors")
            log.exception("handling a WebSocket message failed")
            self.fail(CloseCode.INTERNAL_ERROR, "internal error", Error(ErrorCode.INTERNAL, "internal error"))

    def eof_received(self) -> bool | None:
        if self.writer is not None:
            self.writer.detach()  # the transport closes itself now (None below): what follows goes through it
        self.ws.receive_eof()
        self._handle_ws_events()
        return None

    # inbound

    def _handle_ws_events(self) -> None:
        for event in self.ws.events_received():
            if isinstance(event, TextMessage):
                self._on_message(event.data, text=True)
            elif isinstance(event, BinaryMessage):
                self._on_message(event.data, text=False)
            elif isinstance(event, CloseReceived):
                self.close_code = event.code
            elif isinstance(event, ConnectionFailed):
                self.metrics.inc(f"ws_protocol_errors_{int(event.error.code)}")
            elif isinstance(event, PongReceived):
                pass  # any inbound byte already counts as liveness
        self._write_control()

    def _on_message(self, data: bytes, *, text: bool) -> None:
        if self.echo:
            if self.ws.state is State.OPEN:
                # through the machine's queue, so the echo keeps its place after pongs queued before it
                self.ws.send_text(data) if text else self.ws.send_binary(data)
            return
        if self.inbox is not None:  # an asynchronous step is running: keep order
            if not self.authenticated and len(self.inbox) >= _MAX_HELD_BEFORE_AUTH:
                self.fail(CloseCode.POLICY_VIOLATION, "too many messages before auth_ok")  # docs/protocol.md 5.1
                return
            self.inbox.append(data if text else b"\x00" + data)
            if len(self.inbox) == _MAX_HELD_LIVE:
                self.pause_reading()  # a subscribe is being validated: hold the client back by TCP meanwhile
            return
        events = self.session.receive_text(data) if text else self.session.receive_binary(data)
        for event in events:
            self.service.handle_session_event(self, event)

    def hold_inbox(self) -> None:
        """Queue inbound messages until :meth:`release_inbox` (while an asynchronous step runs)."""
        if self.inbox is None:
            self.inbox = []

    def release_inbox(self) -> None:
        """Process messages queued by :meth:`hold_inbox`, in order."""
        inbox, self.inbox = self.inbox, None
        if inbox is not None and len(inbox) >= _MAX_HELD_LIVE:
            self.resume_reading()
        for data in inbox or ():
            if self.closed or self.inbox is not None:
                if self.inbox is not None:
                    self.inbox.append(data)
                continue
            if data[:1] == b"\x00":
                self._on_message(data[1:], text=False)
            else:
                self._on_message(data, text=True)

    # outbound

    def pause_writing(self) -> None:
        self.outbox.paused = True
        self.metrics.inc("write_pauses")

    def resume_writing(self) -> None:
        self.outbox.resume()

    def warn_slow(self) -> None:
        self.send_op(self.service.slow_op(self))

    def accept(self, auth_ok: AuthOk, positions: dict[str, tuple[int, str]]) -> None:
        """Send ``auth_ok`` (the session goes live); ``positions`` only matter to SSE connections."""
        frame = encode_ws_frame(self.session.accept(auth_ok), OP_TEXT)
        self.authenticated = True
        self.outbox.push_system(frame, len(frame))

    def reject(self, message: str, code: ErrorCode = ErrorCode.AUTH_REJECTED,
               close: CloseCode = CloseCode.POLICY_VIOLATION) -> None:
        """Refuse the auth: ``error``, then close (1008 by default)."""
        data, close = self.session.reject(message, code=code, close=close)
        self._write_now(data)
        self.metrics.inc(f"ws_closed_{int(close)}")
        self.close(close, message)

    def track_positions(self, positions: dict[str, tuple[int, str]]) -> None:
        """WebSocket clients keep their own cursors: nothing to track."""

    def forget_positions(self, names: Any) -> None:
        """See :meth:`track_positions`."""

    def post_session(self) -> Session:
        """The live session, also used for this client's ``POST /rps/send`` bodies."""
        return self.session

    def send_op(self, op: Op) -> None:
        """Queue a system op (high lane)."""
        frame = encode_ws_frame(encode_op(op, self.service.system_channel), OP_TEXT)
        self.outbox.push_system(frame, len(frame))

    def queued_lossless(self) -> int:
        return self.outbox.queued_lossless

    def _write_head(self) -> None:
        """Write the 101 if nothing took it along yet (scheduled by connection_made)."""
        assert self.transport is not None and self.writer is not None
        if not self.transport.is_closing():
            self.writer.write_head()

    def _write_control(self) -> None:
        """Write what the WebSocket machine queued (pongs, close frames); close the socket when it is done."""
        data = self.ws.data_to_send()
        if data and self.writer is not None and not self.transport.is_closing():  # type: ignore[union-attr]
            self.writer.writelines(data)
        if self.ws.close_expected():
            self._close_transport()

    def on_overflow(self) -> None:
        self.close(CloseCode.SLOW_CONSUMER, "slow consumer: reconnect and resume")

    # closing

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the closing handshake: queued frames are dropped, the close frame goes out now."""
        if self.closed or self.ws.state is not State.OPEN:
            return
        self.outbox.stop()
        self.ws.send_close(code, reason)
        self.closing_since = self.loop.time()
        self._write_control()

    def fail(self, code: int, reason: str, op: Op | None = None) -> None:
        """Send ``op`` (an ``error``, usually) directly, then close with ``code``."""
        if op is not None:
            self._write_now(encode_op(op, self.service.system_channel))
        self.metrics.inc(f"ws_closed_{int(code)}")
        self.close(code, reason)

    def _write_now(self, json: bytes) -> None:
        """Write a system frame ahead of the lanes (an error just before a close)."""
        if self.writer is not None and self.ws.state is State.OPEN:
            self.writer.write(encode_ws_frame(json, OP_TEXT))

    def goodbye(self, reason: str) -> None:
        """Graceful shutdown: flush what is queued, say goodbye, close with 1001."""
        if self.closed or self.ws.state is not State.OPEN:
            return
        self.outbox.flush()
        if self.authenticated:
            self._write_now(encode_op(Goodbye(reason), self.service.system_channel))
        self.close(CloseCode.GOING_AWAY, reason)

    def _close_transport(self) -> None:
        if self.closing_since is None:
            # the close may wait for a full write buffer: the close timeout bounds that wait
            self.closing_since = self.loop.time()
        transport, writer = self.transport, self.writer
        if transport is not None and writer is not None and not transport.is_closing():
            writer.detach()  # what is still written goes behind the transport's buffer, as close() expects
            transport.close()

    @property
    def active(self) -> bool:
        """True while the connection is open and not closing (sessions may still start on it)."""
        return not self.closed and self.closing_since is None and self.ws.state is State.OPEN

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None and self.writer is not None:
            self.writer.detach()
            self.transport.abort()

    # timers (called by the service's sweeper about once a second)

    def check_timeouts(self, now: float) -> None:
        self.outbox.compact()  # idle connections give back their lane storage
        config = self.service.config.websocket
        if self.closing_since is not None:
            if now - self.closing_since > config.close_timeout_s:
                self.abort()
            return
        if not self.authenticated and not self.echo and self.inbox is None:
            if now - self.connected_at > config.auth_timeout_s:
                self.fail(CloseCode.AUTH_TIMEOUT, "auth timeout", Error(ErrorCode.AUTH_TIMEOUT, "no auth in time"))
            return
        if self.ws.state is not State.OPEN:
            return
        if self.ping_sent_at is not None:
            if now - self.ping_sent_at > config.ping_timeout_s:
                # the close frame is queued behind whatever the peer did not read; the close timeout then aborts
                self.metrics.inc("ping_timeouts")
                self.close(CloseCode.PING_TIMEOUT, "ping timeout")
        elif now - self.last_received > config.ping_interval_s:
            self.ping_sent_at = now
            self.ws.send_ping(b"")
            self._write_control()

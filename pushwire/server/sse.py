"""The Server-Sent Events stream (layer 4): ``GET /rps/sse`` after the response head was written.

Publications arrive as shared objects; each event written is ``id:`` (this connection's position vector),
then the publication's shared ``event:``/``data:`` bytes. The position vector lists the connection's cursor
in every stream it receives, because a browser's ``EventSource`` remembers only the last id it saw and sends
it back as ``Last-Event-ID``: with the whole vector in it, one header resumes every stream exactly.

The client sends nothing on this socket: its acks and messages come over ``POST /rps/ack`` and
``POST /rps/send``. Heartbeat comments keep proxies from timing the stream out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from .._core.fanout import Publication, sse_parts
from ..protocol.messages import Auth, AuthOk, Goodbye, Op, encode_op
from ..protocol.session import Session
from ..protocol.streams import MAX_POSITION_CHARS, MAX_POSITION_ENTRIES, format_positions
from .outbound import OUT_SSE
from .sockwrite import SocketWriter

if TYPE_CHECKING:
    from .service import PushService

__all__ = ["SseConnection"]

_HEARTBEAT = b": hb\n\n"


def position_length(stream: str) -> int:
    """Most characters one stream can take in a position vector (20-digit cursor, 32-character epoch)."""
    return len(stream) + 1 + 20 + 1 + 32 + 1


def vector_length(streams: Iterable[str]) -> int:
    """Most characters the position vector of these streams can take."""
    return sum(position_length(stream) for stream in streams)


def vector_fits(streams: Collection[str]) -> bool:
    """Whether a position vector of these streams stays within the limits of docs/protocol.md 9.3."""
    return len(streams) <= MAX_POSITION_ENTRIES and vector_length(streams) <= MAX_POSITION_CHARS


class _SystemEvent:
    """A system op queued for an SSE client: its JSON frame (the ``id:`` is added when written)."""

    __slots__ = ("json",)

    def __init__(self, json: bytes) -> None:
        self.json = json


class SseConnection(asyncio.Protocol):
    """One client's event stream."""

    __slots__ = ("service", "transport", "client_id", "session_token", "auth_token", "streams", "positions", "closed",
                 "authenticated", "last_write", "kind", "retry_ms", "session", "closing_since", "outbox", "loop",
                 "metrics", "handlers_pending", "preamble", "writer")

    def __init__(self, service: PushService, client_id: str, head: bytes) -> None:
        self.service = service
        self.transport: asyncio.Transport | None = None
        #: every byte this stream writes goes through it (made by connection_made)
        self.writer: SocketWriter | None = None
        self.client_id = client_id
        self.session_token = ""
        self.auth_token: str | None = None
        self.streams: set[str] = set()
        #: stream -> the last publication written, or the (cursor, epoch) resume point before the first one
        self.positions: dict[str, Any] = {}
        self.closed = False
        self.authenticated = False
        self.last_write = service.loop.time()
        self.kind = "sse"
        self.retry_ms = service.config.sse.retry_ms
        #: the response head and the retry line, not written yet: they go out with the first events (auth_ok),
        #: so that a new stream costs one write, not three
        self.preamble = head + service.sse_retry_line
        self.session: Session | None = None
        self.handlers_pending = 0
        #: when close() was called: a client that stops reading never lets the close complete
        self.closing_since: float | None = None
        self.loop = service.loop
        self.metrics = service.metrics
        self.outbox = service.make_outbox(self, OUT_SSE)
        self.outbox.write = self.write_batch

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        queue = self.service.config.queue
        transport.set_write_buffer_limits(high=queue.write_high_water_bytes,  # type: ignore[attr-defined]
                                          low=queue.write_low_water_bytes)
        # the response head and the retry line go out with the first events (auth_ok): one write, not three
        preamble, self.preamble = self.preamble, b""
        self.writer = SocketWriter(transport, preamble, queue.direct_writes)
        # a batch shared with the other connections positioned on one stream goes from C to the writer; the
        # outbox keeps its last publication (``sse_last``) until ``_positions()`` takes it
        self.outbox.write_shared = self.writer
        self.service.track(self)
        self.metrics.inc("sse_connections")

    def eof_received(self) -> bool | None:
        """The client went away: the transport closes itself, what follows goes through it (and is dropped)."""
        if self.writer is not None:
            self.writer.detach()
        return None

    def data_received(self, data: bytes) -> None:
        # An EventSource never sends a body; anything else is a misbehaving client.
        self.metrics.inc("sse_unexpected_input")
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.writer is not None:
            self.writer.detach()  # the transport closes the socket once this returns
        self.closed = True
        self.outbox.stop()
        self.service.connection_closed(self)

    # outbound

    def pause_writing(self) -> None:
        self.outbox.paused = True
        self.metrics.inc("write_pauses")

    def resume_writing(self) -> None:
        self.outbox.resume()

    def warn_slow(self) -> None:
        self.send_op(self.service.slow_op(self))

    def send_op(self, op: Op) -> None:
        """Queue a system op (high lane)."""
        json = encode_op(op, self.service.system_channel)
        self.outbox.push_system(_SystemEvent(json), len(json) + 64)

    def queued_lossless(self) -> int:
        return self.outbox.queued_lossless

    def accept(self, auth_ok: Op, positions: dict[str, tuple[int, str]]) -> None:
        """Send ``auth_ok`` carrying the starting position vector."""
        self.track_positions(positions)  # before auth_ok is queued: its id carries them
        self.authenticated = True
        self.send_op(auth_ok)

    def track_positions(self, positions: dict[str, tuple[int, str]]) -> None:
        """Add streams subscribed later to the position vector (so a reconnect resumes them too)."""
        current = self._positions()
        for name, position in positions.items():
            if name in current or self._room_for(name):
                current.setdefault(name, position)
        self._note_single()

    def forget_positions(self, names: Iterable[str]) -> None:
        """Drop unsubscribed streams from the position vector."""
        current = self._positions()
        for name in names:
            current.pop(name, None)
        self._note_single()

    def post_session(self) -> Session:
        """The session that parses this client's ``POST /rps/send`` bodies (made on first use, already live)."""
        if self.session is None:
            session = Session(self.service.channels)
            session.receive_text(encode_op(Auth(self.client_id), self.service.system_channel))
            session.accept(AuthOk())
            self.session = session
        return self.session

    @property
    def active(self) -> bool:
        """True while the stream is open."""
        return not self.closed

    def pause_reading(self) -> None:
        """An SSE client sends nothing on its stream: its POSTs are paced by the HTTP connections."""

    def resume_reading(self) -> None:
        """See :meth:`pause_reading`."""

    def hold_inbox(self) -> None:
        """Nothing to hold: an SSE client's messages arrive one HTTP request at a time."""

    def release_inbox(self) -> None:
        """See :meth:`hold_inbox`."""

    def write_batch(self, batch: list[Any]) -> None:
        if self.writer is None or self.closed:
            return
        parts = sse_parts(batch, self._positions(), self.streams, self._room_for, self._vector, self._system_part)
        self.writer.writelines(parts)
        self.last_write = self.loop.time()
        self._note_single()

    def _positions(self) -> dict[str, Any]:
        """The position vector, with the last shared batch the outbox wrote (from C) taken in."""
        last = self.outbox.sse_last
        if last is not None:
            self.outbox.sse_last = None
            self.positions[last.stream] = last
            self.last_write = self.loop.time()  # late by at most the sweeper's second: only heartbeats use it
        return self.positions

    def _note_single(self) -> None:
        """Tell the outbox whether the position vector is one stream alone (then it may share batches)."""
        positions = self._positions()
        self.outbox.sse_single = next(iter(positions)) if len(positions) == 1 else None

    def _system_part(self, item: _SystemEvent) -> bytes:
        return b"id: %s\nevent: system\ndata: %s\n\n" % (self._vector(), item.json)

    def _vector(self) -> bytes:
        """The position vector: each stream's last written publication (or its start point)."""
        return format_positions({stream: (p.offset, p.epoch) if isinstance(p, Publication) else p
                                 for stream, p in self._positions().items()}).encode()

    def _room_for(self, stream: str) -> bool:
        """Whether the position vector can take one more stream within its limits (docs/protocol.md 9.3).

        A personal stream left out of a full vector still resumes safely: without a cursor it restarts from
        the client's last ack.
        """
        positions = self._positions()
        return (len(positions) < MAX_POSITION_ENTRIES
                and vector_length(positions) + position_length(stream) <= MAX_POSITION_CHARS)

    def on_overflow(self) -> None:
        # SSE has no close code: the client reconnects on its own and resumes from its Last-Event-ID.
        self.close()

    # closing

    def close(self, code: int = 1000, reason: str = "") -> None:
        """End the stream (queued events are dropped); the browser reconnects by itself unless told not to."""
        if self.closed:
            return
        self.closed = True
        self.closing_since = self.loop.time()
        self.outbox.stop()
        if self.writer is not None:
            self.writer.write_head()  # a stream ended before its first event still gets its response head
            self.writer.detach()  # what is still written goes behind the transport's buffer, as close() expects
            self.transport.close()  # type: ignore[union-attr]

    def fail(self, code: int, reason: str, op: Op | None = None) -> None:
        """Write ``op`` (an ``error``, usually) at once, then end the stream."""
        if op is not None and self.writer is not None and not self.closed:
            self.writer.write(b"event: system\ndata: %s\n\n" % encode_op(op, self.service.system_channel))
        self.close(code, reason)

    def goodbye(self, reason: str) -> None:
        """Graceful shutdown: flush what is queued, say goodbye, end the stream."""
        if self.closed:
            return
        self.outbox.flush()
        self.fail(1001, reason, Goodbye(reason))

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None and self.writer is not None:
            self.writer.detach()
            self.transport.abort()

    def check_timeouts(self, now: float) -> None:
        """Write a heartbeat comment when nothing was written for a while; drop a close that does not finish."""
        self.outbox.compact()  # idle connections give back their lane storage
        if self.closing_since is not None:
            # transport.close() waits for the write buffer to drain, which a client that stopped reading never
            # lets happen: the socket (and the client's registration) would stay forever. Same bound as a
            # WebSocket close handshake.
            if now - self.closing_since > self.service.config.websocket.close_timeout_s:
                self.abort()
            return
        self._positions()  # a shared batch written since the last look counts as a write
        if not self.closed and now - self.last_write > self.service.config.sse.heartbeat_s:
            self.last_write = now
            if self.writer is not None and not self.outbox.paused:
                self.writer.write(_HEARTBEAT)

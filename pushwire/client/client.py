"""``PushClient``: the asyncio client of pushwire (WebSocket or SSE, cursors, resume, gap filling).

Layer 5 (faces). Uses the transports of :mod:`pushwire.client.transports`, the cursor tracker of
:mod:`pushwire.client.cursors` and the reconnect policy of :mod:`pushwire.client.reconnect`; the wire format is
docs/protocol.md. A minimal session::

    client = PushClient("http://127.0.0.1:9100", streams=["chat"])
    client.on("chat", lambda frame: print(frame.cursor, frame.payload))
    await client.connect()              # returns once auth_ok arrived
    await client.send("chat", {"text": "hi"})
    ...
    await client.disconnect()

Delivery guarantee: every application frame that reaches the client is handed to the handlers at most once;
after a reconnect the client resumes every stream from its cursor and epoch, so nothing still in the server's
history is missed. Frames are delivered in cursor order per stream, except that a frame that fills a hole
(after a gap) arrives after the frames behind the hole. Losses the server cannot repair are reported through
``on_resume_required``, never hidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import AuthRejected, ErrorCode, ProtocolError, PushwireError, SendError, StateError
from ..protocol.channels import ChannelKind, DefaultChannel
from ..protocol.frames import Frame
from ..protocol.messages import (
    AuthOk,
    Error,
    Goodbye,
    Op,
    OpError,
    Ping,
    Pong,
    ResumeRequired,
    StreamStatus,
    Subscribe,
    Subscribed,
    Unsubscribe,
    decode_op,
)
from ..protocol.resume import ResumeOutcome
from ..protocol.streams import StreamError, check_stream_syntax, is_personal, is_uuid, stream_name
from .cursors import CursorResult, CursorTracker
from .reconnect import ReconnectPolicy
from .transports import (
    AuthParams,
    ConnectError,
    Endpoints,
    SseTransport,
    Transport,
    TransportClosed,
    TransportUnavailable,
    WebSocketTransport,
    system_frame,
)

__all__ = ["ClientStats", "ConnectionState", "Handler", "PushClient", "TRANSPORT_ORDERS"]

log = logging.getLogger("pushwire.client")

Handler = Callable[[Frame], Awaitable[None] | None]

#: which transports a ``transport=`` setting tries, in order
TRANSPORT_ORDERS: dict[str, tuple[str, ...]] = {
    "ws-first": ("ws", "sse"),
    "sse-first": ("sse", "ws"),
    "ws-only": ("ws",),
    "sse-only": ("sse",),
}

#: error codes answering a ``subscribe`` that was refused (the connection stays open)
_SUBSCRIBE_ERRORS = frozenset({ErrorCode.FORBIDDEN.value, ErrorCode.BAD_STREAM.value,
                               ErrorCode.UNKNOWN_CHANNEL.value})
#: error codes before auth_ok meaning the server refuses this client (do not retry)
_AUTH_ERRORS = frozenset({ErrorCode.AUTH_REJECTED.value, ErrorCode.AUTH_REQUIRED.value,
                          ErrorCode.FORBIDDEN.value})
#: error codes before auth_ok meaning a stream name of the client is wrong (do not retry)
_STREAM_ERRORS = frozenset({ErrorCode.BAD_STREAM.value, ErrorCode.UNKNOWN_CHANNEL.value})


#: the default reconnect policy (immutable, so one shared instance is safe)
_DEFAULT_POLICY = ReconnectPolicy()


class ConnectionState(enum.IntEnum):
    """Where the client is (the upstream values)."""

    DISCONNECTED = 0
    CONNECTING = 1
    CONNECTED = 2
    RESUMING = 3


@dataclass(slots=True)
class ClientStats:
    """Counters of one client (since it was created).

    Attributes:
        frames_received: application frames read from the transport (duplicates included).
        frames_delivered: application frames handed to the handlers.
        duplicates_dropped: frames dropped because their cursor was already delivered.
        gaps_seen: gaps detected in the cursor sequence of a stream.
        gap_fill_requests: replay requests sent to fill gaps.
        frames_lost: cursors the client gave up on (the server said they cannot be replayed).
        reconnects: successful reconnects.
    """

    frames_received: int = 0
    frames_delivered: int = 0
    duplicates_dropped: int = 0
    gaps_seen: int = 0
    gap_fill_requests: int = 0
    frames_lost: int = 0
    reconnects: int = 0


async def _call(callback: Callable[..., Any] | None, *args: Any) -> None:
    """Call a user callback (sync or async); its exceptions are logged, never raised into the client."""
    if callback is None:
        return
    try:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("pushwire client: callback %r failed", callback)


class PushClient:
    """An asyncio pushwire client.

    Args:
        url: the server's base URL (``http://host:port``; ``ws://`` works too).
        channels: the application's ChannelKind subclass.
        client_id: this client's UUID; a random UUID4 when None.
        token: the auth token handed to the server's validator.
        streams: streams to subscribe at connect (``chat``, ``chat:room42``); personal streams are implicit.
        transport: ``ws-first``, ``sse-first`` (try one, fall back to the other), ``ws-only`` or ``sse-only``.
        reconnect: when and how often to reconnect after losing the connection.
        auto_ack: acknowledge every delivered frame (the contiguous cursor of its stream).
        on_state_change: ``(new_state, old_state)``, called on every state change.
        on_gap: ``(stream, missing_from, missing_to)``, called when a frame arrives after a hole.
        on_resume_required: ``(op)`` with the server's ``ResumeRequired`` op: frames ``op.from_cursor ..
            op.to_cursor`` of stream ``op.channel`` cannot be replayed; reload the stream's state from its
            source of truth.
        fill_gaps: ask the server to replay the missing frames of a gap.
        open_timeout_s: how long one connection attempt (transport + ``auth_ok``) may take.
    """

    def __init__(
        self,
        url: str,
        *,
        channels: type[ChannelKind] = DefaultChannel,
        client_id: str | None = None,
        token: str | None = None,
        streams: Iterable[str] = (),
        transport: str = "ws-first",
        reconnect: ReconnectPolicy = _DEFAULT_POLICY,
        auto_ack: bool = False,
        on_state_change: Callable[[ConnectionState, ConnectionState], Any] | None = None,
        on_gap: Callable[[str, int, int], Any] | None = None,
        on_resume_required: Callable[[ResumeRequired], Any] | None = None,
        fill_gaps: bool = True,
        open_timeout_s: float = 10.0,
    ) -> None:
        if transport not in TRANSPORT_ORDERS:
            raise ValueError(f"transport must be one of {sorted(TRANSPORT_ORDERS)}, got {transport!r}")
        if client_id is None:
            client_id = str(uuid.uuid4())
        elif not is_uuid(client_id):
            raise ValueError(f"client_id must be a canonical UUID string, got {client_id!r}")
        if open_timeout_s <= 0:
            raise ValueError("open_timeout_s must be > 0")
        self._endpoints = Endpoints.from_url(url)
        self._channels = channels
        self._system_name: str = channels.system().wire_name
        self._client_id = client_id.lower()
        self._token = token
        self._streams: list[str] = []
        for name in streams:
            self._add_stream(name)
        self._order = TRANSPORT_ORDERS[transport]
        self._policy = reconnect
        self._auto_ack = auto_ack
        self._on_state_change = on_state_change
        self._on_gap = on_gap
        self._on_resume_required = on_resume_required
        self._fill_gaps = fill_gaps
        self._open_timeout_s = open_timeout_s

        self._handlers: dict[str, list[Handler]] = {}
        self._tracker = CursorTracker()
        self._stats = ClientStats()
        self._state = ConnectionState.DISCONNECTED
        self._state_changed = asyncio.Event()
        self._transport: Transport | None = None
        self._session_token: str | None = None
        self._outcomes: dict[str, StreamStatus] = {}
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._close_error: BaseException | None = None
        #: reason of the server's last ``goodbye`` on the current connection
        self._goodbye_reason: str | None = None
        #: (streams asked for, future of the ``subscribed`` streams map), oldest first
        self._subscribe_waiters: list[tuple[frozenset[str], asyncio.Future[dict[str, StreamStatus]]]] = []
        #: stream -> from_cursor of a gap-fill request not answered yet
        self._fill_pending: dict[str, int] = {}
        self._ack_due: dict[str, int] = {}
        self._ack_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------------------------
    # properties
    # ------------------------------------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        """This client's id (lower-case UUID)."""
        return self._client_id

    @property
    def state(self) -> ConnectionState:
        """The connection state."""
        return self._state

    @property
    def transport_in_use(self) -> str | None:
        """``"ws"`` or ``"sse"`` while connected, else None."""
        return self._transport.name if self._transport is not None else None

    @property
    def session_token(self) -> str | None:
        """The session token of the last ``auth_ok`` (authorises ``POST /rps/ack`` and ``/rps/send``)."""
        return self._session_token

    @property
    def stats(self) -> ClientStats:
        """The client's counters (live object)."""
        self._stats.frames_lost = self._tracker.lost
        return self._stats

    @property
    def streams(self) -> list[str]:
        """The streams this client subscribes (at connect and on every reconnect)."""
        return list(self._streams)

    @property
    def resume_outcomes(self) -> dict[str, StreamStatus]:
        """The per-stream entries of the last ``auth_ok`` and later ``subscribed`` ops (outcome, cursor, top)."""
        return dict(self._outcomes)

    def cursors(self) -> dict[str, int]:
        """Return the highest delivered cursor per stream."""
        return self._tracker.cursors()

    def epochs(self) -> dict[str, str]:
        """Return the known epoch per stream."""
        return self._tracker.epochs()

    def holes(self, stream: str) -> list[tuple[int, int]]:
        """Return the cursor ranges of ``stream`` still missing (inclusive)."""
        return self._tracker.holes(stream)

    # ------------------------------------------------------------------------------------------------------
    # handlers
    # ------------------------------------------------------------------------------------------------------

    def on(self, stream_or_channel: str | ChannelKind, handler: Handler) -> None:
        """Register ``handler(frame)`` (sync or async) for a stream, a channel (all its streams) or ``"*"``.

        A channel's handlers get every stream of the channel (``chat``, ``chat:room42``, the personal
        ``chat:@<id>``); the system channel's handlers get every system op, as frames. Handlers run one at a
        time in arrival order; may be registered before or after ``connect()``.
        """
        key = stream_or_channel.wire_name if isinstance(stream_or_channel, ChannelKind) else stream_or_channel
        if key != "*" and key != self._system_name:
            check_stream_syntax(key)
        self._handlers.setdefault(key, []).append(handler)

    def off(self, stream_or_channel: str | ChannelKind, handler: Handler | None = None) -> None:
        """Remove ``handler`` (or every handler) of a stream or channel."""
        key = stream_or_channel.wire_name if isinstance(stream_or_channel, ChannelKind) else stream_or_channel
        if handler is None:
            self._handlers.pop(key, None)
        elif handler in self._handlers.get(key, []):
            self._handlers[key].remove(handler)

    # ------------------------------------------------------------------------------------------------------
    # connection lifecycle
    # ------------------------------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and authenticate; return once ``auth_ok`` arrived.

        The first connection is not retried (the reconnect policy applies once a session was established):
        a failure is raised to the caller.

        Raises:
            StateError: already connected or connecting.
            AuthRejected: the server refused the client (no fallback, no retry).
            ConnectError: no transport could be opened (``TransportUnavailable``) or ``auth_ok`` did not
                arrive within ``open_timeout_s``.
        """
        if self._state is not ConnectionState.DISCONNECTED:
            raise StateError(f"connect() called while {self._state.name.lower()}")
        self._closing = False
        self._close_error = None
        self._set_state(ConnectionState.CONNECTING)
        try:
            await self._establish()
        except BaseException:
            self._set_state(ConnectionState.DISCONNECTED)
            raise
        self._set_state(ConnectionState.CONNECTED)
        self._runner = asyncio.create_task(self._run(), name=f"pushwire-client-{self._client_id[:8]}")

    async def disconnect(self) -> None:
        """Close gracefully: ``goodbye``, then close 1000 (WebSocket) or end the stream (SSE). No reconnect."""
        self._closing = True
        runner, self._runner = self._runner, None
        current = asyncio.current_task()
        if runner is not None and runner is not current:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        transport, self._transport = self._transport, None
        if transport is not None:
            if transport.name == "ws":
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self._open_timeout_s):
                        await transport.send(system_frame(Goodbye().to_payload()))
            await transport.close(1000, "goodbye")
        await self._stop_acks()
        self._fail_waiters(StateError("client disconnected"))
        self._set_state(ConnectionState.DISCONNECTED)

    async def wait_state(self, state: ConnectionState, *, timeout_s: float) -> None:
        """Wait until the client is in ``state``.

        Raises:
            TimeoutError: not reached within ``timeout_s``.
        """
        async with asyncio.timeout(timeout_s):
            while self._state is not state:
                self._state_changed.clear()
                await self._state_changed.wait()

    async def wait_closed(self) -> None:
        """Wait until the client stopped for good (disconnect, terminal close, retries exhausted)."""
        if self._runner is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._runner)

    @property
    def close_error(self) -> BaseException | None:
        """Why the client stopped on its own (terminal close code, rejected reconnect), if it did."""
        return self._close_error

    async def drop_connection(self) -> None:
        """Cut the transport as a network failure would (no close handshake): the client reconnects.

        For tests and demos of resume.
        """
        transport = self._transport
        if transport is not None and hasattr(transport, "abort"):
            transport.abort()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------------------------------------------
    # sending
    # ------------------------------------------------------------------------------------------------------

    async def send(self, channel: str | ChannelKind, payload: Any, *, topic: str | None = None) -> None:
        """Send an application frame (WebSocket message, or ``POST /rps/send`` over SSE).

        Raises:
            StateError: not connected.
            StreamError: unknown channel, the system channel, or a bad topic.
            SendError: the transport failed.
        """
        name = channel.wire_name if isinstance(channel, ChannelKind) else channel
        member = self._channels.from_name(name)
        if member is None or member.is_system:
            raise StreamError(f"cannot send on channel {name!r}", stream=name)
        if topic is not None:
            check_stream_syntax(stream_name(name, topic))
        frame: dict[str, Any] = {"channel": name}
        if topic is not None:
            frame["topic"] = topic
        frame["payload"] = payload
        await self._connected_transport().send(frame)

    async def send_op(self, op: Op) -> None:
        """Send a system op (e.g. ``Ping()``) wrapped in a system frame.

        Over SSE only the ops ``POST /rps/send`` accepts work: subscribe, unsubscribe, ack, resume_required,
        ping.
        """
        await self._connected_transport().send(system_frame(op.to_payload()))

    async def subscribe(self, streams: Iterable[str], *, resume_cursors: Mapping[str, int] | None = None,
                        wait: bool = True) -> dict[str, StreamStatus]:
        """Subscribe to more streams; they are kept across reconnects.

        Args:
            streams: stream names.
            resume_cursors: replay from these cursors (by default the tracked cursor of each stream that
                was received before; untracked streams start live).
            wait: wait for the server's ``subscribed`` answer (bounded by ``open_timeout_s``).

        Returns:
            The ``subscribed`` op's ``streams`` map (empty when not connected or ``wait`` is False).

        Raises:
            AuthRejected: the server refused the subscription (``forbidden``).
            StreamError: bad stream name or unknown channel.
        """
        names = [n for n in map(check_stream_syntax, streams) if n.partition(":")[0] != self._system_name]
        for name in names:
            self._add_stream(name)
        if self._state is not ConnectionState.CONNECTED or not names:
            return {}
        cursors = {s: self._tracker.resume_cursor(s) for s in names if s in self._tracker}
        if resume_cursors:
            cursors.update(resume_cursors)
        epochs = {s: e for s, e in self._tracker.epochs().items() if s in cursors}
        op = Subscribe(tuple(names), cursors, epochs)
        if not wait:
            await self.send_op(op)
            return {}
        future: asyncio.Future[dict[str, StreamStatus]] = asyncio.get_running_loop().create_future()
        entry = (frozenset(names), future)
        self._subscribe_waiters.append(entry)
        try:
            await self.send_op(op)
            async with asyncio.timeout(self._open_timeout_s):
                return await future
        finally:
            if entry in self._subscribe_waiters:
                self._subscribe_waiters.remove(entry)

    async def unsubscribe(self, streams: Iterable[str]) -> None:
        """Stop receiving ``streams`` (no answer from the server)."""
        names = [check_stream_syntax(s) for s in streams]
        for name in names:
            if name in self._streams:
                self._streams.remove(name)
            self._tracker.forget(name)
            self._ack_due.pop(name, None)
        if self._state is ConnectionState.CONNECTED and names:
            await self.send_op(Unsubscribe(tuple(names)))

    async def ack(self, stream: str, cursor: int) -> None:
        """Acknowledge frames of ``stream`` up to ``cursor`` (WebSocket ``ack`` op; ``POST /rps/ack`` on SSE)."""
        await self._connected_transport().ack(stream, cursor, session_token=self._session_token)

    # ------------------------------------------------------------------------------------------------------
    # internals: connecting
    # ------------------------------------------------------------------------------------------------------

    def _add_stream(self, name: str) -> None:
        name = check_stream_syntax(name)
        if name.partition(":")[0] == self._system_name:
            return  # the system channel is implicit
        if name not in self._streams:
            self._streams.append(name)

    def _connected_transport(self) -> Transport:
        if self._state is not ConnectionState.CONNECTED or self._transport is None:
            raise StateError(f"not connected ({self._state.name.lower()})")
        return self._transport

    def _set_state(self, state: ConnectionState) -> None:
        if state is self._state:
            return
        old, self._state = self._state, state
        self._state_changed.set()
        if self._on_state_change is not None:
            try:
                result = self._on_state_change(state, old)
                if inspect.isawaitable(result):
                    asyncio.ensure_future(result)
            except Exception:
                log.exception("pushwire client: on_state_change failed")

    def _auth_params(self) -> AuthParams:
        return AuthParams(
            client_id=self._client_id,
            token=self._token,
            streams=list(self._streams),
            resume_cursors=self._tracker.resume_cursors(),
            resume_epochs=self._tracker.epochs(),
        )

    def _make_transport(self, kind: str) -> Transport:
        return WebSocketTransport(self._endpoints) if kind == "ws" else SseTransport(self._endpoints)

    async def _establish(self) -> None:
        """Open a transport (with fallback) and complete the auth handshake."""
        failure: PushwireError | None = None
        for kind in self._order:
            transport = self._make_transport(kind)
            self._goodbye_reason = None
            try:
                async with asyncio.timeout(self._open_timeout_s):
                    await transport.open(self._auth_params(), timeout_s=self._open_timeout_s)
                    await self._await_auth_ok(transport)
            except (TransportUnavailable, ConnectError) as exc:
                await transport.close(1000)
                failure = exc
            except TimeoutError:
                await transport.close(1000)
                failure = ConnectError(f"no auth_ok over {kind} within {self._open_timeout_s} s")
            except (TransportClosed, SendError) as exc:
                await transport.close(1000)
                failure = TransportUnavailable(f"{kind} connection ended during the handshake: {exc}")
            except BaseException:
                # AuthRejected, StreamError (fatal: no fallback, no retry), cancellation
                await transport.close(1000)
                raise
            else:
                self._transport = transport
                return
            log.info("pushwire client: %s failed: %s", kind, failure)
        assert failure is not None
        raise failure

    async def _await_auth_ok(self, transport: Transport) -> None:
        while True:
            try:
                message = await transport.recv()
            except TransportClosed as exc:
                if exc.code == 1008:
                    raise AuthRejected(f"connection closed by the server: {exc.reason or 'policy'}") from None
                raise
            frame, op = self._decode(message)
            if op is None:
                if frame is not None:
                    # Nothing but auth_ok (or a fatal error) may come first.
                    log.warning("pushwire client: ignoring a frame received before auth_ok")
                continue
            if isinstance(op, AuthOk):
                self._session_token = op.session_token
                transport.set_session(op.session_token)
                self._outcomes = {}
                self._apply_streams(op.streams)
                return
            if isinstance(op, Error):
                code = op.code.value if isinstance(op.code, ErrorCode) else op.code
                if code in _AUTH_ERRORS:
                    raise AuthRejected(f"{code}: {op.message}")
                if code in _STREAM_ERRORS:
                    raise StreamError(f"{code}: {op.message}", error_code=ErrorCode(code))
                raise ConnectError(f"server error before auth_ok: {code}: {op.message}")
            await self._handle_op(op, transport)

    # ------------------------------------------------------------------------------------------------------
    # internals: the run loop
    # ------------------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        """Read until the transport ends; reconnect when the close code and the policy allow it."""
        while not self._closing:
            transport = self._transport
            assert transport is not None
            try:
                while True:
                    await self._handle(await transport.recv(), transport)
            except TransportClosed as exc:
                closed = exc
            except Exception as exc:  # a bug, not the network: stop rather than reconnect in a loop
                log.exception("pushwire client: receive loop failed")
                closed = TransportClosed(1011, f"client error: {exc!r}")
                self._goodbye_reason = "client_error"
            if self._closing:
                return
            self._transport = None
            await transport.close(1000)
            self._fail_waiters(SendError("connection lost"))
            self._fill_pending.clear()
            if self._goodbye_reason in ("replaced", "client_error"):
                # SSE ends the stream after goodbye "replaced": that is a 4500, not a network failure
                closed = TransportClosed(4500 if self._goodbye_reason == "replaced" else 1011, closed.reason)
            if not (closed.reconnect and self._policy.enabled and self._goodbye_reason != "client_error"):
                log.info("pushwire client: connection closed (%s), not reconnecting", closed)
                self._close_error = closed
                self._set_state(ConnectionState.DISCONNECTED)
                return
            if not await self._reconnect():
                return

    async def _reconnect(self) -> bool:
        self._set_state(ConnectionState.RESUMING)
        attempt = 0
        while self._policy.should_retry(attempt):
            await asyncio.sleep(self._policy.delay_for_attempt(attempt))
            attempt += 1
            if self._closing:
                return False
            try:
                await self._establish()
            except ProtocolError as exc:  # AuthRejected, StreamError: retrying cannot help
                log.warning("pushwire client: reconnect rejected: %s", exc)
                self._close_error = exc
                self._set_state(ConnectionState.DISCONNECTED)
                return False
            except PushwireError as exc:
                log.info("pushwire client: reconnect attempt %d failed: %s", attempt, exc)
                continue
            self._stats.reconnects += 1
            self._set_state(ConnectionState.CONNECTED)
            return True
        self._close_error = ConnectError(f"gave up reconnecting after {attempt} attempts")
        self._set_state(ConnectionState.DISCONNECTED)
        return False

    # ------------------------------------------------------------------------------------------------------
    # internals: inbound messages
    # ------------------------------------------------------------------------------------------------------

    def _decode(self, data: str) -> tuple[Frame | None, Op | None]:
        """Decode an inbound message into an application frame or a system op (None, None: drop it).

        Unknown op types and malformed messages are logged and dropped, as the protocol asks of clients.
        """
        try:
            frame = Frame.decode(data, self._channels)
        except (PushwireError, ValueError) as exc:
            log.warning("pushwire client: dropping a message: %s", exc)
            return None, None
        if not frame.channel.is_system:
            return frame, None
        try:
            return None, decode_op(frame.payload)
        except OpError as exc:
            log.info("pushwire client: ignoring a system op: %s", exc)
            return None, None

    async def _handle(self, data: str, transport: Transport) -> None:
        frame, op = self._decode(data)
        if op is not None:
            await self._handle_op(op, transport)
            return
        if frame is None:
            return
        stream = frame.stream
        if stream not in self._tracker and not is_personal(frame.topic):
            # e.g. frames queued before an unsubscribe took effect: not ours any more
            log.debug("pushwire client: dropping a frame of unsubscribed stream %s", stream)
            return
        self._stats.frames_received += 1
        cursor = frame.cursor
        if cursor is None:
            await self._dispatch(frame, stream)
            return
        advance = self._tracker.advance(stream, cursor)
        if advance.result is CursorResult.DUPLICATE:
            self._stats.duplicates_dropped += 1
            return
        if advance.result is CursorResult.GAP:
            self._stats.gaps_seen += 1
            await _call(self._on_gap, stream, advance.missing_from, advance.missing_to)
            if self._fill_gaps:
                await self._request_fill(stream, advance.missing_from, transport)
        await self._dispatch(frame, stream)
        if self._auto_ack:
            self._schedule_ack(stream)

    async def _dispatch(self, frame: Frame, stream: str) -> None:
        self._stats.frames_delivered += 1
        channel = frame.channel.wire_name
        keys = [stream] if channel == stream else [stream, channel]
        keys.append("*")
        for key in keys:
            for handler in list(self._handlers.get(key, ())):
                await _call(handler, frame)

    async def _handle_op(self, op: Op, transport: Transport) -> None:
        if isinstance(op, Subscribed):
            self._apply_streams(op.streams)
            for name in op.streams:
                self._fill_pending.pop(name, None)
            for names, future in list(self._subscribe_waiters):
                if names <= op.streams.keys() and not future.done():
                    future.set_result(dict(op.streams))
        elif isinstance(op, ResumeRequired):
            if op.to_cursor is not None:
                self._tracker.give_up(op.channel, op.from_cursor, op.to_cursor)
            await _call(self._on_resume_required, op)
        elif isinstance(op, Ping):
            with contextlib.suppress(PushwireError):
                await transport.send(system_frame(Pong().to_payload()))
        elif isinstance(op, Error):
            self._handle_error(op)
        elif isinstance(op, Goodbye):
            self._goodbye_reason = op.reason
        elif isinstance(op, AuthOk):
            # a second auth_ok on one connection is not expected; take its positions anyway
            self._apply_streams(op.streams)
        handlers = self._handlers.get(self._system_name)
        if handlers:
            frame = Frame(self._channels.system(), op.to_payload())
            for handler in list(handlers):
                await _call(handler, frame)

    def _handle_error(self, op: Error) -> None:
        code = op.code.value if isinstance(op.code, ErrorCode) else op.code
        if code in _SUBSCRIBE_ERRORS:
            for names, future in self._subscribe_waiters:
                if future.done():
                    continue
                exc: PushwireError
                if code == ErrorCode.FORBIDDEN.value:
                    exc = AuthRejected(f"subscription refused: {op.message}")
                else:
                    exc = StreamError(f"subscription refused ({code}): {op.message}", error_code=ErrorCode(code))
                future.set_exception(exc)
                for name in names:
                    if name in self._streams:
                        self._streams.remove(name)
                return
        log.warning("pushwire client: server error %s: %s", code, op.message)

    def _apply_streams(self, streams: Mapping[str, StreamStatus]) -> None:
        """Take the per-stream positions of ``auth_ok``/``subscribed``."""
        for name, status in streams.items():
            self._outcomes[name] = status
            self._tracker.sync(name, cursor=status.cursor, epoch=status.epoch,
                               reset=status.outcome is ResumeOutcome.EPOCH_CHANGED)

    async def _request_fill(self, stream: str, first: int, transport: Transport) -> None:
        pending = self._fill_pending.get(stream)
        if pending is not None and pending <= first:
            return  # a replay from an earlier cursor is on its way and covers this gap
        self._fill_pending[stream] = first
        self._stats.gap_fill_requests += 1
        try:
            await transport.send(system_frame(ResumeRequired(stream, first).to_payload()))
        except PushwireError as exc:
            log.info("pushwire client: gap fill request for %s failed: %s", stream, exc)
            self._fill_pending.pop(stream, None)

    # ------------------------------------------------------------------------------------------------------
    # internals: acks and waiters
    # ------------------------------------------------------------------------------------------------------

    def _schedule_ack(self, stream: str) -> None:
        self._ack_due[stream] = self._tracker.resume_cursor(stream)
        if self._ack_task is None or self._ack_task.done():
            self._ack_task = asyncio.create_task(self._flush_acks())

    async def _flush_acks(self) -> None:
        # Coalesces: one ack per stream for everything delivered since the last flush.
        await asyncio.sleep(0)
        while self._ack_due and self._state is ConnectionState.CONNECTED and self._transport is not None:
            due, self._ack_due = self._ack_due, {}
            for stream, cursor in due.items():
                if cursor <= 0:
                    continue
                try:
                    await self._transport.ack(stream, cursor, session_token=self._session_token)
                except PushwireError as exc:
                    log.info("pushwire client: ack of %s@%d failed: %s", stream, cursor, exc)
                    return

    async def _stop_acks(self) -> None:
        task, self._ack_task = self._ack_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _fail_waiters(self, exc: PushwireError) -> None:
        for _, future in self._subscribe_waiters:
            if not future.done():
                future.set_exception(exc)

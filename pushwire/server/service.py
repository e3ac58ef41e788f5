"""The server's session logic (layer 4): what happens for each session event, for WebSocket and SSE alike.

Connections (``WebSocketConnection``, ``SseConnection``) turn bytes into session events; this module acts on
them with the hub and the application's callbacks: authenticate (the validator may be async), register the
client (a second connection with the same client id replaces the first), subscribe with resume, run channel
handlers in order, acks, and the sweeper that runs every timer of every connection once a second.
"""

from __future__ import annotations

import asyncio
from collections import deque
import hashlib
import hmac
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol

from ..config import ServerConfig
from ..errors import AuthRejected, CloseCode, ErrorCode, ProtocolError
from .._core.fanout import Flusher, Outbox, Publication
from ..hub.hub import Hub, PreparedStream
from ..metrics import Metrics
from ..protocol.channels import ChannelKind
from ..protocol.frames import Frame
from ..protocol.messages import AuthOk, Error, Features, Goodbye, Op, Pong, ResumeRequired, Slow, StreamStatus, Subscribed
from ..protocol.session import (
    Session,
    AckReceived,
    AuthRequested,
    FeaturesRequested,
    FrameReceived,
    GoodbyeReceived,
    PingReceived,
    PongReceived,
    ResumeRangeRequested,
    SessionEvent,
    SubscribeRequested,
    UnsubscribeRequested,
    Violation,
    negotiate_features,
)
from ..protocol.streams import MAX_POSITION_CHARS, MAX_POSITION_ENTRIES, StreamRef, format_positions
from .outbound import OutboxMaker
from .sse import vector_fits
from .sockwrite import SocketWriter
from . import eager

__all__ = ["AuthValidator", "Connection", "PushService"]

log = logging.getLogger("pushwire.server")

#: ``auth(client_id, token, streams)`` -> truthy/None to accept, False to reject (or raise AuthRejected);
#: may be a coroutine function.
AuthValidator = Callable[[str, "str | None", list[str]], "bool | None | Awaitable[bool | None]"]
#: ``handler(client_id, frame, server)``; may be a coroutine function.
ChannelHandler = Callable[[str, Frame, Any], Any]

#: features this server grants (binary delivery is not implemented yet: see README)
SUPPORTED_FEATURES: tuple[str, ...] = ()
#: asynchronous handler calls one connection may have waiting before its socket stops being read (WebSocket)
#: or its ``POST /rps/send`` is answered 429 (SSE)
MAX_PENDING_HANDLERS = 64


class Connection(Protocol):
    """What the service needs of a WebSocket or SSE connection (both implement all of it)."""

    client_id: str
    session_token: str
    auth_token: str | None
    streams: set[str]
    closed: bool
    authenticated: bool
    kind: str
    outbox: Outbox
    handlers_pending: int
    #: every byte the connection writes goes through it (None until connection_made)
    writer: SocketWriter | None

    @property
    def active(self) -> bool: ...
    def send_op(self, op: Op) -> None: ...
    def accept(self, auth_ok: AuthOk, positions: dict[str, tuple[int, str]]) -> None: ...
    def close(self, code: int = ..., reason: str = ...) -> None: ...
    def fail(self, code: int, reason: str, op: Op | None = None) -> None: ...
    def goodbye(self, reason: str) -> None: ...
    def abort(self) -> None: ...
    def check_timeouts(self, now: float) -> None: ...
    def queued_lossless(self) -> int: ...
    def hold_inbox(self) -> None: ...
    def release_inbox(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def track_positions(self, positions: dict[str, tuple[int, str]]) -> None: ...
    def forget_positions(self, names: Iterable[str]) -> None: ...
    def post_session(self) -> Session: ...


class PushService:
    """Session logic shared by every connection of one server.

    Args:
        channels: the application's channel enum.
        hub: streams and history.
        config: limits and timers.
        auth: the auth validator, or None to accept everyone.
        metrics: counters.
        loop: the event loop.
        secret: key for session tokens (random per process when None).
    """

    def __init__(self, *, channels: type[ChannelKind], hub: Hub, config: ServerConfig, auth: AuthValidator | None,
                 metrics: Metrics, loop: asyncio.AbstractEventLoop, secret: bytes | None = None) -> None:
        self.channels = channels
        self.system_channel = channels.system()
        self.hub = hub
        self.config = config
        self.auth = auth
        self.metrics = metrics
        self.loop = loop
        self.secret = secret or os.urandom(32)
        self.face: Any = None  # the PushServer handlers receive
        self.connections: set[Any] = set()
        self.http_connections: set[Any] = set()
        self.clients: dict[str, Connection] = {}
        self.handlers: dict[ChannelKind, ChannelHandler] = {}
        self.on_connect: list[Callable[[str], Any]] = []
        self.on_disconnect: list[Callable[[str], Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        #: per connection: its asynchronous handler calls waiting to run, in order, and the task running them
        self._handler_queues: dict[Any, tuple[deque[Awaitable[Any]], asyncio.Task[None]]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        #: most publications one connection may have waiting to enter its lanes (replay plus what arrives meanwhile)
        self.backlog_limit = config.queue.high.max_count + config.queue.normal.max_count + config.queue.low.max_count
        #: flushes every connection that has something to write, once per loop turn
        self.flusher = Flusher(loop.call_soon, metrics.counters, on_error=self._write_failed,
                               sse_id_line=single_position_id_line)
        #: the first block of every SSE stream (the client's reconnect delay)
        self.sse_retry_line = b"retry: %d\n\n" % config.sse.retry_ms
        #: makes each connection's outbox
        self.make_outbox = OutboxMaker(config.queue, self.flusher, backlog_limit=self.backlog_limit)
        metrics.gauge("flush_passes", lambda: self.flusher.passes)
        metrics.gauge("connected_clients", lambda: len(self.clients))
        metrics.gauge("open_connections", lambda: len(self.connections))

    # -- connection bookkeeping -----------------------------------------------------------------------------

    def track(self, connection: Any) -> None:
        self.connections.add(connection)

    def connection_closed(self, connection: Any) -> None:
        """A socket is gone: drop its subscriptions, its pending handlers, its registration if still current."""
        self.connections.discard(connection)
        queued = self._handler_queues.pop(connection, None)
        if queued is not None:
            queued[1].cancel()  # handler work of a client that left is dropped (the worker closes it)
        if self._unregister(connection):
            self._run_hooks(self.on_disconnect, connection.client_id)

    def _unregister(self, connection: Any) -> bool:
        """Drop a connection's subscriptions and, if it is its client's current one, the registration."""
        self.hub.unsubscribe(connection, list(connection.streams))
        client_id = connection.client_id
        if client_id and self.clients.get(client_id) is connection:
            del self.clients[client_id]
            self.hub.detach_client(client_id, connection)
            return True
        return False

    def _register(self, connection: Connection, client_id: str) -> None:
        old = self.clients.get(client_id)
        if old is not None and old is not connection:
            self.metrics.inc("replaced_connections")
            self.hub.unsubscribe(old, list(old.streams))
            old.streams.clear()
            old.fail(CloseCode.REPLACED, "replaced by a newer connection", Goodbye("replaced"))
        connection.client_id = client_id
        connection.session_token = self.session_token(client_id)
        self.clients[client_id] = connection

    # -- session tokens -------------------------------------------------------------------------------------

    def session_token(self, client_id: str) -> str:
        """The token ``auth_ok`` hands out; proves a later ack or send comes from that client."""
        # keyed BLAKE2b is a MAC (RFC 7693 section 3) and a few times cheaper than HMAC-SHA256
        return hashlib.blake2b(client_id.encode(), key=self.secret[:64], digest_size=20,
                               person=b"pushwire-session").hexdigest()

    def check_session_token(self, client_id: str, token: str) -> bool:
        return hmac.compare_digest(self.session_token(client_id), token)

    # -- events ---------------------------------------------------------------------------------------------

    def handle_session_event(self, connection: Any, event: SessionEvent) -> None:
        """Act on one event of a connection's session (the connection keeps the order of events)."""
        if isinstance(event, FrameReceived):
            self._on_frame(connection, event.frame)
        elif isinstance(event, AuthRequested):
            connection.hold_inbox()
            self._run_eagerly(self._open_ws_session(connection, event))
        elif isinstance(event, SubscribeRequested):
            connection.hold_inbox()
            self._run_eagerly(self._subscribe(connection, event.streams, event.resume_cursors, event.resume_epochs))
        elif isinstance(event, ResumeRangeRequested):
            connection.hold_inbox()
            name = event.stream.name
            epochs = {name: event.epoch} if event.epoch else {}
            self._run_eagerly(self._subscribe(connection, (event.stream,), {name: event.resume_cursor}, epochs))
        elif isinstance(event, UnsubscribeRequested):
            removed = self.hub.unsubscribe(connection, [ref.name for ref in event.streams])
            connection.streams.difference_update(removed)
            connection.forget_positions(removed)
        elif isinstance(event, AckReceived):
            self.ack(connection.client_id, event.stream, event.cursor)
        elif isinstance(event, PingReceived):
            connection.send_op(Pong())
        elif isinstance(event, FeaturesRequested):
            granted = negotiate_features(event.requested, SUPPORTED_FEATURES)
            connection.send_op(Features(SUPPORTED_FEATURES, granted))
        elif isinstance(event, GoodbyeReceived):
            connection.close(CloseCode.NORMAL, "goodbye")
        elif isinstance(event, Violation):
            self._on_violation(connection, event)
        elif isinstance(event, PongReceived):
            pass

    def _on_violation(self, connection: Any, event: Violation) -> None:
        self.metrics.inc(f"errors_{event.code.value}")
        op = Error(event.code, event.message)
        if event.close is None:
            connection.send_op(op)
        else:
            connection.fail(event.close, event.message, op)

    def slow_op(self, connection: Connection) -> Slow:
        self.metrics.inc("slow_warnings")
        limit = self.config.queue.high.max_count + self.config.queue.normal.max_count
        return Slow(max(limit - connection.queued_lossless(), 0))

    # -- auth and subscribe ---------------------------------------------------------------------------------

    async def validate(self, client_id: str, token: str | None, refs: Iterable[StreamRef]) -> None:
        """Run the auth validator; raise :class:`AuthRejected` unless it accepts.

        A client may always receive its own personal streams; anyone else's are refused before the validator.
        """
        names = []
        for ref in refs:
            if ref.is_personal:
                if ref.owner != client_id:
                    raise AuthRejected(f"{ref.name} is another client's personal stream")
                continue
            names.append(ref.name)
        if self.auth is None:
            return
        try:
            verdict = self.auth(client_id, token, names)
            if inspect.isawaitable(verdict):
                # a validator that hangs must not hold the connection forever: it counts as failing
                verdict = await asyncio.wait_for(verdict, self.config.websocket.auth_timeout_s)
        except AuthRejected:
            raise
        except Exception:
            log.exception("auth validator failed")
            self.metrics.inc("auth_validator_errors")
            raise AuthRejected("authentication unavailable", code=CloseCode.INTERNAL_ERROR) from None
        if verdict is False:
            raise AuthRejected("rejected")

    async def _open_ws_session(self, connection: Any, event: AuthRequested) -> None:
        auth = event.auth
        try:
            await self.validate(auth.client_id, auth.token, event.streams)
        except AuthRejected as exc:
            self.metrics.inc("auth_rejected")
            if exc.code == CloseCode.INTERNAL_ERROR:
                connection.reject(exc.reason, ErrorCode.INTERNAL, CloseCode.INTERNAL_ERROR)
            else:
                connection.reject(exc.reason)
            return
        if not connection.active:
            return
        connection.auth_token = auth.token
        await self.open_session(connection, auth.client_id, event.streams, dict(auth.resume_cursors),
                                dict(auth.resume_epochs))

    async def open_session(self, connection: Any, client_id: str, refs: Iterable[StreamRef],
                           cursors: dict[str, int], epochs: dict[str, str]) -> None:
        """Register an authenticated client, resume its streams and send ``auth_ok`` (WebSocket and SSE)."""
        self._register(connection, client_id)
        self.hub.attach_client(client_id, connection)
        refs = list(refs)
        personal = self.hub.personal_streams(client_id)
        if personal:
            known = {ref.name for ref in refs}
            refs += [ref for ref in personal if ref.name not in known]
        connection.streams.update([ref.name for ref in refs])
        try:
            prepared = await self.hub.prepare(connection, refs, cursors, epochs)
        except Exception:
            # the broker failed (or the step was cancelled): no half-open session, the client retries
            self._unregister(connection)
            self._step_failed(connection, "resuming the session failed", fatal=True)
            raise
        if not connection.active or self.clients.get(client_id) is not connection:
            self.hub.abandon(connection, prepared)
            return
        statuses = _statuses(prepared)
        positions = {item.name: (item.decision.replay_after, item.state.epoch) for item in prepared
                     if not (item.ref.is_personal and item.decision.replay_after == 0)}
        connection.accept(AuthOk(connection.session_token, statuses), positions)
        self._announce_losses(connection, prepared)
        self.hub.activate(connection, prepared)
        self.metrics.inc("sessions_opened")
        if self.on_connect:
            self._run_hooks(self.on_connect, client_id)
        connection.release_inbox()

    async def _subscribe(self, connection: Any, refs: Iterable[StreamRef], cursors: dict[str, int],
                         epochs: dict[str, str]) -> None:
        refs = list(refs)
        too_many = self._too_many_streams(connection, refs)
        if too_many:
            self.metrics.inc("errors_bad_stream")
            connection.send_op(Error(ErrorCode.BAD_STREAM, too_many))
            connection.release_inbox()
            return
        try:
            await self.validate(connection.client_id, connection.auth_token, refs)
        except AuthRejected as exc:
            self.metrics.inc("subscribe_rejected")
            internal = exc.code == CloseCode.INTERNAL_ERROR
            connection.send_op(Error(ErrorCode.INTERNAL if internal else ErrorCode.FORBIDDEN, exc.reason))
            connection.release_inbox()
            return
        if not self._current(connection):
            return
        try:
            prepared = await self.hub.prepare(connection, refs, cursors, epochs)
        except Exception:
            self._step_failed(connection, "subscribing failed", fatal=False)
            connection.release_inbox()
            raise
        if not self._current(connection):
            self.hub.abandon(connection, prepared)
            return
        connection.streams.update(ref.name for ref in refs)
        connection.track_positions({item.name: (item.decision.replay_after, item.state.epoch) for item in prepared})
        connection.send_op(Subscribed(_statuses(prepared)))
        self._announce_losses(connection, prepared)
        self.hub.activate(connection, prepared)
        connection.release_inbox()

    def _current(self, connection: Any) -> bool:
        """Whether the connection is still open and still its client's current one (after an await)."""
        return connection.active and self.clients.get(connection.client_id) is connection

    def _step_failed(self, connection: Any, what: str, *, fatal: bool) -> None:
        self.metrics.inc("internal_errors")
        op = Error(ErrorCode.INTERNAL, what)
        if fatal:
            connection.fail(CloseCode.INTERNAL_ERROR, what, op)
        else:
            connection.send_op(op)

    def _too_many_streams(self, connection: Any, refs: list[StreamRef]) -> str | None:
        """Why a subscribe would take the connection over its stream limits, or None."""
        names = connection.streams | {ref.name for ref in refs}
        if connection.kind == "sse":
            if not vector_fits(names):
                # the position vector (the SSE event id) must stay within its documented limits
                return f"at most {MAX_POSITION_ENTRIES} streams (and {MAX_POSITION_CHARS} id characters) per SSE connection"
        elif len(names) > self.config.max_streams_per_connection:
            return f"at most {self.config.max_streams_per_connection} streams per connection"
        return None

    def _announce_losses(self, connection: Connection, prepared: list[PreparedStream]) -> None:
        for item in prepared:
            op = ResumeRequired.from_decision(item.name, item.decision, epoch=item.state.epoch)
            if op is not None:
                self.metrics.inc(f"resume_{item.decision.outcome.value}")
                connection.send_op(op)

    # -- frames and acks ------------------------------------------------------------------------------------

    def _on_frame(self, connection: Any, frame: Frame) -> None:
        handler = self.handlers.get(frame.channel)
        if handler is None:
            self.metrics.inc("errors_unsupported")
            connection.send_op(Error(ErrorCode.UNSUPPORTED, f"no handler for channel {frame.channel.wire_name}"))
            return
        self.metrics.inc("frames_in")
        self.run_handler(connection, handler, connection.client_id, frame)

    def run_handler(self, connection: Any, handler: ChannelHandler, client_id: str, frame: Frame) -> None:
        """Call a channel handler; async handlers of one connection run one after another, in order."""
        try:
            result = handler(client_id, frame, self.face)
        except Exception:
            self._handler_failed()
            return
        if not inspect.isawaitable(result):
            return
        queued = self._handler_queues.get(connection)
        if queued is None:
            queue: deque[Awaitable[Any]] = deque([result])
            self._handler_queues[connection] = (queue, self._spawn(self._run_handlers(connection, queue)))
        else:
            queued[0].append(result)
        connection.handlers_pending += 1
        if connection.handlers_pending == MAX_PENDING_HANDLERS:
            connection.pause_reading()  # TCP back-pressure: a client cannot queue unbounded handler work

    async def _run_handlers(self, connection: Any, queue: deque[Awaitable[Any]]) -> None:
        """Run one connection's asynchronous handler calls one after another, in arrival order."""
        try:
            while queue:
                try:
                    await queue[0]
                except Exception:
                    self._handler_failed()
                queue.popleft()
                connection.handlers_pending -= 1
                if connection.handlers_pending == MAX_PENDING_HANDLERS // 2:
                    connection.resume_reading()
        finally:
            for waiting in queue:  # cancelled: the coroutines that never ran are closed, not leaked
                if inspect.iscoroutine(waiting):
                    waiting.close()
            connection.handlers_pending -= len(queue)
            queue.clear()
            current = self._handler_queues.get(connection)
            if current is not None and current[0] is queue:
                del self._handler_queues[connection]

    def _write_failed(self, outbox: Outbox, exc: BaseException) -> None:
        self.metrics.inc("write_errors")
        log.error("writing to a connection failed", exc_info=exc)
        try:
            outbox.owner.abort()
        except Exception:  # pragma: no cover - the connection is already broken
            pass

    def _handler_failed(self) -> None:
        self.metrics.inc("handler_errors")
        log.exception("channel handler failed")

    def ack(self, client_id: str, ref: StreamRef, cursor: int) -> None:
        """Record an ack from a client (a personal stream's history is trimmed through the cursor)."""
        if ref.is_personal and ref.owner != client_id:
            self.metrics.inc("errors_forbidden")
            return
        self.hub.ack(ref, cursor)

    # -- tasks, hooks and the sweeper -----------------------------------------------------------------------

    def _run_eagerly(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a session step now, until it first waits; only then does it become a task (see ``eager``).

        Opening a session or subscribing usually never waits (a synchronous validator, the memory broker):
        it then completes here, in the same loop turn, without a task, its scheduling or its latency.
        """
        try:
            outcome = eager.start(coro)
        except Exception:
            self.metrics.inc("internal_errors")
            log.exception("pushwire session step failed")
            return
        if isinstance(outcome, eager.Waiting):
            self._spawn(eager.resume(outcome))

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = self.loop.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.metrics.inc("internal_errors")
            log.error("pushwire task failed", exc_info=task.exception())

    def _run_hooks(self, hooks: list[Callable[[str], Any]], client_id: str) -> None:
        for hook in hooks:
            try:
                result = hook(client_id)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                self.metrics.inc("hook_errors")
                log.exception("connect/disconnect hook failed")

    def start_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = self._spawn(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        """Every timer of every connection, once a second; one connection's failure affects only it."""
        ticks = 0
        while True:
            await asyncio.sleep(1.0)
            now = self.loop.time()
            for connection in [*self.connections, *self.http_connections]:
                try:
                    connection.check_timeouts(now)
                except Exception:
                    self.metrics.inc("internal_errors")
                    log.exception("connection timer failed; aborting that connection")
                    connection.abort()
            ticks += 1
            if ticks % 10 == 0:
                try:
                    self.hub.sweep()
                except Exception:
                    self.metrics.inc("internal_errors")
                    log.exception("history sweep failed")

    def guard_closed_loop(self) -> None:
        """Before writing from outside the loop: if it closed, its transports closed their sockets without
        ``connection_lost``, and a descriptor number may belong to another socket now. Every writer goes
        through its transport from then on (which refuses, as it did before writers wrote to sockets)."""
        if self.loop.is_closed():
            for connection in self.connections:
                if connection.writer is not None:
                    connection.writer.detach()

    async def shutdown(self, reason: str = "shutdown") -> None:
        """Say goodbye to every connection, let queues drain (bounded), then cancel what is left."""
        self.guard_closed_loop()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for connection in list(self.connections):
            connection.goodbye(reason)
        for connection in list(self.http_connections):
            connection.close()
        deadline = self.loop.time() + self.config.shutdown_timeout_s
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        for connection in list(self.connections):
            connection.abort()
        for task in list(self._tasks):
            task.cancel()


def single_position_id_line(publication: Publication) -> bytes:
    """The SSE ``id:`` line of a connection whose position vector is the publication's stream alone."""
    return b"id: %s\n" % format_positions({publication.stream: (publication.offset, publication.epoch)}).encode()


def _statuses(prepared: list[PreparedStream]) -> dict[str, StreamStatus]:
    return {item.name: StreamStatus.from_decision(item.decision, epoch=item.state.epoch, top=item.state.last_offset)
            for item in prepared}

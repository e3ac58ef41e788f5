"""The HTTP/1.1 connection (layer 4): an asyncio ``Protocol`` that owns a socket until it is upgraded.

It feeds bytes to the sans-I/O :class:`~pushwire.protocol.http11.HttpRequestParser`, hands each complete request
to the router, writes the answer, and keeps the connection alive between requests. Requests are answered in
order: while an asynchronous route runs, later pipelined requests wait in the parser. A WebSocket or SSE route
*upgrades* the connection: the transport is handed to the new protocol object and this one is done.

Timeouts are not timers per connection: the server's sweeper calls :meth:`HttpConnection.check_timeouts` about
once a second (a head that arrives too slowly gets 408, an idle keep-alive connection is closed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from ..config import HttpConfig
from ..errors import HttpError
from ..protocol.http11 import HttpRequestParser, Request, build_response
from . import eager

if TYPE_CHECKING:
    from ..metrics import Metrics

__all__ = ["HttpConnection", "Router"]


class Router(Protocol):
    """Answers a request: bytes (a complete response), an awaitable of bytes, or None when it upgraded."""

    def handle(self, connection: HttpConnection, request: Request) -> bytes | Awaitable[bytes] | None: ...


class HttpConnection(asyncio.Protocol):
    """One client's HTTP/1.1 connection, until it closes or is upgraded."""

    __slots__ = ("config", "router", "metrics", "loop", "tracker", "transport", "parser", "busy", "upgraded",
                 "closed", "last_activity", "partial_since", "body_since", "writing_paused", "say_keep_alive")

    def __init__(self, config: HttpConfig, router: Router, metrics: Metrics, loop: asyncio.AbstractEventLoop,
                 tracker: set[Any]) -> None:
        self.config = config
        self.router = router
        self.metrics = metrics
        self.loop = loop
        self.tracker = tracker
        self.transport: asyncio.Transport | None = None
        self.parser = HttpRequestParser(config)
        self.busy = False
        self.upgraded = False
        self.closed = False
        self.last_activity = loop.time()
        # the first head is due within header_timeout_s of the connection: a client that connects and sends
        # nothing holds a socket as surely as one that sends its head slowly
        self.partial_since: float | None = self.last_activity
        #: when the current request's body started to arrive (it has body_timeout_s, not header_timeout_s)
        self.body_since: float | None = None
        #: the transport's write buffer is full: the client is not reading its answers
        self.writing_paused = False
        #: the request being answered is HTTP/1.0 asking for keep-alive: its answer must say it stays open
        self.say_keep_alive = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.tracker.add(self)
        self.metrics.inc("http_connections")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.tracker.discard(self)

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.loop.time()
        try:
            self.parser.feed(data)
        except HttpError:
            self.abort()  # the parser already failed and its answer was sent
            return
        if self.busy or self.writing_paused:
            # an asynchronous route is running, or the client is not reading: read no more until it answered
            self.transport.pause_reading()  # type: ignore[union-attr]
            return
        self._process()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def pause_writing(self) -> None:
        # A client that pipelines requests without reading the answers would have us buffer answers without
        # bound: answer nothing more, and read nothing more, until it catches up.
        self.writing_paused = True
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if not (self.closed or self.upgraded or self.busy):
            self.transport.resume_reading()  # type: ignore[union-attr]
            self._process()

    # request loop

    def _process(self) -> None:
        while not (self.busy or self.upgraded or self.closed or self.writing_paused):
            try:
                request = self.parser.next_request()
            except HttpError as exc:
                self.fail(exc)  # the byte stream is unusable after a parse error: close after the answer
                return
            if request is None:
                now = self.loop.time()
                if self.parser.in_body:
                    self.body_since = self.body_since or now
                    if self.parser.take_expect_continue():
                        self.transport.write(build_response(100))  # type: ignore[union-attr]
                else:
                    self.partial_since = (self.partial_since or now) if self.parser.has_partial else None
                return
            self.partial_since = self.body_since = None
            self._dispatch(request)

    def _dispatch(self, request: Request) -> None:
        self.metrics.inc("http_requests")
        self.say_keep_alive = request.keep_alive and request.version == "HTTP/1.0"
        try:
            answer = self.router.handle(self, request)
            if answer is not None and not isinstance(answer, bytes):
                # an asynchronous route runs now, and becomes a task only if it really waits (see ``eager``)
                answer = eager.start(answer)  # type: ignore[arg-type]
        except Exception as exc:
            self._route_failed(exc, request.keep_alive)
            return
        if isinstance(answer, eager.Waiting):
            self.busy = True
            task = self.loop.create_task(eager.resume(answer))
            task.add_done_callback(lambda done: self._async_done(done, request.keep_alive))
        elif answer is not None and not (self.closed or self.upgraded):
            self.respond(answer, keep_alive=request.keep_alive)
        # None: upgraded, or answered by the route itself

    def _async_done(self, task: asyncio.Task[bytes | None], keep_alive: bool) -> None:
        self.busy = False
        if task.cancelled():
            if not (self.closed or self.upgraded):
                self.abort()
            return
        exc = task.exception()
        if exc is not None:
            self._route_failed(exc, keep_alive)
        else:
            response = task.result()
            if response is not None and not (self.closed or self.upgraded):
                self.respond(response, keep_alive=keep_alive)
        if not (self.closed or self.upgraded or self.writing_paused):
            self.transport.resume_reading()  # type: ignore[union-attr]
            self._process()

    def _route_failed(self, exc: BaseException, keep_alive: bool) -> None:
        if self.upgraded:
            # the connection (SSE) belongs to its stream now: the route already failed that stream
            self.metrics.inc("http_internal_errors")
            self.loop.call_exception_handler({"message": "pushwire route failed", "exception": exc})
        elif self.closed:
            return
        elif isinstance(exc, HttpError):
            self.fail(exc, keep_alive=keep_alive)
        else:
            self._internal_error(exc)

    def _internal_error(self, exc: BaseException) -> None:
        self.metrics.inc("http_internal_errors")
        self.fail(HttpError(500, "internal server error"), keep_alive=False)
        self.loop.call_exception_handler({"message": "pushwire route failed", "exception": exc})

    # answers

    def respond(self, response: bytes, *, keep_alive: bool) -> None:
        """Write a complete response; close after it unless the connection is kept alive."""
        if self.closed or self.transport is None:
            return
        if keep_alive and self.say_keep_alive:
            # HTTP/1.0 closes after each answer unless the answer says otherwise (RFC 9112 9.3)
            end = response.find(b"\r\n\r\n")
            if end >= 0 and b"\r\nconnection:" not in response[:end].lower():
                response = response[:end + 2] + b"Connection: keep-alive\r\n" + response[end + 2:]
        self.transport.write(response)
        self.last_activity = self.loop.time()
        if not keep_alive:
            self.close()

    def fail(self, error: HttpError, *, keep_alive: bool = False) -> None:
        """Answer with an error status (a plain-text body with the reason) and count it."""
        self.metrics.inc(f"http_status_{error.status}")
        body = (error.reason + "\n").encode()
        self.respond(build_response(error.status, body, headers=error.headers,
                                    content_type="text/plain; charset=utf-8", keep_alive=keep_alive),
                     keep_alive=keep_alive)

    def upgrade(self, protocol: asyncio.Protocol) -> None:
        """Hand the socket to ``protocol``, which writes the answer's head (a 101, an SSE head) itself."""
        assert self.transport is not None
        transport = self.transport
        self.upgraded = True
        self.tracker.discard(self)
        remaining = self.parser.take_remaining()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if remaining:
            protocol.data_received(remaining)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.tracker.discard(self)
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.closed = True
            self.tracker.discard(self)
            self.transport.abort()

    def check_timeouts(self, now: float) -> None:
        """Cut a head or a body that arrives too slowly (408) and idle keep-alive connections."""
        if self.busy or self.closed:
            return
        if self.writing_paused:
            # its requests wait for it to read; a client that stops reading for good is dropped when idle
            # (abort: close() would wait for the full write buffer to drain)
            if now - self.last_activity > self.config.keepalive_timeout_s:
                self.abort()
            return
        if self.body_since is not None:
            if now - self.body_since > self.config.body_timeout_s:
                self.metrics.inc("http_timeouts")
                self.fail(HttpError(408, "request body not received in time"))
        elif self.partial_since is not None or self.parser.has_partial:
            if self.partial_since is None:
                self.partial_since = now
            elif now - self.partial_since > self.config.header_timeout_s:
                self.metrics.inc("http_timeouts")
                self.fail(HttpError(408, "request not received in time"))
        elif now - self.last_activity > self.config.keepalive_timeout_s:
            self.close()

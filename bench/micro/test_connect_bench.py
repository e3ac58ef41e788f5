"""Micro benchmarks of a connection's set-up, in process, without sockets (pytest-benchmark).

What a client costs the server before its first frame, measured on the server's own objects:

- **HTTP head**: parsing a WebSocket upgrade head with the C fast path (``_core.httphead``) against the same
  parser with the fast path turned off (the line-by-line checks, which stay the model and the error path);
- **WebSocket connect**: ``HttpConnection`` receives the upgrade request, answers 101, the connection receives
  the ``auth`` frame, the session opens on ``chat`` and the flush writes ``auth_ok``; then the connection is
  lost and the service forgets it;
- **SSE connect**: the same for ``GET /rps/sse?client_id=..&channels=chat``.

The transport and the event loop are stand-ins (the flush pass the server schedules with ``call_soon`` runs
right after each connection), so only pushwire's own code is timed. Not part of the default test run
(``testpaths`` is ``tests/``). Run from the repository root:

    .venv/bin/python -m pytest bench/micro/test_connect_bench.py --benchmark-only -q
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from pushwire._core.wsframe import encode_ws_frame_masked
from pushwire.app import PushServer
from pushwire.config import HttpConfig
from pushwire.protocol import http11
from pushwire.server.http import HttpConnection
from pushwire.server.routes import Routes
from pushwire.protocol.streams import StreamRef
from pushwire.server.service import PushService

CLIENT_ID = "5e0c2a9e-3f1b-4c55-9a57-0d7c1f3b2a10"
UPGRADE = (b"GET /rps HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: pushwire.v1\r\nOrigin: http://127.0.0.1:9100\r\n"
           b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0\r\n\r\n")
AUTH = (b'{"channel":"system","cursor":null,"client_id":null,"payload":{"type":"auth","client_id":"%s",'
        b'"token":null,"capabilities":["chat"],"resume_cursor":null,"resume_cursors":{}}}' % CLIENT_ID.encode())
SSE = (b"GET /rps/sse?client_id=%s&channels=chat HTTP/1.1\r\nHost: 127.0.0.1:9100\r\n"
       b"Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n" % CLIENT_ID.encode())

HEAD_IMPLS = [pytest.param("cython", id="cython", marks=pytest.mark.gate), pytest.param("model", id="model")]
# calls per timed round, for rounds of about 300 us (conftest.py ``measure``)
HEAD_ITERATIONS = {"cython": 100, "model": 30}
CONNECT_ITERATIONS = 4


class StandInLoop:
    """What the service asks of its loop while a connection is set up: the time, and ``call_soon``."""

    def __init__(self) -> None:
        self.ready: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def time(self) -> float:
        return time.monotonic()

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        self.ready.append((callback, args))

    def run_ready(self) -> None:
        while self.ready:
            callback, args = self.ready.pop(0)
            callback(*args)

    def create_task(self, coro: Any) -> Any:
        coro.close()
        raise AssertionError("a set-up step waited: the benchmark expects the memory broker and no validator")


class StandInTransport:
    """A socket that keeps what is written; the protocol that owns it is whatever it was last given."""

    def __init__(self) -> None:
        self.protocol: Any = None
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def writelines(self, parts: Any) -> None:
        self.written.append(b"".join(parts))

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


class Server:
    """A service and its routes over the stand-in loop: connections are made and lost by hand."""

    def __init__(self) -> None:
        app = PushServer()
        self.loop = StandInLoop()
        self.service = PushService(channels=app.channels, hub=app.hub, config=app.config, auth=None,
                                   metrics=app.metrics, loop=self.loop)  # type: ignore[arg-type]
        self.routes = Routes(self.service)
        self.config = app.config.http
        self.auth_frame = encode_ws_frame_masked(AUTH, 1, b"\x01\x02\x03\x04")
        # a stream with history stays when its last subscriber leaves, as on a server with other clients
        app.hub.publish_now(StreamRef.of(app.channels.CHAT), b'"kept"')

    def _connect(self) -> StandInTransport:
        transport = StandInTransport()
        connection = HttpConnection(self.config, self.routes, self.service.metrics, self.loop,  # type: ignore[arg-type]
                                    self.service.http_connections)
        transport.protocol = connection
        connection.connection_made(transport)  # type: ignore[arg-type]
        return transport

    def websocket(self) -> StandInTransport:
        transport = self._connect()
        transport.protocol.data_received(UPGRADE)
        transport.protocol.data_received(self.auth_frame)
        self.loop.run_ready()
        transport.protocol.connection_lost(None)
        self.loop.run_ready()
        return transport

    def sse(self) -> StandInTransport:
        transport = self._connect()
        transport.protocol.data_received(SSE)
        self.loop.run_ready()
        transport.protocol.connection_lost(None)
        self.loop.run_ready()
        return transport


@pytest.fixture(scope="module")
def server() -> Server:
    return Server()


@pytest.mark.benchmark(group="http: parse a WebSocket upgrade head")
@pytest.mark.parametrize("impl", HEAD_IMPLS)
def test_parse_upgrade_head(measure, monkeypatch, impl):
    if impl == "model":
        monkeypatch.setattr(http11, "parse_head", lambda head: None)
    config = HttpConfig()

    def parse() -> http11.Request | None:
        parser = http11.HttpRequestParser(config)
        parser.feed(UPGRADE)
        return parser.next_request()

    request = measure(parse, iterations=HEAD_ITERATIONS)
    assert request is not None and request.headers.get("sec-websocket-version") == "13"


@pytest.mark.gate
@pytest.mark.benchmark(group="server: WebSocket connect, auth, auth_ok, close")
def test_websocket_connect(measure, server):
    transport = measure(server.websocket, iterations=CONNECT_ITERATIONS)
    assert transport.written[0].startswith(b"HTTP/1.1 101 ")
    assert b'"type":"auth_ok"' in transport.written[1]
    assert not server.service.clients


@pytest.mark.gate
@pytest.mark.benchmark(group="server: SSE connect, auth_ok, close")
def test_sse_connect(measure, server):
    transport = measure(server.sse, iterations=CONNECT_ITERATIONS)
    (written,) = transport.written
    assert written.startswith(b"HTTP/1.1 200 OK") and b'"type":"auth_ok"' in written
    assert not server.service.clients

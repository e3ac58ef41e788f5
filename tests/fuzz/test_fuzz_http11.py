"""Fuzz target: the HTTP/1.1 request parser and the WebSocket handshake check.

Documented failures only: ``HttpRequestParser`` raises ``HttpError`` (and nothing else) on any input, split
into reads in any way; ``check_websocket_upgrade`` raises only ``HandshakeError``. Everything the parser
returns is a well-formed ``Request``. Runs as a hypothesis test in the normal suite; for a long run, drive
``test_http_parser.hypothesis.fuzz_one_input`` from atheris or another coverage-guided fuzzer.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings

from pushwire.config import HttpConfig
from pushwire.errors import HandshakeError, HttpError
from pushwire.protocol.http11 import HttpRequestParser, Request, check_websocket_upgrade, select_subprotocol
from tests.fuzz._mutate import mutated, reads, split

CONFIG = HttpConfig(max_request_line_bytes=256, max_header_bytes=512, max_headers=12, max_body_bytes=64)

CORPUS = [
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /rps HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: chat, pushwire.v1\r\n\r\n",
    b"POST /rps/ack HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n{\"cursor\":1}",
    b"POST /rps/publish HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET /rps/sse?client_id=a%20b&channels=chat,x&cursors=chat%3D4~e HTTP/1.0\r\n"
    b"Connection: keep-alive\r\n\r\n",
    b"GET http://example.com:80/x?y=1+2 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    b"\r\n\r\nGET /%E2%82%AC HTTP/1.1\r\nHost: h\r\nX-Fold: a\r\n b\r\n\r\n",
    # Near the limits of CONFIG, so that small edits cross them.
    b"GET /" + b"a" * 240 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X-Many: 1\r\n" * 11 + b"\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"b" * 480 + b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 64\r\n\r\n" + b"c" * 64,
    b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
]

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check_request(request: Request) -> None:
    assert request.version in ("HTTP/1.0", "HTTP/1.1")
    assert len(request.body) <= CONFIG.max_body_bytes
    assert isinstance(request.path, str) and isinstance(request.keep_alive, bool)
    assert all(isinstance(v, str) for v in request.query.values())
    for name, value in request.headers:
        assert name and "\r" not in value and "\n" not in value
    try:
        accept = check_websocket_upgrade(request)
    except HandshakeError as error:
        assert error.status in (400, 426)
    else:
        assert len(accept) == 28
    select_subprotocol(request, ["pushwire.v1"])


@FUZZ
@given(data=mutated(CORPUS), cuts=reads())
def test_http_parser(data, cuts):
    parser = HttpRequestParser(CONFIG)
    try:
        for chunk in split(data, cuts):
            parser.feed(chunk)
            while (request := parser.next_request()) is not None:
                event("parsed a request")
                check_request(request)
            parser.has_partial  # noqa: B018 - must not raise either
    except HttpError as error:
        event(f"HTTP {error.status}")
        assert error.status in (400, 413, 414, 431, 501, 505)

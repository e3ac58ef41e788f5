"""Tests of the sans-I/O HTTP/1.1 layer: request parsing (every rule and status), random read splits,
response builders (checked against h11), and the WebSocket handshake (checked against the websockets client).
"""

from __future__ import annotations

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.protocol import State as WsState
from websockets.uri import parse_uri

from pushwire.config import HttpConfig
from pushwire.errors import HandshakeError, HttpError, StateError
from pushwire.protocol.http11 import (
    Headers,
    HttpRequestParser,
    Request,
    build_handshake_rejection,
    build_response,
    build_sse_head,
    build_websocket_accept,
    check_websocket_upgrade,
    error_response,
    json_response,
    reason_phrase,
    select_subprotocol,
    websocket_accept_key,
)

CONFIG = HttpConfig()


def parse_all(data: bytes, config: HttpConfig = CONFIG) -> list[Request]:
    parser = HttpRequestParser(config)
    parser.feed(data)
    requests = []
    while (request := parser.next_request()) is not None:
        requests.append(request)
    return requests


def parse_one(data: bytes, config: HttpConfig = CONFIG) -> Request:
    (request,) = parse_all(data, config)
    return request


def http_error(data: bytes, config: HttpConfig = CONFIG) -> HttpError:
    parser = HttpRequestParser(config)
    parser.feed(data)
    with pytest.raises(HttpError) as info:
        while parser.next_request() is not None:
            pass
    # Dead after an error: every later call raises the same error.
    with pytest.raises(HttpError) as again:
        parser.next_request()
    assert again.value is info.value
    with pytest.raises(HttpError):
        parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    return info.value


# ------------------------------------------------------------------------------------------------ requests


def test_simple_get():
    request = parse_one(b"GET /healthz HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n")
    assert request.method == "GET"
    assert request.target == "/healthz"
    assert request.path == "/healthz"
    assert request.query == {} and request.query_all == {}
    assert request.version == "HTTP/1.1"
    assert request.body == b""
    assert request.keep_alive is True
    assert list(request.headers) == [("Host", "example.com"), ("User-Agent", "t")]


def test_path_and_query_decoding():
    request = parse_one(
        b"GET /rps/sse%20x/%E2%82%AC?client_id=a%2Fb&channels=chat,chat:room1&x=1&x=2&empty=&plus=a+b"
        b" HTTP/1.1\r\n"
        b"Host: h\r\n\r\n"
    )
    assert request.path == "/rps/sse x/€"
    assert request.query == {"client_id": "a/b", "channels": "chat,chat:room1", "x": "1", "empty": "",
                             "plus": "a b"}
    assert request.query_all["x"] == ["1", "2"]
    assert request.target.startswith("/rps/sse%20x")


def test_invalid_utf8_in_path_is_replaced_not_fatal():
    assert parse_one(b"GET /a%FFb HTTP/1.1\r\nHost: h\r\n\r\n").path == "/a\ufffdb"


def test_absolute_form_and_asterisk():
    request = parse_one(b"GET http://example.com:8080/rps?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert (request.path, request.query) == ("/rps", {"x": "1"})
    assert parse_one(b"GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n").path == "/"
    assert parse_one(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").path == "*"


def test_headers_multidict():
    request = parse_one(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nX-Empty:\r\nX-Spaces: \t v  w \t\r\n"
        b"X-Latin: caf\xe9\r\n\r\n"
    )
    headers = request.headers
    assert headers.get("x-a") == "1" and headers.get("X-A") == "1"
    assert headers.get_all("X-a") == ["1", "2"]
    assert headers.get("missing") is None and headers.get("missing", "d") == "d"
    assert headers.get_all("missing") == []
    assert headers.get("x-empty") == ""
    assert headers.get("x-spaces") == "v  w"
    assert headers.get("x-latin") == "caf\xe9"
    assert "HOST" in headers and "nope" not in headers and 3 not in headers
    assert len(headers) == 6
    assert Headers([("A", "1")]) == Headers([("A", "1")])


def test_headers_tokens():
    headers = Headers([("Connection", "keep-alive, Upgrade"), ("connection", " TE ,")])
    assert headers.tokens("connection") == ["keep-alive", "upgrade", "te"]


def test_body_with_content_length():
    request = parse_one(b'POST /rps/ack HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n{"cursor":1}')
    assert request.body == b'{"cursor":1}'
    request = parse_one(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
    assert request.body == b""
    # Identical repeated values are one value (RFC 9110 8.6).
    request = parse_one(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok")
    assert request.body == b"ok"


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        ("1.1", None, True),
        ("1.1", "close", False),
        ("1.1", "Keep-Alive, CLOSE", False),
        ("1.1", "keep-alive", True),
        ("1.0", None, False),
        ("1.0", "keep-alive", True),
        ("1.0", "Upgrade, Keep-Alive", True),
        ("1.0", "close", False),
    ],
)
def test_keep_alive_rules(version, connection, keep_alive):
    head = f"GET / HTTP/{version}\r\nHost: h\r\n"
    if connection is not None:
        head += f"Connection: {connection}\r\n"
    request = parse_one((head + "\r\n").encode())
    assert request.version == f"HTTP/{version}"
    assert request.keep_alive is keep_alive


def test_http10_without_host_is_fine():
    assert parse_one(b"GET / HTTP/1.0\r\n\r\n").version == "HTTP/1.0"


def test_pipelined_requests_come_out_one_by_one():
    parser = HttpRequestParser(CONFIG)
    parser.feed(
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
        b"\r\n"  # a stray blank line between requests is ignored
        b"GET /c HTTP/1.1\r\nHost: h\r\n\r\nGET /d"
    )
    assert parser.next_request().path == "/a"
    request = parser.next_request()
    assert (request.path, request.body) == ("/b", b"xyz")
    assert parser.next_request().path == "/c"
    assert parser.next_request() is None
    assert parser.has_partial
    parser.feed(b" HTTP/1.1\r\nHost: h\r\n\r\n")
    assert parser.next_request().path == "/d"
    assert not parser.has_partial


def test_has_partial_and_in_body():
    parser = HttpRequestParser(CONFIG)
    assert not parser.has_partial
    parser.feed(b"\r\n")
    assert not parser.has_partial
    assert parser.next_request() is None
    parser.feed(b"\r")
    assert parser.next_request() is None
    assert not parser.has_partial
    parser.feed(b"\nP")
    assert parser.next_request() is None
    assert parser.has_partial and not parser.in_body
    parser.feed(b"OST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab")
    assert parser.next_request() is None
    assert parser.has_partial and parser.in_body
    with pytest.raises(StateError):
        parser.take_remaining()
    parser.feed(b"cd")
    assert parser.next_request().body == b"abcd"
    assert not parser.has_partial and not parser.in_body


def test_expect_continue():
    parser = HttpRequestParser(CONFIG)
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert parser.take_expect_continue() is False  # nothing parsed yet
    assert parser.next_request() is None
    assert parser.take_expect_continue() is True
    assert parser.take_expect_continue() is False  # once
    assert build_response(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    parser.feed(b"abc")
    assert parser.next_request().body == b"abc"
    # Body already here: no need to ask for it.
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx")
    assert parser.next_request().body == b"x"
    assert parser.take_expect_continue() is False


def test_take_remaining_after_upgrade():
    parser = HttpRequestParser(CONFIG)
    parser.feed(b"GET /rps HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n\x81\x85abcd")
    assert parser.next_request().path == "/rps"
    assert parser.take_remaining() == b"\x81\x85abcd"
    assert parser.take_remaining() == b""
    assert not parser.has_partial


STREAM = (
    b"GET /rps/sse?client_id=1&channels=chat HTTP/1.1\r\nHost: h\r\nLast-Event-ID: chat=4~e\r\n\r\n"
    b"POST /rps/ack HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n"
    b'{"channel":"chat","cursor":4}'
    b"\r\n\r\n"
    b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, prev = [], 0
    for point in [*points, len(data)]:
        chunks.append(data[prev:point])
        prev = point
    return chunks


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_any_read_split_gives_the_same_requests(cuts):
    expected = parse_all(STREAM)
    assert [r.path for r in expected] == ["/rps/sse", "/rps/ack", "/healthz", "/x"]
    parser = HttpRequestParser(CONFIG)
    got = []
    for chunk in split(STREAM, cuts):
        parser.feed(chunk)
        while (request := parser.next_request()) is not None:
            got.append(request)
    assert got == expected
    assert not parser.has_partial


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(0, 10_000), max_size=20), index=st.integers(0, 400))
def test_any_read_split_gives_the_same_error(cuts, index):
    # Corrupt one byte into a bare LF; whatever the split, the same status comes out.
    data = STREAM[:index] + b"\n" + STREAM[index + 1:]
    whole = outcome(data, [])
    assert outcome(data, cuts) == whole


def outcome(data: bytes, cuts: list[int]) -> tuple[list[str], int | None]:
    parser = HttpRequestParser(CONFIG)
    paths: list[str] = []
    try:
        for chunk in split(data, cuts):
            parser.feed(chunk)
            while (request := parser.next_request()) is not None:
                paths.append(request.path)
    except HttpError as error:
        return paths, error.status
    return paths, None


# -------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "line",
    [
        b"GET  / HTTP/1.1",  # two spaces
        b"GET / HTTP/1.1 ",  # trailing space
        b"GET /",  # no version
        b"GET / http/1.1",  # version is case-sensitive
        b"GET / HTTP/1",
        b"G(T / HTTP/1.1",  # not a token
        b"GET /\x7f HTTP/1.1",
        b"GET /a\tb HTTP/1.1",
        b"GET foo HTTP/1.1",  # not origin-form, absolute-form or *
        b"GET * HTTP/1.1",  # * only for OPTIONS
        b"GET /a#frag HTTP/1.1",
        b"GET ftp://host/ HTTP/1.1",
        b"GET / HTTP/1.1\r",  # bare CR
        b"\xffGET / HTTP/1.1",
    ],
)
def test_bad_request_line_is_400(line):
    assert http_error(line + b"\r\nHost: h\r\n\r\n").status == 400


@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2", b"HTTP/3.0"])
def test_unsupported_version_is_505(version):
    assert http_error(b"GET / " + version + b"\r\nHost: h\r\n\r\n").status == 505


@pytest.mark.parametrize(
    "field",
    [
        b"NoColon",
        b"Bad Name: x",  # space in the name
        b"Host : x",  # whitespace before the colon (RFC 9112 5.1)
        b": empty-name",
        b"X-A: a\rb",  # bare CR
        b"X-A: a\x00b",
        b"X-A: a\x1bb",
        b"X-A: \x7f",
        b"X(A): x",
    ],
)
def test_bad_header_field_is_400(field):
    assert http_error(b"GET / HTTP/1.1\r\nHost: h\r\n" + field + b"\r\n\r\n").status == 400


def test_obs_fold_is_400():
    error = http_error(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n  continued\r\n\r\n")
    assert error.status == 400 and "fold" in error.reason


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\nHost: h\n\n",  # LF-only client: rejected at once, no waiting for a timeout
        b"GET / HTTP/1.1\r\nHost: h\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\n",
    ],
)
def test_bare_lf_is_400(data):
    error = http_error(data)
    assert error.status == 400 and "LF" in error.reason


def test_bare_lf_is_rejected_before_the_head_completes():
    assert http_error(b"GET / HTTP/1.1\nHo").status == 400


def test_host_rules():
    assert http_error(b"GET / HTTP/1.1\r\n\r\n").status == 400
    assert http_error(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status == 400
    assert http_error(b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n").status == 400


@pytest.mark.parametrize("value", [b"abc", b"-1", b"+1", b"1.5", b"0x10", b"1 2", b"", b"1,2", b"\xd9\xa1"])
def test_bad_content_length_is_400(value):
    assert http_error(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " + value + b"\r\n\r\n").status == 400


def test_conflicting_content_lengths_are_400():
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    assert http_error(data).status == 400


def test_content_length_and_transfer_encoding_is_400():
    data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert http_error(data).status == 400


@pytest.mark.parametrize("encoding", [b"chunked", b"gzip, chunked", b"identity"])
def test_transfer_encoding_is_501(encoding):
    error = http_error(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + encoding + b"\r\n\r\n")
    assert error.status == 501
    assert "chunked" in error.reason


def test_body_too_large_is_413_from_the_header():
    config = HttpConfig(max_body_bytes=10)
    assert parse_one(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", config).body
    assert http_error(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", config).status == 413
    huge = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " + b"9" * 40 + b"\r\n\r\n"
    assert http_error(huge).status == 413


def test_request_line_too_long_is_414():
    config = HttpConfig(max_request_line_bytes=100)
    ok = b"GET /" + b"a" * 86 + b" HTTP/1.1"  # exactly 100 bytes
    assert len(ok) == 100
    assert parse_one(ok + b"\r\nHost: h\r\n\r\n", config)
    assert http_error(b"GET /" + b"a" * 87 + b" HTTP/1.1\r\nHost: h\r\n\r\n", config).status == 414
    # Without its line end yet: refused as soon as it is longer than allowed.
    assert http_error(b"GET /" + b"a" * 200, config).status == 414


def test_header_section_too_large_is_431():
    config = HttpConfig(max_header_bytes=100)
    assert http_error(b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 200 + b"\r\n\r\n", config).status == 431
    # Partial head: refused before the blank line arrives.
    assert http_error(b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 200, config).status == 431
    assert http_error(b"GET / HTTP/1.1\r\n" + b"X: 1\r\n" * 30, config).status == 431


def test_too_many_headers_is_431():
    config = HttpConfig(max_headers=5)
    assert parse_one(b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: 1\r\n" * 4 + b"\r\n", config)
    assert http_error(b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: 1\r\n" * 5 + b"\r\n", config).status == 431


# ----------------------------------------------------------------------------------------------- responses


def h11_read_response(data: bytes, method: bytes = b"GET"):
    """Parse ``data`` as the response to a ``method`` request with h11; return (response, body, closed)."""
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/", headers=[("Host", "h")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    response = client.next_event()
    body = b""
    while True:
        event = client.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
        else:
            raise AssertionError(event)
    return response, body


def test_build_response_golden():
    assert build_response(200, b"hi", content_type="text/plain") == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
    )
    assert build_response(404) == b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    assert build_response(405, headers=[("Allow", "GET")], keep_alive=False) == (
        b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert build_response(204) == b"HTTP/1.1 204 No Content\r\n\r\n"
    assert build_response(299).startswith(b"HTTP/1.1 299 Unknown\r\n")


def test_build_response_parses_with_h11():
    response, body = h11_read_response(build_response(201, b"created", headers=[("X-Id", "7")]))
    assert response.status_code == 201 and body == b"created"
    assert (b"x-id", b"7") in response.headers
    response, body = h11_read_response(build_response(204))
    assert response.status_code == 204 and body == b""


def test_build_response_rejects_bad_input():
    with pytest.raises(ValueError):
        build_response(204, b"body")
    with pytest.raises(ValueError):
        build_response(99)
    with pytest.raises(ValueError):
        build_response(600)
    with pytest.raises(ValueError):
        build_response(200, headers=[("X-Evil", "a\r\nSet-Cookie: x")])
    with pytest.raises(ValueError):
        build_response(200, headers=[("Bad Name", "x")])


def test_json_response():
    assert json_response(200, {"status": "ok", "clients": 3}) == (
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n'
        b'{"status":"ok","clients":3}'
    )
    data = json_response(400, {"error": "bad"}, keep_alive=False, headers=[("X-A", "b")])
    assert b"Connection: close\r\n" in data and b"X-A: b\r\n" in data
    response, body = h11_read_response(data)
    assert response.status_code == 400 and body == b'{"error":"bad"}'


def test_error_response():
    data = error_response(HttpError(413, "too big"))
    response, body = h11_read_response(data)
    assert response.status_code == 413 and body == b"too big\n"
    assert b"Connection: close\r\n" in data
    data = error_response(HttpError(405, "no", headers=(("Allow", "GET"),)), keep_alive=True)
    assert b"Allow: GET\r\n" in data and b"Connection" not in data


def test_reason_phrase():
    assert reason_phrase(101) == "Switching Protocols"
    assert reason_phrase(431) == "Request Header Fields Too Large"
    assert reason_phrase(799) == "Unknown"


def test_build_sse_head():
    assert build_sse_head() == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"X-Accel-Buffering: no\r\nConnection: keep-alive\r\n\r\n"
    )
    head = build_sse_head([("Access-Control-Allow-Origin", "*")])
    assert head.endswith(b"Connection: keep-alive\r\nAccess-Control-Allow-Origin: *\r\n\r\n")
    assert b"Content-Length" not in head
    # h11 sees a body delimited by the connection's end.
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/rps/sse", headers=[("Host", "h")]))
    client.send(h11.EndOfMessage())
    client.receive_data(head + b"retry: 2000\n\n")
    assert client.next_event().status_code == 200
    assert client.next_event().data == b"retry: 2000\n\n"


# -------------------------------------------------------------------------------------- WebSocket handshake

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
UPGRADE = (
    "GET /rps HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, pushwire.v1\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
)


def upgrade_request(replace: dict[str, str | None] | None = None, first_line: str | None = None) -> Request:
    lines = UPGRADE.split("\r\n")[:-2]
    if first_line is not None:
        lines[0] = first_line
    fields = [line.split(": ", 1) for line in lines[1:]]
    for name, value in (replace or {}).items():
        fields = [f for f in fields if f[0].lower() != name.lower()]
        if value is not None:
            fields.append([name, value])
    head = "\r\n".join([lines[0], *(f"{n}: {v}" for n, v in fields)]) + "\r\n\r\n"
    return parse_one(head.encode())


def test_rfc_6455_accept_example():
    assert websocket_accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert check_websocket_upgrade(upgrade_request()) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_upgrade_tokens_are_case_insensitive_lists():
    request = upgrade_request({"Upgrade": "WebSocket", "Connection": "keep-alive, Upgrade"})
    assert check_websocket_upgrade(request) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize(
    ("replace", "first_line"),
    [
        ({}, "POST /rps HTTP/1.1"),
        ({}, "GET /rps HTTP/1.0"),
        ({"Upgrade": None}, None),
        ({"Upgrade": "h2c"}, None),
        ({"Upgrade": "websocketx"}, None),
        ({"Connection": None}, None),
        ({"Connection": "keep-alive"}, None),
        ({"Sec-WebSocket-Key": None}, None),
        ({"Sec-WebSocket-Key": "not base64!"}, None),
        ({"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAA"}, None),  # 15 bytes
        ({"Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAAAAAAAA=="}, None),  # 19 bytes
        ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ"}, None),  # missing padding
    ],
)
def test_bad_handshake_is_400(replace, first_line):
    with pytest.raises(HandshakeError) as info:
        check_websocket_upgrade(upgrade_request(replace, first_line))
    assert info.value.status == 400


def test_two_keys_is_400():
    request = upgrade_request()
    request.headers.add("Sec-WebSocket-Key", KEY)
    with pytest.raises(HandshakeError) as info:
        check_websocket_upgrade(request)
    assert info.value.status == 400


@pytest.mark.parametrize("version", [None, "8", "12", "13, 8", "14"])
def test_wrong_version_is_426(version):
    with pytest.raises(HandshakeError) as info:
        check_websocket_upgrade(upgrade_request({"Sec-WebSocket-Version": version}))
    assert info.value.status == 426
    rejection = build_handshake_rejection(info.value)
    assert rejection.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"Sec-WebSocket-Version: 13\r\n" in rejection
    assert b"Connection: close\r\n" in rejection


def test_rejection_400_has_no_version_header():
    rejection = build_handshake_rejection(HandshakeError("bad key"))
    assert rejection.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Sec-WebSocket-Version" not in rejection
    assert rejection.endswith(b"\r\n\r\nbad key\n")


def test_select_subprotocol():
    request = upgrade_request()
    assert select_subprotocol(request, ["pushwire.v1"]) == "pushwire.v1"
    assert select_subprotocol(request, ["other"]) is None
    assert select_subprotocol(request, ["pushwire.v1", "chat"]) == "pushwire.v1"  # server preference
    assert select_subprotocol(upgrade_request({"Sec-WebSocket-Protocol": None}), ["pushwire.v1"]) is None


def test_build_websocket_accept_golden():
    assert build_websocket_accept("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    with_protocol = build_websocket_accept("abc", "pushwire.v1")
    assert with_protocol.endswith(b"Sec-WebSocket-Protocol: pushwire.v1\r\n\r\n")


@pytest.mark.parametrize("subprotocols", [None, ["pushwire.v1"]])
def test_handshake_interoperates_with_websockets_client(subprotocols):
    client = ClientProtocol(parse_uri("ws://localhost/rps"), subprotocols=subprotocols)
    client.send_request(client.connect())
    parser = HttpRequestParser(CONFIG)
    for chunk in client.data_to_send():
        parser.feed(chunk)
    request = parser.next_request()
    accept = check_websocket_upgrade(request)
    subprotocol = select_subprotocol(request, ["pushwire.v1"])
    client.receive_data(build_websocket_accept(accept, subprotocol))
    (response,) = client.events_received()
    assert response.status_code == 101
    assert client.handshake_exc is None
    assert client.state is WsState.OPEN
    assert client.subprotocol == (subprotocols[0] if subprotocols else None)

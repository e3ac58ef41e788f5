"""HTTP/1.1 over real sockets: routes, keep-alive, limits, timeouts and the counters of every refusal."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import pytest

from pushwire.config import HttpConfig

from .rawhttp import RawHttp, build_request, fetch
from .rawws import RawWs

SMALL = HttpConfig(max_request_line_bytes=256, max_header_bytes=1024, max_headers=10, max_body_bytes=512)


def counters(text: str) -> dict[str, float]:
    """Parse the Prometheus text format: metric name -> value (checks the TYPE lines too)."""
    values: dict[str, float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line and not line.startswith("#"):
            name, value = line.split(" ")
            assert name in types, f"{name} has no TYPE line"
            values[name] = float(value)
    return values


async def metrics(port: int) -> dict[str, float]:
    response = await fetch(port, "GET", "/metrics")
    assert response.status == 200
    assert response.header("content-type").startswith("text/plain")
    return counters(response.text)


def count(values: dict[str, float], name: str) -> float:
    return values.get(f"pushwire_{name}_total", 0)


async def test_healthz(server):
    response = await fetch(server.port, "GET", "/healthz")
    assert response.status == 200 and response.reason == "OK"
    assert response.header("content-type") == "application/json"
    assert response.json() == {"status": "ok", "clients": 0}
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["chat"])
    assert (await fetch(server.port, "GET", "/healthz")).json() == {"status": "ok", "clients": 1}


async def test_unknown_path_is_404_and_the_connection_stays_usable(server):
    conn = await RawHttp.connect(server.port)
    missing = await conn.fetch("GET", "/nope")
    assert missing.status == 404
    assert missing.header("content-type").startswith("text/plain")
    assert missing.header("connection") is None
    assert (await conn.fetch("GET", "/healthz")).status == 200
    conn.close()


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("POST", "/healthz", "GET"),
    ("DELETE", "/metrics", "GET"),
    ("GET", "/rps/ack", "POST"),
    ("GET", "/rps/send", "POST"),
    ("PUT", "/rps/publish", "POST"),
    ("POST", "/rps/sse", "GET"),
    ("POST", "/rps", "GET"),
])
async def test_wrong_method_is_405_with_allow(server, method, path, allow):
    response = await fetch(server.port, method, path, body=b"" if method in ("POST", "PUT") else None)
    assert response.status == 405
    assert response.header("allow") == allow


async def test_keep_alive_sequential_and_pipelined(server):
    conn = await RawHttp.connect(server.port)
    for _ in range(3):
        response = await conn.fetch("GET", "/healthz")
        assert response.status == 200 and response.json()["status"] == "ok"
    # pipelined: three requests in one write, three answers in order
    conn.send(build_request("GET", "/healthz") + build_request("GET", "/nope")
              + build_request("POST", "/healthz", body=b"") + build_request("GET", "/metrics"))
    answers = [await conn.read_response() for _ in range(4)]
    assert [r.status for r in answers] == [200, 404, 405, 200]
    assert answers[0].json() == {"status": "ok", "clients": 0}
    assert b"pushwire_http_requests_total" in answers[3].body
    # pipelined requests that wait on an asynchronous route keep their order
    conn.send(build_request("POST", "/rps/publish", headers={"Authorization": "Bearer test-api-key"},
                            body={"channel": "chat", "payload": 1})
              + build_request("GET", "/healthz")
              + build_request("POST", "/rps/publish", headers={"Authorization": "Bearer test-api-key"},
                              body={"channel": "chat", "payload": 2}))
    answers = [await conn.read_response() for _ in range(3)]
    assert [r.status for r in answers] == [200, 200, 200]
    assert answers[0].json() == {"stream": "chat", "cursor": 1}
    assert answers[2].json() == {"stream": "chat", "cursor": 2}
    conn.close()


async def test_connection_close_is_honoured(server):
    conn = await RawHttp.connect(server.port)
    response = await conn.fetch("GET", "/healthz", headers={"Connection": "close"})
    assert response.status == 200
    assert response.header("connection") == "close"
    assert await conn.wait_closed(2) == b""


async def test_http_1_0(server):
    conn = await RawHttp.connect(server.port)
    response = await conn.fetch("GET", "/healthz", version="HTTP/1.0", host=None)  # Host is optional in 1.0
    assert response.status == 200 and response.json()["status"] == "ok"
    assert response.header("connection") == "close"
    assert await conn.wait_closed(2) == b""
    # HTTP/1.0 with keep-alive stays open
    conn = await RawHttp.connect(server.port)
    for _ in range(2):
        response = await conn.fetch("GET", "/healthz", version="HTTP/1.0", headers={"Connection": "keep-alive"})
        assert response.status == 200
        assert response.header("connection") == "keep-alive"  # or an HTTP/1.0 client would wait for the close
    # an error answer on a kept-alive HTTP/1.0 connection says so too
    response = await conn.fetch("GET", "/nowhere", version="HTTP/1.0", headers={"Connection": "keep-alive"})
    assert response.status == 404 and response.header("connection") == "keep-alive"
    response = await conn.fetch("GET", "/healthz", version="HTTP/1.0", headers={"Connection": "keep-alive"})
    assert response.status == 200
    conn.close()
    # HTTP/1.1 answers carry no Connection field unless they close
    conn = await RawHttp.connect(server.port)
    response = await conn.fetch("GET", "/healthz")
    assert response.status == 200 and response.header("connection") is None
    conn.close()


@pytest.mark.parametrize(("raw", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /healthz\r\nHost: x\r\n\r\n", 400),
    (b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\nHost: x\n\n", 400),  # bare LF
    (b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", 400),  # field without colon
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),  # obs-fold
    (b"GET /healthz HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"POST /rps/ack HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(11)) + b"\r\n", 431),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 1100 + b"\r\n\r\n", 431),
    (b"POST /rps/ack HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 513\r\n\r\n", 413),
    (b"POST /rps/ack HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
])
async def test_bad_requests_are_answered_then_closed_and_counted(start_server, raw, status):
    server = await start_server(http=SMALL)
    before = await metrics(server.port)
    conn = await RawHttp.connect(server.port)
    conn.send(raw + build_request("GET", "/healthz"))  # a request pipelined after the bad one is never served
    response = await conn.read_response()
    assert response.status == status
    assert response.header("connection") == "close"
    assert response.header("content-type").startswith("text/plain")
    assert await conn.wait_closed(2) == b""
    after = await metrics(server.port)
    assert count(after, f"http_status_{status}") == count(before, f"http_status_{status}") + 1
    assert count(after, "http_requests") == count(before, "http_requests") + 1  # only the /metrics request


async def test_too_long_request_line_is_refused_before_it_ends(start_server):
    server = await start_server(http=SMALL)
    conn = await RawHttp.connect(server.port)
    conn.send(b"GET /" + b"a" * 400)  # no line end yet: the server must not wait for one
    response = await conn.read_response()
    assert response.status == 414
    assert await conn.wait_closed(2) == b""


async def test_oversized_header_section_is_refused_before_it_ends(start_server):
    server = await start_server(http=SMALL)
    conn = await RawHttp.connect(server.port)
    conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 2000)
    assert (await conn.read_response()).status == 431
    assert await conn.wait_closed(2) == b""


async def test_expect_100_continue(server):
    conn = await RawHttp.connect(server.port)
    body = json.dumps({"channel": "chat", "payload": "x"}).encode()
    conn.send(b"POST /rps/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-api-key\r\n"
              b"Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
    interim = await conn.read_response(timeout=2)  # curl waits a second for this before sending anyway
    assert interim.status == 100
    conn.send(body)
    response = await conn.read_response()
    assert response.status == 200 and response.json() == {"stream": "chat", "cursor": 1}
    conn.close()


async def test_pipelined_requests_wait_while_the_client_does_not_read(start_server):
    server = await start_server(demo=True)
    conn = await RawHttp.connect(server.port, rcvbuf=8192)
    request = build_request("GET", "/pushwire.js")
    n = 1000  # 1000 answers of about 26 KB: far more than the socket buffers hold
    conn.send(request * n)
    await asyncio.sleep(0.5)
    # the server stopped answering (and reading) once its write buffer was full, instead of buffering ~26 MB
    answered = server.metrics.get("http_requests")
    assert answered < n / 2, answered
    sizes = set()
    for _ in range(n):  # once the client reads, every answer comes, in order
        response = await conn.read_response()
        assert response.status == 200
        sizes.add(len(response.body))
    assert len(sizes) == 1 and server.metrics.get("http_requests") == n
    assert (await conn.fetch("GET", "/healthz")).status == 200
    conn.close()


async def test_slow_headers_are_cut_while_others_are_served(start_server):
    server = await start_server(http=HttpConfig(header_timeout_s=1.0, keepalive_timeout_s=30.0))
    loop = asyncio.get_running_loop()
    slow = await RawHttp.connect(server.port)
    request = build_request("GET", "/healthz", headers={"X-Padding": "p" * 40})
    started = loop.time()

    async def trickle() -> float:
        for byte in request:
            try:
                slow.send(bytes([byte]))
                await slow.writer.drain()
            except ConnectionError:
                break
            if slow.reader.at_eof() or slow.writer.is_closing():
                break
            await asyncio.sleep(0.3)
        return loop.time() - started

    trickler = asyncio.ensure_future(trickle())
    closed = asyncio.ensure_future(slow.wait_closed(6))
    # meanwhile another client is served normally, repeatedly
    other = await RawHttp.connect(server.port)
    served = 0
    while not closed.done():
        response = await other.fetch("GET", "/healthz", timeout=1)
        assert response.status == 200
        served += 1
        await asyncio.sleep(0.1)
    cut_after = loop.time() - started
    data = closed.result()
    assert data == b"" or data.startswith(b"HTTP/1.1 408 ")
    assert 0.9 < cut_after < 3.5, cut_after
    assert served >= 3
    trickler.cancel()
    assert (await other.fetch("GET", "/healthz")).status == 200
    other.close()
    assert count(await metrics(server.port), "http_timeouts") == 1


async def test_silent_connection_is_cut_by_the_header_timeout(start_server):
    server = await start_server(http=HttpConfig(header_timeout_s=1.0, keepalive_timeout_s=30.0))
    loop = asyncio.get_running_loop()
    silent = await RawHttp.connect(server.port)
    started = loop.time()
    await silent.wait_closed(4)  # it never sent a byte: no request head arrived within header_timeout_s
    assert loop.time() - started < 3.5


async def test_slow_body_gets_the_body_timeout(start_server):
    server = await start_server(http=HttpConfig(header_timeout_s=1.0, body_timeout_s=10.0))
    conn = await RawHttp.connect(server.port)
    body = json.dumps({"channel": "chat", "payload": "slow but within the body timeout"}).encode()
    conn.send(b"POST /rps/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-api-key\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
    for i in range(0, len(body), 8):
        conn.send(body[i:i + 8])
        await asyncio.sleep(0.3)  # about 2 s for the body: more than header_timeout_s, less than body_timeout_s
    response = await conn.read_response()
    assert response.status == 200 and response.json()["cursor"] == 1
    conn.close()


async def test_stalled_body_is_cut(start_server):
    server = await start_server(http=HttpConfig(header_timeout_s=5.0, body_timeout_s=1.0))
    loop = asyncio.get_running_loop()
    conn = await RawHttp.connect(server.port)
    conn.send(b"POST /rps/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    started = loop.time()
    data = await conn.wait_closed(4)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert 0.9 < loop.time() - started < 3.5
    assert count(await metrics(server.port), "http_status_408") == 1


async def test_idle_keep_alive_connection_is_closed(start_server):
    server = await start_server(http=HttpConfig(keepalive_timeout_s=1.0))
    loop = asyncio.get_running_loop()
    conn = await RawHttp.connect(server.port)
    assert (await conn.fetch("GET", "/healthz")).status == 200
    started = loop.time()
    assert await conn.wait_closed(4) == b""
    assert 0.9 < loop.time() - started < 3.5
    # a busy connection is not cut: requests every 0.4 s for 2 s keep it open
    conn = await RawHttp.connect(server.port)
    for _ in range(5):
        assert (await conn.fetch("GET", "/healthz")).status == 200
        await asyncio.sleep(0.4)
    conn.close()


def _handshake(key: str | None = None, version: str | None = "13", *, upgrade: bool = True,
               method: str = "GET", extra: dict[str, str] | None = None) -> bytes:
    headers = {}
    if upgrade:
        headers.update({"Upgrade": "websocket", "Connection": "Upgrade"})
    if key is not None:
        headers["Sec-WebSocket-Key"] = key
    if version is not None:
        headers["Sec-WebSocket-Version"] = version
    headers.update(extra or {})
    return build_request(method, "/rps", headers=headers)


GOOD_KEY = base64.b64encode(os.urandom(16)).decode()


@pytest.mark.parametrize(("request_bytes", "status"), [
    (_handshake(None), 400),  # no key
    (_handshake("not base64!"), 400),
    (_handshake(base64.b64encode(b"short").decode()), 400),  # base64 of 5 bytes
    (_handshake(GOOD_KEY, upgrade=False), 400),  # no Upgrade / Connection
    (_handshake(GOOD_KEY, extra={"Upgrade": "h2c", "Connection": "Upgrade"}, upgrade=False), 400),
    (_handshake(GOOD_KEY, "8"), 426),
    (_handshake(GOOD_KEY, None), 426),
])
async def test_websocket_handshake_errors(server, request_bytes, status):
    before = await metrics(server.port)
    conn = await RawHttp.connect(server.port)
    conn.send(request_bytes)
    response = await conn.read_response()
    assert response.status == status
    if status == 426:
        assert response.header("sec-websocket-version") == "13"
    assert response.header("upgrade") is None
    assert await conn.wait_closed(2) == b""
    after = await metrics(server.port)
    assert count(after, "ws_handshake_errors") == count(before, "ws_handshake_errors") + 1


async def test_websocket_post_is_405(server):
    conn = await RawHttp.connect(server.port)
    conn.send(_handshake(GOOD_KEY, method="POST"))
    response = await conn.read_response()
    assert response.status == 405 and response.header("allow") == "GET"


async def test_websocket_handshake_accepts_and_ignores_extensions(server):
    ws = await RawWs.connect(server.port, headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
    assert "sec-websocket-extensions" not in ws.response_head.lower()
    assert (await ws.auth(streams=["chat"]))["type"] == "auth_ok"


async def test_metrics_count_every_refusal(start_server):
    server = await start_server(http=SMALL)
    port = server.port
    before = await metrics(port)
    assert before["pushwire_connected_clients"] == 0  # a gauge: no _total suffix
    await fetch(port, "GET", "/nope")
    await fetch(port, "POST", "/healthz", body=b"")
    await fetch(port, "POST", "/rps/publish", body={"channel": "chat", "payload": 1})  # no key: 401
    await fetch(port, "POST", "/rps/publish", body={"channel": "chat", "payload": 1},
                headers={"Authorization": "Bearer wrong"})
    await fetch(port, "POST", "/rps/ack", body="x", content_type="text/plain")  # 415
    await fetch(port, "GET", "/rps/sse?client_id=nope")  # 400
    conn = await RawHttp.connect(port)
    conn.send(b"BAD\r\n\r\n")
    assert (await conn.read_response()).status == 400
    after = await metrics(port)

    def delta(name: str) -> float:
        return count(after, name) - count(before, name)

    assert delta("http_status_404") == 1
    assert delta("http_status_405") == 1
    assert delta("http_status_401") == 1 and delta("http_refused_401") == 1
    assert delta("http_status_403") == 1 and delta("http_refused_403") == 1
    assert delta("http_status_415") == 1 and delta("http_refused_415") == 1
    assert delta("http_status_400") == 2 and delta("http_refused_400") == 1  # the SSE refusal and the parser's
    assert delta("http_requests") == 6 + 1  # six routed requests and the /metrics before; BAD never parsed

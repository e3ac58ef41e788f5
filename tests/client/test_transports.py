"""Transport helpers: URL derivation, the resume vector, the SSE event parser, close-code rules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pushwire.client.transports import (
    AuthParams,
    Endpoints,
    TransportClosed,
    close_code_reconnects,
    format_resume_vector,
    parse_sse_events,
)
from pushwire.protocol.messages import Auth, decode_op
from pushwire.protocol.streams import StreamError, parse_positions


@pytest.mark.parametrize(("url", "http", "ws"), [
    ("http://127.0.0.1:9100", "http://127.0.0.1:9100", "ws://127.0.0.1:9100"),
    ("http://h:1/", "http://h:1", "ws://h:1"),
    ("https://push.example.com/base/rps", "https://push.example.com/base", "wss://push.example.com/base"),
    ("ws://h:2/rps/", "http://h:2", "ws://h:2"),
    ("WSS://h", "https://h", "wss://h"),
])
def test_endpoints(url: str, http: str, ws: str) -> None:
    ep = Endpoints.from_url(url)
    assert (ep.http_base, ep.ws_base) == (http, ws)
    assert ep.ws == ws + "/rps" and ep.sse == http + "/rps/sse"
    assert ep.ack == http + "/rps/ack" and ep.send == http + "/rps/send"


def test_endpoints_reject_other_schemes() -> None:
    with pytest.raises(ValueError):
        Endpoints.from_url("ftp://h")


def test_resume_vector_round_trips_through_the_server_parser() -> None:
    vector = format_resume_vector({"chat": 41, "chat:room1": 0, "chat:@5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f": 3},
                                  {"chat": "k3x9a2b1", "chat:@5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f": "p0q1"})
    assert vector == "chat=41~k3x9a2b1,chat:room1=0,chat:@5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f=3~p0q1"
    assert parse_positions(vector) == {"chat": (41, "k3x9a2b1"), "chat:room1": (0, None),
                                       "chat:@5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f": (3, "p0q1")}
    assert format_resume_vector({}, {}) == ""
    with pytest.raises(StreamError):
        format_resume_vector({"Bad": 1}, {})


def test_auth_params_make_a_valid_auth_op() -> None:
    params = AuthParams("5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f", "tok", ["chat"], {"chat": 4}, {"chat": "e1"})
    op = decode_op(params.auth_op().to_payload())
    assert op == Auth("5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f", "tok", ("chat",), None, {"chat": 4}, {"chat": "e1"})


async def lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item


async def test_sse_parser() -> None:
    events = [e async for e in parse_sse_events(lines(
        "retry: 2000", "",
        "id: chat=1~e", "event: system", 'data: {"a":1}', "",
        ": hb", "",
        "event: chat", "data:first", "data: second", "id: chat=2~e", "",
        "id: ignored-no-data", "",
        "data: tail",  # no blank line at the end: not dispatched
    ))]
    assert [(e.event, e.data, e.id) for e in events] == [
        ("system", '{"a":1}', "chat=1~e"), ("chat", "first\nsecond", "chat=2~e")]


async def test_sse_parser_default_event_and_limit() -> None:
    events = [e async for e in parse_sse_events(lines("data: x", ""))]
    assert events[0].event == "message" and events[0].id is None
    with pytest.raises(TransportClosed):
        [e async for e in parse_sse_events(lines("data: " + "x" * 100, ""), max_event_bytes=50)]


@pytest.mark.parametrize(("code", "again"), [
    (1000, False), (1001, True), (1002, False), (1003, False), (1005, True), (1006, True), (1007, False),
    (1008, False), (1009, False), (1011, True), (1012, True), (3000, True), (4000, True), (4001, True),
    (4002, True), (4499, True), (4500, False), (4777, False), (4999, False),
])
def test_close_code_rule(code: int, again: bool) -> None:
    assert close_code_reconnects(code) is again
    assert TransportClosed(code).reconnect is again

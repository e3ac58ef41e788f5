"""The C fast path of the HTTP head parser (``_core.httphead``) accepts exactly what the line-by-line checks
accept, and parses it the same way."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushwire.config import HttpConfig
from pushwire.errors import HttpError
from pushwire.protocol import http11

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=8)
# mostly valid bytes, sometimes the ones every rule is about (CR, LF, NUL, DEL, controls, obs-text, tabs)
value_bytes = st.lists(st.sampled_from([b"a", b"Z", b" ", b"\t", b"/", b"\x80", b"\xff", b"\x7f", b"\x00",
                                        b"\r", b"\x01", b":", b","]), max_size=8).map(b"".join)
field = st.tuples(st.one_of(tokens.map(str.encode), st.sampled_from([b" x", b"\tx", b"a b", b""])),
                  value_bytes).map(lambda nv: nv[0] + b":" + nv[1])
heads = st.builds(
    lambda method, target, version, fields: b"%s %s %s\r\n%s\r\n" % (
        method, target, version, b"".join(f + b"\r\n" for f in fields)),
    st.one_of(tokens.map(str.encode), st.just(b"G@T")),
    st.sampled_from([b"/", b"/rps?x=1", b"/a%20b", b"*", b"http://h/x", b"/\x7f"]),
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.x", b"http/1.1"]),
    st.lists(st.one_of(field, st.just(b"Host: example")), max_size=5),
)


def parse(head: bytes, fast: bool) -> object:
    parser = http11.HttpRequestParser(HttpConfig())
    try:
        if not fast:
            original, http11.parse_head = http11.parse_head, lambda head: None
        try:
            parser.feed(head)
            request = parser.next_request()
        finally:
            if not fast:
                http11.parse_head = original
    except HttpError as exc:
        return ("error", exc.status)
    assert request is not None
    headers = request.headers
    by_name = {name.lower(): headers.get_all(name) for name, _ in headers}
    return (request.method, request.target, request.path, request.query_all, request.version, list(headers),
            by_name, request.keep_alive)


@settings(max_examples=400, deadline=None)
@given(heads)
def test_fast_path_agrees_with_the_line_by_line_parser(head: bytes) -> None:
    assert parse(head, fast=True) == parse(head, fast=False)


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /rps/publish HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nX-Odd:  v\xe9 \t\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
])
def test_fast_path_is_taken_for_ordinary_heads(head: bytes) -> None:
    assert http11.parse_head(head) is not None
    assert parse(head, fast=True) == parse(head, fast=False)


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nHost: a\r\n",  # no blank line
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nX",  # bytes after it
    b"GET  / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.2\r\n\r\n",
    b"GET / HTTP/1.1\n\r\n",
    b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n",
    b"",
])
def test_fast_path_declines_what_it_does_not_accept(head: bytes) -> None:
    assert http11.parse_head(head) is None


def test_queries_without_escapes_split_like_parse_qs() -> None:
    from urllib.parse import parse_qs

    for query in ["a=1&b=2&a=3", "a", "a=&=b&&c==d", "client_id=x&channels=chat,news&cursors=chat=4~e"]:
        assert http11._split_query(query) == parse_qs(query, keep_blank_values=True)


def outcome(head: bytes, config: HttpConfig, *, whole: bool) -> object:
    """Parse ``head`` fed whole (the scanner's fast path) or byte by byte (its line loop)."""
    parser = http11.HttpRequestParser(config)
    try:
        request = None
        for chunk in [head] if whole else [head[i:i + 1] for i in range(len(head))]:
            parser.feed(chunk)
            request = parser.next_request() or request
    except HttpError as exc:
        return ("error", exc.status)
    return None if request is None else (request.method, request.target, list(request.headers))


@settings(max_examples=300, deadline=None)
@given(heads, st.integers(8, 40), st.integers(1, 60), st.integers(1, 4))
def test_head_scanner_fast_path_agrees_with_its_line_loop(head: bytes, line: int, header: int, count: int) -> None:
    config = HttpConfig(max_request_line_bytes=line, max_header_bytes=header, max_headers=count)
    assert outcome(head, config, whole=True) == outcome(head, config, whole=False)

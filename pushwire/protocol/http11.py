"""Sans-I/O HTTP/1.1 for the server: request parser, response builders, WebSocket handshake checks.

Layer 2 of pushwire (``docs/architecture.md``). :class:`HttpRequestParser` turns bytes into
:class:`Request` objects and raises :class:`pushwire.errors.HttpError` with the status to answer; the
``build_*`` functions return the exact bytes to write. ``pushwire.server.http`` moves the bytes and runs
the header and body timeouts (:attr:`HttpRequestParser.has_partial` tells it when a request is under way).

Deliberately small and strict (RFC 9112): CRLF line endings only, no obs-fold, no request bodies without
``Content-Length`` (``Transfer-Encoding`` -- chunked included -- is answered with 501), one ``Host``.
Every size is bounded by :class:`pushwire.config.HttpConfig`.

WebSocket upgrade (RFC 6455 4.2)::

    accept = check_websocket_upgrade(request)          # HandshakeError: answer build_handshake_rejection()
    subprotocol = select_subprotocol(request, ["pushwire.v1"])
    transport.write(build_websocket_accept(accept, subprotocol))
    leftover = parser.take_remaining()                 # first WebSocket bytes, if the client was quick
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from pushwire._core.httphead import parse_head

try:
    # CPython's own SHA-1: through OpenSSL 3 each new hash object costs a provider look-up, several times the
    # hashing of the 60 bytes of a handshake key
    from _sha1 import sha1 as _sha1
except ImportError:  # a Python built without its own hashes
    def _sha1(data: bytes) -> Any:
        return hashlib.sha1(data, usedforsecurity=False)

from pushwire.config import HttpConfig
from pushwire.errors import HandshakeError, HttpError, StateError

__all__ = [
    "Headers",
    "HttpRequestParser",
    "Request",
    "build_handshake_rejection",
    "build_response",
    "build_sse_head",
    "build_websocket_accept",
    "check_websocket_upgrade",
    "error_response",
    "json_response",
    "reason_phrase",
    "select_subprotocol",
    "websocket_accept_key",
]

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_STR_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(rb"[\x21-\x7e]+")
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
# Field values: visible ASCII, obs-text, spaces and tabs; no CR, LF, NUL or other controls.
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_STR_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_ABSOLUTE = re.compile(r"(?i:https?)://[^/?#]+([^#]*)")
_REASONS = {status.value: status.phrase for status in HTTPStatus}
# The 101 answer to a WebSocket handshake, filled with the accept value and the subprotocol field, if any.
_SWITCHING = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Accept: %s\r\n%s\r\n")
# Responses that never carry a body, hence no Content-Length (RFC 9110 8.6, 15.3.5, 15.4.5).
_NO_BODY = frozenset({204, 304})
# Content-Length digits beyond this would be at least an exabyte: refuse before int() sees them.
_MAX_LENGTH_DIGITS = 18


def reason_phrase(status: int) -> str:
    """Return the standard reason phrase of ``status`` ("Unknown" for unregistered codes)."""
    return _REASONS.get(status, "Unknown")


class Headers:
    """Case-insensitive multi-dict of header fields, in arrival order.

    ``get`` gives the first value of a name, ``get_all`` every value; iterating yields ``(name, value)``
    pairs with the names as the client spelled them. Values are ``str`` decoded as Latin-1 (so every
    byte survives).
    """

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        self._index: dict[str, list[str]] = {}
        for name, value in items:
            self.add(name, value)

    @classmethod
    def parsed(cls, items: list[tuple[str, str]], index: dict[str, list[str]]) -> Headers:
        """Adopt fields already parsed (``items`` in order, ``index`` by lower-cased name); no copy."""
        headers = cls.__new__(cls)
        headers._items = items
        headers._index = index
        return headers

    def add(self, name: str, value: str) -> None:
        """Append one field."""
        self._items.append((name, value))
        self._index.setdefault(name.lower(), []).append(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of ``name`` (any case), or ``default``."""
        values = self._index.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Return every value of ``name`` (any case), in order; empty if absent."""
        return list(self._index.get(name.lower(), ()))

    def tokens(self, name: str) -> list[str]:
        """Return the lowercased comma-separated tokens of every ``name`` field (``Connection``, ...)."""
        return [t for value in self._index.get(name.lower(), ()) for t in _value_tokens(value)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(slots=True)
class Request:
    """One parsed HTTP request.

    Attributes:
        method: e.g. ``GET`` (case-sensitive, as sent).
        target: the request-target as sent (``/rps/sse?client_id=...``).
        path: the target's path, percent-decoded (invalid UTF-8 becomes U+FFFD).
        query: the first value of each query parameter (``+`` and percent escapes decoded).
        query_all: every value of each query parameter.
        version: ``HTTP/1.1`` or ``HTTP/1.0``.
        headers: the header fields.
        body: the body (``Content-Length`` bytes; empty without one).
        keep_alive: whether the connection stays open after the response (HTTP/1.1 unless
            ``Connection: close``; HTTP/1.0 only with ``Connection: keep-alive``).
    """

    method: str
    target: str
    path: str
    query: dict[str, str]
    query_all: dict[str, list[str]]
    version: str
    headers: Headers
    body: bytes
    keep_alive: bool


class HttpRequestParser:
    """Incremental HTTP/1.1 request parser for one connection (pipelining supported).

    :meth:`feed` the bytes read, then call :meth:`next_request` until it returns None. Errors raise
    :class:`~pushwire.errors.HttpError` carrying the status to answer (then close the connection):
    400 malformed request line, header or ``Content-Length``, bare CR or LF, obs-fold, missing or repeated
    ``Host``, both ``Content-Length`` and ``Transfer-Encoding``; 414 request line too long; 431 header
    section too large or too many fields; 413 body too large; 501 any ``Transfer-Encoding``; 505 an HTTP
    version other than 1.0 and 1.1. After an error the parser is dead: every call raises it again.

    Args:
        config: the limits (``max_request_line_bytes``, ``max_header_bytes``, ``max_headers``,
            ``max_body_bytes``).
    """

    def __init__(self, config: HttpConfig) -> None:
        self._config = config
        self._buf = bytearray()
        self._error: HttpError | None = None
        self._reset_head_scan()
        # A request whose head is parsed and whose body is still arriving: (fields, body length).
        self._pending: tuple[tuple[Any, ...], int] | None = None
        self._continue = False

    def _reset_head_scan(self) -> None:
        self._scan = 0  # where the search for the next LF resumes
        self._line_start = 0  # start of the line being scanned
        self._line_end = -1  # end of the request line (its CR), once known
        self._field_lines = 0

    @property
    def has_partial(self) -> bool:
        """True when a request has begun but is not complete (the I/O runs header/body timeouts)."""
        if self._pending is not None:
            return True
        buf = self._buf
        i, n = 0, len(buf)
        while i < n and buf[i] in (13, 10):  # blank lines between requests do not count
            i += 1
        return i < n

    @property
    def in_body(self) -> bool:
        """True while a request's head is parsed and its body is still arriving."""
        return self._pending is not None

    def take_expect_continue(self) -> bool:
        """Return True once when the request now waiting for its body sent ``Expect: 100-continue``.

        The I/O then writes ``build_response(100)`` so that the client sends the body without waiting.
        """
        wanted, self._continue = self._continue, False
        return wanted

    def feed(self, data: bytes) -> None:
        """Append bytes read from the socket; then call :meth:`next_request`.

        Raises:
            HttpError: the parser already failed.
        """
        if self._error is not None:
            raise self._error
        self._buf += data

    def next_request(self) -> Request | None:
        """Return the next complete request, or None until more bytes arrive.

        Raises:
            HttpError: the request is malformed or over a limit (see the class docstring).
        """
        if self._error is not None:
            raise self._error
        try:
            return self._next_request()
        except HttpError as error:
            self._error = error
            raise

    def take_remaining(self) -> bytes:
        """Return and forget every byte buffered after the last returned request.

        Call it after :meth:`next_request` returned a WebSocket upgrade: the bytes are the first
        WebSocket frames, for ``ServerWebSocket.receive_data``.

        Raises:
            StateError: a request body is still arriving.
        """
        if self._pending is not None:
            raise StateError("take_remaining() while a request body is still arriving")
        data = bytes(self._buf)
        self._buf.clear()
        self._reset_head_scan()
        return data

    # ------------------------------------------------------------------------------------------ internals

    def _next_request(self) -> Request | None:
        if self._pending is None:
            head_end = self._scan_head()
            if head_end < 0:
                return None
            head = bytes(self._buf[:head_end])
            del self._buf[:head_end]
            self._reset_head_scan()
            fields, length = self._parse_head(head)
            if length == 0:
                return Request(*fields[:-1], b"", fields[-1])
            self._pending = (fields, length)
            headers: Headers = fields[6]
            self._continue = _has_token(headers._index.get("expect"), "100-continue") and len(self._buf) < length
        fields, length = self._pending
        if len(self._buf) < length:
            return None
        body = bytes(self._buf[:length])
        del self._buf[:length]
        self._pending = None
        self._continue = False
        return Request(*fields[:-1], body, fields[-1])

    def _scan_head(self) -> int:
        """Scan new bytes for line ends; return the head's length (up to its blank line) or -1.

        Incremental (each byte is looked at once), and the limits are enforced on partial heads so that
        a client cannot make us buffer more than them.
        """
        buf = self._buf
        limits = self._config
        if self._scan == 0 and buf[:1] != b"\r":
            # The usual case, a whole head in one read: a few C-speed searches instead of a loop over lines.
            # Anything unusual (over a limit, a bare LF) goes through the loop, which says what is wrong.
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                length = end + 4
                line_end = buf.find(b"\r\n")
                lfs = buf.count(b"\n", 0, length)
                if (lfs == buf.count(b"\r\n", 0, length)
                        and line_end <= limits.max_request_line_bytes
                        and length - 2 - (line_end + 2) <= limits.max_header_bytes
                        and lfs - 2 <= limits.max_headers):
                    return length
        if self._scan == 0:
            # Ignore blank lines before a request (RFC 9112 2.2), e.g. a stray CRLF after a body.
            skip = 0
            while buf[skip:skip + 2] == b"\r\n":
                skip += 2
            if skip:
                del buf[:skip]
            if buf == b"\r":
                return -1  # maybe the CR of one more blank line: wait for its LF
        pos = self._scan
        while (lf := buf.find(b"\n", pos)) >= 0:
            if lf == 0 or buf[lf - 1] != 0x0D:
                raise HttpError(400, "bare LF in the request head (lines must end with CRLF)")
            if self._line_end < 0:
                self._line_end = lf - 1
                if self._line_end > limits.max_request_line_bytes:
                    raise HttpError(414, "request line too long")
            elif lf - 1 == self._line_start:
                return lf + 1
            else:
                self._field_lines += 1
                if self._field_lines > limits.max_headers:
                    raise HttpError(431, f"more than {limits.max_headers} header fields")
            if self._line_end >= 0 and lf + 1 - (self._line_end + 2) > limits.max_header_bytes:
                raise HttpError(431, "header section too large")
            self._line_start = lf + 1
            pos = lf + 1
        self._scan = len(buf)
        if self._line_end < 0:
            if len(buf) > limits.max_request_line_bytes + 1:
                raise HttpError(414, "request line too long")
        elif len(buf) - (self._line_end + 2) > limits.max_header_bytes + 1:
            # the field lines may take max_header_bytes; one byte more may be the CR of the blank line
            raise HttpError(431, "header section too large")
        return -1

    def _parse_head(self, head: bytes) -> tuple[tuple[Any, ...], int]:
        fast = parse_head(head)
        if fast is not None:
            method, target, version, items, index = fast
            headers = Headers.parsed(items, index)
        else:
            lines = head[:-4].split(b"\r\n")  # without the CRLF CRLF that ends the head
            method, target, version = _parse_request_line(lines[0])
            headers = Headers()
            for line in lines[1:]:
                headers.add(*_parse_field_line(line))
        path, query_all = _parse_target(method, target)
        index = headers._index
        length = self._body_length(index)
        hosts = index.get("host", ())
        if len(hosts) > 1 or (version == "HTTP/1.1" and not hosts):
            raise HttpError(400, "an HTTP/1.1 request needs exactly one Host header")
        connection = index.get("connection")
        if version == "HTTP/1.1":
            keep_alive = not _has_token(connection, "close")
        else:
            keep_alive = _has_token(connection, "keep-alive")
        query = {key: values[0] for key, values in query_all.items()}
        return (method, target, path, query, query_all, version, headers, keep_alive), length

    def _body_length(self, index: dict[str, list[str]]) -> int:
        lengths = index.get("content-length")
        if "transfer-encoding" in index:
            if lengths:
                raise HttpError(400, "both Content-Length and Transfer-Encoding")
            raise HttpError(501, "Transfer-Encoding is not supported: chunked request bodies are not "
                                 "accepted, send Content-Length")
        if not lengths:
            return 0
        values = {v.strip() for field in lengths for v in field.split(",")}
        if len(values) != 1:
            raise HttpError(400, "conflicting Content-Length values")
        (value,) = values
        if not value.isascii() or not value.isdigit():
            raise HttpError(400, "invalid Content-Length")
        if len(value) > _MAX_LENGTH_DIGITS or int(value) > self._config.max_body_bytes:
            raise HttpError(413, f"request body over {self._config.max_body_bytes} bytes")
        return int(value)


def _parse_request_line(line: bytes) -> tuple[str, str, str]:
    parts = line.split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target):
        raise HttpError(400, "malformed request line")
    if not _VERSION.fullmatch(version):
        raise HttpError(400, "malformed HTTP version")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    return method.decode("ascii"), target.decode("ascii"), version.decode("ascii")


def _parse_field_line(line: bytes) -> tuple[str, str]:
    if line[:1] in (b" ", b"\t"):
        raise HttpError(400, "obsolete line folding in a header field")
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.fullmatch(name):
        raise HttpError(400, "malformed header field")
    value = value.strip(b" \t")
    if not _FIELD_VALUE.fullmatch(value):
        raise HttpError(400, "invalid character in a header field (bare CR, LF or control)")
    return name.decode("ascii"), value.decode("latin-1")


def _parse_target(method: str, target: str) -> tuple[str, dict[str, list[str]]]:
    if target.startswith("/"):
        origin = target
    elif target == "*" and method == "OPTIONS":
        return "*", {}
    elif (match := _ABSOLUTE.fullmatch(target)) is not None:
        origin = match[1] or "/"
        if not origin.startswith(("/", "?")):
            raise HttpError(400, "malformed request target")
        if origin.startswith("?"):
            origin = "/" + origin
    else:
        raise HttpError(400, "malformed request target")
    if "#" in origin:
        raise HttpError(400, "a request target cannot carry a fragment")
    raw_path, _, raw_query = origin.partition("?")
    path = unquote(raw_path, errors="replace")
    if not raw_query:
        return path, {}
    if "%" in raw_query or "+" in raw_query:
        return path, parse_qs(raw_query, keep_blank_values=True, errors="replace")
    return path, _split_query(raw_query)


def _split_query(raw_query: str) -> dict[str, list[str]]:
    """``parse_qs(raw_query, keep_blank_values=True)`` for a query without escapes (nothing to decode)."""
    query_all: dict[str, list[str]] = {}
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            values = query_all.get(name)
            if values is None:
                query_all[name] = [value]
            else:
                values.append(value)
    return query_all


# ------------------------------------------------------------------------------------------------ responses


def _check_field(name: str, value: str) -> None:
    if not _STR_TOKEN.fullmatch(name) or not _STR_FIELD_VALUE.fullmatch(value):
        raise ValueError(f"invalid header field {name!r}: {value!r}")


def _head(status: int, fields: Iterable[tuple[str, str]]) -> str:
    if not 100 <= status <= 599:
        raise ValueError(f"invalid HTTP status {status}")
    lines = [f"HTTP/1.1 {status} {reason_phrase(status)}\r\n"]
    for name, value in fields:
        _check_field(name, value)
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines)


def build_response(status: int, body: bytes = b"", *, headers: Iterable[tuple[str, str]] = (),
                   content_type: str | None = None, keep_alive: bool = True) -> bytes:
    """Return a complete response: status line with the standard reason phrase, fields, body.

    ``Content-Length`` is always sent, except for 1xx, 204 and 304, which RFC 9110 forbids to carry it
    (and which cannot have a body). ``Connection: close`` is added when not ``keep_alive``.

    Args:
        status: 100-599.
        body: the body bytes.
        headers: extra fields, written in order (no CR, LF or controls allowed).
        content_type: the ``Content-Type`` value, if any.
        keep_alive: False when the connection is closed after this response.

    Raises:
        ValueError: invalid status or field, or a body on a status that cannot have one.
    """
    fields: list[tuple[str, str]] = []
    if content_type is not None:
        fields.append(("Content-Type", content_type))
    fields.extend(headers)
    if status < 200 or status in _NO_BODY:
        if body:
            raise ValueError(f"a {status} response cannot have a body")
    else:
        fields.append(("Content-Length", str(len(body))))
    if not keep_alive:
        fields.append(("Connection", "close"))
    return _head(status, fields).encode("latin-1") + body


def json_response(status: int, obj: object, *, keep_alive: bool = True,
                  headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """Return a response whose body is ``obj`` as compact JSON (orjson), typed ``application/json``."""
    return build_response(status, orjson.dumps(obj), headers=headers, content_type="application/json",
                          keep_alive=keep_alive)


def error_response(error: HttpError, *, keep_alive: bool = False) -> bytes:
    """Return the response for an :class:`HttpError`: its status, its headers, its reason as plain text."""
    body = (error.reason + "\n").encode("utf-8")
    return build_response(error.status, body, headers=error.headers, content_type="text/plain; charset=utf-8",
                          keep_alive=keep_alive)


def build_sse_head(headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """Return the head of a Server-Sent Events response (``200 OK``, no ``Content-Length``).

    The stream of events follows it and ends when the connection closes. ``headers`` are added after
    the fixed ``Content-Type: text/event-stream``, ``Cache-Control: no-cache``, ``X-Accel-Buffering: no``
    and ``Connection: keep-alive``.
    """
    fields = [*_SSE_FIELDS, *headers]
    if len(fields) == len(_SSE_FIELDS):
        return _SSE_HEAD
    return _head(200, fields).encode("latin-1")


_SSE_FIELDS = (
    ("Content-Type", "text/event-stream"),
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
    ("Connection", "keep-alive"),
)
_SSE_HEAD = _head(200, _SSE_FIELDS).encode("latin-1")


# ------------------------------------------------------------------------------------ WebSocket handshake


def websocket_accept_key(key: str) -> str:
    """Return the ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key`` (RFC 6455 4.2.2)."""
    digest = _sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def check_websocket_upgrade(request: Request) -> str:
    """Check a WebSocket opening handshake (RFC 6455 4.2.1); return the ``Sec-WebSocket-Accept`` value.

    Then answer :func:`build_websocket_accept` and hand the connection to ``ServerWebSocket``.

    Raises:
        HandshakeError: ``status`` 400 when the method is not GET, the version not HTTP/1.1, ``Upgrade``
            lacks the ``websocket`` token, ``Connection`` lacks ``upgrade``, or ``Sec-WebSocket-Key`` is
            not the base64 of 16 bytes; 426 when ``Sec-WebSocket-Version`` is not 13 (answer with
            ``Sec-WebSocket-Version: 13``, as :func:`build_handshake_rejection` does).
    """
    if request.method != "GET":
        raise HandshakeError("a WebSocket handshake must use GET")
    if request.version != "HTTP/1.1":
        raise HandshakeError("a WebSocket handshake needs HTTP/1.1")
    index = request.headers._index
    if not _has_token(index.get("upgrade"), "websocket"):
        raise HandshakeError("missing 'Upgrade: websocket'")
    if not _has_token(index.get("connection"), "upgrade"):
        raise HandshakeError("missing 'Connection: upgrade'")
    versions = index.get("sec-websocket-version", ())
    if len(versions) != 1 or versions[0].strip() != "13":
        raise HandshakeError("unsupported Sec-WebSocket-Version (13 is required)", status=426)
    keys = index.get("sec-websocket-key", ())
    if len(keys) != 1:
        raise HandshakeError("exactly one Sec-WebSocket-Key is required")
    key = keys[0].strip()
    try:
        raw = binascii.a2b_base64(key.encode("latin-1"), strict_mode=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise HandshakeError("Sec-WebSocket-Key must be the base64 of 16 bytes")
    return websocket_accept_key(key)


def _has_token(values: list[str] | None, token: str) -> bool:
    """Whether any of the comma-separated ``values`` is ``token`` (lower-case), in any case."""
    if not values:
        return False
    for value in values:
        lowered = value.lower()
        # a value that does not contain the token at all needs no split; a single-token value needs none either
        if token in lowered and (lowered == token or token in _value_tokens(value)):
            return True
    return False


def _value_tokens(value: str) -> list[str]:
    """The lower-cased, non-empty comma-separated tokens of one field value."""
    return [t.strip().lower() for t in value.split(",") if t.strip()]


def select_subprotocol(request: Request, supported: Sequence[str]) -> str | None:
    """Return the first of ``supported`` that the client offered in ``Sec-WebSocket-Protocol``, or None."""
    values = request.headers._index.get("sec-websocket-protocol")
    if not values:
        return None
    offered = {t.strip() for value in values for t in value.split(",")}
    for protocol in supported:
        if protocol in offered:
            return protocol
    return None


def build_websocket_accept(accept: str, subprotocol: str | None = None) -> bytes:
    """Return the ``101 Switching Protocols`` response completing the handshake.

    Args:
        accept: the value :func:`check_websocket_upgrade` returned.
        subprotocol: the subprotocol to confirm (from :func:`select_subprotocol`), if any.
    """
    _check_field("Sec-WebSocket-Accept", accept)
    if subprotocol is None:
        return _SWITCHING % (accept.encode("latin-1"), b"")
    _check_field("Sec-WebSocket-Protocol", subprotocol)
    protocol_field = b"Sec-WebSocket-Protocol: %s\r\n" % subprotocol.encode("latin-1")
    return _SWITCHING % (accept.encode("latin-1"), protocol_field)


def build_handshake_rejection(error: HandshakeError) -> bytes:
    """Return the response refusing a bad handshake: its status, plain-text reason, connection closed.

    A 426 carries ``Sec-WebSocket-Version: 13`` (RFC 6455 4.4).
    """
    headers = [("Sec-WebSocket-Version", "13")] if error.status == 426 else []
    body = (error.reason + "\n").encode("utf-8")
    return build_response(error.status, body, headers=headers, content_type="text/plain; charset=utf-8",
                          keep_alive=False)

"""A small, independent HTTP/1.1 and Server-Sent Events client for tests (asyncio streams).

Written from RFC 9112, the WHATWG event-stream format and docs/protocol.md alone; it imports nothing from
pushwire, so a bug in pushwire's HTTP parser or SSE writer cannot hide itself behind a shared helper.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

# docs/protocol.md 9.3, the position-vector ABNF (entries as the server writes them: always with "~epoch")
_ENTRY = re.compile(r"([a-z][a-z0-9_-]{0,31}(?::[A-Za-z0-9_.:@-]{1,128})?)=([0-9]{1,20})~([A-Za-z0-9]{1,32})")


def parse_vector(text: str) -> dict[str, tuple[int, str]]:
    """Parse a position vector written by the server: stream -> (cursor, epoch), in the text's order."""
    if text == "":
        return {}
    out: dict[str, tuple[int, str]] = {}
    for entry in text.split(","):
        match = _ENTRY.fullmatch(entry)
        assert match is not None, f"malformed position-vector entry {entry!r} in {text!r}"
        assert match[1] not in out, f"stream {match[1]!r} twice in {text!r}"
        out[match[1]] = (int(match[2]), match[3])
    return out


def format_vector(positions: dict[str, tuple[int, str | None]]) -> str:
    """Build a position vector (an epoch of None writes the entry without ``~epoch``)."""
    return ",".join(f"{name}={cursor}" + (f"~{epoch}" if epoch else "") for name, (cursor, epoch) in positions.items())


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    version: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        """First value of a header (any case), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


def build_request(method: str, target: str, *, host: str | None = "127.0.0.1", headers: dict[str, str] | None = None,
                  body: bytes | str | dict[str, Any] | list[Any] | None = None, version: str = "HTTP/1.1",
                  content_type: str | None = None) -> bytes:
    """The bytes of one request; a dict or list body is sent as JSON with its Content-Length."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body, separators=(",", ":")).encode()
        content_type = content_type or "application/json"
    elif isinstance(body, str):
        body = body.encode()
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class RawHttp:
    """One client connection; several requests may be written before reading (pipelining)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, *, host: str = "127.0.0.1", timeout: float = 5.0,
                      rcvbuf: int | None = None) -> RawHttp:
        """Connect; ``rcvbuf`` sets a small receive buffer (a stalled reader then backs up into the server)."""
        if rcvbuf is None:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            return cls(reader, writer)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: fixes the window
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), timeout)
        reader, writer = await asyncio.open_connection(sock=sock, limit=max(rcvbuf, 65536))
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    def request(self, method: str, target: str, **kwargs: Any) -> None:
        self.writer.write(build_request(method, target, **kwargs))

    async def fetch(self, method: str, target: str, *, timeout: float = 5.0, **kwargs: Any) -> Response:
        self.request(method, target, **kwargs)
        return await self.read_response(timeout, head_request=method == "HEAD")

    async def read_head(self, timeout: float = 5.0) -> Response:
        """Read a response head (status line and fields); the body is left in the stream."""
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        lines = raw[:-4].decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        assert re.fullmatch(r"HTTP/1\.[01]", version), lines[0]
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            assert colon and name == name.strip(), f"malformed response field {line!r}"
            headers.append((name, value.strip()))
        return Response(int(status), reason, headers, b"", version)

    async def read_response(self, timeout: float = 5.0, *, head_request: bool = False) -> Response:
        """Read one complete response (interim 1xx answers are returned too, as responses of their own)."""
        response = await self.read_head(timeout)
        if head_request or response.status < 200 or response.status in (204, 304):
            return response
        length = response.header("content-length")
        if length is not None:
            response.body = await asyncio.wait_for(self.reader.readexactly(int(length)), timeout)
        else:  # delimited by the end of the connection
            response.body = await asyncio.wait_for(self.reader.read(), timeout)
        return response

    async def wait_closed(self, timeout: float = 5.0) -> bytes:
        """Read until the server closes the connection; return what arrived meanwhile.

        Raises:
            asyncio.TimeoutError: still open after ``timeout`` seconds.
        """
        data = bytearray()

        async def drain() -> None:
            while True:
                try:
                    chunk = await self.reader.read(65536)
                except ConnectionError:
                    return
                if not chunk:
                    return
                data.extend(chunk)

        await asyncio.wait_for(drain(), timeout)
        return bytes(data)

    def close(self) -> None:
        self.writer.close()


async def fetch(port: int, method: str, target: str, *, timeout: float = 5.0, **kwargs: Any) -> Response:
    """One request on a fresh connection, closed afterwards."""
    conn = await RawHttp.connect(port, timeout=timeout)
    try:
        return await conn.fetch(method, target, timeout=timeout, **kwargs)
    finally:
        conn.close()


async def post_json(port: int, path: str, body: Any, *, token: str | None = None, timeout: float = 5.0,
                    **kwargs: Any) -> Response:
    headers = dict(kwargs.pop("headers", None) or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return await fetch(port, "POST", path, body=body, headers=headers, timeout=timeout, **kwargs)


# -------------------------------------------------------------------------------------------- event stream


@dataclass
class Event:
    """One block of the event stream (up to its blank line)."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    def json(self) -> Any:
        assert self.data is not None, self
        return json.loads(self.data)

    @property
    def payload(self) -> Any:
        return self.json()["payload"]

    @property
    def vector(self) -> dict[str, tuple[int, str]]:
        assert self.id is not None, self
        return parse_vector(self.id)


class Ended(Exception):
    """The server ended the event stream."""


class SseClient:
    """``GET /rps/sse`` on a raw socket; :meth:`next_event` returns each block of the stream."""

    def __init__(self, conn: RawHttp, response: Response) -> None:
        self.conn = conn
        self.response = response
        self.heartbeats = 0

    @classmethod
    async def open(cls, port: int, params: dict[str, str] | None = None, *, headers: dict[str, str] | None = None,
                   path: str = "/rps/sse", timeout: float = 5.0, rcvbuf: int | None = None) -> SseClient:
        """Open the stream; raise :class:`Refused` (with the response) unless the answer is 200."""
        conn = await RawHttp.connect(port, timeout=timeout, rcvbuf=rcvbuf)
        target = path + ("?" + urlencode(params) if params else "")
        conn.request("GET", target, headers={"Accept": "text/event-stream", **(headers or {})})
        response = await conn.read_head(timeout)
        if response.status != 200:
            length = response.header("content-length")
            if length is not None:
                response.body = await asyncio.wait_for(conn.reader.readexactly(int(length)), timeout)
            conn.close()
            raise Refused(response)
        assert response.header("content-length") is None, "an event stream has no Content-Length"
        return cls(conn, response)

    async def read_block(self, timeout: float = 5.0) -> Event:
        """The next block, comments included; raises :class:`Ended` when the stream ends."""
        event = Event()
        seen = False
        while True:
            try:
                raw = await asyncio.wait_for(self.conn.reader.readline(), timeout)
            except ConnectionError:
                raise Ended() from None
            if not raw.endswith(b"\n"):
                raise Ended()
            line = raw[:-1].decode()
            if line.endswith("\r"):
                line = line[:-1]
            if line == "":
                if seen:
                    return event
                continue
            seen = True
            if line.startswith(":"):
                event.comments.append(line[1:].strip())
                continue
            name, colon, value = line.partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            if name == "id":
                event.id = value
            elif name == "event":
                event.event = value
            elif name == "data":
                event.data = value if event.data is None else event.data + "\n" + value
            elif name == "retry":
                event.retry = int(value)
            else:
                raise AssertionError(f"unknown field in the event stream: {line!r}")

    async def next_event(self, timeout: float = 5.0) -> Event:
        """The next event with data (heartbeat comments and ``retry`` blocks are counted and skipped)."""
        while True:
            event = await self.read_block(timeout)
            if event.data is not None:
                return event
            if "hb" in event.comments:
                self.heartbeats += 1

    async def until_ended(self, timeout: float = 5.0) -> list[Event]:
        """Every event until the server ends the stream."""
        events = []
        while True:
            try:
                events.append(await self.next_event(timeout))
            except Ended:
                return events

    def close(self) -> None:
        self.conn.close()

    def abort(self) -> None:
        self.conn.writer.transport.abort()


class Refused(Exception):
    """The SSE request got an answer other than 200."""

    def __init__(self, response: Response) -> None:
        super().__init__(f"{response.status} {response.body!r}")
        self.response = response

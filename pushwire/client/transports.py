"""The client's transports: WebSocket (``websockets``) and Server-Sent Events (``httpx``).

Layer 5 (faces). A transport only moves JSON messages: it opens a connection that carries the client's
``auth`` (as the first WebSocket message, or as the query of ``GET /rps/sse``), hands every inbound message to
the caller as text (decoding is the protocol layer's job), and sends client messages (over the socket, or as ``POST /rps/send`` and
``POST /rps/ack`` for SSE). What the messages mean is the client's business (``pushwire.client.client``).

Errors: :class:`TransportUnavailable` when the route cannot be used at all (refused connection, rejected
upgrade, 404), ``AuthRejected`` when the server refuses the client, :class:`TransportClosed` when an open
transport ends (with the close code the client's reconnect decision is based on).
See docs/protocol.md, "HTTP routes".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson

from ..errors import AuthRejected, CloseCode, PushwireError, SendError
from ..protocol.messages import Ack, Auth
from ..protocol.streams import EPOCH_RE, check_stream_syntax

__all__ = [
    "ConnectError",
    "SseTransport",
    "Transport",
    "TransportClosed",
    "TransportUnavailable",
    "WebSocketTransport",
    "AuthParams",
    "Endpoints",
    "format_resume_vector",
    "parse_sse_events",
]

log = logging.getLogger("pushwire.client")

#: WebSocket subprotocol offered to the server (echoed when it speaks it)
SUBPROTOCOL = "pushwire.v1"
#: the server sends a heartbeat comment every 15 s; a stream silent for this long (three missed heartbeats) is
#: taken as dead and the client reconnects
SSE_READ_TIMEOUT_S = 45.0
#: bound of one SSE event (the server's inbound limit is 1 MiB per message; replies can be bigger)
SSE_MAX_EVENT_BYTES = 16 * 1024 * 1024


class ConnectError(PushwireError):
    """The client could not connect (no transport worked, or ``auth_ok`` did not arrive in time)."""


class TransportUnavailable(ConnectError):
    """A transport's route cannot be used: connection refused, upgrade rejected, route missing.

    With ``ws-first``/``sse-first`` the client falls back to the other transport.
    """


class TransportClosed(PushwireError):
    """An open transport ended.

    Attributes:
        code: the WebSocket close code (1006 when the connection dropped without one; SSE streams that end
            report 1006, as a lost connection).
        reason: the close reason, if any.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"transport closed with code {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason

    @property
    def reconnect(self) -> bool:
        """Whether the client should reconnect after this close (see ``CloseCode.reconnect``)."""
        return close_code_reconnects(self.code)


def close_code_reconnects(code: int) -> bool:
    """Return whether a client reconnects after close code ``code`` (unknown codes: all but 4500-4999)."""
    try:
        return CloseCode(code).reconnect
    except ValueError:
        return not 4500 <= code <= 4999


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The URLs derived from the server's base URL (``http://host:port`` or ``ws://host:port``)."""

    http_base: str
    ws_base: str

    @classmethod
    def from_url(cls, url: str) -> Endpoints:
        """Derive both bases from one URL; a trailing ``/rps`` or ``/`` is ignored."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "ws", "wss"):
            raise ValueError(f"unsupported URL scheme {parts.scheme!r} (use http, https, ws or wss)")
        secure = scheme in ("https", "wss")
        path = parts.path.rstrip("/")
        if path.endswith("/rps"):
            path = path[: -len("/rps")]
        http = urlunsplit(("https" if secure else "http", parts.netloc, path, "", ""))
        ws = urlunsplit(("wss" if secure else "ws", parts.netloc, path, "", ""))
        return cls(http, ws)

    @property
    def ws(self) -> str:
        return self.ws_base + "/rps"

    @property
    def sse(self) -> str:
        return self.http_base + "/rps/sse"

    @property
    def ack(self) -> str:
        return self.http_base + "/rps/ack"

    @property
    def send(self) -> str:
        return self.http_base + "/rps/send"


@dataclass(slots=True)
class AuthParams:
    """What a transport needs to authenticate: the fields of the ``auth`` op."""

    client_id: str
    token: str | None
    streams: list[str]
    resume_cursors: dict[str, int] = field(default_factory=dict)
    resume_epochs: dict[str, str] = field(default_factory=dict)

    def auth_op(self) -> Auth:
        """Return the ``auth`` op (the payload of the first WebSocket message)."""
        return Auth(self.client_id, self.token, tuple(self.streams), None, dict(self.resume_cursors),
                    dict(self.resume_epochs))


def format_resume_vector(cursors: Mapping[str, int], epochs: Mapping[str, str]) -> str:
    """Return the ``cursors=`` position vector: ``stream=cursor~epoch`` (or ``stream=cursor``) joined by ``,``."""
    parts = []
    for stream, cursor in cursors.items():
        entry = f"{check_stream_syntax(stream)}={int(cursor)}"
        epoch = epochs.get(stream)
        if epoch is not None and EPOCH_RE.fullmatch(epoch):
            entry += f"~{epoch}"
        parts.append(entry)
    return ",".join(parts)


def system_frame(op: Mapping[str, Any]) -> dict[str, Any]:
    """Wrap an op in a system-channel frame (the form the server writes, and accepts)."""
    return {"channel": "system", "cursor": None, "client_id": None, "payload": dict(op)}


class Transport(Protocol):
    """What the client needs of a transport."""

    #: ``"ws"`` or ``"sse"``
    name: str

    async def open(self, auth: AuthParams, *, timeout_s: float) -> None:
        """Connect and send the auth; then read messages with :meth:`recv`."""

    async def recv(self) -> str:
        """Return the next inbound JSON text message; raise :class:`TransportClosed` when the transport ends."""

    async def send(self, message: Mapping[str, Any]) -> None:
        """Send a client message (an application frame or a system frame)."""

    async def ack(self, stream: str, cursor: int, *, session_token: str | None) -> None:
        """Acknowledge frames of ``stream`` up to ``cursor``."""

    def set_session(self, session_token: str | None) -> None:
        """Remember the session token of this connection's ``auth_ok`` (authorises SSE's POSTs)."""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the transport (idempotent)."""


# ---------------------------------------------------------------------------------------------------------
# WebSocket
# ---------------------------------------------------------------------------------------------------------

class WebSocketTransport:
    """``GET /rps`` over the ``websockets`` asyncio client."""

    name = "ws"

    def __init__(self, endpoints: Endpoints, *, max_message_bytes: int = 16 * 1024 * 1024) -> None:
        self._endpoints = endpoints
        self._max_message_bytes = max_message_bytes
        self._ws: Any = None

    async def open(self, auth: AuthParams, *, timeout_s: float) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus

        try:
            self._ws = await connect(
                self._endpoints.ws,
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                open_timeout=timeout_s,
                max_size=self._max_message_bytes,
                compression=None,
                user_agent_header="pushwire-client",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise AuthRejected(f"WebSocket upgrade refused with HTTP {status}") from exc
            raise TransportUnavailable(f"WebSocket upgrade refused with HTTP {status}") from exc
        except (OSError, InvalidHandshake, asyncio.TimeoutError) as exc:
            raise TransportUnavailable(f"WebSocket connection to {self._endpoints.ws} failed: {exc!r}") from exc
        await self.send(system_frame(auth.auth_op().to_payload()))

    async def recv(self) -> str:
        from websockets.exceptions import ConnectionClosed

        if self._ws is None:
            raise TransportClosed(CloseCode.ABNORMAL, "not open")
        while True:
            try:
                data = await self._ws.recv()
            except ConnectionClosed as exc:
                rcvd = exc.rcvd
                code = rcvd.code if rcvd is not None else CloseCode.ABNORMAL
                raise TransportClosed(int(code), rcvd.reason if rcvd is not None else "") from None
            if isinstance(data, bytes):
                # Binary RP frames are only sent after a `features` negotiation this client never starts.
                log.warning("pushwire client: dropping an unexpected binary message")
                continue
            return data

    async def send(self, message: Mapping[str, Any]) -> None:
        from websockets.exceptions import ConnectionClosed

        if self._ws is None:
            raise SendError("WebSocket is not open")
        try:
            await self._ws.send(orjson.dumps(message).decode())
        except ConnectionClosed as exc:
            raise SendError(f"WebSocket closed while sending: {exc}") from exc

    async def ack(self, stream: str, cursor: int, *, session_token: str | None) -> None:
        await self.send(system_frame(Ack(stream, cursor).to_payload()))

    def set_session(self, session_token: str | None) -> None:
        pass  # the socket itself is the session

    async def close(self, code: int = 1000, reason: str = "") -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(code, reason)

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake (tests: simulate a network failure)."""
        if self._ws is not None:
            self._ws.transport.abort()


# ---------------------------------------------------------------------------------------------------------
# Server-Sent Events
# ---------------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class SseEvent:
    """One parsed SSE event."""

    event: str = "message"
    data: str = ""
    id: str | None = None


async def parse_sse_events(lines: AsyncIterator[str], *, max_event_bytes: int = SSE_MAX_EVENT_BYTES
                           ) -> AsyncIterator[SseEvent]:
    """Turn the lines of a ``text/event-stream`` into events (HTML Living Standard, "event stream").

    Comments (heartbeats) and ``retry:`` are skipped; events with no ``data`` are not dispatched.
    """
    event, data, event_id, size = "", [], None, 0
    async for line in lines:
        if not line:
            if data:
                yield SseEvent(event or "message", "\n".join(data), event_id)
            event, data, event_id, size = "", [], None, 0
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            size += len(value) + 1
            if size > max_event_bytes:
                raise TransportClosed(CloseCode.MESSAGE_TOO_BIG, "SSE event too big")
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            event_id = value


class SseTransport:
    """``GET /rps/sse`` streamed with ``httpx``; sends are ``POST /rps/send``, acks ``POST /rps/ack``."""

    name = "sse"

    def __init__(self, endpoints: Endpoints) -> None:
        import httpx

        self._endpoints = endpoints
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=SSE_READ_TIMEOUT_S))
        self._response: Any = None
        self._events: AsyncIterator[SseEvent] | None = None
        self._client_id = ""
        self._token: str | None = None
        #: the session token of the current stream's auth_ok (set by the client)
        self.session_token: str | None = None
        #: the ``id:`` of the last event (a position vector)
        self.last_event_id: str | None = None

    async def open(self, auth: AuthParams, *, timeout_s: float) -> None:
        import httpx

        self._client_id = auth.client_id
        self._token = auth.token
        params = {"client_id": auth.client_id}
        if auth.streams:
            params["channels"] = ",".join(auth.streams)
        if auth.token is not None:
            params["token"] = auth.token
        vector = format_resume_vector(auth.resume_cursors, auth.resume_epochs)
        if vector:
            params["cursors"] = vector
        request = self._http.build_request(
            "GET", self._endpoints.sse, params=params,
            headers={"Accept": "text/event-stream", "Cache-Control": "no-cache"},
            timeout=httpx.Timeout(timeout_s, read=SSE_READ_TIMEOUT_S),
        )
        try:
            response = await self._http.send(request, stream=True)
        except (httpx.TransportError, OSError) as exc:
            raise TransportUnavailable(f"SSE connection to {self._endpoints.sse} failed: {exc!r}") from exc
        if response.status_code != 200:
            body = (await response.aread())[:200].decode("utf-8", "replace")
            await response.aclose()
            if response.status_code in (401, 403):
                raise AuthRejected(f"SSE refused with HTTP {response.status_code}: {body}")
            raise TransportUnavailable(f"SSE refused with HTTP {response.status_code}: {body}")
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            await response.aclose()
            raise TransportUnavailable(f"SSE route answered with content type {content_type!r}")
        self._response = response
        self._events = parse_sse_events(response.aiter_lines())

    async def recv(self) -> str:
        import httpx

        if self._events is None:
            raise TransportClosed(CloseCode.ABNORMAL, "not open")
        while True:
            try:
                event = await anext(self._events)
            except StopAsyncIteration:
                raise TransportClosed(CloseCode.ABNORMAL, "event stream ended") from None
            except (httpx.HTTPError, OSError) as exc:
                raise TransportClosed(CloseCode.ABNORMAL, f"event stream failed: {exc!r}") from None
            if event.id is not None:
                self.last_event_id = event.id
            return event.data

    async def _post(self, url: str, body: dict[str, Any], *, session_token: str | None) -> None:
        import httpx

        token = session_token or self.session_token
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self._http.post(url, content=orjson.dumps(body), headers=headers)
        except (httpx.HTTPError, OSError) as exc:
            raise SendError(f"POST {url} failed: {exc!r}") from exc
        if response.status_code >= 300:
            raise SendError(f"POST {url} answered HTTP {response.status_code}: {response.text[:200]}")

    async def send(self, message: Mapping[str, Any]) -> None:
        body = dict(message)
        body["client_id"] = self._client_id
        await self._post(self._endpoints.send, body, session_token=None)

    async def ack(self, stream: str, cursor: int, *, session_token: str | None) -> None:
        body = {"client_id": self._client_id, "channel": stream, "cursor": cursor}
        await self._post(self._endpoints.ack, body, session_token=session_token)

    def set_session(self, session_token: str | None) -> None:
        self.session_token = session_token

    async def close(self, code: int = 1000, reason: str = "") -> None:
        response, self._response = self._response, None
        events, self._events = self._events, None
        if events is not None:
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]
        if response is not None:
            with contextlib.suppress(Exception):
                await response.aclose()
        with contextlib.suppress(Exception):
            await self._http.aclose()

    def abort(self) -> None:
        """Drop the event stream's connection (tests: simulate a network failure).

        The socket is shut down, not closed: the pending read then sees end-of-file and :meth:`recv` reports
        a lost connection (1006), while the event loop still owns the file descriptor.
        """
        if self._response is None:
            return
        stream = self._response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is None:
            return
        # uvloop hands out a pseudo-socket without shutdown(): shut the connection down through a duplicate
        # descriptor (shutdown acts on the connection, which both descriptors share).
        with contextlib.suppress(OSError, ValueError), socket.socket(fileno=os.dup(sock.fileno())) as dup:
            dup.shutdown(socket.SHUT_RDWR)

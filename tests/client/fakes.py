"""A scripted in-memory server and transport for PushClient unit tests (no sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from pushwire.client import PushClient, ReconnectPolicy
from pushwire.client.transports import AuthParams, TransportClosed, TransportUnavailable
from pushwire.errors import SendError

FAST = ReconnectPolicy(initial_delay_s=0.001, max_delay_s=0.01, jitter=False)


def sysframe(payload: Mapping[str, Any]) -> str:
    return orjson.dumps({"channel": "system", "cursor": None, "client_id": None, "payload": dict(payload)}).decode()


def frame(channel: str, cursor: int | None, payload: Any, *, topic: str | None = None,
          client_id: str | None = None) -> str:
    obj: dict[str, Any] = {"channel": channel}
    if topic is not None:
        obj["topic"] = topic
    obj.update({"cursor": cursor, "client_id": client_id, "payload": payload})
    return orjson.dumps(obj).decode()


def status(cursor: int, top: int | None = None, *, epoch: str = "e1", outcome: str = "new") -> dict[str, Any]:
    return {"epoch": epoch, "cursor": cursor, "top": cursor if top is None else top, "outcome": outcome,
            "recovered": outcome == "recovered"}


def auth_ok(streams: Mapping[str, Any], token: str = "sess1") -> str:
    return sysframe({"type": "auth_ok", "session_token": token, "resume_cursor": 0,
                     "resume_cursors": {k: v["cursor"] for k, v in streams.items()}, "streams": dict(streams)})


class FakeTransport:
    """Implements the transport protocol against a FakeServer."""

    def __init__(self, name: str, server: FakeServer) -> None:
        self.name = name
        self.server = server
        self.inbox: asyncio.Queue[str | TransportClosed] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.acks: list[tuple[str, int, str | None]] = []
        self.auth: AuthParams | None = None
        self.closed_with: int | None = None

    async def open(self, auth: AuthParams, *, timeout_s: float) -> None:
        if self.name in self.server.unavailable:
            raise TransportUnavailable(f"{self.name} refused")
        self.auth = auth
        self.server.opened.append(self)
        for item in self.server.on_open(self, auth):
            self.inbox.put_nowait(item)

    async def recv(self) -> str:
        item = await self.inbox.get()
        if isinstance(item, TransportClosed):
            self.inbox.put_nowait(item)  # stays closed
            raise item
        return item

    async def send(self, message: Mapping[str, Any]) -> None:
        if self.closed_with is not None:
            raise SendError("closed")
        self.sent.append(dict(message))
        for item in self.server.on_message(self, dict(message)):
            self.inbox.put_nowait(item)

    async def ack(self, stream: str, cursor: int, *, session_token: str | None) -> None:
        self.acks.append((stream, cursor, session_token))

    def set_session(self, session_token: str | None) -> None:
        self.session_token = session_token

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed_with is None:
            self.closed_with = code

    def push(self, *items: str) -> None:
        for item in items:
            self.inbox.put_nowait(item)

    def kill(self, code: int = 1006, reason: str = "") -> None:
        self.inbox.put_nowait(TransportClosed(code, reason))

    def abort(self) -> None:
        self.kill(1006)

    def sent_ops(self, kind: str | None = None) -> list[dict[str, Any]]:
        ops = [m["payload"] for m in self.sent if m.get("channel") == "system"]
        return [op for op in ops if kind is None or op["type"] == kind]


@dataclass
class FakeServer:
    """Decides what each transport receives on open and in answer to client messages."""

    on_open: Callable[[FakeTransport, AuthParams], list[str]] = lambda t, a: [auth_ok({})]
    on_message: Callable[[FakeTransport, dict[str, Any]], list[str]] = lambda t, m: []
    unavailable: set[str] = field(default_factory=set)
    opened: list[FakeTransport] = field(default_factory=list)

    @property
    def current(self) -> FakeTransport:
        return self.opened[-1]


def make_client(server: FakeServer, **kwargs: Any) -> PushClient:
    kwargs.setdefault("reconnect", FAST)
    kwargs.setdefault("open_timeout_s", 2.0)
    client = PushClient("http://127.0.0.1:1", **kwargs)
    client._make_transport = lambda kind: FakeTransport(kind, server)  # type: ignore[method-assign]
    return client


async def until(predicate: Callable[[], bool], timeout_s: float = 2.0) -> None:
    """Wait (bounded) until ``predicate()`` is true, yielding to the loop."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.001)

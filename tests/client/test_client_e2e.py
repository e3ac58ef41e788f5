"""PushClient end to end against a real PushServer on 127.0.0.1 (ephemeral ports), over WebSocket and SSE."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pushwire.app import PushServer
from pushwire.client import ConnectionState, PushClient, ReconnectPolicy, TransportUnavailable
from pushwire.client.transports import Transport
from pushwire.config import HistoryConfig, ServerConfig, WebSocketConfig
from pushwire.errors import AuthRejected, HttpError
from pushwire.protocol.channels import DefaultChannel
from pushwire.protocol.frames import Frame
from pushwire.protocol.messages import ResumeRequired
from pushwire.protocol.resume import ResumeOutcome
from pushwire.server.routes import Routes

FAST = ReconnectPolicy(initial_delay_s=0.02, max_delay_s=0.2)
TRANSPORTS = ["ws-only", "sse-only"]


async def until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait (bounded) until ``predicate()`` holds."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.005)


async def start_server(**kwargs: Any) -> PushServer:
    server = PushServer(DefaultChannel, **kwargs)

    @server.handler(DefaultChannel.CHAT)
    async def relay(client_id: str, frame: Frame, srv: PushServer) -> None:
        # the demo's chat: republish to the stream with the sender's id
        await srv.publish(DefaultChannel.CHAT, frame.payload, topic=frame.topic, sender=client_id)

    await server.start("127.0.0.1", 0)
    return server


@pytest.fixture
async def server() -> AsyncIterator[PushServer]:
    srv = await start_server(demo=True)
    try:
        yield srv
    finally:
        await srv.close()


def url_of(server: PushServer) -> str:
    return f"http://127.0.0.1:{server.port}"


@contextlib.asynccontextmanager
async def connected(server: PushServer, **kwargs: Any) -> AsyncIterator[PushClient]:
    kwargs.setdefault("reconnect", FAST)
    kwargs.setdefault("open_timeout_s", 5.0)
    client = PushClient(url_of(server), **kwargs)
    try:
        await client.connect()
        yield client
    finally:
        async with asyncio.timeout(10):
            await client.disconnect()


def record(client: PushClient, key: str = "chat") -> list[Frame]:
    got: list[Frame] = []
    client.on(key, got.append)
    return got


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_connect_receive_send(server: PushServer, mode: str) -> None:
    async with connected(server, streams=["chat"], transport=mode) as client:
        got = record(client)
        assert client.transport_in_use == mode[:-5]
        assert client.session_token
        assert client.resume_outcomes["chat"].outcome is ResumeOutcome.NEW
        assert await server.publish("chat", {"text": "from server"}) == 1
        await client.send("chat", {"text": "from client"})
        await until(lambda: len(got) == 2)
        assert [(f.cursor, f.payload, f.client_id) for f in got] == [
            (1, {"text": "from server"}, None), (2, {"text": "from client"}, client.client_id)]
        assert client.cursors()["chat"] == 2
        assert client.stats.duplicates_dropped == 0 and client.stats.gaps_seen == 0


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_subscribe_and_unsubscribe(server: PushServer, mode: str) -> None:
    async with connected(server, streams=["chat"], transport=mode) as client:
        room = record(client, "chat:room1")
        await server.publish("chat", "before", topic="room1")
        streams = await client.subscribe(["chat:room1"])
        assert streams["chat:room1"].cursor == 1 and streams["chat:room1"].outcome is ResumeOutcome.NEW
        await server.publish("chat", "after", topic="room1")
        await client.send("chat", "mine", topic="room1")
        await until(lambda: len(room) == 2)
        assert [(f.stream, f.cursor, f.payload) for f in room] == [("chat:room1", 2, "after"),
                                                                    ("chat:room1", 3, "mine")]
        await client.unsubscribe(["chat:room1"])
        await asyncio.sleep(0.1)  # let the unsubscribe reach the server
        await server.publish("chat", "gone", topic="room1")
        await server.publish("chat", "marker")
        plain = record(client)
        await until(lambda: any(f.payload == "marker" for f in plain))
        assert len(room) == 2


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_subscribe_with_cursor_replays(server: PushServer, mode: str) -> None:
    for i in range(5):
        await server.publish("chat", i, topic="old")
    async with connected(server, transport=mode) as client:
        got = record(client, "chat:old")
        streams = await client.subscribe(["chat:old"], resume_cursors={"chat:old": 2})
        assert streams["chat:old"].outcome is ResumeOutcome.RECOVERED
        await until(lambda: len(got) == 3)
        assert [f.cursor for f in got] == [3, 4, 5]


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_personal_stream_ack_trims_history(server: PushServer, mode: str) -> None:
    cid = str(uuid.uuid4())
    personal = f"chat:@{cid}"
    await server.send(cid, "chat", "one")  # waits in history for the offline client
    await server.send(cid, "chat", "two")
    async with connected(server, client_id=cid, transport=mode) as client:
        got = record(client)
        await until(lambda: len(got) == 2)
        assert [(f.stream, f.cursor, f.payload) for f in got] == [(personal, 1, "one"), (personal, 2, "two")]
        assert client.resume_outcomes[personal].outcome is ResumeOutcome.RECOVERED
        await server.send(cid, "chat", "live")
        await until(lambda: len(got) == 3)
        await client.ack(personal, 1)
    await server.send(cid, "chat", "four")
    # a fresh client object with the same id knows no cursor: the server replays from 0, minus what was acked
    async with connected(server, client_id=cid, transport=mode) as again:
        got2 = record(again)
        await until(lambda: len(got2) == 3)
        assert [(f.cursor, f.payload) for f in got2] == [(2, "two"), (3, "live"), (4, "four")]


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_personal_stream_created_while_connected(server: PushServer, mode: str) -> None:
    cid = str(uuid.uuid4())
    async with connected(server, client_id=cid, transport=mode) as client:
        got = record(client)
        await server.send(cid, "chat", "hello")
        await until(lambda: len(got) == 1, timeout_s=3)
        assert (got[0].stream, got[0].cursor) == (f"chat:@{cid}", 1)


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_auto_ack(server: PushServer, mode: str) -> None:
    cid = str(uuid.uuid4())
    for i in range(3):
        await server.send(cid, "chat", i)
    async with connected(server, client_id=cid, transport=mode, auto_ack=True) as client:
        got = record(client)
        await until(lambda: len(got) == 3)
        await asyncio.sleep(0.2)  # acks are sent in the background
    await server.send(cid, "chat", "new")
    async with connected(server, client_id=cid, transport=mode) as again:
        got2 = record(again)
        await until(lambda: len(got2) == 1)
        await asyncio.sleep(0.05)
        assert [(f.cursor, f.payload) for f in got2] == [(4, "new")]


async def test_ws_first_falls_back_to_sse_when_websocket_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Routes, connection: Any, request: Any) -> None:
        raise HttpError(404, "no websocket here")

    monkeypatch.setattr(Routes, "websocket", refuse)
    # routes are built at start: use a server started after the patch
    srv = await start_server()
    try:
        async with connected(srv, streams=["chat"], transport="ws-first") as client:
            assert client.transport_in_use == "sse"
            got = record(client)
            await client.send("chat", "via sse")
            await until(lambda: len(got) == 1)
        client = PushClient(url_of(srv), transport="ws-only", reconnect=FAST, open_timeout_s=5)
        with pytest.raises(TransportUnavailable):
            await client.connect()
    finally:
        await srv.close()


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_auth_rejected(mode: str) -> None:
    srv = await start_server(auth=lambda client_id, token, streams: token == "good")
    try:
        bad = PushClient(url_of(srv), token="bad", streams=["chat"], transport=mode, reconnect=FAST,
                         open_timeout_s=5)
        with pytest.raises(AuthRejected):
            await bad.connect()
        assert bad.state is ConnectionState.DISCONNECTED
        async with connected(srv, token="good", streams=["chat"], transport=mode) as good:
            assert good.state is ConnectionState.CONNECTED
    finally:
        await srv.close()


@pytest.mark.parametrize("mode", TRANSPORTS)
@pytest.mark.parametrize("kill", ["server", "network"])
async def test_reconnect_resumes_without_loss_or_duplicates(server: PushServer, mode: str, kill: str) -> None:
    states: list[ConnectionState] = []
    async with connected(server, streams=["chat"], transport=mode,
                         on_state_change=lambda new, old: states.append(new)) as client:
        got = record(client)
        for i in range(1, 4):
            await server.publish("chat", i)
        await until(lambda: len(got) == 3)
        if kill == "server":
            assert server.disconnect(client.client_id)
        else:
            await client.drop_connection()
        await until(lambda: client.state is not ConnectionState.CONNECTED)
        for i in range(4, 9):  # published while the client is away
            await server.publish("chat", i)
        await client.wait_state(ConnectionState.CONNECTED, timeout_s=10)
        await server.publish("chat", 9)
        await until(lambda: len(got) == 9)
        await asyncio.sleep(0.05)
        assert [f.payload for f in got] == list(range(1, 10))
        assert [f.cursor for f in got] == list(range(1, 10))
        assert client.stats.reconnects == 1
        assert ConnectionState.RESUMING in states
        outcome = client.resume_outcomes["chat"]
        assert outcome.outcome is ResumeOutcome.RECOVERED and outcome.cursor == 3


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_resume_under_load_with_repeated_drops(server: PushServer, mode: str) -> None:
    total = 300
    async with connected(server, streams=["chat"], transport=mode) as client:
        got = record(client)

        async def publisher() -> None:
            for i in range(1, total + 1):
                await server.publish("chat", i)
                if i % 10 == 0:
                    await asyncio.sleep(0.002)

        task = asyncio.create_task(publisher())
        for _ in range(4):
            await asyncio.sleep(0.03)
            await client.drop_connection()
            await client.wait_state(ConnectionState.CONNECTED, timeout_s=10)
        await task
        await until(lambda: len(got) >= total, timeout_s=20)
        await asyncio.sleep(0.05)
        assert [f.cursor for f in got] == list(range(1, total + 1))
        assert client.stats.reconnects >= 1


class Lossy:
    """Wraps a transport and drops the first message that ``drop`` matches (simulates a lost frame)."""

    def __init__(self, inner: Transport, drop: Callable[[str], bool]) -> None:
        self._inner = inner
        self._drop = drop
        self.dropped = 0
        self.name = inner.name

    async def recv(self) -> str:
        while True:
            data = await self._inner.recv()
            if not self.dropped and self._drop(data):
                self.dropped += 1
                continue
            return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_gap_is_filled_from_the_server(server: PushServer, mode: str) -> None:
    gaps: list[tuple[str, int, int]] = []
    async with connected(server, streams=["chat"], transport=mode,
                         on_gap=lambda s, a, b: gaps.append((s, a, b))) as client:
        wrappers: list[Lossy] = []
        make = client._make_transport

        def lossy_factory(kind: str) -> Any:
            wrapper = Lossy(make(kind), lambda data: '"cursor":3,' in data)
            wrappers.append(wrapper)
            return wrapper

        # the next transport drops frame 3 once
        client._make_transport = lossy_factory  # type: ignore[method-assign]
        await client.drop_connection()
        await client.wait_state(ConnectionState.CONNECTED, timeout_s=10)
        got = record(client)
        for i in range(1, 7):
            await server.publish("chat", i)
        await until(lambda: len(got) == 6)
        await asyncio.sleep(0.1)
        assert wrappers[-1].dropped == 1
        assert sorted(f.cursor for f in got) == [1, 2, 3, 4, 5, 6]
        assert len(got) == 6
        assert gaps == [("chat", 3, 3)]
        assert client.stats.gap_fill_requests == 1
        assert client.holes("chat") == []


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_reconnect_after_disconnect_reports_recovered(server: PushServer, mode: str) -> None:
    client = PushClient(url_of(server), streams=["chat"], transport=mode, reconnect=FAST, open_timeout_s=5)
    got = record(client)
    await client.connect()
    await server.publish("chat", "a")
    await until(lambda: len(got) == 1)
    await client.disconnect()
    for text in ("b", "c", "d"):
        await server.publish("chat", text)
    await client.connect()
    try:
        status = client.resume_outcomes["chat"]
        assert status.outcome is ResumeOutcome.RECOVERED and status.recovered
        assert status.top - status.cursor == 3
        await until(lambda: len(got) == 4)
        assert [f.payload for f in got] == ["a", "b", "c", "d"]
    finally:
        await client.disconnect()


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_history_gap_is_reported(mode: str) -> None:
    srv = await start_server(history=HistoryConfig(max_count=4))
    try:
        lost: list[ResumeRequired] = []
        client = PushClient(url_of(srv), streams=["chat"], transport=mode, reconnect=FAST, open_timeout_s=5,
                            on_resume_required=lost.append)
        got = record(client)
        await client.connect()
        await srv.publish("chat", 1)
        await until(lambda: len(got) == 1)
        await client.disconnect()
        for i in range(2, 11):  # history keeps 7..10 only
            await srv.publish("chat", i)
        await client.connect()
        try:
            assert client.resume_outcomes["chat"].outcome is ResumeOutcome.GAP
            await until(lambda: len(got) == 5 and bool(lost))
            assert [f.cursor for f in got] == [1, 7, 8, 9, 10]
            assert (lost[0].channel, lost[0].from_cursor, lost[0].to_cursor, lost[0].reason) == ("chat", 2, 6, "gap")
            assert client.stats.frames_lost == 5
        finally:
            await client.disconnect()
    finally:
        await srv.close()


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_server_restart_changes_epoch(mode: str) -> None:
    srv = await start_server()
    port = srv.port
    lost: list[ResumeRequired] = []
    client = PushClient(f"http://127.0.0.1:{port}", streams=["chat"], transport=mode, reconnect=FAST,
                        open_timeout_s=5, on_resume_required=lost.append)
    got = record(client)
    try:
        await client.connect()
        old_epoch = client.epochs()["chat"]
        for i in range(3):
            await srv.publish("chat", i)
        await until(lambda: len(got) == 3)
        await srv.close()  # goodbye "shutdown", close 1001: the client keeps retrying
        await until(lambda: client.state is ConnectionState.RESUMING)
        srv = PushServer(DefaultChannel)
        await srv.start("127.0.0.1", port)
        await srv.publish("chat", "fresh")
        await client.wait_state(ConnectionState.CONNECTED, timeout_s=10)
        assert client.epochs()["chat"] != old_epoch
        assert client.resume_outcomes["chat"].outcome is ResumeOutcome.EPOCH_CHANGED
        await until(lambda: len(got) == 4 and bool(lost))
        assert (got[-1].cursor, got[-1].payload) == (1, "fresh")
        assert lost[0].reason == "epoch_changed"
    finally:
        await client.disconnect()
        await srv.close()


@pytest.mark.parametrize("mode", TRANSPORTS)
async def test_replaced_client_does_not_reconnect(server: PushServer, mode: str) -> None:
    cid = str(uuid.uuid4())
    first = PushClient(url_of(server), client_id=cid, transport=mode, reconnect=FAST, open_timeout_s=5)
    await first.connect()
    try:
        async with connected(server, client_id=cid, transport=mode) as second:
            await first.wait_state(ConnectionState.DISCONNECTED, timeout_s=5)
            await asyncio.sleep(0.3)  # longer than the reconnect delays: no attempt may follow
            assert first.state is ConnectionState.DISCONNECTED
            assert second.state is ConnectionState.CONNECTED
            assert server.connected_client_ids() == [cid]
    finally:
        await first.disconnect()


async def test_ping_timeout_settings_do_not_disturb_a_live_client() -> None:
    # the server pings every 0.2 s; the websockets client answers Pings on its own
    config = ServerConfig(websocket=WebSocketConfig(ping_interval_s=0.2, ping_timeout_s=0.5))
    srv = await start_server(config=config)
    try:
        async with connected(srv, streams=["chat"], transport="ws-only") as client:
            await asyncio.sleep(1.5)
            assert client.state is ConnectionState.CONNECTED and client.stats.reconnects == 0
    finally:
        await srv.close()

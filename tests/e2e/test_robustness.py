"""Failures inside the server stay with the connection that caused them; nothing is left half-open."""

from __future__ import annotations

import asyncio
import uuid

from pushwire import ServerConfig
from pushwire.config import WebSocketConfig
from pushwire.errors import BrokerError
from pushwire.hub.broker.memory import MemoryBroker

from pushwire.protocol.session import Session
from pushwire.server.websocket import WebSocketConnection

from ..server.rawws import RawWs


async def wait_until(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_a_failing_connection_timer_does_not_stop_the_others(start_server, monkeypatch):
    server = await start_server(websocket=WebSocketConfig(auth_timeout_s=0.5))
    broken = await RawWs.connect(server.port)
    await broken.auth(streams=["chat"])
    connection = next(c for c in server._service.connections if c.authenticated)
    original = WebSocketConnection.check_timeouts

    def explode(self, now: float) -> None:
        if self is connection:
            raise RuntimeError("a bug in one connection's timer")
        original(self, now)

    monkeypatch.setattr(WebSocketConnection, "check_timeouts", explode)
    silent = await RawWs.connect(server.port)  # never authenticates: its auth timeout must still fire
    messages, closed = await silent.recv_until_closed(timeout=5)
    assert closed.code == 4002
    assert server.metrics.get("internal_errors") >= 1
    _, closed = await broken.recv_until_closed(timeout=5)  # the failing connection was aborted
    assert closed.code == 1006


class FailingHistoryBroker(MemoryBroker):
    async def read_history(self, stream, after, limit):
        raise BrokerError("history store unavailable", temporary=True)


async def test_a_broker_failure_during_auth_closes_with_1011_and_leaves_nothing_behind(start_server):
    server = await start_server(broker=FailingHistoryBroker())
    for i in range(3):
        await server.publish("chat", i)
    ws = await RawWs.connect(server.port)
    ws.send_op({"type": "auth", "client_id": str(uuid.uuid4()), "capabilities": ["chat"],
                "resume_cursors": {"chat": 1}})
    messages, closed = await ws.recv_until_closed()
    assert closed.code == 1011
    assert messages[-1]["payload"]["code"] == "internal"
    await wait_until(lambda: server.connected_clients() == 0)
    assert server.hub._streams.get("chat") is None or not server.hub._streams["chat"].pending
    # a new client without a resume point still works
    fresh = await RawWs.connect(server.port)
    await fresh.auth(streams=["chat"])
    await server.publish("chat", "ok")
    assert (await fresh.recv_json())["payload"] == "ok"


async def test_a_broker_failure_during_subscribe_is_an_error_and_the_session_goes_on(start_server):
    server = await start_server(broker=FailingHistoryBroker())
    await server.publish("events", 1)
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["chat"])
    ws.send_op({"type": "subscribe", "channels": ["events"], "resume_cursors": {"events": 0}})
    error = (await ws.recv_json())["payload"]
    assert error["type"] == "error" and error["code"] == "internal"
    ws.send_op({"type": "ping"})
    assert (await ws.recv_json())["payload"] == {"type": "pong"}


async def test_a_hung_async_validator_times_out(start_server):
    async def hangs(client_id, token, streams):
        await asyncio.Event().wait()

    server = await start_server(auth=hangs, websocket=WebSocketConfig(auth_timeout_s=0.5))
    ws = await RawWs.connect(server.port)
    ws.send_op({"type": "auth", "client_id": str(uuid.uuid4()), "capabilities": ["chat"]})
    messages, closed = await ws.recv_until_closed(timeout=5)
    assert closed.code == 1011 and messages[-1]["payload"]["code"] == "internal"


async def test_slow_async_handlers_apply_back_pressure_and_end_with_the_connection(start_server):
    # a paused reader notices a vanished client at its next write: the keepalive ping, made short here
    server = await start_server(relay_chat=False, websocket=WebSocketConfig(ping_interval_s=0.5, ping_timeout_s=1))
    release = asyncio.Event()
    started = []

    async def slow(client_id, frame, srv):
        started.append(frame.payload)
        await release.wait()

    server.register_handler("events", slow)
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=[])
    connection = next(c for c in server._service.connections if c.authenticated)
    sent = 40_000  # about 2 MB of frames: far more than one read
    for i in range(sent):
        ws.send_json({"channel": "events", "payload": i})
    await wait_until(lambda: connection.handlers_pending >= 64)
    await asyncio.sleep(0.3)
    assert not connection.transport.is_reading()  # reading stopped: the client is held back by TCP
    assert connection.handlers_pending < sent // 2
    ws.abort()
    await wait_until(lambda: connection.closed)
    await wait_until(lambda: not [t for t in server._service._tasks if not t.done()
                                  and t is not server._service._sweeper])
    assert len(started) <= 1  # the chain ran one handler at a time, and was cancelled with the connection


async def test_topic_churn_does_not_grow_the_broker(start_server):
    server = await start_server()
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=[])
    for i in range(300):
        ws.send_op({"type": "subscribe", "channels": [f"chat:t{i}"]})
        ws.send_op({"type": "unsubscribe", "channels": [f"chat:t{i}"]})
    ws.send_op({"type": "ping"})
    frames = [await ws.recv_json() for _ in range(301)]
    assert frames[-1]["payload"] == {"type": "pong"}
    assert server.hub.broker.stream_count == 0


async def test_an_internal_error_in_message_handling_closes_only_that_connection(start_server, monkeypatch):
    server = await start_server()
    bystander = await RawWs.connect(server.port)
    await bystander.auth(streams=["chat"])
    victim_id = str(uuid.uuid4())
    victim = await RawWs.connect(server.port)
    await victim.auth(victim_id, ["chat"])
    target = server._service.clients[victim_id]
    original = Session.receive_text

    def broken(self, data):
        if self is target.session:
            raise RuntimeError("a bug in message handling")
        return original(self, data)

    monkeypatch.setattr(Session, "receive_text", broken)
    victim.send_json({"channel": "chat", "payload": "x"})
    messages, closed = await victim.recv_until_closed(timeout=5)
    assert closed.code == 1011 and messages[-1]["payload"]["code"] == "internal"
    await server.publish("chat", "still here")
    assert (await bystander.recv_json())["payload"] == "still here"

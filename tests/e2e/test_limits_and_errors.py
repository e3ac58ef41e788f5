"""Per-connection limits and error answers that span several layers."""

from __future__ import annotations

import uuid

import pytest

from pushwire import ServerConfig
from pushwire.config import HttpConfig, QueueConfig, SseConfig, WebSocketConfig
from pushwire.errors import ConfigError

from ..server.rawhttp import post_json
from ..server.rawws import RawWs
from ..server.test_sse import open_sse


async def test_a_websocket_connection_has_a_stream_limit(start_server):
    server = await start_server(config=ServerConfig(max_streams_per_connection=3))
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["chat:a", "chat:b"])
    ws.send_op({"type": "subscribe", "channels": ["chat:c", "chat:d"]})
    refused = (await ws.recv_json())["payload"]
    assert refused["type"] == "error" and refused["code"] == "bad_stream"
    ws.send_op({"type": "subscribe", "channels": ["chat:c"]})
    assert (await ws.recv_json())["payload"]["type"] == "subscribed"


async def test_many_messages_while_a_subscribe_is_validated(start_server):
    import asyncio

    async def slow_validator(client_id, token, streams):
        await asyncio.sleep(0.05)
        return True

    server = await start_server(auth=slow_validator)
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=[])
    ws.send_op({"type": "subscribe", "channels": ["chat"]})
    for _ in range(200):  # more than the 64 allowed before auth_ok, all held in order behind the subscribe
        ws.send_op({"type": "ping"})
    first = await ws.recv_json()
    assert first["payload"]["type"] == "subscribed"
    pongs = [await ws.recv_json() for _ in range(200)]
    assert all(frame["payload"] == {"type": "pong"} for frame in pongs)


async def test_a_crashing_validator_on_subscribe_is_an_internal_error(start_server):
    calls = []

    def validator(client_id, token, streams):
        calls.append(streams)
        if "alerts" in streams:
            raise RuntimeError("database down")
        return True

    server = await start_server(auth=validator)
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["chat"])
    ws.send_op({"type": "subscribe", "channels": ["alerts"]})
    error = (await ws.recv_json())["payload"]
    assert error["type"] == "error" and error["code"] == "internal"
    assert server.metrics.get("auth_validator_errors") == 1


@pytest.mark.parametrize("make", [
    lambda: WebSocketConfig(ping_interval_s=0),
    lambda: WebSocketConfig(max_message_bytes=0),
    lambda: HttpConfig(header_timeout_s=0),
    lambda: SseConfig(heartbeat_s=0),
    lambda: QueueConfig(write_high_water_bytes=10, write_low_water_bytes=20),
    lambda: ServerConfig(max_streams_per_connection=0),
])
def test_invalid_configuration_is_refused(make):
    with pytest.raises(ConfigError):
        make()


async def test_sse_unsubscribed_stream_leaves_the_position_vector(start_server):
    server = await start_server()
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id, channels="chat,events")
    token = auth_ok.json()["payload"]["session_token"]
    await server.publish("events", 1)  # queued while the unsubscribe is processed
    response = await post_json(server.port, "/rps/send",
                               {"client_id": client_id, "type": "unsubscribe", "channels": ["events"]},
                               token=token)
    assert response.status == 202
    await server.publish("chat", 2)
    got = [await sse.next_event() for _ in range(2)]
    assert [e.event for e in got] == ["events", "chat"]
    assert got[-1].id.startswith("chat=1~") and "events" not in got[-1].id

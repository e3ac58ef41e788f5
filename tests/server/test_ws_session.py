"""The /rps WebSocket session over real sockets, driven by an independent raw RFC 6455 client."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from pushwire import AuthRejected, DefaultChannel, HistoryConfig
from pushwire.config import WebSocketConfig

from .rawws import TEXT, Closed, RawWs


async def test_auth_ok_then_live_frames(server):
    ws = await RawWs.connect(server.port)
    auth_ok = await ws.auth(streams=["chat"])
    assert auth_ok["session_token"]
    status = auth_ok["streams"]["chat"]
    assert status["outcome"] == "new" and status["recovered"] is False and status["cursor"] == status["top"] == 0
    assert auth_ok["resume_cursors"] == {"chat": 0}
    for i in range(3):
        assert await server.publish("chat", {"n": i}) == i + 1
    frames = [await ws.recv_json() for _ in range(3)]
    assert [f["cursor"] for f in frames] == [1, 2, 3]
    assert [f["payload"] for f in frames] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert frames[0] == {"channel": "chat", "cursor": 1, "client_id": None, "payload": {"n": 0}}
    await ws.close()


async def test_first_message_must_be_auth(server):
    ws = await RawWs.connect(server.port)
    ws.send_json({"channel": "chat", "payload": "hello"})
    messages, closed = await ws.recv_until_closed()
    assert closed.code == 1002
    assert messages[-1]["payload"]["type"] == "error"
    assert messages[-1]["payload"]["code"] == "auth_required"


async def test_bare_ops_are_accepted(server):
    ws = await RawWs.connect(server.port)
    ws.send_json({"type": "auth", "client_id": str(uuid.uuid4()), "capabilities": ["chat"]})
    first = await ws.recv_json()
    assert first["payload"]["type"] == "auth_ok"
    ws.send_json({"op": "Ping"})
    assert (await ws.recv_json())["payload"] == {"type": "pong"}


async def test_rejected_auth_gets_error_and_1008(start_server):
    def validator(client_id, token, streams):
        if token != "good":
            raise AuthRejected("bad token")
        return True

    server = await start_server(auth=validator)
    ws = await RawWs.connect(server.port)
    ws.send_op({"type": "auth", "client_id": str(uuid.uuid4()), "token": "nope", "capabilities": ["chat"]})
    messages, closed = await ws.recv_until_closed()
    assert closed.code == 1008
    assert messages == [{"channel": "system", "cursor": None, "client_id": None,
                         "payload": {"type": "error", "code": "auth_rejected", "message": "bad token"}}]
    ok = await RawWs.connect(server.port)
    assert (await ok.auth(streams=["chat"], token="good"))["type"] == "auth_ok"


async def test_async_validator_sees_client_token_and_streams(start_server):
    seen = []

    async def validator(client_id, token, streams):
        await asyncio.sleep(0.01)
        seen.append((client_id, token, sorted(streams)))
        return "alerts" not in streams

    server = await start_server(auth=validator)
    client_id = str(uuid.uuid4())
    ws = await RawWs.connect(server.port)
    await ws.auth(client_id, ["chat", "chat:room1"], token="t")
    assert seen == [(client_id, "t", ["chat", "chat:room1"])]
    # subscribe re-checks the validator: refused -> error forbidden, connection stays open
    ws.send_op({"type": "subscribe", "channels": ["alerts"]})
    refused = await ws.recv_json()
    assert refused["payload"]["type"] == "error" and refused["payload"]["code"] == "forbidden"
    ws.send_op({"type": "subscribe", "channels": ["events"]})
    subscribed = await ws.recv_json()
    assert subscribed["payload"]["type"] == "subscribed"
    assert subscribed["payload"]["streams"]["events"]["outcome"] == "new"
    assert seen[-1] == (client_id, "t", ["events"])
    await server.publish("events", 1)
    assert (await ws.recv_json())["channel"] == "events"


async def test_unsubscribe_stops_delivery(server):
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["chat", "events"])
    ws.send_op({"type": "unsubscribe", "channels": ["chat"]})
    ws.send_op({"type": "ping"})
    assert (await ws.recv_json())["payload"]["type"] == "pong"  # the unsubscribe was processed before
    await server.publish("chat", "not for you")
    await server.publish("events", "for you")
    assert (await ws.recv_json())["payload"] == "for you"


async def test_reconnect_replays_missed_frames_exactly_once_in_order(server):
    client_id = str(uuid.uuid4())
    ws = await RawWs.connect(server.port)
    auth_ok = await ws.auth(client_id, ["chat:room1"])
    epoch = auth_ok["streams"]["chat:room1"]["epoch"]
    for i in range(5):
        await server.publish("chat", i, topic="room1")
    got = [await ws.recv_json() for _ in range(5)]
    assert [f["cursor"] for f in got] == [1, 2, 3, 4, 5]
    assert all(f["topic"] == "room1" for f in got)
    ws.abort()  # killed mid-stream
    for i in range(5, 12):
        await server.publish("chat", i, topic="room1")
    again = await RawWs.connect(server.port)
    auth_ok = await again.auth(client_id, ["chat:room1"], cursors={"chat:room1": 5}, epochs={"chat:room1": epoch})
    status = auth_ok["streams"]["chat:room1"]
    assert status == {"epoch": epoch, "cursor": 5, "top": 12, "outcome": "recovered", "recovered": True}
    replayed = [await again.recv_json() for _ in range(7)]
    assert [f["cursor"] for f in replayed] == list(range(6, 13))
    assert [f["payload"] for f in replayed] == list(range(5, 12))
    await server.publish("chat", "live", topic="room1")
    live = await again.recv_json()
    assert live["cursor"] == 13 and live["payload"] == "live"


async def test_resume_older_than_history_gets_explicit_gap(start_server):
    server = await start_server(history=HistoryConfig(max_count=10, max_age_s=0, max_replay=10))
    client_id = str(uuid.uuid4())
    for i in range(25):
        await server.publish("chat", i)
    ws = await RawWs.connect(server.port)
    auth_ok = await ws.auth(client_id, ["chat"], cursors={"chat": 3})
    status = auth_ok["streams"]["chat"]
    assert status["outcome"] == "gap" and status["recovered"] is False
    assert status["cursor"] == 15 and status["top"] == 25
    resume_required = (await ws.recv_json())["payload"]
    assert resume_required == {"type": "resume_required", "channel": "chat", "from_cursor": 4, "to_cursor": 15,
                               "epoch": status["epoch"], "reason": "gap"}
    replayed = [await ws.recv_json() for _ in range(10)]
    assert [f["cursor"] for f in replayed] == list(range(16, 26))


async def test_epoch_change_is_reported(server):
    await server.publish("chat", "a")
    ws = await RawWs.connect(server.port)
    auth_ok = await ws.auth(streams=["chat"], cursors={"chat": 1}, epochs={"chat": "someotherepoch"})
    status = auth_ok["streams"]["chat"]
    assert status["outcome"] == "epoch_changed" and status["cursor"] == 0
    op = (await ws.recv_json())["payload"]
    assert op["type"] == "resume_required" and op["reason"] == "epoch_changed"
    assert (await ws.recv_json())["payload"] == "a"  # everything of the current epoch is replayed


async def test_cursor_beyond_top_means_history_was_reset(server):
    ws = await RawWs.connect(server.port)
    auth_ok = await ws.auth(streams=["chat"], cursors={"chat": 41})  # e.g. the server restarted
    assert auth_ok["streams"]["chat"]["outcome"] == "epoch_changed"


async def test_send_goes_to_personal_stream_and_survives_offline(server):
    client_id = str(uuid.uuid4())
    assert await server.send(client_id, DefaultChannel.ALERTS, {"hello": 1}) == 1  # offline now
    ws = await RawWs.connect(server.port)
    auth_ok = await ws.auth(client_id, ["chat"])
    personal = f"alerts:@{client_id}"
    assert auth_ok["streams"][personal]["outcome"] == "recovered"
    frame = await ws.recv_json()
    assert frame == {"channel": "alerts", "topic": f"@{client_id}", "cursor": 1, "client_id": None,
                     "payload": {"hello": 1}}
    await server.send(client_id, "alerts", 2)
    assert (await ws.recv_json())["cursor"] == 2
    assert client_id in server.connected_client_ids() and server.connected_clients() == 1
    # another client cannot subscribe to it
    other = await RawWs.connect(server.port)
    other.send_op({"type": "auth", "client_id": str(uuid.uuid4()), "capabilities": [personal]})
    _, closed = await other.recv_until_closed()
    assert closed.code == 1008


async def test_ack_trims_personal_history(server):
    client_id = str(uuid.uuid4())
    for i in range(3):
        await server.send(client_id, "alerts", i)
    ws = await RawWs.connect(server.port)
    await ws.auth(client_id, [])
    assert [(await ws.recv_json())["cursor"] for _ in range(3)] == [1, 2, 3]
    ws.send_op({"type": "ack", "channel": f"alerts:@{client_id}", "cursor": 2})
    ws.send_op({"type": "ping"})
    await ws.recv_json()
    await ws.close()
    again = await RawWs.connect(server.port)
    auth_ok = await again.auth(client_id, [])
    # nothing acked is replayed; the unacked frame is
    status = auth_ok["streams"][f"alerts:@{client_id}"]
    assert status["cursor"] == 2 and status["top"] == 3
    assert (await again.recv_json())["cursor"] == 3


async def test_second_connection_replaces_first(server):
    client_id = str(uuid.uuid4())
    first = await RawWs.connect(server.port)
    await first.auth(client_id, ["chat"])
    second = await RawWs.connect(server.port)
    await second.auth(client_id, ["chat"])
    _, closed = await first.recv_until_closed()
    assert closed.code == 4500
    await server.publish("chat", "x")
    assert (await second.recv_json())["payload"] == "x"
    assert server.connected_client_ids() == [client_id]


async def test_handler_receives_frames_and_chat_relay(server):
    sender, receiver = await RawWs.connect(server.port), await RawWs.connect(server.port)
    sender_id = str(uuid.uuid4())
    await sender.auth(sender_id, ["chat"])
    await receiver.auth(None, ["chat"])
    sender.send_json({"channel": "chat", "payload": {"text": "hi"}})
    for ws in (sender, receiver):
        frame = await ws.recv_json()
        assert frame["payload"] == {"text": "hi"} and frame["client_id"] == sender_id and frame["cursor"] == 1


async def test_handlers_run_in_order_per_client(start_server):
    got = []
    server = await start_server(relay_chat=False)

    async def slow_first(client_id, frame, srv):
        if frame.payload == 0:
            await asyncio.sleep(0.05)
        got.append(frame.payload)

    server.register_handler("events", slow_first)
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=[])
    for i in range(5):
        ws.send_json({"channel": "events", "payload": i})
    for _ in range(100):
        if len(got) == 5:
            break
        await asyncio.sleep(0.01)
    assert got == [0, 1, 2, 3, 4]


async def test_goodbye_closes_normally(server):
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["chat"])
    ws.send_op({"type": "goodbye", "reason": "bye"})
    _, closed = await ws.recv_until_closed()
    assert closed.code == 1000


async def test_server_close_sends_goodbye_and_1001(start_server):
    server = await start_server()
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["chat"])
    await server.publish("chat", "last")
    await server.close()
    messages, closed = await ws.recv_until_closed()
    assert [m["payload"] for m in messages][-2:] == ["last", {"type": "goodbye", "reason": "shutdown"}]
    assert closed.code == 1001


async def test_auth_timeout(start_server):
    server = await start_server(websocket=WebSocketConfig(auth_timeout_s=0.5))
    ws = await RawWs.connect(server.port)
    messages, closed = await ws.recv_until_closed(timeout=5)
    assert closed.code == 4002
    assert messages[-1]["payload"]["code"] == "auth_timeout"


async def test_keepalive_ping_and_pong_deadline(start_server):
    server = await start_server(websocket=WebSocketConfig(ping_interval_s=0.5, ping_timeout_s=1.0))
    alive = await RawWs.connect(server.port)
    await alive.auth(streams=["chat"])
    # the live client answers pings while it waits for its next message
    alive_next = asyncio.ensure_future(alive.recv_json(timeout=30))
    silent = await RawWs.connect(server.port)
    await silent.auth(streams=["chat"])
    started = asyncio.get_running_loop().time()
    with pytest.raises(Closed) as closed:
        await asyncio.wait_for(silent.recv_message(timeout=5, answer_pings=False), 6)
    assert closed.value.code in (4001, 1006)
    assert asyncio.get_running_loop().time() - started < 4.5
    assert not alive_next.done()
    await server.publish("chat", "still serving")
    assert (await asyncio.wait_for(alive_next, 5))["payload"] == "still serving"
    assert alive.pings >= 2


async def test_subprotocol_is_echoed_when_offered(server):
    ws = await RawWs.connect(server.port, headers={"Sec-WebSocket-Protocol": "other, pushwire.v1"})
    assert "sec-websocket-protocol: pushwire.v1" in ws.response_head.lower()
    plain = await RawWs.connect(server.port)
    assert "sec-websocket-protocol" not in plain.response_head.lower()


async def test_text_messages_are_json_frames(server):
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["chat"])
    await server.publish("chat", {"unicode": "héllo ✓"})
    opcode, payload = await ws.recv_message()
    assert opcode == TEXT
    assert json.loads(payload)["payload"] == {"unicode": "héllo ✓"}

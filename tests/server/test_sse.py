"""GET /rps/sse over real sockets, read with an independent event-stream parser (tests/server/rawhttp.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from pushwire import AuthRejected, HistoryConfig, QueueConfig
from pushwire.config import LaneLimits, SseConfig, WebSocketConfig

from .rawhttp import Event, Refused, SseClient, format_vector
from .rawws import RawWs


async def open_sse(port: int, client_id: str | None = None, channels: str | None = "chat", *,
                   headers: dict[str, str] | None = None, rcvbuf: int | None = None,
                   **params: str) -> tuple[SseClient, Event]:
    """Open an event stream; check the ``retry:`` block and return the client and its ``auth_ok`` event."""
    query = {"client_id": client_id or str(uuid.uuid4())}
    if channels is not None:
        query["channels"] = channels
    query.update(params)
    sse = await SseClient.open(port, query, headers=headers, rcvbuf=rcvbuf)
    first = await sse.read_block()
    assert first == Event(retry=2000), first  # a block of its own, before anything else
    auth_ok = await sse.next_event()
    assert auth_ok.event == "system"
    frame = auth_ok.json()
    assert frame["channel"] == "system" and frame["cursor"] is None and frame["client_id"] is None
    assert frame["payload"]["type"] == "auth_ok", frame
    return sse, auth_ok


async def events(sse: SseClient, n: int, timeout: float = 5.0) -> list[Event]:
    return [await sse.next_event(timeout) for _ in range(n)]


async def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_response_head_retry_and_auth_ok(server):
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id, "chat,chat:room1")
    head = sse.response
    assert head.status == 200
    assert head.header("content-type") == "text/event-stream"
    assert head.header("cache-control") == "no-cache"
    assert head.header("x-accel-buffering") == "no"
    assert head.header("connection") == "keep-alive"
    payload = auth_ok.payload
    assert isinstance(payload["session_token"], str) and payload["session_token"]
    assert payload["resume_cursor"] == 0 and payload["resume_cursors"] == {"chat": 0, "chat:room1": 0}
    epoch = payload["streams"]["chat"]["epoch"]
    assert payload["streams"]["chat"] == {"epoch": epoch, "cursor": 0, "top": 0, "outcome": "new", "recovered": False}
    room_epoch = payload["streams"]["chat:room1"]["epoch"]
    assert auth_ok.vector == {"chat": (0, epoch), "chat:room1": (0, room_epoch)}
    assert client_id in server.connected_client_ids()
    sse.close()


async def test_live_events_carry_vector_channel_and_exact_frame(server):
    sse, auth_ok = await open_sse(server.port, channels="chat,chat:room1,alerts")
    epochs = {name: status["epoch"] for name, status in auth_ok.payload["streams"].items()}
    await server.publish("chat", {"n": 0})
    await server.publish("chat", "hi", topic="room1")
    await server.publish("chat", {"n": 1})
    got = await events(sse, 3)
    assert [e.event for e in got] == ["chat", "chat", "chat"]
    assert got[0].data == '{"channel":"chat","cursor":1,"client_id":null,"payload":{"n":0}}'
    assert got[1].data == '{"channel":"chat","topic":"room1","cursor":1,"client_id":null,"payload":"hi"}'
    assert got[2].data == '{"channel":"chat","cursor":2,"client_id":null,"payload":{"n":1}}'
    assert got[0].vector == {"chat": (1, epochs["chat"]), "chat:room1": (0, epochs["chat:room1"]),
                             "alerts": (0, epochs["alerts"])}
    assert got[1].vector["chat:room1"] == (1, epochs["chat:room1"])
    assert got[2].vector == {"chat": (2, epochs["chat"]), "chat:room1": (1, epochs["chat:room1"]),
                             "alerts": (0, epochs["alerts"])}
    await server.publish("alerts", "high")
    alert = await sse.next_event()
    assert alert.event == "alerts" and alert.payload == "high" and alert.vector["alerts"] == (1, epochs["alerts"])
    sse.close()


async def _resume(server: Any, *, via: str) -> None:
    client_id = str(uuid.uuid4())
    sse, _ = await open_sse(server.port, client_id)
    for i in range(3):
        await server.publish("chat", i)
    seen = await events(sse, 3)
    assert [e.json()["cursor"] for e in seen] == [1, 2, 3]
    last_id = seen[-1].id
    sse.abort()
    await wait_for(lambda: client_id not in server.connected_client_ids())
    for i in range(3, 7):
        await server.publish("chat", i)
    if via == "header":
        # the header wins over a stale last_event_id in the URL (the browser reuses the URL)
        stale = format_vector({"chat": (1, None)})
        sse, auth_ok = await open_sse(server.port, client_id, headers={"Last-Event-ID": last_id},
                                      last_event_id=stale)
    else:
        sse, auth_ok = await open_sse(server.port, client_id, last_event_id=last_id)
    status = auth_ok.payload["streams"]["chat"]
    assert status["outcome"] == "recovered" and status["cursor"] == 3 and status["top"] == 7
    assert auth_ok.id == last_id
    replayed = await events(sse, 4)
    assert [e.json()["cursor"] for e in replayed] == [4, 5, 6, 7]
    assert [e.payload for e in replayed] == [3, 4, 5, 6]
    assert [e.vector["chat"][0] for e in replayed] == [4, 5, 6, 7]
    await server.publish("chat", "live")
    live = await sse.next_event()
    assert live.json()["cursor"] == 8 and live.payload == "live"  # nothing replayed twice
    sse.close()


async def test_resume_with_last_event_id_header(server):
    await _resume(server, via="header")


async def test_resume_with_last_event_id_query_parameter(server):
    await _resume(server, via="query")


async def test_multi_stream_vector_resume_with_personal_stream(server):
    client_id = str(uuid.uuid4())
    personal = f"alerts:@{client_id}"
    sse, auth_ok = await open_sse(server.port, client_id, "chat,chat:room1")
    assert personal not in auth_ok.vector  # no position in it yet
    await server.publish("chat", "c1")
    await server.publish("chat", "r1", topic="room1")
    await server.send(client_id, "alerts", "p1")
    await server.send(client_id, "alerts", "p2")
    seen = await events(sse, 4)
    assert sorted(seen[-1].vector) == sorted(["chat", "chat:room1", personal])
    personal_events = [e for e in seen if e.json().get("topic") == f"@{client_id}"]
    assert [e.json()["cursor"] for e in personal_events] == [1, 2]
    assert all(e.event == "alerts" for e in personal_events)
    vector = seen[-1].id
    assert seen[-1].vector["chat"][0] == 1 and seen[-1].vector["chat:room1"][0] == 1
    assert seen[-1].vector[personal][0] == 2
    sse.abort()
    await wait_for(lambda: client_id not in server.connected_client_ids())
    for i in range(2, 4):
        await server.publish("chat", f"c{i}")
        await server.publish("chat", f"r{i}", topic="room1")
        await server.send(client_id, "alerts", f"p{i + 1}")
    # the vector alone (no channels=) resumes every stream it names, the personal one from its entry, not from
    # its last ack (0: it would replay p1 and p2 again)
    sse, auth_ok = await open_sse(server.port, client_id, None, headers={"Last-Event-ID": vector})
    streams = auth_ok.payload["streams"]
    assert {name: (s["outcome"], s["cursor"], s["top"]) for name, s in streams.items()} == {
        "chat": ("recovered", 1, 3), "chat:room1": ("recovered", 1, 3), personal: ("recovered", 2, 4)}
    replayed = await events(sse, 6)
    by_stream: dict[str, list[Any]] = {}
    for event in replayed:
        frame = event.json()
        name = frame["channel"] + (":" + frame["topic"] if "topic" in frame else "")
        by_stream.setdefault(name, []).append((frame["cursor"], frame["payload"]))
    assert by_stream == {"chat": [(2, "c2"), (3, "c3")], "chat:room1": [(2, "r2"), (3, "r3")],
                         personal: [(3, "p3"), (4, "p4")]}
    assert {name: pos[0] for name, pos in replayed[-1].vector.items()} == {"chat": 3, "chat:room1": 3, personal: 4}
    sse.close()


async def test_cursors_parameter_fills_streams_the_vector_lacks(server):
    for i in range(5):
        await server.publish("events", i)
        await server.publish("chat", i)
    epoch = server.hub.state(_ref(server, "chat")).epoch
    sse, auth_ok = await open_sse(server.port, channels="chat,events",
                                  last_event_id=format_vector({"chat": (3, epoch)}),
                                  cursors=format_vector({"chat": (0, None), "events": (4, None)}))
    streams = auth_ok.payload["streams"]
    assert (streams["chat"]["cursor"], streams["events"]["cursor"]) == (3, 4)  # chat from the vector, not cursors
    replayed = await events(sse, 3)
    assert sorted((e.event, e.json()["cursor"]) for e in replayed) == [("chat", 4), ("chat", 5), ("events", 5)]
    sse.close()


def _ref(server: Any, name: str) -> Any:
    from pushwire.protocol.streams import parse_stream

    return parse_stream(name, server.channels)


async def test_gap_when_history_is_too_short(start_server):
    server = await start_server(history=HistoryConfig(max_count=5, max_age_s=0, max_replay=5))
    for i in range(20):
        await server.publish("chat", i)
    epoch = server.hub.state(_ref(server, "chat")).epoch
    sse, auth_ok = await open_sse(server.port, last_event_id=format_vector({"chat": (2, epoch)}))
    status = auth_ok.payload["streams"]["chat"]
    assert status == {"epoch": epoch, "cursor": 15, "top": 20, "outcome": "gap", "recovered": False}
    assert auth_ok.vector == {"chat": (15, epoch)}
    required = await sse.next_event()
    assert required.event == "system"
    assert required.payload == {"type": "resume_required", "channel": "chat", "from_cursor": 3, "to_cursor": 15,
                                "epoch": epoch, "reason": "gap"}
    replayed = await events(sse, 5)
    assert [e.json()["cursor"] for e in replayed] == [16, 17, 18, 19, 20]
    sse.close()


async def test_epoch_change_on_sse(server):
    await server.publish("chat", "a")
    sse, auth_ok = await open_sse(server.port, last_event_id="chat=1~otherepoch")
    assert auth_ok.payload["streams"]["chat"]["outcome"] == "epoch_changed"
    required = await sse.next_event()
    assert required.payload["type"] == "resume_required" and required.payload["reason"] == "epoch_changed"
    assert (await sse.next_event()).payload == "a"
    sse.close()


async def test_heartbeat_comments(start_server):
    server = await start_server(sse=SseConfig(heartbeat_s=0.2))
    sse, _ = await open_sse(server.port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    blocks = [await sse.read_block(3) for _ in range(2)]
    assert blocks == [Event(comments=["hb"]), Event(comments=["hb"])]
    assert loop.time() - started < 3.5
    await server.publish("chat", "after heartbeats")
    assert (await sse.next_event()).payload == "after heartbeats"
    sse.close()


@pytest.mark.parametrize(("params", "headers"), [
    ({"channels": "chat"}, {}),  # no client_id
    ({"client_id": "not-a-uuid", "channels": "chat"}, {}),
    ({"client_id": "{id}", "channels": "nope"}, {}),  # unknown channel
    ({"client_id": "{id}", "channels": "chat:bad topic"}, {}),
    ({"client_id": "{id}", "channels": "chat:@notauuid"}, {}),
    ({"client_id": "{id}", "channels": "system:x"}, {}),
    ({"client_id": "{id}", "last_event_id": "chat=abc~e1"}, {}),
    ({"client_id": "{id}", "last_event_id": "chat=1~e1,chat=2~e1"}, {}),
    ({"client_id": "{id}", "last_event_id": "nope=1~e1"}, {}),
    ({"client_id": "{id}", "cursors": "chat=1~"}, {}),
    ({"client_id": "{id}"}, {"Last-Event-ID": "chat=1,"}),
])
async def test_bad_requests_are_400(server, params, headers):
    params = {key: value.replace("{id}", str(uuid.uuid4())) for key, value in params.items()}
    with pytest.raises(Refused) as refused:
        await SseClient.open(server.port, params, headers=headers)
    assert refused.value.response.status == 400
    assert server.connected_client_ids() == []


async def test_another_clients_personal_stream_is_403(server):
    other = f"alerts:@{uuid.uuid4()}"
    for params, headers in (({"channels": other}, {}), ({}, {"Last-Event-ID": f"{other}=0"})):
        with pytest.raises(Refused) as refused:
            await SseClient.open(server.port, {"client_id": str(uuid.uuid4()), **params}, headers=headers)
        assert refused.value.response.status == 403


async def test_auth_statuses_and_bearer_token(start_server):
    seen = []

    def validator(client_id, token, streams):
        seen.append((token, sorted(streams)))
        if token != "good":
            raise AuthRejected("bad token" if token else "a token is required")
        return True

    server = await start_server(auth=validator)
    client_id = str(uuid.uuid4())
    with pytest.raises(Refused) as refused:
        await SseClient.open(server.port, {"client_id": client_id, "channels": "chat"})
    assert refused.value.response.status == 401
    with pytest.raises(Refused) as refused:
        await SseClient.open(server.port, {"client_id": client_id, "channels": "chat", "token": "bad"})
    assert refused.value.response.status == 403
    with pytest.raises(Refused) as refused:
        await SseClient.open(server.port, {"client_id": client_id, "channels": "chat"},
                             headers={"Authorization": "Bearer bad"})
    assert refused.value.response.status == 403
    # another client's personal stream is 403 even without a token: the validator is not the one refusing
    with pytest.raises(Refused) as refused:
        await SseClient.open(server.port, {"client_id": client_id, "channels": f"alerts:@{uuid.uuid4()}"})
    assert refused.value.response.status == 403
    assert server.connected_client_ids() == []
    sse, _ = await open_sse(server.port, client_id, "chat,events", token="good")
    sse.close()
    # the header wins over the query parameter
    sse, _ = await open_sse(server.port, client_id, "chat", headers={"Authorization": "Bearer good"}, token="bad")
    assert seen[-1] == ("good", ["chat"])
    await server.publish("chat", 1)
    assert (await sse.next_event()).payload == 1
    sse.close()


async def test_validator_that_needs_no_token_refuses_with_403(start_server):
    server = await start_server(auth=lambda client_id, token, streams: "alerts" not in streams)
    with pytest.raises(Refused) as refused:
        await SseClient.open(server.port, {"client_id": str(uuid.uuid4()), "channels": "alerts", "token": "t"})
    assert refused.value.response.status == 403
    sse, _ = await open_sse(server.port, channels="chat")
    sse.close()


async def test_failing_validator_is_a_server_error_not_a_refusal(start_server):
    def broken(client_id, token, streams):
        raise RuntimeError("the user database is down")

    server = await start_server(auth=broken)
    for params in ({}, {"token": "t"}):
        with pytest.raises(Refused) as refused:
            await SseClient.open(server.port, {"client_id": str(uuid.uuid4()), "channels": "chat", **params})
        # not 401/403: the client did nothing wrong and may retry later (WebSocket closes with 1011)
        assert refused.value.response.status == 500
    assert server.metrics.get("auth_validator_errors") == 2


async def test_system_channel_in_channels_is_ignored_and_stream_limit(server):
    sse, auth_ok = await open_sse(server.port, channels="system,chat,chat")
    assert list(auth_ok.payload["streams"]) == ["chat"]
    sse.close()
    many = ",".join(f"chat:t{i}" for i in range(65))
    with pytest.raises(Refused) as refused:
        await SseClient.open(server.port, {"client_id": str(uuid.uuid4()), "channels": many})
    assert refused.value.response.status == 400
    sse, auth_ok = await open_sse(server.port, channels=",".join(f"chat:t{i}" for i in range(64)))
    assert len(auth_ok.vector) == 64
    sse.close()


async def test_sse_clients_are_connected_and_reachable_by_send(server):
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id.upper(), "chat")  # read in lower case
    assert server.connected_client_ids() == [client_id]
    assert server.connected_clients() == 1
    assert await server.send(client_id, "alerts", {"for": "you"}) == 1
    event = await sse.next_event()
    personal = f"alerts:@{client_id}"
    assert event.event == "alerts"
    assert json.loads(event.data) == {"channel": "alerts", "topic": f"@{client_id}", "cursor": 1, "client_id": None,
                                      "payload": {"for": "you"}}
    epoch = event.vector[personal][1]
    assert event.vector == {"chat": auth_ok.vector["chat"], personal: (1, epoch)}
    assert server.disconnect(client_id, reason="bye")
    rest = await sse.until_ended()
    assert [e.payload for e in rest] == [{"type": "goodbye", "reason": "bye"}]
    await wait_for(lambda: server.connected_client_ids() == [])


async def test_second_connection_replaces_the_first(server):
    client_id = str(uuid.uuid4())
    first, _ = await open_sse(server.port, client_id)
    second, _ = await open_sse(server.port, client_id)
    rest = await first.until_ended()
    assert [(e.event, e.payload) for e in rest] == [("system", {"type": "goodbye", "reason": "replaced"})]
    await server.publish("chat", "to the second")
    assert (await second.next_event()).payload == "to the second"
    assert server.connected_client_ids() == [client_id]
    # a WebSocket with the same id replaces the SSE connection in turn
    ws = await RawWs.connect(server.port)
    await ws.auth(client_id, ["chat"])
    rest = await second.until_ended()
    assert [e.payload for e in rest] == [{"type": "goodbye", "reason": "replaced"}]
    # and an SSE connection replaces a WebSocket
    third, _ = await open_sse(server.port, client_id)
    messages, closed = await ws.recv_until_closed()
    assert closed.code == 4500 and messages[-1]["payload"] == {"type": "goodbye", "reason": "replaced"}
    third.close()


async def test_server_close_says_goodbye_shutdown(start_server):
    server = await start_server()
    sse, _ = await open_sse(server.port)
    await server.publish("chat", "last")
    await server.close()
    rest = await sse.until_ended()
    assert [e.payload for e in rest] == ["last", {"type": "goodbye", "reason": "shutdown"}]


async def test_bytes_sent_on_the_stream_end_it(server):
    client_id = str(uuid.uuid4())
    sse, _ = await open_sse(server.port, client_id)
    sse.conn.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert await sse.until_ended() == []
    await wait_for(lambda: server.connected_client_ids() == [])
    assert server.metrics.get("sse_unexpected_input") == 1


async def test_slow_reader_is_cut_and_resumes_without_loss(start_server):
    queue = QueueConfig(normal=LaneLimits(max_count=32, max_bytes=1024 * 1024), write_high_water_bytes=16 * 1024,
                        write_low_water_bytes=4 * 1024)
    server = await start_server(queue=queue, history=HistoryConfig(max_count=8192, max_age_s=0, max_replay=8192),
                                websocket=WebSocketConfig(close_timeout_s=0.5))
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id, rcvbuf=8192)
    blob = "x" * 4000
    total = 0
    # publish to a reader that reads nothing until it is cut: its socket buffers hold a few MiB at most
    while server.metrics.get("slow_consumer_closes") == 0:
        assert total < 8000, "a reader that does not read was never cut"
        total += 1
        await server.publish("chat", {"n": total, "blob": blob})
        await asyncio.sleep(0)  # let the connection flush: only the socket's back-pressure may fill its lane
    # the cut connection is gone within a bounded time even though its client still reads nothing
    await wait_for(lambda: client_id not in server.connected_client_ids(), timeout=4)
    received = await sse.until_ended(timeout=5)  # whatever reached the client before the cut
    cursors = [e.json()["cursor"] for e in received]
    assert all(e.event == "chat" for e in received)  # no event announces the cut
    assert cursors == list(range(1, len(cursors) + 1))  # in order, no holes
    assert len(cursors) < total
    last_id = ([auth_ok] + received)[-1].id  # what EventSource would send back
    again, auth_ok = await open_sse(server.port, client_id, headers={"Last-Event-ID": last_id})
    assert auth_ok.payload["streams"]["chat"]["outcome"] == "recovered"
    rest = await events(again, total - len(cursors), timeout=10)
    assert [e.json()["cursor"] for e in rest] == list(range(len(cursors) + 1, total + 1))
    again.close()


async def test_websocket_client_and_sse_client_share_streams(server):
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["chat"])
    sse, _ = await open_sse(server.port)
    await server.publish("chat", {"both": True})
    ws_frame = await ws.recv_json()
    sse_event = await sse.next_event()
    assert json.loads(sse_event.data) == ws_frame  # the same JSON frame on both transports
    sse.close()
    await ws.close()

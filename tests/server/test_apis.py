"""POST /rps/ack, /rps/send and /rps/publish over real sockets (docs/protocol.md section 10)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from .conftest import API_KEY
from .rawhttp import Event, RawHttp, SseClient, post_json
from .rawws import RawWs


async def open_sse(port: int, client_id: str, channels: str = "chat", **headers: str) -> tuple[SseClient, dict]:
    sse = await SseClient.open(port, {"client_id": client_id, "channels": channels}, headers=headers)
    assert (await sse.read_block()).retry == 2000
    auth_ok = (await sse.next_event()).payload
    assert auth_ok["type"] == "auth_ok"
    return sse, auth_ok


async def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# -- /rps/ack ---------------------------------------------------------------------------------------------


@pytest.fixture
async def sse_client(server) -> Any:
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id)
    yield client_id, auth_ok["session_token"], sse
    sse.close()


async def test_ack_with_header_or_body_token_is_204(server, sse_client):
    client_id, token, _ = sse_client
    body = {"client_id": client_id, "channel": "chat", "cursor": 0}
    response = await post_json(server.port, "/rps/ack", body, token=token)
    assert response.status == 204 and response.body == b"" and response.header("content-length") is None
    response = await post_json(server.port, "/rps/ack", {**body, "session_token": token})
    assert response.status == 204
    # the client id is read case-insensitively
    response = await post_json(server.port, "/rps/ack", {**body, "client_id": client_id.upper()}, token=token)
    assert response.status == 204
    assert server.metrics.get("acks") == 3


async def test_ack_statuses(server, sse_client):
    client_id, token, _ = sse_client
    port = server.port
    body = {"client_id": client_id, "channel": "chat", "cursor": 1}

    async def status(payload: Any, token: str | None = token, **kwargs: Any) -> int:
        return (await post_json(port, "/rps/ack", payload, token=token, **kwargs)).status

    assert await status(body, token=None) == 401
    assert await status({**body, "session_token": ""}, token=None) == 401
    assert await status(body, token="wrong") == 403
    assert await status(body, token=client_id) == 403  # a bare client id proves nothing
    other = str(uuid.uuid4())
    other_sse, other_ok = await open_sse(port, other)
    assert await status({**body, "client_id": other}) == 403  # my token, someone else's id
    assert await status({**body, "client_id": other}, token=other_ok["session_token"]) == 204
    other_sse.close()
    await wait_for(lambda: other not in server.connected_client_ids())
    assert await status({**body, "client_id": other}, token=other_ok["session_token"]) == 404  # gone
    assert await status(b"not json", content_type="application/json") == 400
    assert await status([1, 2]) == 400
    assert await status({**body, "client_id": "nope"}) == 400
    assert await status({"client_id": client_id, "cursor": 1}) == 400  # no channel
    assert await status({**body, "cursor": -1}) == 400
    assert await status({**body, "cursor": "1"}) == 400
    assert await status({**body, "cursor": True}) == 400
    assert await status({**body, "cursor": 1.5}) == 400
    assert await status({**body, "channel": 7}) == 400
    assert await status({**body, "channel": "nope"}) == 400
    assert await status({**body, "channel": "chat:bad topic"}) == 400
    assert await status({**body, "channel": "system"}) == 400
    assert await status(json.dumps(body), content_type="text/plain") == 415
    assert await status(json.dumps(body), content_type="application/json; charset=utf-8") == 204
    assert await status(json.dumps(body).encode()) == 204  # no Content-Type at all is accepted
    # the checks run in the documented order: content type before JSON, token before connection and fields
    assert await status(b"not json", content_type="text/plain") == 415
    assert await status({"client_id": client_id, "cursor": "x"}, token=None) == 401
    assert server.metrics.get("http_refused_400") >= 10


async def test_ack_body_over_the_limit_is_413(start_server):
    from pushwire.config import HttpConfig

    server = await start_server(http=HttpConfig(max_body_bytes=256))
    client_id = str(uuid.uuid4())
    _sse, auth_ok = await open_sse(server.port, client_id)
    response = await post_json(server.port, "/rps/ack", {"client_id": client_id, "channel": "chat", "cursor": 1,
                                                         "pad": "x" * 300}, token=auth_ok["session_token"])
    assert response.status == 413


async def test_ack_of_personal_stream_trims_history(server):
    client_id = str(uuid.uuid4())
    personal = f"alerts:@{client_id}"
    for i in range(3):
        await server.send(client_id, "alerts", i)
    sse, auth_ok = await open_sse(server.port, client_id)
    assert auth_ok["streams"][personal]["outcome"] == "recovered"
    got = [await sse.next_event() for _ in range(3)]
    assert [e.json()["cursor"] for e in got] == [1, 2, 3]
    token = auth_ok["session_token"]
    assert (await post_json(server.port, "/rps/ack", {"client_id": client_id, "channel": personal, "cursor": 2},
                            token=token)).status == 204
    # an ack above the top is ignored (it would hide frames not yet published)
    assert (await post_json(server.port, "/rps/ack", {"client_id": client_id, "channel": personal, "cursor": 99},
                            token=token)).status == 204
    # acking another client's personal stream is accepted and has no effect
    other = str(uuid.uuid4())
    await server.send(other, "alerts", "for the other")
    assert (await post_json(server.port, "/rps/ack", {"client_id": client_id, "channel": f"alerts:@{other}",
                                                      "cursor": 1}, token=token)).status == 204
    sse.close()
    await wait_for(lambda: client_id not in server.connected_client_ids())
    # a reconnect without a cursor replays only what was not acked
    sse, auth_ok = await open_sse(server.port, client_id)
    status = auth_ok["streams"][personal]
    assert (status["outcome"], status["cursor"], status["top"]) == ("recovered", 2, 3)
    replayed = await sse.next_event()
    assert replayed.json()["cursor"] == 3 and replayed.payload == 2
    sse.close()
    ws = await RawWs.connect(server.port)
    other_ok = await ws.auth(other, [])
    assert other_ok["streams"][f"alerts:@{other}"]["cursor"] == 0  # not trimmed by the foreign ack
    assert (await ws.recv_json())["payload"] == "for the other"


async def test_websocket_client_may_ack_over_http(server):
    client_id = str(uuid.uuid4())
    await server.send(client_id, "alerts", "a")
    ws = await RawWs.connect(server.port)
    auth_ok = await ws.auth(client_id, [])
    assert (await ws.recv_json())["cursor"] == 1
    response = await post_json(server.port, "/rps/ack", {"client_id": client_id, "channel": f"alerts:@{client_id}",
                                                         "cursor": 1}, token=auth_ok["session_token"])
    assert response.status == 204
    await ws.close()
    await wait_for(lambda: client_id not in server.connected_client_ids())
    again = await RawWs.connect(server.port)
    status = (await again.auth(client_id, []))["streams"][f"alerts:@{client_id}"]
    assert (status["cursor"], status["top"]) == (1, 1)


# -- /rps/send --------------------------------------------------------------------------------------------


async def test_send_chat_frame_is_relayed_with_the_sender_id(server):
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id, "chat,chat:room1")
    ws = await RawWs.connect(server.port)
    await ws.auth(None, ["chat", "chat:room1"])
    token = auth_ok["session_token"]
    response = await post_json(server.port, "/rps/send", {"client_id": client_id, "channel": "chat",
                                                          "payload": {"text": "hi"}}, token=token)
    assert response.status == 202 and response.body == b""
    expected = {"channel": "chat", "cursor": 1, "client_id": client_id, "payload": {"text": "hi"}}
    assert (await sse.next_event()).json() == expected
    assert await ws.recv_json() == expected
    # a topic frame, with the token in the body and a null client_id in the frame sense ignored
    response = await post_json(server.port, "/rps/send", {"client_id": client_id, "channel": "chat",
                                                          "topic": "room1", "cursor": 77, "payload": "yo",
                                                          "session_token": token})
    assert response.status == 202
    event = await sse.next_event()
    assert event.json() == {"channel": "chat", "topic": "room1", "cursor": 1, "client_id": client_id,
                            "payload": "yo"}
    assert (await ws.recv_json())["payload"] == "yo"
    sse.close()


async def test_send_subscribe_unsubscribe_and_ping(server):
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id, "chat")
    token = auth_ok["session_token"]

    async def send(op: dict[str, Any], *, wrapped: bool = True) -> int:
        body = ({"channel": "system", "cursor": None, "client_id": client_id, "payload": op} if wrapped
                else {**op, "client_id": client_id})
        return (await post_json(server.port, "/rps/send", body, token=token)).status

    for i in range(2):
        await server.publish("events", i, topic="t1")
    assert await send({"type": "subscribe", "channels": ["events:t1"], "resume_cursors": {"events:t1": 0}}) == 202
    subscribed = await sse.next_event()
    assert subscribed.event == "system" and subscribed.payload["type"] == "subscribed"
    status = subscribed.payload["streams"]["events:t1"]
    assert (status["outcome"], status["cursor"], status["top"]) == ("recovered", 0, 2)
    epoch = status["epoch"]
    assert subscribed.vector["events:t1"] == (0, epoch)
    replayed = [await sse.next_event() for _ in range(2)]
    assert [(e.event, e.json()["cursor"]) for e in replayed] == [("events", 1), ("events", 2)]
    await server.publish("events", "live", topic="t1")
    live = await sse.next_event()
    assert live.payload == "live" and live.vector["events:t1"] == (3, epoch)
    # bare op form
    assert await send({"type": "ping"}, wrapped=False) == 202
    pong = await sse.next_event()
    assert pong.payload == {"type": "pong"}
    assert await send({"type": "unsubscribe", "channels": ["events:t1"]}) == 202
    assert await send({"type": "ping"}) == 202
    assert (await sse.next_event()).payload == {"type": "pong"}  # the unsubscribe was processed before
    await server.publish("events", "gone", topic="t1")
    await server.publish("chat", "still here")
    after = await sse.next_event()
    assert after.payload == "still here"
    assert "events:t1" not in after.vector
    sse.close()


async def test_a_system_event_after_shared_batches_carries_their_position(server):
    """Batches shared by single-stream SSE connections are written from C; the position vector still moves."""
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id, "chat")
    for i in range(3):
        await server.publish("chat", i)
        assert (await sse.next_event()).payload == i
    body = {"channel": "system", "cursor": None, "client_id": client_id, "payload": {"type": "ping"}}
    assert (await post_json(server.port, "/rps/send", body, token=auth_ok["session_token"])).status == 202
    pong = await sse.next_event()
    assert pong.payload == {"type": "pong"} and pong.vector["chat"][0] == 3
    sse.abort()
    await wait_for(lambda: client_id not in server.connected_client_ids())
    await server.publish("chat", "missed")
    sse, auth_ok = await open_sse(server.port, client_id, "chat", **{"Last-Event-ID": pong.id})
    assert auth_ok["streams"]["chat"]["outcome"] == "recovered"
    assert (await sse.next_event()).payload == "missed"
    sse.close()


async def test_subscribed_streams_survive_a_reconnect_through_the_vector(server):
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id, "chat")
    body = {"channel": "system", "client_id": client_id, "payload": {"type": "subscribe", "channels": ["events"]}}
    assert (await post_json(server.port, "/rps/send", body, token=auth_ok["session_token"])).status == 202
    last: Event = await sse.next_event()
    assert last.payload["type"] == "subscribed"
    sse.abort()
    await wait_for(lambda: client_id not in server.connected_client_ids())
    await server.publish("events", "missed")
    sse, auth_ok = await open_sse(server.port, client_id, "chat", **{"Last-Event-ID": last.id})
    assert auth_ok["streams"]["events"]["outcome"] == "recovered"
    assert (await sse.next_event()).payload == "missed"
    sse.close()


async def test_websocket_client_may_use_send(server):
    client_id = str(uuid.uuid4())
    ws = await RawWs.connect(server.port)
    auth_ok = await ws.auth(client_id, ["chat"])
    token = auth_ok["session_token"]
    body = {"client_id": client_id, "type": "subscribe", "channels": ["events"]}
    assert (await post_json(server.port, "/rps/send", body, token=token)).status == 202
    subscribed = await ws.recv_json()
    assert subscribed["payload"]["type"] == "subscribed" and "events" in subscribed["payload"]["streams"]
    body = {"client_id": client_id, "channel": "chat", "payload": "via http"}
    assert (await post_json(server.port, "/rps/send", body, token=token)).status == 202
    assert await ws.recv_json() == {"channel": "chat", "cursor": 1, "client_id": client_id, "payload": "via http"}
    await server.publish("events", "subscribed over http")
    assert (await ws.recv_json())["payload"] == "subscribed over http"


async def test_send_errors(server):
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id, "chat")
    token = auth_ok["session_token"]

    async def send(body: Any, **kwargs: Any) -> tuple[int, Any]:
        response = await post_json(server.port, "/rps/send", body, **kwargs)
        return response.status, (response.json() if response.header("content-type") == "application/json"
                                  else None)

    status, answer = await send({"client_id": client_id, "channel": "nope", "payload": 1}, token=token)
    assert status == 400 and answer["error"] == "unknown_channel" and isinstance(answer["message"], str)
    status, answer = await send({"client_id": client_id, "channel": "chat", "topic": "@x", "payload": 1},
                                token=token)
    assert status == 400 and answer["error"] == "bad_stream"
    status, answer = await send({"client_id": client_id, "channel": 5, "payload": 1}, token=token)
    assert status == 400 and answer["error"] == "bad_frame"
    status, answer = await send({"client_id": client_id, "payload": 1}, token=token)  # neither frame nor op
    assert status == 400 and answer["error"] in ("bad_frame", "bad_json")
    status, answer = await send({"client_id": client_id, "type": "subscribe", "channels": ["nope"]}, token=token)
    assert status == 400 and answer["error"] == "unknown_channel"
    assert (await send(b"{", token=token, content_type="application/json"))[0] == 400
    assert (await send({"channel": "chat", "payload": 1}, token=token))[0] == 400  # no client_id
    assert (await send({"client_id": client_id, "channel": "chat", "payload": 1}))[0] == 401
    assert (await send({"client_id": client_id, "channel": "chat", "payload": 1}, token="bad"))[0] == 403
    assert (await send({"client_id": str(uuid.uuid4()), "channel": "chat", "payload": 1}, token=token))[0] == 403
    assert (await send(json.dumps({"client_id": client_id, "channel": "chat", "payload": 1}), token=token,
                       content_type="text/plain"))[0] == 415
    # nothing was closed: the stream still works, and a good frame still goes through
    assert (await send({"client_id": client_id, "channel": "chat", "payload": "ok"}, token=token))[0] == 202
    assert (await sse.next_event()).payload == "ok"
    sse.close()
    await wait_for(lambda: client_id not in server.connected_client_ids())
    assert (await send({"client_id": client_id, "channel": "chat", "payload": 1}, token=token))[0] == 404


async def test_send_subscribe_refused_by_the_validator_is_a_forbidden_event(start_server):
    server = await start_server(auth=lambda client_id, token, streams: "alerts" not in streams)
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id, "chat")
    body = {"channel": "system", "client_id": client_id, "payload": {"type": "subscribe", "channels": ["alerts"]}}
    assert (await post_json(server.port, "/rps/send", body, token=auth_ok["session_token"])).status == 202
    error = await sse.next_event()
    assert error.payload["type"] == "error" and error.payload["code"] == "forbidden"
    await server.publish("chat", "open")
    assert (await sse.next_event()).payload == "open"
    sse.close()


async def test_send_goodbye_ends_the_stream(server):
    client_id = str(uuid.uuid4())
    sse, auth_ok = await open_sse(server.port, client_id)
    body = {"client_id": client_id, "type": "goodbye", "reason": None}
    assert (await post_json(server.port, "/rps/send", body, token=auth_ok["session_token"])).status == 202
    assert await sse.until_ended() == []
    await wait_for(lambda: client_id not in server.connected_client_ids())


# -- /rps/publish -----------------------------------------------------------------------------------------


async def test_publish_is_404_without_an_api_key(start_server):
    server = await start_server(publish_api_key=None)
    response = await post_json(server.port, "/rps/publish", {"channel": "chat", "payload": 1}, token="anything")
    assert response.status == 404


async def test_publish_auth(server):
    body = {"channel": "chat", "payload": 1}
    response = await post_json(server.port, "/rps/publish", body)
    assert response.status == 401 and response.header("www-authenticate") == "Bearer"
    assert (await post_json(server.port, "/rps/publish", body, token="wrong")).status == 403
    assert (await post_json(server.port, "/rps/publish", body, token=API_KEY + "x")).status == 403
    assert (await post_json(server.port, "/rps/publish", body, headers={"Authorization": API_KEY})).status == 401
    assert (await post_json(server.port, "/rps/publish", body,
                            headers={"Authorization": f"bearer {API_KEY}"})).status == 200


@pytest.mark.parametrize("body", [
    b"{not json",
    b"[1]",
    {"channel": "chat"},  # no payload
    {"payload": 1},  # no channel
    {"channel": "nope", "payload": 1},
    {"channel": 3, "payload": 1},
    {"channel": "system", "payload": 1},
    {"channel": "chat", "topic": "bad topic", "payload": 1},
    {"channel": "chat", "topic": "@someone", "payload": 1},
    {"channel": "chat", "topic": "", "payload": 1},
    {"channel": "chat", "topic": 5, "payload": 1},
    {"channel": "chat", "topic": "room", "client_id": str(uuid.uuid4()), "payload": 1},
    {"channel": "chat", "client_id": "not-a-uuid", "payload": 1},
    {"channel": "chat", "client_id": 12, "payload": 1},
])
async def test_publish_bad_bodies_are_400(server, body):
    response = await post_json(server.port, "/rps/publish", body, token=API_KEY, content_type="application/json")
    assert response.status == 400
    assert server.hub.state(_ref(server, "chat")).last_offset == 0  # nothing was published


def _ref(server: Any, name: str) -> Any:
    from pushwire.protocol.streams import parse_stream

    return parse_stream(name, server.channels)


async def test_publish_wrong_content_type_is_415(server):
    response = await post_json(server.port, "/rps/publish", json.dumps({"channel": "chat", "payload": 1}),
                               token=API_KEY, content_type="application/x-www-form-urlencoded")
    assert response.status == 415


async def test_publish_forms_reach_subscribers(server):
    client_id = str(uuid.uuid4())
    ws = await RawWs.connect(server.port)
    await ws.auth(client_id, ["chat", "chat:room42"])
    sse, _ = await open_sse(server.port, str(uuid.uuid4()), "chat")

    async def publish(body: dict[str, Any]) -> Any:
        response = await post_json(server.port, "/rps/publish", body, token=API_KEY)
        assert response.status == 200 and response.header("content-type") == "application/json"
        return response.json()

    assert await publish({"channel": "chat", "payload": {"text": "deploy finished"}}) == {"stream": "chat",
                                                                                         "cursor": 1}
    assert await publish({"channel": "chat", "topic": "room42", "payload": [1, 2]}) == {"stream": "chat:room42",
                                                                                       "cursor": 1}
    assert await publish({"channel": "chat", "payload": None, "topic": None}) == {"stream": "chat", "cursor": 2}
    personal = f"chat:@{client_id}"
    assert await publish({"channel": "chat", "client_id": client_id.upper(), "payload": "just you"}) == {
        "stream": personal, "cursor": 1}
    offline = str(uuid.uuid4())  # personal streams exist for offline clients too
    assert await publish({"channel": "alerts", "client_id": offline, "payload": "later"}) == {
        "stream": f"alerts:@{offline}", "cursor": 1}
    frames = [await ws.recv_json() for _ in range(4)]
    assert frames[0] == {"channel": "chat", "cursor": 1, "client_id": None, "payload": {"text": "deploy finished"}}
    assert frames[1] == {"channel": "chat", "topic": "room42", "cursor": 1, "client_id": None, "payload": [1, 2]}
    assert frames[2] == {"channel": "chat", "cursor": 2, "client_id": None, "payload": None}
    assert frames[3] == {"channel": "chat", "topic": f"@{client_id}", "cursor": 1, "client_id": None,
                         "payload": "just you"}
    sse_frames = [(await sse.next_event()).json() for _ in range(2)]
    assert sse_frames == [frames[0], frames[2]]  # neither the topic nor somebody's personal stream
    ws_late = await RawWs.connect(server.port)
    await ws_late.auth(offline, [])
    assert (await ws_late.recv_json())["payload"] == "later"
    sse.close()


async def test_publish_keep_alive_connection_serves_many(server):
    ws = await RawWs.connect(server.port)
    await ws.auth(streams=["events"])
    conn = await RawHttp.connect(server.port)
    for i in range(20):
        response = await conn.fetch("POST", "/rps/publish", body={"channel": "events", "payload": i},
                                    headers={"Authorization": f"Bearer {API_KEY}"})
        assert response.json() == {"stream": "events", "cursor": i + 1}
    assert [(await ws.recv_json())["payload"] for _ in range(20)] == list(range(20))
    conn.close()

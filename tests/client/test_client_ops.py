"""PushClient against a scripted fake transport: handshake, delivery, gaps, ops, reconnect, fallback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pushwire.client import ConnectError, ConnectionState, PushClient, ReconnectPolicy, TransportUnavailable
from pushwire.client.transports import AuthParams
from pushwire.errors import AuthRejected, StateError
from pushwire.protocol.frames import Frame
from pushwire.protocol.messages import ResumeRequired
from pushwire.protocol.streams import StreamError

from .fakes import FAST, FakeServer, FakeTransport, auth_ok, frame, make_client, status, sysframe, until

CID = "5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f"


def collect(client: PushClient, key: str = "*") -> list[Frame]:
    got: list[Frame] = []
    client.on(key, got.append)
    return got


async def test_connect_sends_auth_and_takes_positions() -> None:
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(41, epoch="k3x9")})])
    client = make_client(server, client_id=CID.upper(), token="tok", streams=["chat", "system"])
    assert client.state is ConnectionState.DISCONNECTED
    await client.connect()
    try:
        assert client.state is ConnectionState.CONNECTED
        auth = server.current.auth
        assert auth is not None
        assert auth.client_id == CID and auth.token == "tok" and auth.streams == ["chat"]
        assert auth.resume_cursors == {} and auth.resume_epochs == {}
        assert client.session_token == "sess1"
        assert client.cursors() == {"chat": 41} and client.epochs() == {"chat": "k3x9"}
        assert client.resume_outcomes["chat"].outcome == "new"
        assert client.transport_in_use == "ws"
        op = auth.auth_op().to_payload()
        assert op["type"] == "auth" and op["capabilities"] == ["chat"] and op["resume_cursor"] is None
    finally:
        await client.disconnect()
    assert client.state is ConnectionState.DISCONNECTED


async def test_delivery_order_duplicates_and_handler_routing() -> None:
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(0), "chat:room1": status(5)})])
    client = make_client(server, streams=["chat", "chat:room1"])
    everything = collect(client)
    by_channel = collect(client, "chat")
    room_only = collect(client, "chat:room1")
    seen_async: list[int] = []

    async def slow_handler(f: Frame) -> None:
        await asyncio.sleep(0)
        seen_async.append(f.cursor or 0)

    client.on("chat:room1", slow_handler)
    await client.connect()
    server.current.push(
        frame("chat", 1, "a"), frame("chat", 2, "b"), frame("chat", 2, "b-dup"), frame("chat", 1, "a-dup"),
        frame("chat", 6, "x", topic="room1"), frame("chat", 5, "old", topic="room1"), frame("chat", 3, "c"),
    )
    await until(lambda: client.stats.frames_received == 7)
    assert [(f.stream, f.cursor, f.payload) for f in everything] == [
        ("chat", 1, "a"), ("chat", 2, "b"), ("chat:room1", 6, "x"), ("chat", 3, "c")]
    assert [f.stream for f in by_channel] == ["chat", "chat", "chat:room1", "chat"]
    assert [f.cursor for f in room_only] == [6]
    assert seen_async == [6]
    assert client.stats.duplicates_dropped == 3
    assert client.stats.frames_delivered == 4
    assert client.cursors() == {"chat": 3, "chat:room1": 6}
    await client.disconnect()


async def test_handler_exception_does_not_stop_delivery() -> None:
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(0)})])
    client = make_client(server, streams=["chat"])

    def broken(f: Frame) -> None:
        raise RuntimeError("boom")

    client.on("chat", broken)
    got = collect(client)
    await client.connect()
    server.current.push(frame("chat", 1, 1), frame("chat", 2, 2))
    await until(lambda: len(got) == 2)
    assert client.state is ConnectionState.CONNECTED
    await client.disconnect()


async def test_gap_is_reported_filled_once_and_requests_dedup() -> None:
    gaps: list[tuple[str, int, int]] = []
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(10)})])
    client = make_client(server, streams=["chat"], on_gap=lambda s, a, b: gaps.append((s, a, b)))
    got = collect(client)
    await client.connect()
    t = server.current
    t.push(frame("chat", 11, 11), frame("chat", 14, 14), frame("chat", 16, 16))
    await until(lambda: len(got) == 3)
    assert gaps == [("chat", 12, 13), ("chat", 15, 15)]
    # the second gap is covered by the replay already asked for (from 12)
    assert t.sent_ops("resume_required") == [{"type": "resume_required", "channel": "chat", "from_cursor": 12}]
    assert client.holes("chat") == [(12, 13), (15, 15)]
    # the server answers as a re-subscribe from 11, then replays 12..16
    t.push(sysframe({"type": "subscribed", "streams": {"chat": status(11, 16, outcome="recovered")}}))
    t.push(*(frame("chat", c, c) for c in range(12, 17)))
    await until(lambda: client.stats.frames_received == 8)
    assert [f.cursor for f in got] == [11, 14, 16, 12, 13, 15]
    assert client.holes("chat") == []
    assert client.stats.duplicates_dropped == 2 and client.stats.gaps_seen == 2
    # after the answer a new gap asks again
    t.push(frame("chat", 18, 18))
    await until(lambda: len(t.sent_ops("resume_required")) == 2)
    await client.disconnect()


async def test_gap_filling_off() -> None:
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(0)})])
    client = make_client(server, streams=["chat"], fill_gaps=False)
    got = collect(client)
    await client.connect()
    server.current.push(frame("chat", 3, 3))
    await until(lambda: len(got) == 1)
    assert server.current.sent_ops("resume_required") == []
    assert client.stats.gaps_seen == 1
    await client.disconnect()


async def test_gap_before_first_frame_is_detected() -> None:
    gaps: list[tuple[str, int, int]] = []
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(41)})])
    client = make_client(server, streams=["chat"], on_gap=lambda *g: gaps.append(g))
    await client.connect()
    server.current.push(frame("chat", 43, "x"))
    await until(lambda: bool(gaps))
    assert gaps == [("chat", 42, 42)]
    await client.disconnect()


async def test_server_resume_required_callback_and_give_up() -> None:
    ops: list[ResumeRequired] = []
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(0)})])
    client = make_client(server, streams=["chat"], on_resume_required=ops.append, fill_gaps=False)
    await client.connect()
    t = server.current
    t.push(frame("chat", 1, 1), frame("chat", 9, 9))
    await until(lambda: client.stats.frames_received == 2)
    assert client.holes("chat") == [(2, 8)]
    t.push(sysframe({"type": "resume_required", "channel": "chat", "from_cursor": 2, "to_cursor": 5,
                     "epoch": "e1", "reason": "gap"}))
    await until(lambda: bool(ops))
    assert ops[0].channel == "chat" and (ops[0].from_cursor, ops[0].to_cursor) == (2, 5)
    assert client.holes("chat") == [(6, 8)]
    assert client.stats.frames_lost == 4
    await client.disconnect()


async def test_ping_op_is_answered_and_unknown_ops_ignored() -> None:
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(0)})])
    client = make_client(server, streams=["chat"])
    system: list[Frame] = []
    client.on("system", system.append)
    got = collect(client)
    await client.connect()
    t = server.current
    t.push(sysframe({"type": "mystery", "x": 1}), "not json", sysframe({"type": "ping"}),
           sysframe({"type": "slow", "window": None}), frame("nochannel", 1, 1), frame("chat", 1, "ok"))
    await until(lambda: len(got) == 1)
    assert t.sent_ops("pong") == [{"type": "pong"}]
    assert [f.payload["type"] for f in system] == ["ping", "slow"]
    assert client.state is ConnectionState.CONNECTED
    await client.disconnect()


async def test_send_frames_and_ops() -> None:
    server = FakeServer(on_open=lambda t, a: [auth_ok({})])
    client = make_client(server)
    with pytest.raises(StateError):
        await client.send("chat", "early")
    await client.connect()
    await client.send("chat", {"text": "hi"})
    await client.send("chat", "t", topic="room1")
    await client.ack("chat", 4)
    with pytest.raises(StreamError):
        await client.send("system", {})
    with pytest.raises(StreamError):
        await client.send("nope", {})
    with pytest.raises(StreamError):
        await client.send("chat", 1, topic="bad topic")
    t = server.current
    assert t.sent[0] == {"channel": "chat", "payload": {"text": "hi"}}
    assert t.sent[1] == {"channel": "chat", "topic": "room1", "payload": "t"}
    assert t.acks == [("chat", 4, "sess1")]
    await client.disconnect()
    assert t.sent_ops("goodbye") == [{"type": "goodbye", "reason": None}]
    assert t.closed_with == 1000


async def test_subscribe_waits_for_subscribed_and_refusal() -> None:
    def on_message(t: FakeTransport, m: dict[str, Any]) -> list[str]:
        op = m.get("payload") or {}
        if op.get("type") != "subscribe":
            return []
        if "chat:vip" in op["channels"]:
            return [sysframe({"type": "error", "code": "forbidden", "message": "no"})]
        return [sysframe({"type": "subscribed", "streams": {s: status(3) for s in op["channels"]}})]

    server = FakeServer(on_open=lambda t, a: [auth_ok({})], on_message=on_message)
    client = make_client(server)
    await client.connect()
    result = await client.subscribe(["chat:room7"])
    assert result["chat:room7"].cursor == 3
    assert client.cursors() == {"chat:room7": 3}
    assert "chat:room7" in client.streams
    with pytest.raises(AuthRejected):
        await client.subscribe(["chat:vip"])
    assert "chat:vip" not in client.streams
    await client.unsubscribe(["chat:room7"])
    assert server.current.sent_ops("unsubscribe") == [{"type": "unsubscribe", "channels": ["chat:room7"]}]
    assert client.cursors() == {} and client.streams == []
    # late frames of an unsubscribed stream are dropped, not taken as a gap
    got = collect(client)
    server.current.push(frame("chat", 9, "late", topic="room7"))
    await asyncio.sleep(0.02)
    assert got == [] and server.current.sent_ops("resume_required") == []
    await client.disconnect()


async def test_subscribe_resends_known_cursor() -> None:
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(7, epoch="abc")})])
    client = make_client(server, streams=["chat"])
    await client.connect()
    await client.subscribe(["chat"], wait=False)
    op = server.current.sent_ops("subscribe")[0]
    assert op["resume_cursors"] == {"chat": 7} and op["resume_epochs"] == {"chat": "abc"}
    await client.disconnect()


async def test_personal_stream_frames_arrive_untracked() -> None:
    server = FakeServer(on_open=lambda t, a: [auth_ok({})])
    client = make_client(server, client_id=CID)
    got = collect(client, "chat")
    await client.connect()
    server.current.push(frame("chat", 1, "for you", topic="@" + CID))
    await until(lambda: len(got) == 1)
    assert got[0].stream == f"chat:@{CID}"
    assert client.cursors() == {f"chat:@{CID}": 1}
    await client.disconnect()


async def test_auto_ack_coalesces_to_contiguous_cursor() -> None:
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(0)})])
    client = make_client(server, streams=["chat"], auto_ack=True, fill_gaps=False)
    await client.connect()
    t = server.current
    t.push(frame("chat", 1, 1), frame("chat", 2, 2), frame("chat", 3, 3))
    await until(lambda: bool(t.acks) and t.acks[-1][1] == 3)
    assert len(t.acks) < 3 or t.acks == [("chat", 1, "sess1"), ("chat", 2, "sess1"), ("chat", 3, "sess1")]
    t.push(frame("chat", 6, 6))
    await asyncio.sleep(0.02)
    assert t.acks[-1][1] == 3  # 4 and 5 are missing: only the contiguous cursor is acked
    await client.disconnect()


async def test_auth_rejected_no_fallback() -> None:
    server = FakeServer(on_open=lambda t, a: [sysframe({"type": "error", "code": "auth_rejected",
                                                         "message": "bad token"})])
    client = make_client(server)
    with pytest.raises(AuthRejected):
        await client.connect()
    assert [t.name for t in server.opened] == ["ws"]
    assert client.state is ConnectionState.DISCONNECTED


async def test_close_1008_during_handshake_is_rejection() -> None:
    def on_open(t: FakeTransport, a: AuthParams) -> list[str]:
        t.kill(1008, "policy")
        return []

    client = make_client(FakeServer(on_open=on_open))
    with pytest.raises(AuthRejected):
        await client.connect()


@pytest.mark.parametrize(("mode", "expected"), [("ws-first", "sse"), ("sse-first", "ws")])
async def test_fallback(mode: str, expected: str) -> None:
    first = "ws" if expected == "sse" else "sse"
    server = FakeServer(unavailable={first})
    client = make_client(server, transport=mode)
    await client.connect()
    assert client.transport_in_use == expected
    await client.disconnect()


@pytest.mark.parametrize("mode", ["ws-only", "sse-only"])
async def test_only_modes_do_not_fall_back(mode: str) -> None:
    server = FakeServer(unavailable={mode[:-5]})
    client = make_client(server, transport=mode)
    with pytest.raises(TransportUnavailable):
        await client.connect()
    assert server.opened == []


async def test_open_timeout() -> None:
    client = make_client(FakeServer(on_open=lambda t, a: []), transport="ws-only", open_timeout_s=0.05)
    with pytest.raises(ConnectError):
        await client.connect()
    assert client.state is ConnectionState.DISCONNECTED


async def test_reconnect_resumes_with_contiguous_cursors_and_epochs() -> None:
    states: list[ConnectionState] = []
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(a.resume_cursors.get("chat", 0),
                                                                       epoch="e1")})])
    client = make_client(server, streams=["chat"], fill_gaps=False,
                         on_state_change=lambda new, old: states.append(new))
    got = collect(client)
    await client.connect()
    first = server.current
    first.push(frame("chat", 1, 1), frame("chat", 2, 2), frame("chat", 4, 4))
    await until(lambda: len(got) == 3)
    first.kill(1006)
    await until(lambda: len(server.opened) == 2 and client.state is ConnectionState.CONNECTED)
    auth = server.current.auth
    assert auth is not None
    assert auth.resume_cursors == {"chat": 2} and auth.resume_epochs == {"chat": "e1"}
    # replay from 3: 3 fills the hole, 4 is a duplicate
    server.current.push(frame("chat", 3, 3), frame("chat", 4, 4), frame("chat", 5, 5))
    await until(lambda: len(got) == 5)
    assert [f.cursor for f in got] == [1, 2, 4, 3, 5]
    assert states == [ConnectionState.CONNECTING, ConnectionState.CONNECTED, ConnectionState.RESUMING,
                      ConnectionState.CONNECTED]
    assert client.stats.reconnects == 1
    assert first.closed_with == 1000
    await client.disconnect()


async def test_epoch_change_on_reconnect_resets_position() -> None:
    epochs = iter(["old", "new"])
    server = FakeServer(on_open=lambda t, a: [auth_ok({"chat": status(
        0, 3, epoch=next(epochs), outcome="epoch_changed" if a.resume_cursors else "new")})])
    client = make_client(server, streams=["chat"])
    got = collect(client)
    await client.connect()
    server.current.push(frame("chat", 1, "a"), frame("chat", 2, "b"))
    await until(lambda: len(got) == 2)
    server.current.kill(1001)
    await until(lambda: len(server.opened) == 2 and client.state is ConnectionState.CONNECTED)
    assert client.epochs() == {"chat": "new"} and client.cursors() == {"chat": 0}
    server.current.push(frame("chat", 1, "A"))
    await until(lambda: len(got) == 3)
    assert got[-1].payload == "A"
    await client.disconnect()


@pytest.mark.parametrize("code", [1000, 1002, 1003, 1007, 1008, 1009, 4500, 4999])
async def test_terminal_close_codes(code: int) -> None:
    server = FakeServer()
    client = make_client(server)
    await client.connect()
    server.current.kill(code)
    await client.wait_state(ConnectionState.DISCONNECTED, timeout_s=2)
    await client.wait_closed()
    assert len(server.opened) == 1
    assert getattr(client.close_error, "code", None) == code


@pytest.mark.parametrize("code", [1001, 1006, 1011, 4000, 4001, 4002, 4499, 3000])
async def test_reconnecting_close_codes(code: int) -> None:
    server = FakeServer()
    client = make_client(server)
    await client.connect()
    server.current.kill(code)
    await until(lambda: len(server.opened) == 2 and client.state is ConnectionState.CONNECTED)
    await client.disconnect()


async def test_goodbye_replaced_then_stream_end_is_terminal() -> None:
    server = FakeServer()
    client = make_client(server, transport="sse-only")
    await client.connect()
    server.current.push(sysframe({"type": "goodbye", "reason": "replaced"}))
    server.current.kill(1006)  # SSE: the response just ends
    await client.wait_state(ConnectionState.DISCONNECTED, timeout_s=2)
    assert len(server.opened) == 1 and getattr(client.close_error, "code", None) == 4500


async def test_reconnect_disabled() -> None:
    server = FakeServer()
    client = make_client(server, reconnect=ReconnectPolicy.disabled())
    await client.connect()
    server.current.kill(1006)
    await client.wait_state(ConnectionState.DISCONNECTED, timeout_s=2)
    assert len(server.opened) == 1


async def test_retries_are_bounded() -> None:
    opens = 0

    def on_open(t: FakeTransport, a: AuthParams) -> list[str]:
        nonlocal opens
        opens += 1
        if opens > 1:
            t.kill(1006)  # every reconnect fails during the handshake
            return []
        return [auth_ok({})]

    client = make_client(FakeServer(on_open=on_open), transport="ws-only",
                         reconnect=ReconnectPolicy(initial_delay_s=0.001, max_delay_s=0.002, max_retries=3))
    await client.connect()
    client._transport.kill(1006)  # type: ignore[union-attr]
    await client.wait_state(ConnectionState.DISCONNECTED, timeout_s=2)
    assert opens == 1 + 3
    assert isinstance(client.close_error, ConnectError)


async def test_rejected_reconnect_stops() -> None:
    opens = 0

    def on_open(t: FakeTransport, a: AuthParams) -> list[str]:
        nonlocal opens
        opens += 1
        if opens == 1:
            return [auth_ok({})]
        return [sysframe({"type": "error", "code": "auth_rejected", "message": "expired"})]

    client = make_client(FakeServer(on_open=on_open))
    await client.connect()
    client._transport.kill(1001)  # type: ignore[union-attr]
    await client.wait_state(ConnectionState.DISCONNECTED, timeout_s=2)
    assert opens == 2 and isinstance(client.close_error, AuthRejected)


async def test_disconnect_during_resume_stops_retrying() -> None:
    server = FakeServer()
    client = make_client(server, reconnect=ReconnectPolicy(initial_delay_s=5.0, max_delay_s=5.0))
    await client.connect()
    server.current.kill(1006)
    await client.wait_state(ConnectionState.RESUMING, timeout_s=2)
    async with asyncio.timeout(2):
        await client.disconnect()
    assert client.state is ConnectionState.DISCONNECTED and len(server.opened) == 1


async def test_constructor_validation() -> None:
    with pytest.raises(ValueError):
        PushClient("http://x", transport="carrier-pigeon")
    with pytest.raises(ValueError):
        PushClient("http://x", client_id="not-a-uuid")
    with pytest.raises(ValueError):
        PushClient("ftp://x")
    with pytest.raises(StreamError):
        PushClient("http://x", streams=["Bad Stream"])
    client = PushClient("http://x", reconnect=FAST)
    assert len(client.client_id) == 36
    with pytest.raises(StateError):
        await client.ack("chat", 1)


async def test_connect_twice_is_a_state_error() -> None:
    client = make_client(FakeServer())
    await client.connect()
    with pytest.raises(StateError):
        await client.connect()
    await client.disconnect()

"""Malformed input on /rps after auth, while a well-behaved client on the same server keeps receiving everything.

Every case checks the exact answer of docs/protocol.md 8.2, 8.5 and 14 (error op, close code, or neither) and
that a second client, subscribed to the stream being published during and after the abuse, gets every frame in
order.
"""

from __future__ import annotations

import asyncio
import json
import struct
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pushwire.config import WebSocketConfig

from .rawhttp import RawHttp
from .rawws import BINARY, CLOSE, PING, TEXT, RawWs

MAX_MESSAGE = 4096
CONTINUATION = 0


def error(code: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message["channel"] == "system" and message["payload"]["type"] == "error" and \
        message["payload"]["code"] == code


async def expect_closed(ws: RawWs, code: int, error_code: str | None) -> None:
    """The server closes with ``code``, after exactly one ``error`` op ``error_code`` (or none)."""
    messages, closed = await ws.recv_until_closed()
    assert closed.code == code, (closed.code, closed.reason, messages)
    errors = [m["payload"] for m in messages if m["channel"] == "system"]
    if error_code is None:
        assert errors == []
    else:
        assert [e["type"] for e in errors] == ["error"] and errors[0]["code"] == error_code, errors
    await ws.close()


async def expect_open(ws: RawWs, error_code: str) -> None:
    """The server answers a non-fatal ``error`` and keeps the connection: a ``ping`` op still gets ``pong``."""
    while True:
        message = await ws.recv_json()
        if message["channel"] == "system":
            break
    assert message["payload"]["type"] == "error" and message["payload"]["code"] == error_code, message
    ws.send_op({"type": "ping"})
    while True:
        message = await ws.recv_json()
        if message["channel"] == "system":
            assert message["payload"] == {"type": "pong"}
            return


def masked_header(opcode: int, length: int, *, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return struct.pack("!BB", first, 0x80 | length) + b"\0\0\0\0"
    if length < 65536:
        return struct.pack("!BBH", first, 0x80 | 126, length) + b"\0\0\0\0"
    return struct.pack("!BBQ", first, 0x80 | 127, length) + b"\0\0\0\0"


async def send_bad_json(ws: RawWs) -> None:
    ws.send_text("this is not json")
    await expect_closed(ws, 1002, "bad_json")


async def send_json_array(ws: RawWs) -> None:
    ws.send_text("[1,2,3]")
    await expect_closed(ws, 1002, "bad_json")


async def send_unknown_channel(ws: RawWs) -> None:
    ws.send_json({"channel": "nope", "payload": 1})
    await expect_open(ws, "unknown_channel")
    ws.send_op({"type": "subscribe", "channels": ["nope:topic"]})
    await expect_open(ws, "unknown_channel")


async def send_bad_stream(ws: RawWs) -> None:
    ws.send_json({"channel": "chat", "topic": "no spaces allowed", "payload": 1})
    await expect_open(ws, "bad_stream")
    ws.send_json({"channel": "chat", "topic": "@" + str(uuid.uuid4()), "payload": 1})  # reserved topic
    await expect_open(ws, "bad_stream")
    ws.send_op({"type": "subscribe", "channels": ["chat:" + "x" * 129]})
    await expect_open(ws, "bad_stream")
    ws.send_op({"type": "ack", "channel": "Chat", "cursor": 1})
    await expect_open(ws, "bad_stream")


async def send_bad_frames(ws: RawWs) -> None:
    ws.send_json({"channel": "chat", "topic": 5, "payload": 1})
    await expect_open(ws, "bad_frame")
    ws.send_op({"type": "ack", "channel": "chat", "cursor": "x"})
    await expect_open(ws, "bad_frame")
    ws.send_op({"type": "no_such_op"})
    await expect_open(ws, "unsupported")
    ws.send_op({"type": "auth", "client_id": str(uuid.uuid4()), "capabilities": []})  # a second auth
    await expect_open(ws, "unsupported")


async def send_oversize(ws: RawWs) -> None:
    ws.send_text(json.dumps({"channel": "chat", "payload": "x" * MAX_MESSAGE}))
    await expect_closed(ws, 1009, None)


async def send_oversize_header_only(ws: RawWs) -> None:
    ws.writer.write(masked_header(TEXT, 10 * 1024 * 1024))  # closed as soon as the header announces it
    await expect_closed(ws, 1009, None)


async def send_oversize_fragments(ws: RawWs) -> None:
    ws.send_frame(TEXT, b'{"channel":"chat","payload":"' + b"x" * 3000, fin=False)
    ws.send_frame(CONTINUATION, b"x" * 3000 + b'"}')
    await expect_closed(ws, 1009, None)


async def send_invalid_utf8(ws: RawWs) -> None:
    ws.send_frame(TEXT, b'{"channel":"chat","payload":"\xff\xfe"}')
    await expect_closed(ws, 1007, None)


async def send_invalid_utf8_across_fragments(ws: RawWs) -> None:
    ws.send_frame(TEXT, b'{"channel":"chat","payload":"\xe2\x82', fin=False)  # valid so far (incomplete)
    ws.send_frame(CONTINUATION, b'("}')  # \xe2\x82 followed by '(' is invalid
    await expect_closed(ws, 1007, None)


async def send_unmasked(ws: RawWs) -> None:
    ws.send_frame(TEXT, json.dumps({"type": "ping"}).encode(), mask=False)
    await expect_closed(ws, 1002, None)


async def send_binary(ws: RawWs) -> None:
    ws.send_frame(BINARY, b"RP\x01\x00\x02\x00\x00\x00\x01\x80")
    await expect_closed(ws, 1003, "unsupported")


async def send_reserved_bits(ws: RawWs) -> None:
    ws.send_frame(TEXT, b'{"type":"ping"}', rsv=4)  # RSV1 without a negotiated extension
    await expect_closed(ws, 1002, None)


async def send_unknown_opcode(ws: RawWs) -> None:
    ws.send_frame(0x3, b"")
    await expect_closed(ws, 1002, None)


async def send_fragmented_control(ws: RawWs) -> None:
    ws.send_frame(PING, b"abc", fin=False)
    await expect_closed(ws, 1002, None)


async def send_oversized_control(ws: RawWs) -> None:
    ws.send_frame(PING, b"p" * 126)
    await expect_closed(ws, 1002, None)


async def send_lone_continuation(ws: RawWs) -> None:
    ws.send_frame(CONTINUATION, b"orphan")
    await expect_closed(ws, 1002, None)


async def send_bad_close_code(ws: RawWs) -> None:
    ws.send_frame(CLOSE, struct.pack("!H", 1005))  # a code that must never be sent
    await expect_closed(ws, 1002, None)


async def drop_mid_frame(ws: RawWs) -> None:
    ws.writer.write(masked_header(TEXT, 1000) + b"{" * 10)
    await asyncio.sleep(0.05)
    ws.abort()


CASES: dict[str, Callable[[RawWs], Awaitable[None]]] = {
    "bad_json": send_bad_json,
    "json_array": send_json_array,
    "unknown_channel": send_unknown_channel,
    "bad_stream": send_bad_stream,
    "bad_frames": send_bad_frames,
    "oversize": send_oversize,
    "oversize_header_only": send_oversize_header_only,
    "oversize_fragments": send_oversize_fragments,
    "invalid_utf8": send_invalid_utf8,
    "invalid_utf8_fragments": send_invalid_utf8_across_fragments,
    "unmasked": send_unmasked,
    "binary": send_binary,
    "reserved_bits": send_reserved_bits,
    "unknown_opcode": send_unknown_opcode,
    "fragmented_control": send_fragmented_control,
    "oversized_control": send_oversized_control,
    "lone_continuation": send_lone_continuation,
    "bad_close_code": send_bad_close_code,
    "drop_mid_frame": drop_mid_frame,
}


@pytest.mark.parametrize("case", list(CASES))
async def test_abuse_is_answered_and_others_keep_receiving(start_server, case):
    server = await start_server(websocket=WebSocketConfig(max_message_bytes=MAX_MESSAGE))
    observer = await RawWs.connect(server.port)
    await observer.auth(str(uuid.uuid4()), ["chat"])
    abuser = await RawWs.connect(server.port)
    await abuser.auth(str(uuid.uuid4()), ["events"])  # its stream gets publications too
    sent: list[int] = []
    stop = asyncio.Event()

    async def publish_meanwhile() -> None:
        while not stop.is_set():
            sent.append(await server.publish("chat", {"n": len(sent)}))
            await server.publish("events", len(sent))
            await asyncio.sleep(0.002)

    publisher = asyncio.ensure_future(publish_meanwhile())
    await asyncio.sleep(0.02)
    await asyncio.wait_for(CASES[case](abuser), 10)
    await asyncio.sleep(0.02)
    stop.set()
    await publisher
    for _ in range(5):  # and after the abuse
        sent.append(await server.publish("chat", {"n": len(sent)}))
    assert len(sent) >= 7  # at least two before or during the abuse, five after
    got = [await observer.recv_json() for _ in range(len(sent))]
    assert [f["cursor"] for f in got] == sent == list(range(1, len(sent) + 1))
    assert [f["payload"] for f in got] == [{"n": i} for i in range(len(sent))]
    # the server still accepts and serves new clients
    late = await RawWs.connect(server.port)
    assert (await late.auth(streams=["chat"]))["streams"]["chat"]["top"] == len(sent)
    response = await (await RawHttp.connect(server.port)).fetch("GET", "/healthz")
    assert response.status == 200


async def test_every_fatal_violation_is_counted(start_server):
    server = await start_server(websocket=WebSocketConfig(max_message_bytes=MAX_MESSAGE))
    for case in ("bad_json", "oversize", "invalid_utf8", "unmasked", "binary"):
        ws = await RawWs.connect(server.port)
        await ws.auth(streams=[])
        await CASES[case](ws)
    counters = server.metrics.snapshot()
    assert counters.get("errors_bad_json") == 1 and counters.get("ws_closed_1002") == 1
    assert counters.get("ws_protocol_errors_1002") == 1  # the unmasked frame
    assert counters.get("ws_protocol_errors_1009") == 1
    assert counters.get("ws_protocol_errors_1007") == 1
    assert counters.get("errors_unsupported") == 1 and counters.get("ws_closed_1003") == 1


async def test_malformed_auth_is_fatal(server):
    cases = [
        ({"type": "auth", "client_id": "not-a-uuid", "capabilities": []}, 1002, "bad_frame"),
        ({"type": "auth", "client_id": str(uuid.uuid4()), "capabilities": ["nope"]}, 1002, "unknown_channel"),
        ({"type": "auth", "client_id": str(uuid.uuid4()), "capabilities": ["chat:bad topic"]}, 1002, "bad_stream"),
        ({"type": "auth", "client_id": str(uuid.uuid4()), "capabilities": [f"chat:@{uuid.uuid4()}"]}, 1008,
         "forbidden"),
    ]
    for op, code, error_code in cases:
        ws = await RawWs.connect(server.port)
        ws.send_op(op)
        messages, closed = await ws.recv_until_closed()
        assert closed.code == code, (op, closed.code, messages)
        assert [m["payload"]["code"] for m in messages] == [error_code], op
    ws = await RawWs.connect(server.port)
    ws.send_text("{{{{")
    messages, closed = await ws.recv_until_closed()
    assert closed.code == 1002 and [m["payload"]["code"] for m in messages] == ["bad_json"]


async def test_many_messages_before_auth_ok_is_1008(start_server):
    async def slow_validator(client_id: str, token: Any, streams: Any) -> bool:
        await asyncio.sleep(0.3)
        return True

    server = await start_server(auth=slow_validator)
    ws = await RawWs.connect(server.port)
    ws.send_op({"type": "auth", "client_id": str(uuid.uuid4()), "capabilities": ["chat"]})
    for _ in range(65):
        ws.send_op({"type": "ping"})
    messages, closed = await ws.recv_until_closed()
    assert closed.code == 1008


async def test_garbage_instead_of_a_handshake(server):
    conn = await RawHttp.connect(server.port)
    conn.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)))  # a TLS ClientHello, say
    response = await conn.read_response()
    assert response.status == 400
    assert await conn.wait_closed(2) == b""
    observer = await RawWs.connect(server.port)
    await observer.auth(streams=["chat"])
    await server.publish("chat", "fine")
    assert (await observer.recv_json())["payload"] == "fine"


async def test_abusive_client_cannot_stall_others_with_a_partial_frame(start_server):
    server = await start_server(websocket=WebSocketConfig(max_message_bytes=MAX_MESSAGE))
    observer = await RawWs.connect(server.port)
    await observer.auth(streams=["chat"])
    staller = await RawWs.connect(server.port)
    await staller.auth(streams=["chat"])
    staller.writer.write(masked_header(TEXT, 2000) + b"x" * 100)  # and never the rest
    for i in range(20):
        await server.publish("chat", i)
    assert [(await observer.recv_json())["payload"] for _ in range(20)] == list(range(20))
    # the staller's own outbound side is unaffected by its unfinished inbound frame
    assert [(await staller.recv_json())["payload"] for _ in range(20)] == list(range(20))

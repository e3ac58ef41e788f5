"""Fuzz target: the WebSocket frame parser and the sans-I/O ``ServerWebSocket``.

Documented failures only: ``WebSocketFrameParser`` raises ``FrameError`` or ``MessageTooBig`` (both
``ProtocolError``); ``ServerWebSocket.receive_data`` raises nothing for any input — violations become one
``ConnectionFailed`` event and a close frame — and what it queues is always a sequence of valid, unmasked
server frames. For a long run, drive the tests' ``.hypothesis.fuzz_one_input`` from a coverage-guided fuzzer.
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pushwire._core.wsframe import OP_CLOSE, WebSocketFrameParser, encode_ws_frame_masked, validate_utf8
from pushwire.errors import FrameError, MessageTooBig
from pushwire.protocol.websocket import (
    BinaryMessage,
    CloseReceived,
    ConnectionFailed,
    ServerWebSocket,
    State,
    TextMessage,
)
from tests.fuzz._mutate import mutated, reads, split

MASK = b"\x0f\xf0\xaa\x55"


def _frames(*frames: tuple[bytes, int, bool]) -> bytes:
    return b"".join(encode_ws_frame_masked(payload, opcode, MASK, fin) for payload, opcode, fin in frames)


CORPUS = [
    _frames((b"hello", 1, True)),
    _frames((b"frag", 1, False), (b"ping", 9, True), (b"ment", 0, True)),
    _frames((b"\x00" * 200, 2, True), (b"", 10, True)),
    _frames(("κόσμε".encode(), 1, False), ("€".encode()[:2], 0, False), ("€".encode()[2:], 0, True)),
    _frames(((1000).to_bytes(2, "big") + b"bye", 8, True)),
    _frames((b"", 8, True), (b"after close", 1, True)),
    _frames((b"x" * 70000, 2, True)),
]

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(data=mutated(CORPUS), cuts=reads(), limit=st.sampled_from([0, 125, 4096, 1 << 20]))
def test_frame_parser(data, cuts, limit):
    parser = WebSocketFrameParser(limit)
    try:
        for chunk in split(data, cuts):
            parser.feed(chunk)
            parser.pending_frame()
            parser.pending_payload(3)
            while (frame := parser.next_frame()) is not None:
                fin, rsv, opcode, payload = frame
                assert len(payload) <= limit and 0 <= rsv <= 7 and opcode in (0, 1, 2, 8, 9, 10)
    except (FrameError, MessageTooBig) as error:
        event(type(error).__name__)
        assert error.code in (1002, 1009)


def _server_frames(chunks: list[bytes]) -> list[tuple[bool, int, int, bytes]]:
    parser = WebSocketFrameParser(1 << 30, require_mask=False)
    for chunk in chunks:
        parser.feed(chunk)
    frames = []
    while (frame := parser.next_frame()) is not None:
        frames.append(frame)
    assert parser.buffered == 0
    return frames


@FUZZ
@given(data=mutated(CORPUS), cuts=reads(), limit=st.sampled_from([1, 125, 4096, 1 << 20]))
def test_server_websocket(data, cuts, limit):
    ws = ServerWebSocket(max_message_bytes=limit)
    events = []
    for chunk in split(data, cuts):
        ws.receive_data(chunk)
        events += ws.events_received()
    ws.receive_eof()
    events += ws.events_received()
    assert ws.state is State.CLOSED and ws.close_expected()
    assert sum(isinstance(e, ConnectionFailed) for e in events) <= 1
    for item in events:
        event(type(item).__name__)
        if isinstance(item, TextMessage):
            assert validate_utf8(item.data) and len(item.data) <= limit
        elif isinstance(item, BinaryMessage):
            assert len(item.data) <= limit
        elif isinstance(item, ConnectionFailed):
            event(f"failed {item.error.code}")
            assert item.error.code in (1002, 1007, 1009)
    frames = _server_frames(ws.data_to_send())
    closes = [f for f in frames if f[2] == OP_CLOSE]
    assert len(closes) <= 1 and (not closes or closes[0] == frames[-1])
    if any(isinstance(e, (ConnectionFailed, CloseReceived)) for e in events):
        assert closes

"""Tests of the sans-I/O ``ServerWebSocket``: feed client bytes, assert events and the bytes it queues.

No sockets. The cases follow RFC 6455 and the Autobahn|Testsuite sections 1-7 expectations (fragmentation,
control frames, UTF-8 fail-fast, close codes).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushwire._core.wsframe import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WebSocketFrameParser,
    encode_ws_frame,
    encode_ws_frame_masked,
)
from pushwire.errors import FrameError, InvalidUTF8, MessageTooBig, StateError
from pushwire.protocol.websocket import (
    BinaryMessage,
    CloseReceived,
    ConnectionFailed,
    PingReceived,
    PongReceived,
    ServerWebSocket,
    State,
    TextMessage,
    frame_bytes,
    is_valid_close_code,
)

MASK = b"\x01\x02\x03\x04"


def cf(payload: bytes = b"", opcode: int = OP_TEXT, fin: bool = True, rsv: int = 0) -> bytes:
    """A client frame (masked)."""
    return encode_ws_frame_masked(payload, opcode, MASK, fin, rsv=rsv)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


def sent_frames(ws: ServerWebSocket) -> list[tuple[bool, int, int, bytes]]:
    """Parse what the machine queued, as a client would."""
    parser = WebSocketFrameParser(1 << 30, require_mask=False)
    parser.feed(b"".join(ws.data_to_send()))
    frames = []
    while (frame := parser.next_frame()) is not None:
        frames.append(frame)
    assert parser.buffered == 0
    return frames


def assert_closed_with(ws: ServerWebSocket, code: int, error_type: type) -> None:
    events = ws.events_received()
    assert len(events) >= 1
    failed = events[-1]
    assert isinstance(failed, ConnectionFailed)
    assert isinstance(failed.error, error_type)
    assert failed.error.code == code
    frames = sent_frames(ws)
    assert frames[-1][2] == OP_CLOSE
    assert int.from_bytes(frames[-1][3][:2], "big") == code
    assert ws.state is State.CLOSED
    assert ws.close_expected()
    assert ws.failure is failed.error


def new(**kwargs) -> ServerWebSocket:
    kwargs.setdefault("max_message_bytes", 1 << 20)
    return ServerWebSocket(**kwargs)


# --------------------------------------------------------------------------------------------- messages


def test_text_and_binary_messages():
    ws = new()
    ws.receive_data(cf(b'{"a":1}') + cf(b"\x00\xff", OP_BINARY))
    assert ws.events_received() == [TextMessage(b'{"a":1}'), BinaryMessage(b"\x00\xff")]
    assert ws.events_received() == []
    assert ws.data_to_send() == []
    assert ws.state is State.OPEN
    assert not ws.close_expected()


def test_empty_messages():
    ws = new()
    ws.receive_data(cf(b"") + cf(b"", OP_BINARY))
    assert ws.events_received() == [TextMessage(b""), BinaryMessage(b"")]


def test_fragmented_text_with_interleaved_ping():
    ws = new()
    ws.receive_data(cf("κό".encode()[:3], OP_TEXT, fin=False))  # a character cut between fragments
    ws.receive_data(cf(b"ping!", OP_PING))
    ws.receive_data(cf("κό".encode()[3:], OP_CONT, fin=False) + cf(b"", OP_CONT, fin=False))
    ws.receive_data(cf(b"!", OP_CONT))
    assert ws.events_received() == [PingReceived(b"ping!"), TextMessage("κό!".encode())]
    assert sent_frames(ws) == [(True, 0, OP_PONG, b"ping!")]


def test_fragmented_binary_message():
    ws = new()
    ws.receive_data(cf(b"a", OP_BINARY, fin=False) + cf(b"b", OP_CONT, fin=False) + cf(b"c", OP_CONT))
    assert ws.events_received() == [BinaryMessage(b"abc")]


def test_ping_is_answered_with_pong_and_pong_is_reported():
    ws = new()
    ws.receive_data(cf(b"x" * 125, OP_PING) + cf(b"", OP_PING) + cf(b"pp", OP_PONG))
    assert ws.events_received() == [PingReceived(b"x" * 125), PingReceived(b""), PongReceived(b"pp")]
    assert sent_frames(ws) == [(True, 0, OP_PONG, b"x" * 125), (True, 0, OP_PONG, b"")]


def test_any_read_split_gives_the_same_events():
    stream = (
        cf(b"hello") + cf(b"fr", OP_TEXT, fin=False) + cf(b"p", OP_PING) + cf(b"ag", OP_CONT)
        + cf(b"\x00" * 300, OP_BINARY) + cf(close_payload(1000, b"bye"), OP_CLOSE)
    )
    expected = [TextMessage(b"hello"), PingReceived(b"p"), TextMessage(b"frag"), BinaryMessage(b"\x00" * 300),
                CloseReceived(1000, "bye")]
    for size in (1, 2, 3, 7, 64, len(stream)):
        ws = new()
        for i in range(0, len(stream), size):
            ws.receive_data(stream[i:i + size])
        assert ws.events_received() == expected
        assert sent_frames(ws) == [(True, 0, OP_PONG, b"p"), (True, 0, OP_CLOSE, close_payload(1000))]


# ------------------------------------------------------------------------------------- framing failures


def test_unmasked_frame_fails_1002():
    ws = new()
    ws.receive_data(encode_ws_frame(b"hi"))
    assert_closed_with(ws, 1002, FrameError)


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
def test_reserved_bits_fail_1002(rsv):
    ws = new()
    ws.receive_data(cf(b"Hello, world!") + cf(b"Hello, world!", rsv=rsv) + cf(b"", OP_PING))
    events = ws.events_received()
    assert events[0] == TextMessage(b"Hello, world!")
    assert isinstance(events[1], ConnectionFailed)
    assert events[1].error.code == 1002
    assert len(events) == 2  # the ping after the failure is not processed
    assert [f[2] for f in sent_frames(ws)] == [OP_CLOSE]


def test_reserved_bits_fail_before_the_frame_completes():
    ws = new()
    ws.receive_data(cf(b"x" * 1000, OP_BINARY, rsv=4)[:20])
    assert_closed_with(ws, 1002, FrameError)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_reserved_opcodes_fail_1002(opcode):
    ws = new()
    ws.receive_data(cf(b"", opcode))
    assert_closed_with(ws, 1002, FrameError)


def test_continuation_without_start_fails_1002():
    ws = new()
    ws.receive_data(cf(b"lonely", OP_CONT))
    assert_closed_with(ws, 1002, FrameError)


def test_continuation_without_start_fails_before_its_payload_arrives():
    ws = new()
    ws.receive_data(cf(b"x" * 500, OP_CONT, fin=False)[:8])
    assert_closed_with(ws, 1002, FrameError)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_new_data_frame_inside_fragmented_message_fails_1002(opcode):
    ws = new()
    ws.receive_data(cf(b"a", OP_TEXT, fin=False) + cf(b"b", opcode))
    assert_closed_with(ws, 1002, FrameError)


def test_autobahn_5_15_message_then_bad_continuation():
    ws = new()
    ws.receive_data(cf(b"fragment1", OP_TEXT, fin=False) + cf(b"fragment2", OP_CONT)
                    + cf(b"fragment3", OP_CONT, fin=False) + cf(b"fragment4", OP_TEXT))
    events = ws.events_received()
    assert events[0] == TextMessage(b"fragment1fragment2")
    assert isinstance(events[1], ConnectionFailed) and events[1].error.code == 1002


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_control_frame_rules(opcode):
    ws = new()
    ws.receive_data(cf(b"x" * 126, opcode))
    assert_closed_with(ws, 1002, FrameError)
    ws = new()
    ws.receive_data(cf(b"", opcode, fin=False))
    assert_closed_with(ws, 1002, FrameError)


def test_failure_is_reported_once_and_input_is_then_ignored():
    ws = new()
    ws.receive_data(cf(b"", 3))
    ws.receive_data(cf(b"", 4) + cf(b"hello"))
    ws.receive_data(cf(b"more"))
    events = ws.events_received()
    assert len(events) == 1 and isinstance(events[0], ConnectionFailed)
    assert len(sent_frames(ws)) == 1
    with pytest.raises(StateError):
        ws.send_text(b"x")


# --------------------------------------------------------------------------------------------------- UTF-8


def test_invalid_utf8_text_fails_1007():
    ws = new()
    ws.receive_data(cf(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"))
    assert_closed_with(ws, 1007, InvalidUTF8)


def test_invalid_utf8_in_binary_is_fine():
    ws = new()
    ws.receive_data(cf(b"\xff\xfe", OP_BINARY))
    assert ws.events_received() == [BinaryMessage(b"\xff\xfe")]


def test_utf8_fails_fast_across_fragments():
    # Autobahn 6.4.1: the second fragment makes the message invalid; fail now, not at the end.
    ws = new()
    ws.receive_data(cf(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", OP_TEXT, fin=False))
    assert ws.events_received() == [] and ws.state is State.OPEN
    ws.receive_data(cf(b"\xf4\x90\x80\x80", OP_CONT, fin=False))
    assert_closed_with(ws, 1007, InvalidUTF8)


def test_utf8_fails_fast_inside_one_frame():
    # Autobahn 6.4.3/6.4.4: one frame arriving in chops; fail as soon as the bad byte arrives.
    payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64"
    frame = cf(payload)
    header = 6
    ws = new()
    ws.receive_data(frame[:header + 12])  # up to and including \xf4: still a possible prefix
    assert ws.events_received() == [] and ws.state is State.OPEN
    ws.receive_data(frame[header + 12:header + 13])  # \x90
    assert_closed_with(ws, 1007, InvalidUTF8)


def test_utf8_truncated_at_message_end_fails():
    ws = new()
    ws.receive_data(cf("€".encode()[:2], OP_TEXT, fin=False))
    assert ws.state is State.OPEN
    ws.receive_data(cf(b"", OP_CONT))
    assert_closed_with(ws, 1007, InvalidUTF8)


def test_utf8_validated_in_pieces_and_on_completion_gives_the_message():
    text = ("κόσμε " * 200).encode()
    frame = cf(text)
    ws = new()
    for i in range(0, len(frame), 97):
        ws.receive_data(frame[i:i + 97])
    assert ws.events_received() == [TextMessage(text)]


def test_utf8_validator_resets_between_messages():
    ws = new()
    ws.receive_data(cf("€".encode()[:2], OP_TEXT, fin=False) + cf("€".encode()[2:], OP_CONT))
    ws.receive_data(cf(b"plain"))
    assert ws.events_received() == [TextMessage("€".encode()), TextMessage(b"plain")]


# ---------------------------------------------------------------------------------------------------- sizes


def test_frame_over_limit_fails_1009_from_its_header():
    ws = new(max_message_bytes=1000)
    ws.receive_data(cf(b"x" * 1001)[:4])
    assert_closed_with(ws, 1009, MessageTooBig)


def test_fragmented_message_over_limit_fails_1009():
    ws = new(max_message_bytes=1000)
    ws.receive_data(cf(b"x" * 600, OP_BINARY, fin=False))
    ws.receive_data(cf(b"x" * 401, OP_CONT)[:8])  # the header alone says it is too much
    assert_closed_with(ws, 1009, MessageTooBig)


def test_message_exactly_at_limit_is_accepted():
    ws = new(max_message_bytes=1000)
    ws.receive_data(cf(b"x" * 600, OP_TEXT, fin=False) + cf(b"y" * 400, OP_CONT))
    assert ws.events_received() == [TextMessage(b"x" * 600 + b"y" * 400)]


def test_separate_frame_limit():
    ws = new(max_message_bytes=1000, max_frame_bytes=100)
    ws.receive_data(cf(b"x" * 100, OP_TEXT, fin=False) + cf(b"x" * 100, OP_CONT))
    assert ws.events_received() == [TextMessage(b"x" * 200)]
    ws.receive_data(cf(b"x" * 101))
    assert_closed_with(ws, 1009, MessageTooBig)


def test_constructor_checks():
    with pytest.raises(ValueError):
        ServerWebSocket(max_message_bytes=0)
    with pytest.raises(ValueError):
        ServerWebSocket(max_message_bytes=10, max_frame_bytes=0)


# ---------------------------------------------------------------------------------------------------- close

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID_CODES)
def test_peer_close_with_valid_code_is_echoed(code):
    ws = new()
    ws.receive_data(cf(close_payload(code, b"reason"), OP_CLOSE))
    assert ws.events_received() == [CloseReceived(code, "reason")]
    assert sent_frames(ws) == [(True, 0, OP_CLOSE, close_payload(code))]
    assert ws.state is State.CLOSED and ws.close_expected()
    assert (ws.close_code, ws.close_reason) == (code, "reason")


@pytest.mark.parametrize("code", INVALID_CODES)
def test_peer_close_with_invalid_code_fails_1002(code):
    ws = new()
    ws.receive_data(cf(close_payload(code), OP_CLOSE))
    assert_closed_with(ws, 1002, FrameError)
    assert ws.close_code is None


def test_is_valid_close_code():
    assert all(is_valid_close_code(c) for c in VALID_CODES)
    assert not any(is_valid_close_code(c) for c in INVALID_CODES)


def test_empty_close_is_reported_as_1005_and_echoed_empty():
    ws = new()
    ws.receive_data(cf(b"", OP_CLOSE))
    assert ws.events_received() == [CloseReceived(1005, "")]
    assert sent_frames(ws) == [(True, 0, OP_CLOSE, b"")]
    assert ws.close_code == 1005


def test_one_byte_close_payload_fails_1002():
    ws = new()
    ws.receive_data(cf(b"\x03", OP_CLOSE))
    assert_closed_with(ws, 1002, FrameError)


def test_close_reason_limits_and_utf8():
    ws = new()
    ws.receive_data(cf(close_payload(1000, b"*" * 123), OP_CLOSE))
    assert ws.events_received() == [CloseReceived(1000, "*" * 123)]
    ws = new()
    ws.receive_data(cf(close_payload(1000, b"*" * 124), OP_CLOSE))  # 126-byte control frame
    assert_closed_with(ws, 1002, FrameError)
    ws = new()
    ws.receive_data(cf(close_payload(1000, b"\xce\xba\xed\xa0\x80"), OP_CLOSE))
    assert_closed_with(ws, 1007, InvalidUTF8)


def test_frames_after_peer_close_are_ignored():
    # Autobahn 7.1.2-7.1.5: a second close, a ping, a text message or a continuation after the close.
    for extra in (cf(b"", OP_CLOSE), cf(b"", OP_PING), cf(b"Hello"), cf(b"x", OP_CONT)):
        ws = new()
        ws.receive_data(cf(close_payload(1000), OP_CLOSE) + extra)
        ws.receive_data(extra)
        assert ws.events_received() == [CloseReceived(1000, "")]
        assert sent_frames(ws) == [(True, 0, OP_CLOSE, close_payload(1000))]


def test_server_initiated_close_handshake():
    ws = new()
    ws.receive_data(cf(b"frag", OP_TEXT, fin=False))
    ws.send_close(1001, "going away")
    assert ws.state is State.CLOSING and not ws.close_expected()
    assert sent_frames(ws) == [(True, 0, OP_CLOSE, close_payload(1001, b"going away"))]
    with pytest.raises(StateError):
        ws.send_text(b"x")
    with pytest.raises(StateError):
        ws.send_binary(b"x")
    with pytest.raises(StateError):
        ws.send_ping()
    ws.send_close()  # no-op: already sent
    assert ws.data_to_send() == []
    # Data is ignored while CLOSING, pings are still answered.
    ws.receive_data(cf(b"ment", OP_CONT) + cf(b"new", OP_BINARY) + cf(b"p", OP_PING))
    assert ws.events_received() == [PingReceived(b"p")]
    assert sent_frames(ws) == [(True, 0, OP_PONG, b"p")]
    ws.send_pong(b"unsolicited")
    assert sent_frames(ws) == [(True, 0, OP_PONG, b"unsolicited")]
    ws.receive_data(cf(close_payload(1000), OP_CLOSE))
    assert ws.events_received() == [CloseReceived(1000, "")]
    assert ws.data_to_send() == []  # no second close frame
    assert ws.state is State.CLOSED and ws.close_expected()
    with pytest.raises(StateError):
        ws.send_pong()


def test_failure_while_closing_sends_no_second_close():
    ws = new()
    ws.send_close()
    ws.data_to_send()
    ws.receive_data(cf(b"", 5))
    events = ws.events_received()
    assert len(events) == 1 and isinstance(events[0], ConnectionFailed)
    assert ws.data_to_send() == []
    assert ws.close_expected()


def test_send_close_checks_code_and_truncates_reason():
    ws = new()
    with pytest.raises(ValueError):
        ws.send_close(1005)
    with pytest.raises(ValueError):
        ws.send_close(1006)
    ws.send_close(4000, "é" * 100)  # 200 bytes: cut to 122 on a character boundary
    ((_, _, _, payload),) = sent_frames(ws)
    assert payload[:2] == (4000).to_bytes(2, "big")
    assert payload[2:] == ("é" * 61).encode()


def test_eof_without_close_is_abnormal():
    ws = new()
    ws.receive_data(cf(b"part", OP_TEXT, fin=False))
    ws.receive_eof()
    assert ws.state is State.CLOSED and ws.close_expected()
    assert ws.close_code == 1006
    assert ws.events_received() == []
    ws.receive_eof()  # idempotent
    with pytest.raises(StateError):
        ws.receive_data(b"x")


def test_eof_after_close_keeps_the_peer_code():
    ws = new()
    ws.receive_data(cf(close_payload(1001), OP_CLOSE))
    ws.receive_eof()
    assert ws.close_code == 1001


# --------------------------------------------------------------------------------------------------- output


def test_send_methods_and_frame_bytes():
    ws = new()
    ws.send_text(b"hi")
    ws.send_binary(b"\x00")
    ws.send_ping(b"p")
    ws.send_pong(b"q")
    assert ws.data_to_send() == [b"\x81\x02hi", b"\x82\x01\x00", b"\x89\x01p", b"\x8a\x01q"]
    assert ws.data_to_send() == []
    with pytest.raises(ValueError):
        ws.send_ping(b"x" * 126)
    with pytest.raises(ValueError):
        ws.send_pong(b"x" * 126)
    assert frame_bytes(b"hi") == encode_ws_frame(b"hi") == ServerWebSocket.frame_bytes(b"hi")
    assert frame_bytes(b"\x01", OP_BINARY) == b"\x82\x01\x01"


def test_preencoded_frames_interleave_with_machine_output():
    # The I/O writes data_to_send() then its broadcast frames while OPEN; a client sees whole frames.
    ws = new()
    wire = []
    ws.receive_data(cf(b"p1", OP_PING))
    wire += ws.data_to_send()
    if ws.state is State.OPEN:
        wire.append(frame_bytes(b'{"channel":"chat"}'))
    ws.receive_data(cf(close_payload(1000), OP_CLOSE))
    wire += ws.data_to_send()
    if ws.state is State.OPEN:
        wire.append(frame_bytes(b"never"))
    parser = WebSocketFrameParser(1000, require_mask=False)
    parser.feed(b"".join(wire))
    got = []
    while (frame := parser.next_frame()) is not None:
        got.append(frame)
    assert got == [(True, 0, OP_PONG, b"p1"), (True, 0, OP_TEXT, b'{"channel":"chat"}'),
                   (True, 0, OP_CLOSE, close_payload(1000))]


# ----------------------------------------------------------------------------------------------- properties

MESSAGE = st.tuples(st.booleans(), st.one_of(st.text(max_size=50).map(str.encode), st.binary(max_size=50)),
                    st.integers(1, 4), st.lists(st.binary(max_size=10), max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(MESSAGE, max_size=6), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_random_valid_traffic_any_split(messages, cuts):
    """Fragmented messages with interleaved pings come out whole, in order, whatever the read split."""
    stream, expected, pongs = b"", [], []
    for is_text, data, pieces, pings in messages:
        if is_text:
            try:
                data.decode()
            except UnicodeDecodeError:
                is_text = False
        size = max(1, -(-len(data) // pieces))
        chunks = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
        for index, chunk in enumerate(chunks):
            opcode = (OP_TEXT if is_text else OP_BINARY) if index == 0 else OP_CONT
            last = index == len(chunks) - 1
            stream += cf(chunk, opcode, fin=last)
            if last:
                expected.append(TextMessage(data) if is_text else BinaryMessage(data))
            if index == 0:
                for ping in pings:
                    stream += cf(ping, OP_PING)
                    expected.append(PingReceived(ping))
                    pongs.append((True, 0, OP_PONG, ping))
    points = sorted({c % (len(stream) + 1) for c in cuts})
    ws = new()
    prev = 0
    for point in [*points, len(stream)]:
        ws.receive_data(stream[prev:point])
        prev = point
    assert ws.events_received() == expected
    assert sent_frames(ws) == pongs
    assert ws.state is State.OPEN


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_garbage_never_raises(data):
    ws = new(max_message_bytes=200)
    ws.receive_data(data)
    events = ws.events_received()
    assert sum(isinstance(e, ConnectionFailed) for e in events) <= 1
    if ws.state is State.CLOSED:
        assert ws.close_expected()


# ------------------------------------------------------------------------------------ interop: websockets


def test_interoperates_with_websockets_client():
    """A real client implementation (websockets' sans-I/O ClientProtocol) talks to ServerWebSocket."""
    from websockets.client import ClientProtocol
    from websockets.frames import Opcode
    from websockets.http11 import Response
    from websockets.protocol import State as ClientState
    from websockets.uri import parse_uri

    from pushwire.protocol.http11 import build_websocket_accept, websocket_accept_key

    client = ClientProtocol(parse_uri("ws://localhost/rps"), max_size=None)
    request = client.connect()
    client.send_request(request)
    client.data_to_send()
    client.receive_data(build_websocket_accept(websocket_accept_key(request.headers["Sec-WebSocket-Key"])))
    assert isinstance(client.events_received()[0], Response) and client.state is ClientState.OPEN

    ws = new()

    def client_to_server() -> list:
        for chunk in client.data_to_send():
            ws.receive_data(chunk)
        return ws.events_received()

    def server_to_client() -> list:
        for chunk in ws.data_to_send():
            client.receive_data(chunk)
        return client.events_received()

    client.send_text("héllo".encode())
    client.send_binary(b"\x00" * 70000)
    client.send_text(b"frag", fin=False)
    client.send_ping(b"are you there")
    client.send_continuation(b"mented", fin=True)
    assert client_to_server() == [TextMessage("héllo".encode()), BinaryMessage(b"\x00" * 70000),
                                  PingReceived(b"are you there"), TextMessage(b"fragmented")]
    ws.send_text(b'{"channel":"chat"}')
    ws.send_binary(b"\x01" * 200)
    frames = server_to_client()
    assert [(f.opcode, f.data) for f in frames] == [
        (Opcode.PONG, b"are you there"), (Opcode.TEXT, b'{"channel":"chat"}'), (Opcode.BINARY, b"\x01" * 200),
    ]
    ws.send_close(1001, "shutdown")
    (close,) = server_to_client()
    assert close.opcode is Opcode.CLOSE
    # The client answered the close; the handshake completes on our side.
    assert client_to_server() == [CloseReceived(1001, "shutdown")]
    assert ws.state is State.CLOSED and ws.close_expected()
    assert client.state is ClientState.CLOSING  # waiting for the TCP close, which the server does first

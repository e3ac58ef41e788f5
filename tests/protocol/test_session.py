"""Session: feed messages, assert events, states and output bytes (no sockets)."""

from __future__ import annotations

import orjson
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from pushwire.errors import CloseCode, ErrorCode, StateError
from pushwire.protocol.binary import BinaryCodec, train_dictionary
from pushwire.protocol.channels import DefaultChannel
from pushwire.protocol.frames import Frame
from pushwire.protocol.messages import OPS, Auth, AuthOk, StreamStatus
from pushwire.protocol.resume import ResumeOutcome
from pushwire.protocol.session import (
    AckReceived,
    AuthRequested,
    FeaturesRequested,
    FrameReceived,
    GoodbyeReceived,
    PingReceived,
    PongReceived,
    ResumeRangeRequested,
    Session,
    SessionState,
    SubscribeRequested,
    UnsubscribeRequested,
    Violation,
    negotiate_features,
)
from pushwire.protocol.streams import StreamRef

UID = "5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f"
OTHER = "0b7d2e61-9c4a-4f3e-8d15-6a7b8c9d0e1f"
CHAT = DefaultChannel.CHAT
ALL_FEATURES = ["binary.msgpack", "binary.cbor", "zstd", "zstd.dict:7", "fragments", "assets", "rtc"]


def wrap(op: dict) -> bytes:
    return orjson.dumps({"channel": "system", "cursor": None, "client_id": None, "payload": op})


def auth_msg(**fields: object) -> bytes:
    return wrap({"type": "auth", "client_id": UID, "token": "t0k3n", "capabilities": ["chat"], **fields})


def live_session(**kwargs: object) -> Session:
    session = Session(DefaultChannel, **kwargs)  # type: ignore[arg-type]
    events = session.receive_text(auth_msg())
    assert isinstance(events[0], AuthRequested)
    session.accept(AuthOk("tok", {}))
    assert session.state is SessionState.LIVE
    return session


def one(events: list) -> object:
    assert len(events) == 1, events
    return events[0]


def payload_of(data: bytes) -> dict:
    obj = orjson.loads(data)
    assert (obj["channel"], obj["cursor"], obj["client_id"]) == ("system", None, None)
    return obj["payload"]


# -- auth ------------------------------------------------------------------------------------------------

def test_auth_then_accept() -> None:
    session = Session(DefaultChannel)
    assert session.state is SessionState.AUTH
    event = one(session.receive_text(auth_msg(resume_cursors={"chat": 41}, resume_epochs={"chat": "k3x9a2b1"})))
    assert isinstance(event, AuthRequested)
    assert event.streams == (StreamRef(CHAT),)
    assert event.auth == Auth(UID, "t0k3n", ("chat",), None, {"chat": 41}, {"chat": "k3x9a2b1"})
    assert session.state is SessionState.AUTH
    ok = AuthOk("q8Zs0mJ2nVwX4yTb", {"chat": StreamStatus("k3x9a2b1", 41, 45, ResumeOutcome.RECOVERED)})
    data = session.accept(ok)
    assert data == (b'{"channel":"system","cursor":null,"client_id":null,"payload":{"type":"auth_ok",'
                    b'"session_token":"q8Zs0mJ2nVwX4yTb","resume_cursor":0,"resume_cursors":{"chat":41},'
                    b'"streams":{"chat":{"epoch":"k3x9a2b1","cursor":41,"top":45,"outcome":"recovered",'
                    b'"recovered":true}}}}')
    assert session.state is SessionState.LIVE
    assert session.client_id == UID
    assert session.drain_buffered() == []


@pytest.mark.parametrize("message", [
    b'{"type":"auth","client_id":"' + UID.encode() + b'"}',
    b'{"op":"Auth","client_id":"' + UID.upper().encode() + b'","capabilities":null}',
])
def test_bare_and_lenient_auth(message: bytes) -> None:
    event = one(Session(DefaultChannel).receive_text(message))
    assert isinstance(event, AuthRequested)
    assert event.auth.client_id == UID
    assert event.streams == ()


def test_auth_normalises_streams() -> None:
    event = one(Session(DefaultChannel).receive_text(auth_msg(
        capabilities=["system", "chat", "chat:room42", "chat", f"chat:@{UID.upper()}"],
        resume_cursors={f"events:@{UID.upper()}": 3, "system": 4, "chat": 1},
        resume_epochs={"chat": "e1"})))
    assert isinstance(event, AuthRequested)
    assert event.streams == (StreamRef(CHAT), StreamRef(CHAT, "room42"))
    assert event.auth.capabilities == ("chat", "chat:room42")
    assert event.auth.resume_cursors == {f"events:@{UID}": 3, "chat": 1}
    assert event.auth.cursor_for(f"events:@{UID}") == 3


@pytest.mark.parametrize("message, code, close", [
    (b'{"type":"ping"}', ErrorCode.AUTH_REQUIRED, CloseCode.PROTOCOL_ERROR),
    (wrap({"type": "subscribe", "channels": ["chat"]}), ErrorCode.AUTH_REQUIRED, CloseCode.PROTOCOL_ERROR),
    (b'{"channel":"chat","payload":1}', ErrorCode.AUTH_REQUIRED, CloseCode.PROTOCOL_ERROR),
    (b'{"channel":"nope","payload":1}', ErrorCode.AUTH_REQUIRED, CloseCode.PROTOCOL_ERROR),
    (b'{"channel":"system","payload":5}', ErrorCode.AUTH_REQUIRED, CloseCode.PROTOCOL_ERROR),
    (b'{"type":"frobnicate"}', ErrorCode.AUTH_REQUIRED, CloseCode.PROTOCOL_ERROR),
    (b'not json', ErrorCode.BAD_JSON, CloseCode.PROTOCOL_ERROR),
    (b'[]', ErrorCode.BAD_JSON, CloseCode.PROTOCOL_ERROR),
    (b'{"payload":1}', ErrorCode.BAD_FRAME, CloseCode.PROTOCOL_ERROR),
    (b'{"type":"auth","client_id":"nope"}', ErrorCode.BAD_FRAME, CloseCode.PROTOCOL_ERROR),
    (b'{"type":"auth"}', ErrorCode.BAD_FRAME, CloseCode.PROTOCOL_ERROR),
    (auth_msg(capabilities="chat"), ErrorCode.BAD_FRAME, CloseCode.PROTOCOL_ERROR),
    (auth_msg(capabilities=["nope"]), ErrorCode.UNKNOWN_CHANNEL, CloseCode.PROTOCOL_ERROR),
    (auth_msg(capabilities=["chat:bad topic"]), ErrorCode.BAD_STREAM, CloseCode.PROTOCOL_ERROR),
    (auth_msg(capabilities=["chat:@nope"]), ErrorCode.BAD_STREAM, CloseCode.PROTOCOL_ERROR),
    (auth_msg(resume_cursors={"nope": 1}), ErrorCode.UNKNOWN_CHANNEL, CloseCode.PROTOCOL_ERROR),
    (auth_msg(capabilities=[f"chat:@{OTHER}"]), ErrorCode.FORBIDDEN, CloseCode.POLICY_VIOLATION),
    (auth_msg(resume_cursors={f"chat:@{OTHER}": 1}), ErrorCode.FORBIDDEN, CloseCode.POLICY_VIOLATION),
])
def test_first_message_violations(message: bytes, code: ErrorCode, close: CloseCode) -> None:
    session = Session(DefaultChannel)
    event = one(session.receive_text(message))
    assert event == Violation(code, event.message, close)  # type: ignore[attr-defined]
    assert len(event.message.encode()) <= 123  # type: ignore[attr-defined]
    assert session.state is SessionState.CLOSING
    # nothing is read after a fatal violation
    assert session.receive_text(auth_msg()) == []
    with pytest.raises(StateError):
        session.accept(AuthOk())


def test_reject() -> None:
    session = Session(DefaultChannel)
    session.receive_text(auth_msg())
    data, close = session.reject("bad token")
    assert close is CloseCode.POLICY_VIOLATION
    assert payload_of(data) == {"type": "error", "code": "auth_rejected", "message": "bad token"}
    assert session.state is SessionState.CLOSING
    with pytest.raises(StateError):
        session.reject("again")


def test_accept_and_reject_need_a_pending_auth() -> None:
    session = Session(DefaultChannel)
    with pytest.raises(StateError):
        session.accept(AuthOk())
    with pytest.raises(StateError):
        session.reject("x")
    live = live_session()
    with pytest.raises(StateError):
        live.accept(AuthOk())


def test_messages_during_auth_are_held_then_processed() -> None:
    session = Session(DefaultChannel)
    session.receive_text(auth_msg())
    assert session.receive_text(b'{"type":"ping"}') == []
    assert session.receive_text(b'{"channel":"chat","payload":"early"}') == []
    assert session.receive_binary(b"RP\x01\x00\x01\x00\x00\x00\x00\x01") == []
    session.accept(AuthOk())
    events = session.drain_buffered()
    assert events[0] == PingReceived()
    assert events[1] == FrameReceived(Frame(CHAT, "early"))
    assert events[2].code is ErrorCode.UNSUPPORTED and events[2].close is CloseCode.UNSUPPORTED_DATA
    assert session.state is SessionState.CLOSING
    assert session.drain_buffered() == []


def test_held_messages_are_bounded() -> None:
    session = Session(DefaultChannel, max_pending=2)
    session.receive_text(auth_msg())
    session.receive_text(b'{"type":"ping"}')
    session.receive_text(b'{"type":"ping"}')
    event = one(session.receive_text(b'{"type":"ping"}'))
    assert event.close is CloseCode.POLICY_VIOLATION  # type: ignore[attr-defined]
    assert session.state is SessionState.CLOSING


def test_held_messages_dropped_on_reject() -> None:
    session = Session(DefaultChannel)
    session.receive_text(auth_msg())
    session.receive_text(b'{"type":"ping"}')
    session.reject("no")
    assert session.drain_buffered() == []


# -- live ------------------------------------------------------------------------------------------------

def test_application_frames() -> None:
    session = live_session()
    assert one(session.receive_text(b'{"channel":"chat","topic":"room42","payload":{"text":"hi all"}}')) == \
        FrameReceived(Frame(CHAT, {"text": "hi all"}, topic="room42"))
    # cursor and client_id from the client are passed along untouched (the server ignores them)
    event = one(session.receive_text(b'{"channel":"events","cursor":3,"client_id":"x","payload":null}'))
    assert isinstance(event, FrameReceived) and event.frame.channel is DefaultChannel.EVENTS


@pytest.mark.parametrize("message, code", [
    (b'{"channel":"nope","payload":1}', ErrorCode.UNKNOWN_CHANNEL),
    (b'{"channel":"chat","topic":"bad topic","payload":1}', ErrorCode.BAD_STREAM),
    (b'{"channel":"chat","topic":"@' + UID.encode() + b'","payload":1}', ErrorCode.BAD_STREAM),
    (b'{"channel":"chat","topic":5,"payload":1}', ErrorCode.BAD_FRAME),
    (b'{"channel":"system","topic":"x","payload":1}', ErrorCode.BAD_STREAM),
    (b'{"channel":"system","payload":5}', ErrorCode.BAD_FRAME),
    (b'{"type":"frobnicate"}', ErrorCode.UNSUPPORTED),
    (b'{"type":"ack","channel":"chat","cursor":-1}', ErrorCode.BAD_FRAME),
    (b'{"type":"auth","client_id":"' + UID.encode() + b'"}', ErrorCode.UNSUPPORTED),
    (b'{"type":"auth_ok"}', ErrorCode.UNSUPPORTED),
    (b'{"type":"slow","window":1}', ErrorCode.UNSUPPORTED),
    (b'{"type":"subscribe","channels":["chat","nope"]}', ErrorCode.UNKNOWN_CHANNEL),
    (b'{"type":"subscribe","channels":["chat","chat:a b"]}', ErrorCode.BAD_STREAM),
    (b'{"type":"subscribe","channels":["chat:@' + OTHER.encode() + b'"]}', ErrorCode.FORBIDDEN),
    (b'{"type":"subscribe","channels":["chat"],"resume_cursors":{"nope":1}}', ErrorCode.UNKNOWN_CHANNEL),
    (b'{"type":"unsubscribe","channels":["chat:a b"]}', ErrorCode.BAD_STREAM),
    (b'{"type":"ack","channel":"chat:@' + OTHER.encode() + b'","cursor":1}', ErrorCode.FORBIDDEN),
    (b'{"type":"ack","channel":"system","cursor":1}', ErrorCode.BAD_STREAM),
    (b'{"type":"resume_required","channel":"system","from_cursor":1}', ErrorCode.BAD_STREAM),
    (b'{"type":"resume_required","channel":"nope","from_cursor":1}', ErrorCode.UNKNOWN_CHANNEL),
])
def test_non_fatal_violations(message: bytes, code: ErrorCode) -> None:
    session = live_session()
    event = one(session.receive_text(message))
    assert isinstance(event, Violation)
    assert (event.code, event.close) == (code, None)
    assert session.state is SessionState.LIVE


def test_bad_json_is_fatal_after_auth() -> None:
    session = live_session()
    assert one(session.receive_text(b"{")) == Violation(ErrorCode.BAD_JSON, one(
        Session(DefaultChannel).receive_text(b"{")).message, CloseCode.PROTOCOL_ERROR)  # type: ignore[attr-defined]
    assert session.state is SessionState.CLOSING


def test_subscribe() -> None:
    session = live_session()
    event = one(session.receive_text(wrap({
        "type": "subscribe", "channels": ["chat:room7", "system", "chat:room7", f"chat:@{UID.upper()}"],
        "resume_cursors": {"chat:room7": 3}, "resume_epochs": {"chat:room7": "k3x9a2b1"}})))
    assert event == SubscribeRequested((StreamRef(CHAT, "room7"), StreamRef(CHAT, f"@{UID}")),
                                       {"chat:room7": 3}, {"chat:room7": "k3x9a2b1"})


def test_subscribe_nothing_still_asks_for_an_answer() -> None:
    assert one(live_session().receive_text(b'{"type":"subscribe","channels":["system"]}')) == \
        SubscribeRequested((), {}, {})


def test_unsubscribe_ignores_system_and_personal_streams() -> None:
    session = live_session()
    event = one(session.receive_text(wrap({"type": "unsubscribe", "channels": [
        "chat:room7", "system", f"chat:@{UID}", f"chat:@{OTHER}", "chat:room7", "events"]})))
    assert event == UnsubscribeRequested((StreamRef(CHAT, "room7"), StreamRef(DefaultChannel.EVENTS)))
    assert session.receive_text(wrap({"type": "unsubscribe", "channels": ["system"]})) == []


def test_resume_range_and_ack() -> None:
    session = live_session()
    assert one(session.receive_text(b'{"type":"resume_required","channel":"events","from_cursor":118}')) == \
        ResumeRangeRequested(StreamRef(DefaultChannel.EVENTS), 118)
    event = one(session.receive_text(b'{"type":"ResumeRequired","channel":"chat","from_cursor":1,"epoch":"e"}'))
    assert event == ResumeRangeRequested(StreamRef(CHAT), 1, "e")
    assert event.resume_cursor == 0  # type: ignore[attr-defined]
    assert one(session.receive_text(wrap({"type": "ack", "channel": f"chat:@{UID}", "cursor": 41}))) == \
        AckReceived(StreamRef(CHAT, f"@{UID}"), 41)


def test_simple_ops() -> None:
    session = live_session()
    assert session.receive_text(b'{"type":"ping"}') == [PingReceived()]
    assert session.receive_text(b'{"type":"pong"}') == [PongReceived()]
    assert session.receive_text(b'{"type":"error","code":"internal","message":"?"}') == []
    assert session.receive_text(b'{"type":"features","requested":["zstd"]}') == [FeaturesRequested(("zstd",))]
    assert session.receive_text(b'{"type":"goodbye"}') == [GoodbyeReceived(None)]
    assert session.state is SessionState.LIVE
    session.close()
    assert session.state is SessionState.CLOSING
    assert session.receive_text(b'{"type":"ping"}') == []
    session.connection_closed()
    assert session.state is SessionState.CLOSED
    session.close()
    assert session.state is SessionState.CLOSED


# -- output helpers --------------------------------------------------------------------------------------

def test_helpers() -> None:
    session = live_session()
    assert session.pong() == b'{"channel":"system","cursor":null,"client_id":null,"payload":{"type":"pong"}}'
    assert payload_of(session.ping()) == {"type": "ping"}
    assert payload_of(session.error(ErrorCode.FORBIDDEN, "no")) == {"type": "error", "code": "forbidden",
                                                                   "message": "no"}
    assert payload_of(session.goodbye("shutdown")) == {"type": "goodbye", "reason": "shutdown"}
    assert payload_of(session.goodbye()) == {"type": "goodbye", "reason": None}
    assert payload_of(session.slow(1843)) == {"type": "slow", "window": 1843}
    assert payload_of(session.health()) == {"type": "health", "status": "ok", "detail": None}
    assert payload_of(session.resume_required("chat", 12, 19, "k3x9a2b1", "gap")) == {
        "type": "resume_required", "channel": "chat", "from_cursor": 12, "to_cursor": 19, "epoch": "k3x9a2b1",
        "reason": "gap"}
    status = StreamStatus("k3x9a2b1", 5, 5, ResumeOutcome.NEW)
    assert payload_of(session.subscribed({"chat:room7": status})) == {"type": "subscribed", "streams": {
        "chat:room7": {"epoch": "k3x9a2b1", "cursor": 5, "top": 5, "outcome": "new", "recovered": False}}}


def test_custom_system_channel_name_in_output() -> None:
    from pushwire.protocol.channels import ChannelKind, ChannelSpec

    class Chans(ChannelKind):
        CONTROL = ChannelSpec(9, 0, system=True)
        DATA = (1, 1)

    session = Session(Chans)
    one(session.receive_text(b'{"channel":"control","payload":{"type":"auth","client_id":"' + UID.encode()
                             + b'"}}'))
    assert session.accept(AuthOk()).startswith(b'{"channel":"control",')
    assert session.receive_text(b'{"type":"subscribe","channels":["control","data"]}') == [
        SubscribeRequested((StreamRef(Chans.DATA),), {}, {})]


# -- features and binary ---------------------------------------------------------------------------------

@pytest.mark.parametrize("requested, supported, granted", [
    (["binary.msgpack", "zstd"], ALL_FEATURES, ("binary.msgpack", "zstd")),
    (["binary.cbor", "binary.msgpack"], ALL_FEATURES, ("binary.cbor",)),
    (["zstd", "fragments"], ALL_FEATURES, ()),
    (["binary.msgpack", "zstd.dict:7", "zstd"], ALL_FEATURES, ("binary.msgpack", "zstd.dict:7", "zstd")),
    (["binary.msgpack", "zstd.dict:7"], ALL_FEATURES, ("binary.msgpack",)),
    (["binary.msgpack", "zstd", "zstd.dict:8"], ALL_FEATURES, ("binary.msgpack", "zstd")),
    (["rtc", "assets", "nope", "rtc"], ALL_FEATURES, ("rtc", "assets")),
    (["binary.cbor"], ["binary.msgpack"], ()),
    ([], ALL_FEATURES, ()),
])
def test_negotiate_features(requested: list, supported: list, granted: tuple) -> None:
    assert negotiate_features(requested, supported) == granted


def test_binary_before_features_is_fatal() -> None:
    for session in (Session(DefaultChannel), live_session()):
        event = one(session.receive_binary(BinaryCodec("msgpack").encode(2, 0, 1)))
        assert event == Violation(ErrorCode.UNSUPPORTED, event.message, CloseCode.UNSUPPORTED_DATA)  # type: ignore
        assert session.state is SessionState.CLOSING


def test_features_grant_is_fixed_by_the_first_answer() -> None:
    session = live_session()
    first = payload_of(session.features(ALL_FEATURES, ["binary.cbor", "zstd"]))
    assert first == {"type": "features", "supported": ALL_FEATURES, "requested": ["binary.cbor", "zstd"]}
    assert session.binary is not None and session.binary.encoding == "cbor"
    second = payload_of(session.features(ALL_FEATURES, ["binary.msgpack"]))
    assert second["requested"] == ["binary.cbor", "zstd"]
    assert session.binary.encoding == "cbor"


def test_json_only_grant_keeps_binary_off() -> None:
    session = live_session()
    session.features(ALL_FEATURES, ["rtc"])
    assert session.binary is None
    assert one(session.receive_binary(b"RP\x01\x00\x02\x00\x00\x00\x00\x01")).close is CloseCode.UNSUPPORTED_DATA


def test_binary_frames_after_grant() -> None:
    session = live_session()
    session.features(ALL_FEATURES, ["binary.msgpack", "zstd"])
    codec = BinaryCodec("msgpack")
    assert one(session.receive_binary(codec.encode(2, 0, {"text": "hi"}))) == FrameReceived(Frame(CHAT, {"text": "hi"}))
    assert one(session.receive_binary(codec.encode(5, 0, {"type": "ping"}))) == PingReceived()
    assert one(session.receive_binary(codec.encode(5, 0, {"type": "nope"}))).code is ErrorCode.UNSUPPORTED
    big = {"text": "x" * 2000}
    assert one(session.receive_binary(BinaryCodec("msgpack", compression_threshold=0).encode(2, 0, big))) == \
        FrameReceived(Frame(CHAT, big))
    # outbound: the session's codec compresses at the threshold
    out = session.binary.encode(2, 9, big)  # type: ignore[union-attr]
    assert out[3] & 1


@pytest.mark.parametrize("data, code", [
    (b"RP\x01", ErrorCode.BAD_FRAME),
    (b"XX\x01\x00\x02\x00\x00\x00\x00\x01", ErrorCode.BAD_FRAME),
    (b"RP\x07\x00\x02\x00\x00\x00\x00\x01", ErrorCode.BAD_FRAME),
    (b"RP\x01\x00\x63\x00\x00\x00\x00\x01", ErrorCode.UNKNOWN_CHANNEL),
    (b"RP\x01\x00\x02\x00\x00\x00\x00\xc1", ErrorCode.BAD_FRAME),
    (b"RP\x01\x01\x02\x00\x00\x00\x00garbage", ErrorCode.BAD_FRAME),
    (b"RP\x01\x02\x02\x00\x00\x00\x00" + bytes(16) + b"\x00\x01\x00\x00\x01", ErrorCode.UNSUPPORTED),
])
def test_binary_violations_are_not_fatal(data: bytes, code: ErrorCode) -> None:
    session = live_session()
    session.features(ALL_FEATURES, ["binary.msgpack", "zstd"])
    event = one(session.receive_binary(data))
    assert isinstance(event, Violation) and (event.code, event.close) == (code, None)
    assert session.state is SessionState.LIVE


def test_binary_missing_dictionary_and_too_big() -> None:
    samples = [f'{{"user":"u{i}","text":"hello there number {i}"}}'.encode() for i in range(300)]
    dict9 = train_dictionary(samples, 1024, 9)
    session = live_session(max_payload_bytes=4096)
    session.features(ALL_FEATURES, ["binary.msgpack", "zstd"])
    with_dict = BinaryCodec("msgpack", compression_threshold=0, dictionaries={9: dict9}, compress_with=9)
    assert one(session.receive_binary(with_dict.encode(2, 0, "hello"))).code is ErrorCode.UNSUPPORTED
    bomb = b"RP\x01\x01\x02\x00\x00\x00\x00" + zstandard.ZstdCompressor().compress(b"\x00" * 10_000)
    event = one(session.receive_binary(bomb))
    assert (event.code, event.close) == (ErrorCode.TOO_BIG, None)  # type: ignore[attr-defined]


def test_granted_dictionary_is_used() -> None:
    samples = [f'{{"user":"u{i}","text":"hello there number {i}"}}'.encode() for i in range(300)]
    dict7 = train_dictionary(samples, 1024, 7)
    session = live_session(dictionaries={7: dict7}, compression_threshold=0)
    session.features(ALL_FEATURES, ["binary.msgpack", "zstd", "zstd.dict:7"])
    out = session.binary.encode(2, 1, "hello")  # type: ignore[union-attr]
    assert zstandard.get_frame_parameters(out[9:]).dict_id == 7
    peer = BinaryCodec("msgpack", compression_threshold=0, dictionaries={7: dict7}, compress_with=7)
    assert one(session.receive_binary(peer.encode(2, 0, "hi"))) == FrameReceived(Frame(CHAT, "hi"))


def test_fragments() -> None:
    session = live_session()
    session.features(ALL_FEATURES, ["binary.cbor", "fragments", "zstd"])
    codec = BinaryCodec("cbor")
    value = {"blob": "z" * 5000}
    frames = codec.encode_fragmented(2, 0, value, max_chunk_bytes=16, fragment_id=b"\x05" * 16)
    events = [e for f in reversed(frames) for e in session.receive_binary(f, now=1.0)]
    assert events == [FrameReceived(Frame(CHAT, value))]
    # a duplicate shard of a fresh message is a non-fatal bad_frame
    again = codec.encode_fragmented(2, 0, value, max_chunk_bytes=16, fragment_id=b"\x06" * 16)
    assert session.receive_binary(again[0], now=2.0) == []
    event = one(session.receive_binary(again[0], now=2.0))
    assert (event.code, event.close) == (ErrorCode.BAD_FRAME, None)  # type: ignore[attr-defined]


# -- robustness: network input never raises --------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=12)
    | st.sampled_from(["chat", "system", "chat:room", f"chat:@{UID}", f"chat:@{OTHER}", UID, "auth", "Auth"]),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "op", "channel", "topic", "payload", "cursor", "client_id", "channels",
                         "capabilities", "resume_cursors", "resume_epochs", "from_cursor", "requested", "x"]),
        c, max_size=5),
    max_leaves=15)
_ops = st.fixed_dictionaries({"type": st.sampled_from(sorted(OPS))},
                             optional={"channel": _json, "channels": _json, "cursor": _json, "client_id": _json,
                                       "from_cursor": _json, "requested": _json, "capabilities": _json})
_messages = st.one_of(
    st.binary(max_size=40),
    _json.map(orjson.dumps),
    _ops.map(orjson.dumps),
    _ops.map(lambda op: orjson.dumps({"channel": "system", "payload": op})),
)


@settings(max_examples=300)
@given(st.lists(_messages, min_size=1, max_size=6), st.booleans())
def test_text_input_never_raises(messages: list[bytes], live: bool) -> None:
    session = live_session() if live else Session(DefaultChannel)
    for message in messages:
        for event in session.receive_text(message):
            assert isinstance(event, (AuthRequested, FrameReceived, SubscribeRequested, UnsubscribeRequested,
                                      ResumeRangeRequested, AckReceived, PingReceived, PongReceived,
                                      FeaturesRequested, GoodbyeReceived, Violation))
            if isinstance(event, AuthRequested):
                session.accept(AuthOk())


@settings(max_examples=300)
@given(st.lists(st.one_of(st.binary(max_size=60), st.binary(max_size=40).map(
    lambda b: b"RP\x01" + b[:6].ljust(6, b"\x00") + b[6:])), min_size=1, max_size=6),
       st.sampled_from(["msgpack", "cbor"]))
def test_binary_input_never_raises(messages: list[bytes], encoding: str) -> None:
    session = live_session()
    session.features(ALL_FEATURES, [f"binary.{encoding}", "zstd", "fragments"])
    for message in messages:
        for event in session.receive_binary(message, now=0.0):
            assert isinstance(event, (FrameReceived, Violation, PingReceived, PongReceived, SubscribeRequested,
                                      UnsubscribeRequested, ResumeRangeRequested, AckReceived, FeaturesRequested,
                                      GoodbyeReceived))
            if isinstance(event, Violation):
                assert event.close is None

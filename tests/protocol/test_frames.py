"""Frame: exact server bytes, lenient decoding, stream names, errors."""

from __future__ import annotations

import uuid

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushwire.errors import BadJson, ErrorCode, FrameError
from pushwire.protocol.channels import DefaultChannel
from pushwire.protocol.frames import Frame
from pushwire.protocol.streams import StreamError, StreamRef

UID = "5e0c8f2a-3b1d-4c6e-9f70-1a2b3c4d5e6f"


def test_encode_plain_stream() -> None:
    frame = Frame(DefaultChannel.CHAT, {"text": "hello"}, 41)
    assert frame.encode() == b'{"channel":"chat","cursor":41,"client_id":null,"payload":{"text":"hello"}}'
    assert frame.stream == "chat"
    assert frame.stream_ref == StreamRef(DefaultChannel.CHAT)


def test_encode_topic_stream() -> None:
    frame = Frame(DefaultChannel.CHAT, "hi", 7, UID, "room42")
    assert frame.encode() == (b'{"channel":"chat","topic":"room42","cursor":7,"client_id":"' + UID.encode()
                              + b'","payload":"hi"}')
    assert frame.stream == "chat:room42"


def test_encode_personal_stream() -> None:
    frame = Frame(DefaultChannel.CHAT, {"note": "for you"}, 3, topic=f"@{UID.upper()}")
    assert frame.topic == f"@{UID}"
    assert frame.stream_ref.owner == UID
    assert frame.encode() == (b'{"channel":"chat","topic":"@' + UID.encode()
                              + b'","cursor":3,"client_id":null,"payload":{"note":"for you"}}')


def test_uuid_client_id_is_stored_as_string() -> None:
    assert Frame(DefaultChannel.CHAT, 1, client_id=uuid.UUID(UID)).client_id == UID  # type: ignore[arg-type]


def test_encode_system_frame() -> None:
    assert Frame(DefaultChannel.SYSTEM, {"type": "pong"}).encode() == (
        b'{"channel":"system","cursor":null,"client_id":null,"payload":{"type":"pong"}}')


@pytest.mark.parametrize("topic", ["", "a b", "x" * 129, "@nope", "r/1"])
def test_bad_topic_on_construction(topic: str) -> None:
    with pytest.raises(StreamError):
        Frame(DefaultChannel.CHAT, 1, topic=topic)


def test_system_channel_has_no_topic() -> None:
    with pytest.raises(StreamError):
        Frame(DefaultChannel.SYSTEM, 1, topic="x")


def test_unserialisable_payload() -> None:
    with pytest.raises(TypeError):
        Frame(DefaultChannel.CHAT, object()).encode()


def test_decode_client_frame() -> None:
    frame = Frame.decode(b'{"channel":"chat","topic":"room42","payload":{"text":"hi all"}}', DefaultChannel)
    assert frame == Frame(DefaultChannel.CHAT, {"text": "hi all"}, None, None, "room42")


def test_decode_any_key_order_and_nulls() -> None:
    frame = Frame.decode(b'{"payload":[1],"client_id":null,"topic":null,"cursor":null,"channel":"events",'
                         b'"extra":true}', DefaultChannel)
    assert frame == Frame(DefaultChannel.EVENTS, [1])


def test_decode_missing_payload_is_none() -> None:
    assert Frame.decode(b'{"channel":"chat"}', DefaultChannel).payload is None


def test_decode_bare_op() -> None:
    frame = Frame.decode(b'{"type":"ping"}', DefaultChannel)
    assert frame == Frame(DefaultChannel.SYSTEM, {"type": "ping"})


def test_decode_bare_op_with_a_channel_field() -> None:
    data = b'{"type":"ack","channel":"chat","cursor":41}'
    assert Frame.decode(data, DefaultChannel) == Frame(DefaultChannel.SYSTEM, {"type": "ack", "channel": "chat",
                                                                              "cursor": 41})
    data = b'{"op":"ResumeRequired","channel":"chat","from_cursor":3}'
    assert Frame.decode(data, DefaultChannel).channel is DefaultChannel.SYSTEM
    # with a payload key (even null) it is a frame
    assert Frame.decode(b'{"type":"ack","channel":"chat","payload":null}', DefaultChannel) == \
        Frame(DefaultChannel.CHAT, None)
    # a non-string tag does not make an op
    assert Frame.decode(b'{"type":5,"channel":"chat"}', DefaultChannel) == Frame(DefaultChannel.CHAT, None)


def test_decode_str_input() -> None:
    assert Frame.decode('{"channel":"chat","payload":"é"}', DefaultChannel).payload == "é"


def test_decode_errors() -> None:
    with pytest.raises(BadJson):
        Frame.decode(b"{nope", DefaultChannel)
    with pytest.raises(BadJson):
        Frame.decode(b"[1]", DefaultChannel)
    with pytest.raises(FrameError):
        Frame.decode(b'{"channel":5,"payload":1}', DefaultChannel)
    with pytest.raises(FrameError):
        Frame.decode(b'{"payload":1}', DefaultChannel)
    with pytest.raises(StreamError) as info:
        Frame.decode(b'{"channel":"nope","payload":1}', DefaultChannel)
    assert info.value.error_code is ErrorCode.UNKNOWN_CHANNEL
    with pytest.raises(StreamError) as info:
        Frame.decode(b'{"channel":"chat","topic":"bad topic","payload":1}', DefaultChannel)
    assert info.value.error_code is ErrorCode.BAD_STREAM
    with pytest.raises(StreamError):
        Frame.decode(b'{"channel":"system","topic":"x","payload":1}', DefaultChannel)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12)
app_channels = st.sampled_from([c for c in DefaultChannel if not c.is_system])
topics = st.none() | st.text(alphabet="abcXYZ09_.:-", min_size=1, max_size=20) | st.uuids().map(lambda u: f"@{u}")


@settings(max_examples=200)
@given(app_channels, json_values, st.none() | st.integers(0, 2**64 - 1), st.none() | st.uuids().map(str), topics)
def test_round_trip(channel: DefaultChannel, payload: object, cursor: int | None, client_id: str | None,
                    topic: str | None) -> None:
    frame = Frame(channel, payload, cursor, client_id, topic)
    data = frame.encode()
    assert Frame.decode(data, DefaultChannel) == frame
    obj = orjson.loads(data)
    assert list(obj) == (["channel", "cursor", "client_id", "payload"] if topic is None
                         else ["channel", "topic", "cursor", "client_id", "payload"])

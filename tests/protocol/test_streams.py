"""Stream names, personal topics and the SSE position vector."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushwire.errors import ErrorCode, ProtocolError
from pushwire.protocol.channels import DefaultChannel
from pushwire.protocol.streams import (
    MAX_CURSOR,
    PositionVectorError,
    StreamError,
    StreamRef,
    format_positions,
    is_personal,
    parse_positions,
    parse_stream,
    personal_owner,
    personal_topic,
)

UID = "5e0c2b7a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


def test_plain_channel_stream() -> None:
    ref = parse_stream("chat", DefaultChannel)
    assert ref.channel is DefaultChannel.CHAT
    assert ref.topic is None
    assert ref.name == "chat"
    assert not ref.is_personal
    assert ref.owner is None


def test_topic_stream() -> None:
    ref = parse_stream("chat:room42", DefaultChannel)
    assert (ref.channel, ref.topic, ref.name) == (DefaultChannel.CHAT, "room42", "chat:room42")


def test_topic_may_contain_colons_and_at_inside() -> None:
    ref = parse_stream("events:a:b.c_d-e@f", DefaultChannel)
    assert ref.topic == "a:b.c_d-e@f"
    assert not ref.is_personal


def test_personal_stream_is_lowercased() -> None:
    ref = parse_stream(f"chat:@{UID.upper()}", DefaultChannel)
    assert ref.topic == f"@{UID}"
    assert ref.is_personal
    assert ref.owner == UID
    assert ref.name == f"chat:@{UID}"


def test_personal_helpers() -> None:
    assert personal_topic(UID) == f"@{UID}"
    assert personal_topic(uuid.UUID(UID)) == f"@{UID}"
    assert personal_topic(UID.upper()) == f"@{UID}"
    assert is_personal(f"@{UID}")
    assert is_personal("@whatever")
    assert not is_personal("room")
    assert not is_personal(None)
    assert personal_owner(f"@{UID.upper()}") == UID
    assert personal_owner("@nope") is None
    assert personal_owner("room") is None
    assert personal_owner(None) is None
    with pytest.raises(ValueError):
        personal_topic("not-a-uuid")
    ref = StreamRef.personal(DefaultChannel.CHAT, UID)
    assert ref.name == f"chat:@{UID}"
    with pytest.raises(StreamError):
        StreamRef.personal(DefaultChannel.SYSTEM, UID)


def test_stream_ref_of() -> None:
    assert StreamRef.of(DefaultChannel.CHAT, "r1") == StreamRef(DefaultChannel.CHAT, "r1")
    assert str(StreamRef.of(DefaultChannel.CHAT)) == "chat"
    with pytest.raises(StreamError):
        StreamRef.of(DefaultChannel.CHAT, "bad topic")


def test_unknown_channel_vs_bad_stream() -> None:
    with pytest.raises(StreamError) as info:
        parse_stream("nope:room", DefaultChannel)
    assert info.value.error_code is ErrorCode.UNKNOWN_CHANNEL
    assert isinstance(info.value, ProtocolError)


@pytest.mark.parametrize("name", [
    "", ":", "chat:", ":room", "Chat", "chat room", "chat:room 1", "chat:" + "a" * 129, "9chat",
    "chat:@", "chat:@nope", f"chat:@{UID}x", f"chat:@{UID[:-1]}", "system", "system:room", "chat:r/1",
    "chat:é", "a" * 33, "chat\n", "chat:room\n",
])
def test_bad_stream(name: str) -> None:
    with pytest.raises(StreamError) as info:
        parse_stream(name, DefaultChannel)
    assert info.value.error_code is ErrorCode.BAD_STREAM


@pytest.mark.parametrize("name", [None, 5, b"chat", ["chat"]])
def test_non_string_stream(name: object) -> None:
    with pytest.raises(StreamError) as info:
        parse_stream(name, DefaultChannel)
    assert info.value.error_code is ErrorCode.BAD_STREAM


def test_longest_topic() -> None:
    assert parse_stream("chat:" + "a" * 128, DefaultChannel).topic == "a" * 128


# -- position vector -------------------------------------------------------------------------------------

def test_format_positions() -> None:
    text = format_positions({"chat": (41, "k3x9a2b1"), f"chat:@{UID}": (3, "p0q1r2s3")})
    assert text == f"chat=41~k3x9a2b1,chat:@{UID}=3~p0q1r2s3"
    assert format_positions({}) == ""


@pytest.mark.parametrize("positions", [
    {"chat": (-1, "e")}, {"chat": (1, "")}, {"chat": (1, "a~b")}, {"bad stream": (1, "e")},
    {"chat": (True, "e")}, {"chat": (MAX_CURSOR + 1, "e")},
])
def test_format_positions_rejects(positions: dict) -> None:
    with pytest.raises(ValueError):
        format_positions(positions)


def test_parse_positions() -> None:
    assert parse_positions("chat=41~k3x9a2b1,chat:room1=0,events=7~E") == {
        "chat": (41, "k3x9a2b1"), "chat:room1": (0, None), "events": (7, "E")}
    assert parse_positions("") == {}
    assert parse_positions("  ") == {}
    assert parse_positions(f"chat:@{UID.upper()}=1~a") == {f"chat:@{UID}": (1, "a")}
    assert parse_positions(f"chat={MAX_CURSOR}~a") == {"chat": (MAX_CURSOR, "a")}


def test_parse_positions_keeps_order() -> None:
    assert list(parse_positions("b=1,a=2,c=3")) == ["b", "a", "c"]


@pytest.mark.parametrize("text", [
    "chat", "chat=", "chat=x", "chat=-1", "chat=1~", "chat=1~a-b", "chat=1~" + "a" * 33, "=1~a",
    "chat=1~a,", ",chat=1", "chat=1~a,,events=2", "chat=1~a,chat=2~b", "Chat=1", "chat:bad topic=1",
    "chat=1~a~b", "chat=1 ,events=2", "chat= 1", f"chat={MAX_CURSOR + 1}", "chat=+1", "chat=0x1", "chat=1.0",
    "chat=１", "chat=" + "1" * 21,
])
def test_parse_positions_rejects(text: str) -> None:
    with pytest.raises(PositionVectorError):
        parse_positions(text)


def test_parse_positions_limits() -> None:
    ok = ",".join(f"s{i}=1" for i in range(64))
    assert len(parse_positions(ok)) == 64
    with pytest.raises(PositionVectorError, match="entries"):
        parse_positions(ok + ",s64=1")
    long_ok = "chat:" + "a" * 128 + "=1~x"
    assert len(parse_positions(long_ok, max_chars=len(long_ok))) == 1
    with pytest.raises(PositionVectorError, match="characters"):
        parse_positions(long_ok, max_chars=len(long_ok) - 1)
    with pytest.raises(PositionVectorError, match="characters"):
        parse_positions("x" * 4097)
    with pytest.raises(PositionVectorError):
        parse_positions(None)  # type: ignore[arg-type]


# -- properties ------------------------------------------------------------------------------------------

channel_names = st.sampled_from(["chat", "events", "a", "z9-_", "x" * 32])
topics = st.text(alphabet="abcXYZ019_.:@-", min_size=1, max_size=128).filter(lambda t: not t.startswith("@"))
personal = st.uuids().map(lambda u: "@" + str(u))
stream_names = st.builds(lambda c, t: c if t is None else f"{c}:{t}", channel_names,
                         st.none() | topics | personal)
epochs = st.text(alphabet="abcdefXYZ0123456789", min_size=1, max_size=32)
cursors = st.integers(min_value=0, max_value=MAX_CURSOR)


@settings(max_examples=200)
@given(st.dictionaries(stream_names, st.tuples(cursors, epochs), max_size=20))
def test_positions_round_trip(positions: dict[str, tuple[int, str]]) -> None:
    text = format_positions(positions)
    assert parse_positions(text, max_chars=1 << 20) == positions


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_parse_positions_only_raises_its_error(text: str) -> None:
    try:
        parsed = parse_positions(text)
    except PositionVectorError:
        return
    for stream, (cursor, epoch) in parsed.items():
        assert 0 <= cursor <= MAX_CURSOR
        assert epoch is None or epoch.isalnum()
        assert "=" not in stream and "," not in stream


@settings(max_examples=200)
@given(st.sampled_from(["chat", "events", "alerts"]), st.none() | topics | personal)
def test_parse_stream_round_trip(channel: str, topic: str | None) -> None:
    name = channel if topic is None else f"{channel}:{topic}"
    ref = parse_stream(name, DefaultChannel)
    assert ref.name == name
    assert parse_stream(ref.name, DefaultChannel) == ref

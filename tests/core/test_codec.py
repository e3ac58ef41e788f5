"""Tests of ``pushwire._core.codec``: golden bytes, every documented rule and error, and hypothesis
properties that compare the compiled codec with the pure-Python model in ``tests/core/models/codec_model.py``.
"""

from __future__ import annotations

import enum
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushwire._core import codec
from pushwire.errors import (
    BadJson,
    BinaryFrameError,
    FrameError,
    FrameTooShort,
    InvalidMagic,
    ProtocolError,
    UnknownChannel,
    UnsupportedVersion,
)
from tests.core.models import codec_model as model

U64_MAX = 2**64 - 1
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(fn, *args, **kwargs):
    """Return ``("ok", value)`` or ``("raise", exception class)`` so two implementations can be compared."""
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 - the class itself is what gets compared
        return ("raise", type(exc))


# ----------------------------------------------------------------------------------------------------------
# encode_json_frame
# ----------------------------------------------------------------------------------------------------------


class Chan(str, enum.Enum):
    CHAT = "chat"


class TestEncodeJsonFrame:
    def test_golden_without_topic(self):
        out = codec.encode_json_frame("chat", 41, b'{"text":"hi"}')
        assert out == b'{"channel":"chat","cursor":41,"client_id":null,"payload":{"text":"hi"}}'

    def test_golden_with_topic_and_client_id(self):
        cid = "5e0c2a9e-3f1b-4c55-9a57-0d7c1f3b2a10"
        out = codec.encode_json_frame("chat", 7, b'"hi"', client_id=cid, topic="room42")
        assert out == (b'{"channel":"chat","topic":"room42","cursor":7,"client_id":"' + cid.encode()
                       + b'","payload":"hi"}')

    def test_system_frame_cursor_null(self):
        out = codec.encode_json_frame("system", None, b'{"type":"pong"}')
        assert out == b'{"channel":"system","cursor":null,"client_id":null,"payload":{"type":"pong"}}'

    def test_positional_order_is_client_id_then_topic(self):
        out = codec.encode_json_frame("c", 1, b"1", "cid", "top")
        assert orjson.loads(out) == {"channel": "c", "topic": "top", "cursor": 1, "client_id": "cid",
                                     "payload": 1}

    def test_payload_copied_verbatim_not_reparsed(self):
        # not valid JSON on purpose: the encoder must not look inside
        assert codec.encode_json_frame("c", 1, b"{ \"a\" :  1 }").endswith(b'"payload":{ "a" :  1 }}')

    @pytest.mark.parametrize("cursor", [0, 1, 9, 10, 99, 100, 2**32, 10**19, U64_MAX])
    def test_cursor_digits(self, cursor):
        out = codec.encode_json_frame("c", cursor, b"0")
        assert out == b'{"channel":"c","cursor":' + str(cursor).encode() + b',"client_id":null,"payload":0}'

    @pytest.mark.parametrize("cursor", [-1, 2**64, 2**70, -(2**70)])
    def test_cursor_out_of_range(self, cursor):
        with pytest.raises(ValueError, match="cursor"):
            codec.encode_json_frame("c", cursor, b"0")

    @pytest.mark.parametrize("cursor", [True, 1.0, "1"])
    def test_cursor_not_int(self, cursor):
        with pytest.raises(TypeError, match="cursor"):
            codec.encode_json_frame("c", cursor, b"0")

    @pytest.mark.parametrize(
        "text",
        ['say "hi"', "back\\slash", "nl\nx", "tab\t", "\x00\x1f", "caf\u00e9", "\u2028", "emoji \U0001f600",
         "\x7f/"],
    )
    def test_strings_escaped_like_orjson(self, text):
        out = codec.encode_json_frame(text, 1, b"null", client_id=text, topic=text)
        enc = orjson.dumps(text)
        assert out == (b'{"channel":' + enc + b',"topic":' + enc + b',"cursor":1,"client_id":' + enc
                       + b',"payload":null}')
        assert orjson.loads(out) == {"channel": text, "topic": text, "cursor": 1, "client_id": text,
                                     "payload": None}

    @pytest.mark.parametrize("field", ["channel", "topic", "client_id"])
    def test_lone_surrogate_is_value_error(self, field):
        kwargs = {"channel": "c", "cursor": 1, "payload_json": b"1", field: "bad\ud800"}
        with pytest.raises(ValueError, match=field):
            codec.encode_json_frame(**kwargs)

    @pytest.mark.parametrize("field", ["channel", "topic", "client_id"])
    def test_non_str_field_is_type_error(self, field):
        kwargs = {"channel": "c", "cursor": 1, "payload_json": b"1", field: b"bytes"}
        with pytest.raises(TypeError, match=field):
            codec.encode_json_frame(**kwargs)

    def test_channel_none_is_type_error(self):
        with pytest.raises(TypeError, match="channel"):
            codec.encode_json_frame(None, 1, b"1")

    def test_str_subclass_accepted(self):
        expected = b'{"channel":"chat","cursor":1,"client_id":null,"payload":1}'
        assert codec.encode_json_frame(Chan.CHAT, 1, b"1") == expected

    def test_payload_buffers(self):
        expected = codec.encode_json_frame("c", 1, b"[1,2]")
        assert codec.encode_json_frame("c", 1, bytearray(b"[1,2]")) == expected
        assert codec.encode_json_frame("c", 1, memoryview(b"xx[1,2]")[2:]) == expected

    def test_payload_str_rejected(self):
        with pytest.raises(TypeError, match="payload_json"):
            codec.encode_json_frame("c", 1, "[1]")

    def test_payload_none_rejected(self):
        with pytest.raises(TypeError):
            codec.encode_json_frame("c", 1, None)

    def test_payload_empty_rejected(self):
        with pytest.raises(ValueError, match="empty"):
            codec.encode_json_frame("c", 1, b"")


# ----------------------------------------------------------------------------------------------------------
# decode_json_frame
# ----------------------------------------------------------------------------------------------------------


class TestDecodeJsonFrame:
    def test_full_frame(self):
        data = b'{"channel":"chat","topic":"room42","cursor":7,"client_id":"abc","payload":{"x":[1,2]}}'
        assert codec.decode_json_frame(data) == ("chat", "room42", 7, "abc", {"x": [1, 2]})

    def test_optional_fields_missing(self):
        assert codec.decode_json_frame(b'{"channel":"chat"}') == ("chat", None, None, None, None)

    def test_optional_fields_null(self):
        data = b'{"channel":"chat","topic":null,"cursor":null,"client_id":null,"payload":null}'
        assert codec.decode_json_frame(data) == ("chat", None, None, None, None)

    def test_any_key_order_and_unknown_keys(self):
        data = b'{"payload":"p","extra":{"deep":1},"cursor":3,"channel":"c","type":42}'
        assert codec.decode_json_frame(data) == ("c", None, 3, None, "p")

    @pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, lambda b: b.decode()])
    def test_input_types(self, kind):
        data = kind(b'{"channel":"c","cursor":1,"payload":true}')
        assert codec.decode_json_frame(data) == ("c", None, 1, None, True)

    @pytest.mark.parametrize("data", [123, None, ["x"], object()])
    def test_wrong_input_type(self, data):
        with pytest.raises(TypeError):
            codec.decode_json_frame(data)

    @pytest.mark.parametrize("cursor", [0, 1, 2**63, U64_MAX])
    def test_cursor_range(self, cursor):
        data = b'{"channel":"c","cursor":' + str(cursor).encode() + b"}"
        assert codec.decode_json_frame(data)[2] == cursor

    @pytest.mark.parametrize(
        "cursor_text",
        [b"-1", b"-9223372036854775809", b"18446744073709551616", b"1.0", b"1e3", b"true", b"false",
         b'"5"', b"[5]", b"{}"],
    )
    def test_bad_cursor(self, cursor_text):
        with pytest.raises(FrameError, match="'cursor'"):
            codec.decode_json_frame(b'{"channel":"c","cursor":' + cursor_text + b"}")

    @pytest.mark.parametrize("value", [b"null", b"1", b"true", b"[]", b"{}"])
    def test_bad_channel(self, value):
        with pytest.raises(FrameError, match="'channel'") as info:
            codec.decode_json_frame(b'{"channel":' + value + b"}")
        assert not isinstance(info.value, BadJson)

    @pytest.mark.parametrize("field", ["topic", "client_id"])
    @pytest.mark.parametrize("value", [b"1", b"false", b"[]", b"{}", b"1.5"])
    def test_bad_optional_string(self, field, value):
        with pytest.raises(FrameError, match=f"'{field}'"):
            codec.decode_json_frame(b'{"channel":"c","' + field.encode() + b'":' + value + b"}")

    @pytest.mark.parametrize("payload", [b"1", b'"s"', b"[1,{}]", b'{"a":null}', b"false", b"-2.5"])
    def test_payload_any_json(self, payload):
        data = b'{"channel":"c","payload":' + payload + b"}"
        assert codec.decode_json_frame(data)[4] == orjson.loads(payload)

    @pytest.mark.parametrize("op", [b'{"type":"auth","token":null}', b'{"op":"Ping"}',
                                    b'{"type":1,"op":"ping"}', b'{"type":"ping","op":2}'])
    def test_bare_op(self, op):
        assert codec.decode_json_frame(op) == (None, None, None, None, orjson.loads(op))

    @pytest.mark.parametrize("op", [b"{}", b'{"type":1}', b'{"op":null}', b'{"kind":"auth"}',
                                    b'{"type":null,"op":[]}'])
    def test_bare_op_without_tag(self, op):
        with pytest.raises(FrameError, match="type") as info:
            codec.decode_json_frame(op)
        assert not isinstance(info.value, BadJson)

    @pytest.mark.parametrize("data", [b"", b"{", b"nope", b'{"channel":"c",}', b"\xff\xfe", b'{"a":1} x',
                                      b'"\\ud800"x', "{"])
    def test_not_json(self, data):
        with pytest.raises(BadJson, match="invalid JSON") as info:
            codec.decode_json_frame(data)
        assert len(info.value.reason.encode()) <= 123

    @pytest.mark.parametrize("data,kind", [(b"[]", "array"), (b'"s"', "string"), (b"1", "number"),
                                           (b"null", "null"), (b"true", "boolean")])
    def test_not_an_object(self, data, kind):
        with pytest.raises(BadJson, match=kind):
            codec.decode_json_frame(data)

    def test_errors_are_protocol_errors(self):
        with pytest.raises(ProtocolError) as info:
            codec.decode_json_frame(b'{"channel":5}')
        assert info.value.code == 1002


# ----------------------------------------------------------------------------------------------------------
# binary RP frame
# ----------------------------------------------------------------------------------------------------------


class TestBinaryFrame:
    def test_constants(self):
        assert (codec.MAGIC, codec.VERSION, codec.HEADER_LEN) == (b"RP", 1, 9)
        assert (codec.FLAG_COMPRESSED, codec.FLAG_FRAGMENTED, codec.FLAG_ACK_REQUIRED) == (1, 2, 4)
        assert codec.FLAGS_KNOWN == 7

    def test_golden(self):
        out = codec.encode_binary_frame(3, 0x01020304, b"\x81\xa1a\x01", flags=codec.FLAG_ACK_REQUIRED)
        assert out == b"RP\x01\x04\x03\x01\x02\x03\x04\x81\xa1a\x01"

    def test_empty_payload_and_defaults(self):
        assert codec.encode_binary_frame(0, 0, b"") == b"RP\x01\x00\x00\x00\x00\x00\x00"
        assert codec.decode_binary_frame(b"RP\x01\x00\x00\x00\x00\x00\x00") == (0, 0, 0, b"")

    def test_round_trip_extremes(self):
        out = codec.encode_binary_frame(255, 2**32 - 1, b"p" * 1000, 7)
        assert codec.decode_binary_frame(out) == (255, 7, 2**32 - 1, b"p" * 1000)

    def test_reserved_flag_bits_written_as_zero(self):
        assert codec.encode_binary_frame(1, 1, b"", flags=0xFF)[3] == 0x07
        assert codec.encode_binary_frame(1, 1, b"", flags=0xF8)[3] == 0x00

    def test_reserved_flag_bits_ignored_on_input(self):
        frame = b"RP\x01\xfa\x09\x00\x00\x00\x05xy"
        assert codec.decode_binary_frame(frame) == (9, 0x02, 5, b"xy")

    @pytest.mark.parametrize(
        "args,field",
        [((256, 0, b""), "wire_id"), ((-1, 0, b""), "wire_id"), ((0, 2**32, b""), "sequence"),
         ((0, -1, b""), "sequence"), ((0, 0, b"", 256), "flags"), ((0, 0, b"", -1), "flags")],
    )
    def test_encode_out_of_range(self, args, field):
        with pytest.raises(ValueError, match=field):
            codec.encode_binary_frame(*args)

    @pytest.mark.parametrize("args", [(True, 0, b""), (1.0, 0, b""), (0, "1", b""), (0, 0, b"", None),
                                      (0, 0, "text"), (0, 0, None), (0, 0, 5)])
    def test_encode_type_errors(self, args):
        with pytest.raises(TypeError):
            codec.encode_binary_frame(*args)

    def test_payload_buffers(self):
        expected = codec.encode_binary_frame(1, 2, b"abc")
        assert codec.encode_binary_frame(1, 2, bytearray(b"abc")) == expected
        assert codec.encode_binary_frame(1, 2, memoryview(b"_abc")[1:]) == expected

    def test_decode_buffers_and_payload_is_copy(self):
        frame = bytearray(codec.encode_binary_frame(4, 9, b"data"))
        result = codec.decode_binary_frame(memoryview(frame))
        frame[-1] = ord("X")
        assert result == (4, 0, 9, b"data")
        assert type(result[3]) is bytes

    @pytest.mark.parametrize("n", range(9))
    def test_too_short(self, n):
        # even garbage magic and version: length is checked first
        with pytest.raises(FrameTooShort, match=f"{n} bytes"):
            codec.decode_binary_frame(b"\x00" * n, codec.make_wire_table([]))

    def test_magic_checked_before_version_and_wire_id(self):
        with pytest.raises(InvalidMagic):
            codec.decode_binary_frame(b"RQ\x09\x00\x05\x00\x00\x00\x00", codec.make_wire_table([]))
        with pytest.raises(InvalidMagic):
            codec.decode_binary_frame(b"rp\x01\x00\x05\x00\x00\x00\x00")

    @pytest.mark.parametrize("version", [0, 2, 255])
    def test_version_checked_before_wire_id(self, version):
        frame = b"RP" + bytes([version]) + b"\x00\x05\x00\x00\x00\x00"
        with pytest.raises(UnsupportedVersion) as info:
            codec.decode_binary_frame(frame, codec.make_wire_table([]))
        assert info.value.version == version

    def test_unknown_wire_id(self):
        table = codec.make_wire_table([1, 2, 200])
        for wid in (1, 2, 200):
            assert codec.decode_binary_frame(codec.encode_binary_frame(wid, 0, b""), table)[0] == wid
        with pytest.raises(UnknownChannel) as info:
            codec.decode_binary_frame(codec.encode_binary_frame(3, 0, b"x"), table)
        assert info.value.wire_id == 3
        assert isinstance(info.value, BinaryFrameError)

    def test_table_accepts_buffers(self):
        table = bytearray(256)
        table[7] = 0xFF
        frame = codec.encode_binary_frame(7, 1, b"")
        assert codec.decode_binary_frame(frame, table)[0] == 7
        assert codec.decode_binary_frame(frame, memoryview(bytes(table)))[0] == 7

    @pytest.mark.parametrize("size", [0, 255, 257])
    def test_table_wrong_size(self, size):
        with pytest.raises(ValueError, match="256"):
            codec.decode_binary_frame(codec.encode_binary_frame(1, 1, b""), b"\x01" * size)

    @pytest.mark.parametrize("data,table", [("RP\x01", None), (b"RP\x01\0\0\0\0\0\0", "x" * 256),
                                            (None, None), (12, None)])
    def test_decode_type_errors(self, data, table):
        with pytest.raises(TypeError):
            codec.decode_binary_frame(data, table)

    def test_make_wire_table(self):
        table = codec.make_wire_table(iter([0, 5, 5, 255]))
        assert len(table) == 256
        assert {i for i, v in enumerate(table) if v} == {0, 5, 255}
        assert set(table) == {0, 1}
        assert codec.make_wire_table([]) == bytes(256)

    @pytest.mark.parametrize("ids,exc", [([256], ValueError), ([-1], ValueError), ([1.0], TypeError),
                                         ([True], TypeError), (["1"], TypeError), (5, TypeError)])
    def test_make_wire_table_errors(self, ids, exc):
        with pytest.raises(exc):
            codec.make_wire_table(ids)


# ----------------------------------------------------------------------------------------------------------
# SSE
# ----------------------------------------------------------------------------------------------------------


def parse_sse_event(raw: bytes) -> dict[str, object]:
    """A minimal SSE parser after the WHATWG rules (one event), to check what a browser would see."""
    assert raw.endswith(b"\n\n")
    fields: dict[str, object] = {"data": []}
    for line in re.split(rb"\r\n|\r|\n", raw[:-2]):
        name, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if name == b"data":
            fields["data"].append(value)
        else:
            assert name.decode() not in fields, "field repeated"
            fields[name.decode()] = value
    fields["data"] = b"\n".join(fields["data"])
    return fields


class TestSse:
    def test_golden_full(self):
        out = codec.encode_sse_event(b'{"channel":"chat"}', event="chat", id="chat=41~k3x9a2b1",
                                     retry_ms=2000)
        assert out == b'retry: 2000\nid: chat=41~k3x9a2b1\nevent: chat\ndata: {"channel":"chat"}\n\n'

    def test_data_only(self):
        assert codec.encode_sse_event(b"x") == b"data: x\n\n"

    def test_empty_data(self):
        assert codec.encode_sse_event(b"") == b"data: \n\n"

    @pytest.mark.parametrize(
        "data,lines",
        [(b"a\nb", [b"a", b"b"]), (b"a\rb", [b"a", b"b"]), (b"a\r\nb", [b"a", b"b"]),
         (b"a\n\rb", [b"a", b"", b"b"]), (b"a\r\r\nb", [b"a", b"", b"b"]), (b"\n", [b"", b""]),
         (b"\r\n", [b"", b""]), (b"a\n", [b"a", b""]), (b"\ra", [b"", b"a"]), (b"\r", [b"", b""]),
         (b"x\r\n\r\n", [b"x", b"", b""])],
    )
    def test_line_splitting(self, data, lines):
        assert codec.encode_sse_event(data) == b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"

    def test_field_order(self):
        out = codec.encode_sse_event(b"d", retry_ms=0, event="e", id="i")
        assert out == b"retry: 0\nid: i\nevent: e\ndata: d\n\n"
        assert codec.encode_sse_event(b"d", event="e") == b"event: e\ndata: d\n\n"
        assert codec.encode_sse_event(b"d", id="") == b"id: \ndata: d\n\n"

    def test_utf8_fields(self):
        out = codec.encode_sse_event("\u00e9".encode(), event="caf\u00e9", id="\u2603")
        assert out == "id: \u2603\nevent: caf\u00e9\ndata: \u00e9\n\n".encode()

    @pytest.mark.parametrize("bad", ["a\nb", "a\rb", "\r\n"])
    @pytest.mark.parametrize("field", ["id", "event"])
    def test_line_break_in_field(self, field, bad):
        with pytest.raises(ValueError, match=field):
            codec.encode_sse_event(b"x", **{field: bad})

    def test_nul_in_id(self):
        with pytest.raises(ValueError, match="NUL"):
            codec.encode_sse_event(b"x", id="a\0b")
        assert codec.encode_sse_event(b"x", event="a\0b") == b"event: a\0b\ndata: x\n\n"

    @pytest.mark.parametrize("retry,exc", [(-1, ValueError), (2**63, ValueError), (True, TypeError),
                                           (1.5, TypeError), ("1", TypeError)])
    def test_bad_retry(self, retry, exc):
        with pytest.raises(exc, match="retry_ms"):
            codec.encode_sse_event(b"x", retry_ms=retry)

    @pytest.mark.parametrize("kwargs", [{"event": 1}, {"id": b"x"}])
    def test_field_types(self, kwargs):
        with pytest.raises(TypeError):
            codec.encode_sse_event(b"x", **kwargs)

    def test_data_types(self):
        assert codec.encode_sse_event(bytearray(b"a\nb")) == b"data: a\ndata: b\n\n"
        assert codec.encode_sse_event(memoryview(b"__a")[2:]) == b"data: a\n\n"
        with pytest.raises(TypeError):
            codec.encode_sse_event("text")
        with pytest.raises(TypeError):
            codec.encode_sse_event(None)

    def test_options_are_keyword_only(self):
        with pytest.raises(TypeError):
            codec.encode_sse_event(b"x", "event")

    def test_comment(self):
        assert codec.encode_sse_comment("hb") == b": hb\n\n"
        assert codec.encode_sse_comment() == b": \n\n"
        assert codec.encode_sse_comment("\u00e9") == ": \u00e9\n\n".encode()
        for bad in ("a\nb", "a\r"):
            with pytest.raises(ValueError):
                codec.encode_sse_comment(bad)
        with pytest.raises(TypeError):
            codec.encode_sse_comment(b"hb")


# ----------------------------------------------------------------------------------------------------------
# properties: compiled codec == model
# ----------------------------------------------------------------------------------------------------------

names = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
idents = st.from_regex(r"[a-z][a-z0-9_-]{0,31}", fullmatch=True)
u64 = st.integers(min_value=0, max_value=U64_MAX)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=U64_MAX)
    | st.floats(allow_nan=False, allow_infinity=False) | names,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
    max_leaves=12,
)
any_args = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**65), max_value=2**65), names,
                     st.binary(max_size=8), st.floats(allow_nan=False))


@PROPS
@given(channel=idents | names, cursor=st.none() | u64, payload=json_values,
       client_id=st.none() | names, topic=st.none() | names)
def test_prop_encode_json_frame_matches_model_and_round_trips(channel, cursor, payload, client_id, topic):
    payload_json = orjson.dumps(payload)
    out = codec.encode_json_frame(channel, cursor, payload_json, client_id=client_id, topic=topic)
    assert out == model.encode_json_frame(channel, cursor, payload_json, client_id=client_id, topic=topic)
    expected = {"channel": channel, "cursor": cursor, "client_id": client_id, "payload": payload}
    if topic is not None:
        expected["topic"] = topic
    assert orjson.loads(out) == expected
    assert codec.decode_json_frame(out) == (channel, topic, cursor, client_id, payload)


@PROPS
@given(channel=any_args, cursor=any_args, payload_json=any_args, client_id=any_args, topic=any_args)
def test_prop_encode_json_frame_bad_arguments_match_model(channel, cursor, payload_json, client_id, topic):
    args = (channel, cursor, payload_json, client_id, topic)
    got = outcome(codec.encode_json_frame, *args)
    assert got == outcome(model.encode_json_frame, *args)
    if got[0] == "raise":
        assert got[1] in (TypeError, ValueError, UnicodeEncodeError)


frame_fields = st.fixed_dictionaries(
    {},
    optional={
        "channel": st.none() | names | json_values,
        "topic": st.none() | names | json_values,
        "cursor": st.none() | u64 | json_values,
        "client_id": st.none() | names | json_values,
        "payload": json_values,
        "type": st.none() | names | json_values,
        "op": st.none() | names | json_values,
        "extra": json_values,
    },
)


@PROPS
@given(obj=frame_fields | json_values, as_text=st.booleans())
def test_prop_decode_json_frame_matches_model(obj, as_text):
    data = orjson.dumps(obj)
    if as_text:
        data = data.decode()
    got = outcome(codec.decode_json_frame, data)
    assert got == outcome(model.decode_json_frame, data)
    if got[0] == "raise":
        assert got[1] in (BadJson, FrameError)
    else:
        channel, topic, cursor, client_id, payload = got[1]
        if channel is None:
            assert (topic, cursor, client_id, payload) == (None, None, None, obj)
        else:
            assert isinstance(channel, str)
            assert topic is None or isinstance(topic, str)
            assert cursor is None or (type(cursor) is int and 0 <= cursor <= U64_MAX)
            assert client_id is None or isinstance(client_id, str)


@PROPS
@given(data=st.binary(max_size=64) | frame_fields.map(orjson.dumps).flatmap(
    lambda b: st.integers(0, len(b)).map(lambda i: b[:i] + b[i + 1:])))
def test_prop_decode_json_frame_random_bytes_only_documented_errors(data):
    got = outcome(codec.decode_json_frame, data)
    assert got == outcome(model.decode_json_frame, data)
    if got[0] == "raise":
        assert got[1] in (BadJson, FrameError)
    else:
        assert len(got[1]) == 5


@PROPS
@given(wire_id=st.integers(0, 255), sequence=st.integers(0, 2**32 - 1), payload=st.binary(max_size=300),
       flags=st.integers(0, 255), known=st.none() | st.sets(st.integers(0, 255), max_size=8))
def test_prop_binary_round_trip_matches_model(wire_id, sequence, payload, flags, known):
    frame = codec.encode_binary_frame(wire_id, sequence, payload, flags)
    assert frame == model.encode_binary_frame(wire_id, sequence, payload, flags)
    assert len(frame) == codec.HEADER_LEN + len(payload)
    table = None if known is None else codec.make_wire_table(known)
    if table is not None:
        assert table == model.make_wire_table(known)
    got = outcome(codec.decode_binary_frame, frame, table)
    assert got == outcome(model.decode_binary_frame, frame, table)
    if known is None or wire_id in known:
        assert got == ("ok", (wire_id, flags & codec.FLAGS_KNOWN, sequence, payload))
    else:
        assert got == ("raise", UnknownChannel)


@PROPS
@given(args=st.tuples(any_args, any_args, any_args, any_args))
def test_prop_encode_binary_bad_arguments_match_model(args):
    got = outcome(codec.encode_binary_frame, *args)
    assert got == outcome(model.encode_binary_frame, *args)
    if got[0] == "raise":
        assert got[1] in (TypeError, ValueError)


@PROPS
@given(data=st.binary(max_size=40) | st.binary(max_size=30).map(lambda b: b"RP\x01" + b),
       known=st.none() | st.sets(st.integers(0, 255), max_size=8))
def test_prop_decode_binary_random_bytes_only_documented_errors(data, known):
    table = None if known is None else model.make_wire_table(known)
    got = outcome(codec.decode_binary_frame, data, table)
    assert got == outcome(model.decode_binary_frame, data, table)
    if got[0] == "raise":
        assert got[1] in (FrameTooShort, InvalidMagic, UnsupportedVersion, UnknownChannel)
    else:
        wire_id, flags, sequence, payload = got[1]
        assert 0 <= wire_id <= 255 and 0 <= flags <= 7 and 0 <= sequence < 2**32
        assert payload == data[9:]


sse_data = st.lists(st.sampled_from([b"a", b"{}", b"\n", b"\r", b"\r\n", b" ", b":", b"\xc3\xa9", b"\x00"]),
                    max_size=12).map(b"".join) | st.binary(max_size=64)
sse_fields = st.none() | st.text(max_size=12)


@PROPS
@given(data=sse_data, event=sse_fields, event_id=sse_fields,
       retry_ms=st.none() | st.integers(min_value=-5, max_value=2**63 + 5))
def test_prop_sse_matches_model_and_parses_back(data, event, event_id, retry_ms):
    kwargs = {"event": event, "id": event_id, "retry_ms": retry_ms}
    got = outcome(codec.encode_sse_event, data, **kwargs)
    assert got == outcome(model.encode_sse_event, data, **kwargs)
    if got[0] == "raise":
        assert got[1] in (ValueError, UnicodeEncodeError)
        return
    parsed = parse_sse_event(got[1])
    assert parsed["data"] == re.sub(rb"\r\n|\r", b"\n", data)
    if event is not None:
        assert parsed["event"] == event.encode()
    if event_id is not None:
        assert parsed["id"] == event_id.encode()
    if retry_ms is not None:
        assert parsed["retry"] == str(retry_ms).encode()


@PROPS
@given(text=st.text(max_size=20))
def test_prop_sse_comment_matches_model(text):
    assert outcome(codec.encode_sse_comment, text) == outcome(model.encode_sse_comment, text)


# ----------------------------------------------------------------------------------------------------------
# the cdef face (codec.pxd), as another Cython module uses it
# ----------------------------------------------------------------------------------------------------------

CDEF_USER = textwrap.dedent(
    """
    # cython: language_level=3
    from libc.stdint cimport uint8_t
    from pushwire._core.codec cimport (RP_HEADER_LEN, c_encode_binary_frame, c_encode_json_frame,
                                       c_encode_sse_event)

    def json_frame(channel, has_cursor, cursor, payload, client_id, topic):
        return c_encode_json_frame(channel, has_cursor, cursor, payload, client_id, topic)

    def binary_frame(uint8_t wire_id, unsigned int sequence, bytes payload, uint8_t flags):
        return c_encode_binary_frame(wire_id, sequence, payload, len(payload), flags), RP_HEADER_LEN

    def sse_event(bytes data, event, event_id, long long retry_ms):
        return c_encode_sse_event(data, len(data), event, event_id, retry_ms)
    """
)


CDEF_SETUP = textwrap.dedent(
    """
    import sys
    from Cython.Build import cythonize
    from setuptools import Extension, setup

    setup(ext_modules=cythonize([Extension("codec_cdef_user", ["codec_cdef_user.pyx"])],
                                include_path=[sys.argv.pop()], quiet=True))
    """
)


@pytest.mark.slow
def test_cdef_api_from_another_cython_module(tmp_path):
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler")
    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "codec_cdef_user.pyx").write_text(CDEF_USER)
    (tmp_path / "setup.py").write_text(CDEF_SETUP)
    proc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q", str(repo)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sys.path.insert(0, str(tmp_path))
    try:
        import codec_cdef_user as user  # noqa: PLC0415 - built just above
    finally:
        sys.path.remove(str(tmp_path))
    assert user.json_frame("chat", True, 41, b"{}", None, None) == codec.encode_json_frame("chat", 41, b"{}")
    expected = codec.encode_json_frame("chat", None, b"1", "id", "t")
    assert user.json_frame("chat", False, 41, b"1", "id", "t") == expected
    with pytest.raises(TypeError):
        user.json_frame(5, False, 0, b"1", None, None)
    assert user.binary_frame(2, 7, b"xy", 0xFF) == (codec.encode_binary_frame(2, 7, b"xy", 7), 9)
    assert user.sse_event(b"a\nb", "e", "i", -1) == codec.encode_sse_event(b"a\nb", event="e", id="i")
    assert user.sse_event(b"", None, None, 5) == b"retry: 5\ndata: \n\n"

"""Obviously-correct pure-Python model of ``pushwire._core.codec``, for tests and benchmarks only.

Written for clarity, not speed: every function follows the wording of docs/protocol.md step by step, and the
property tests in ``tests/core/test_codec.py`` compare the compiled codec with it.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from typing import Any

import orjson

from pushwire.errors import (
    BadJson,
    FrameError,
    FrameTooShort,
    InvalidMagic,
    UnknownChannel,
    UnsupportedVersion,
)

MAGIC = b"RP"
VERSION = 1
HEADER_LEN = 9
FLAG_COMPRESSED = 0x01
FLAG_FRAGMENTED = 0x02
FLAG_ACK_REQUIRED = 0x04
FLAGS_KNOWN = 0x07

U64_MAX = 2**64 - 1


def _check_uint(value: object, max_value: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int")
    if not 0 <= value <= max_value:
        raise ValueError(f"{name} out of range")
    return value


def _json_string(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise ValueError(f"{name} is not encodable as UTF-8") from None


def encode_json_frame(
    channel: str,
    cursor: int | None,
    payload_json: bytes,
    client_id: str | None = None,
    topic: str | None = None,
) -> bytes:
    """Model of ``codec.encode_json_frame`` (arguments are checked in the same order)."""
    if cursor is not None:
        _check_uint(cursor, U64_MAX, "cursor")
    channel_json = _json_string(channel, "channel")
    topic_json = None if topic is None else _json_string(topic, "topic")
    client_id_json = b"null" if client_id is None else _json_string(client_id, "client_id")
    if isinstance(payload_json, str):
        raise TypeError("payload_json must be bytes")
    payload = bytes(memoryview(payload_json))
    if not payload:
        raise ValueError("payload_json is empty")

    parts = [b'{"channel":', channel_json]
    if topic_json is not None:
        parts += [b',"topic":', topic_json]
    parts += [b',"cursor":', b"null" if cursor is None else str(cursor).encode()]
    parts += [b',"client_id":', client_id_json]
    parts += [b',"payload":', payload, b"}"]
    return b"".join(parts)


def decode_json_frame(data: Any) -> tuple[str | None, str | None, int | None, str | None, Any]:
    """Model of ``codec.decode_json_frame``."""
    if not isinstance(data, (bytes, bytearray, memoryview, str)):
        raise TypeError("data must be bytes, bytearray, memoryview or str")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadJson(f"invalid JSON: {exc}"[:123]) from None
    if not isinstance(obj, dict):
        raise BadJson("a message must be a JSON object")

    if "channel" not in obj:
        if isinstance(obj.get("type"), str) or isinstance(obj.get("op"), str):
            return (None, None, None, None, obj)
        raise FrameError("bare op without a string 'type' or 'op'")

    channel = obj["channel"]
    if not isinstance(channel, str):
        raise FrameError("frame field 'channel' must be a string")
    topic = obj.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise FrameError("frame field 'topic' must be a string or null")
    cursor = obj.get("cursor")
    if cursor is not None:
        if isinstance(cursor, bool) or not isinstance(cursor, int) or not 0 <= cursor <= U64_MAX:
            raise FrameError("frame field 'cursor' must be an integer in 0..2**64-1 or null")
    client_id = obj.get("client_id")
    if client_id is not None and not isinstance(client_id, str):
        raise FrameError("frame field 'client_id' must be a string or null")
    return (channel, topic, cursor, client_id, obj.get("payload"))


def encode_binary_frame(wire_id: int, sequence: int, payload: bytes, flags: int = 0) -> bytes:
    """Model of ``codec.encode_binary_frame`` (reserved flag bits are written as 0)."""
    _check_uint(wire_id, 0xFF, "wire_id")
    _check_uint(sequence, 0xFFFFFFFF, "sequence")
    _check_uint(flags, 0xFF, "flags")
    if isinstance(payload, str):
        raise TypeError("payload must be bytes-like")
    header = MAGIC + struct.pack(">BBBI", VERSION, flags & FLAGS_KNOWN, wire_id, sequence)
    return header + bytes(memoryview(payload))


def decode_binary_frame(data: Any, known_wire_ids: Any = None) -> tuple[int, int, int, bytes]:
    """Model of ``codec.decode_binary_frame``."""
    if isinstance(data, str) or isinstance(known_wire_ids, str):
        raise TypeError("bytes-like expected")
    table = None
    if known_wire_ids is not None:
        table = bytes(memoryview(known_wire_ids))
        if len(table) != 256:
            raise ValueError("known_wire_ids must be 256 bytes")
    raw = bytes(memoryview(data))
    if len(raw) < HEADER_LEN:
        raise FrameTooShort("too short")
    if raw[0:2] != MAGIC:
        raise InvalidMagic("bad magic")
    version, flags, wire_id, sequence = struct.unpack(">BBBI", raw[2:9])
    if version != VERSION:
        raise UnsupportedVersion(version)
    if table is not None and table[wire_id] == 0:
        raise UnknownChannel(wire_id)
    return (wire_id, flags & FLAGS_KNOWN, sequence, raw[HEADER_LEN:])


def make_wire_table(wire_ids: Iterable[int]) -> bytes:
    """Model of ``codec.make_wire_table``."""
    table = bytearray(256)
    for wire_id in wire_ids:
        table[_check_uint(wire_id, 0xFF, "wire id")] = 1
    return bytes(table)


def _check_sse_field(value: object, name: str, forbidden: str) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    if any(ch in value for ch in forbidden):
        raise ValueError(f"{name} holds a forbidden character")
    return value.encode("utf-8")


def encode_sse_event(
    data: bytes,
    *,
    event: str | None = None,
    id: str | None = None,  # noqa: A002 - mirrors the compiled signature
    retry_ms: int | None = None,
) -> bytes:
    """Model of ``codec.encode_sse_event``."""
    if retry_ms is not None:
        _check_uint(retry_ms, 2**63 - 1, "retry_ms")
    if isinstance(data, str):
        raise TypeError("data must be bytes-like")
    raw = bytes(memoryview(data))
    out = b""
    if retry_ms is not None:
        out += b"retry: " + str(retry_ms).encode() + b"\n"
    if id is not None:
        out += b"id: " + _check_sse_field(id, "id", "\r\n\0") + b"\n"
    if event is not None:
        out += b"event: " + _check_sse_field(event, "event", "\r\n") + b"\n"
    for line in re.split(rb"\r\n|\r|\n", raw):
        out += b"data: " + line + b"\n"
    return out + b"\n"


def encode_sse_comment(text: str = "") -> bytes:
    """Model of ``codec.encode_sse_comment``."""
    return b": " + _check_sse_field(text, "comment", "\r\n") + b"\n\n"

"""Frame codec (layer 1): JSON frame envelope, binary ``RP`` frame, SSE event bytes. See ``codec.pyx``."""

from collections.abc import Iterable
from typing import Any, Final

from typing_extensions import Buffer

__all__ = [
    "FLAGS_KNOWN",
    "FLAG_ACK_REQUIRED",
    "FLAG_COMPRESSED",
    "FLAG_FRAGMENTED",
    "HEADER_LEN",
    "MAGIC",
    "VERSION",
    "decode_binary_frame",
    "decode_json_frame",
    "encode_binary_frame",
    "encode_json_frame",
    "encode_sse_comment",
    "encode_sse_event",
    "make_wire_table",
]

MAGIC: Final[bytes]
VERSION: Final[int]
HEADER_LEN: Final[int]
FLAG_COMPRESSED: Final[int]
FLAG_FRAGMENTED: Final[int]
FLAG_ACK_REQUIRED: Final[int]
FLAGS_KNOWN: Final[int]

def encode_json_frame(
    channel: str,
    cursor: int | None,
    payload_json: Buffer,
    client_id: str | None = None,
    topic: str | None = None,
) -> bytes:
    """Build ``{"channel":..,["topic":..,]"cursor":..,"client_id":..,"payload":<payload_json>}``."""

def decode_json_frame(
    data: bytes | bytearray | memoryview | str,
) -> tuple[str | None, str | None, int | None, str | None, Any]:
    """Parse a JSON message into ``(channel, topic, cursor, client_id, payload)``; a bare op is payload."""

def encode_binary_frame(wire_id: int, sequence: int, payload: Buffer, flags: int = 0) -> bytes:
    """Build an ``RP`` frame: 9-byte header then ``payload``."""

def decode_binary_frame(data: Buffer, known_wire_ids: Buffer | None = None) -> tuple[int, int, int, bytes]:
    """Parse an ``RP`` frame into ``(wire_id, flags & FLAGS_KNOWN, sequence, payload)``."""

def make_wire_table(wire_ids: Iterable[int]) -> bytes:
    """Build the 256-byte ``known_wire_ids`` table (1 = known)."""

def encode_sse_event(
    data: Buffer,
    *,
    event: str | None = None,
    id: str | None = None,
    retry_ms: int | None = None,
) -> bytes:
    """Build one SSE event: ``retry:``, ``id:``, ``event:``, ``data:`` lines, blank line."""

def encode_sse_comment(text: str = "") -> bytes:
    """Build an SSE comment ``: <text>\\n\\n``."""

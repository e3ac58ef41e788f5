"""WebSocket frames (RFC 6455 section 5): encoding, incremental parsing, unmasking and UTF-8 checks."""

from typing import Final

from typing_extensions import Buffer

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Utf8Validator",
    "WebSocketFrameParser",
    "build_ws_header",
    "encode_ws_frame",
    "encode_ws_frame_masked",
    "unmask",
    "validate_utf8",
]

OP_CONT: Final[int]
OP_TEXT: Final[int]
OP_BINARY: Final[int]
OP_CLOSE: Final[int]
OP_PING: Final[int]
OP_PONG: Final[int]

def build_ws_header(payload_len: int, opcode: int, fin: bool = True) -> bytes:
    """Return the header of an unmasked (server) frame carrying ``payload_len`` bytes."""

def encode_ws_frame(payload: bytes, opcode: int = 1, fin: bool = True) -> bytes:
    """Return a complete unmasked (server) frame, header and payload in one bytes object."""

def encode_ws_frame_masked(
    payload: Buffer, opcode: int, mask: Buffer, fin: bool = True, *, rsv: int = 0
) -> bytes:
    """Return a masked (client) frame; permissive, so tests can build invalid frames."""

def unmask(data: Buffer, mask: Buffer) -> bytes:
    """Return ``data`` XORed with the 4-byte masking key (masking is its own inverse)."""

def validate_utf8(data: Buffer) -> bool:
    """Return True if ``data`` is strictly valid UTF-8 (no overlongs, surrogates, or > U+10FFFF)."""

class Utf8Validator:
    """Incremental strict UTF-8 check of one fragmented message, failing at the first bad byte."""

    def __init__(self) -> None: ...
    def feed(self, data: Buffer, final: bool = False) -> bool:
        """Check the next piece; False once the message can no longer be valid UTF-8."""
    def reset(self) -> None:
        """Forget the current message."""
    @property
    def pending(self) -> int:
        """Continuation bytes the last code point still needs."""

class WebSocketFrameParser:
    """Incremental parser of a peer's frames; ``feed`` bytes, then ``next_frame`` until None."""

    def __init__(self, max_frame_bytes: int, require_mask: bool = True) -> None: ...
    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as frames."""
    @property
    def max_frame_bytes(self) -> int:
        """The largest payload a frame may declare."""
    def feed(self, data: Buffer) -> None:
        """Append received bytes."""
    def next_frame(self) -> tuple[bool, int, int, bytes] | None:
        """Return ``(fin, rsv_bits, opcode, payload)`` of the next complete frame, or None."""
    def pending_frame(self) -> tuple[bool, int, int, int, int] | None:
        """Return ``(fin, rsv_bits, opcode, payload_len, payload_buffered)`` of an incomplete frame."""
    def pending_payload(self, offset: int = 0) -> bytes:
        """Return the unmasked payload bytes ``[offset:]`` of the incomplete frame received so far."""

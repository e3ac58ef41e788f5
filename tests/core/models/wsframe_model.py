"""Obviously-correct pure-Python model of ``pushwire._core.wsframe``, for property tests and benchmarks.

Written for clarity, not speed: struct for headers, a byte-by-byte XOR for masking, Python's own strict
UTF-8 codec for validation. The Cython module must agree with it on every input.
"""

from __future__ import annotations

import codecs
import struct

from pushwire.errors import FrameError, MessageTooBig

OP_CONT = 0
OP_TEXT = 1
OP_BINARY = 2
OP_CLOSE = 8
OP_PING = 9
OP_PONG = 10

KNOWN_OPCODES = frozenset({OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG})


def _length_bytes(length: int, mask_bit: int) -> bytes:
    if length < 126:
        return bytes([mask_bit | length])
    if length < 65536:
        return bytes([mask_bit | 126]) + struct.pack("!H", length)
    return bytes([mask_bit | 127]) + struct.pack("!Q", length)


def build_ws_header(payload_len: int, opcode: int, fin: bool = True) -> bytes:
    """Header of an unmasked frame; same checks as the Cython version."""
    if opcode not in KNOWN_OPCODES:
        raise ValueError(f"invalid WebSocket opcode {opcode}")
    if opcode >= 8 and (payload_len > 125 or not fin):
        raise ValueError("bad control frame")
    if payload_len < 0:
        raise ValueError("payload length must be >= 0")
    return bytes([(0x80 if fin else 0) | opcode]) + _length_bytes(payload_len, 0)


def encode_ws_frame(payload: bytes, opcode: int = OP_TEXT, fin: bool = True) -> bytes:
    """Header + payload of an unmasked frame."""
    return build_ws_header(len(payload), opcode, fin) + payload


def unmask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR every byte with the mask byte at its position mod 4."""
    if len(mask) != 4:
        raise ValueError("mask must be exactly 4 bytes")
    return bytes(b ^ mask[i % 4] for i, b in enumerate(bytes(data)))


def encode_ws_frame_masked(
    payload: bytes, opcode: int, mask: bytes, fin: bool = True, *, rsv: int = 0
) -> bytes:
    """A masked (client) frame, with no validity checks beyond the field ranges."""
    if not 0 <= opcode <= 15 or not 0 <= rsv <= 7 or len(mask) != 4:
        raise ValueError("bad opcode, rsv or mask")
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    return bytes([first]) + _length_bytes(len(payload), 0x80) + bytes(mask) + unmask(payload, mask)


def validate_utf8(data: bytes | bytearray | memoryview) -> bool:
    """Python's UTF-8 codec is strict: it rejects overlongs, surrogates and code points above U+10FFFF."""
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


#: the range of the byte after each lead byte of a multi-byte sequence (Unicode Table 3-7, well-formed UTF-8)
_SECOND = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}


def _completable(prefix: bytes) -> bool:
    """Whether continuation bytes can still make ``prefix`` (a lead byte and fewer bytes than it needs) valid."""
    lead = prefix[0]
    if not (0xC2 <= lead <= 0xF4):
        return False
    low, high = _SECOND.get(lead, (0x80, 0xBF))
    if len(prefix) > 1 and not low <= prefix[1] <= high:
        return False
    return all(0x80 <= byte <= 0xBF for byte in prefix[2:])


class Utf8Validator:
    """Incremental check via the codec's incremental decoder, which raises at the first impossible byte."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._failed = False

    def feed(self, data: bytes | bytearray | memoryview, final: bool = False) -> bool:
        if self._failed:
            return False
        try:
            self._decoder.decode(bytes(data), final)
        except UnicodeDecodeError:
            self._failed = True
            return False
        # the codec holds an incomplete sequence without judging it (b"\xed\xa0" waits for a third byte,
        # though no third byte can make a surrogate valid): fail as soon as no completion is possible
        pending = self._decoder.getstate()[0]
        if pending and not _completable(pending):
            self._failed = True
            return False
        return True

    def reset(self) -> None:
        self._decoder.reset()
        self._failed = False


class WebSocketFrameParser:
    """Reparses the buffer from the start on every call: quadratic, simple, and easy to check."""

    def __init__(self, max_frame_bytes: int, require_mask: bool = True) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.require_mask = require_mask
        self._buf = b""
        self._error: Exception | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._buf += bytes(data)

    def _fail(self, error: Exception) -> None:
        self._error = error
        raise error

    def _header(self) -> tuple[bool, int, int, int, bytes | None, int] | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        fin = bool(buf[0] & 0x80)
        rsv = (buf[0] >> 4) & 7
        opcode = buf[0] & 0x0F
        masked = bool(buf[1] & 0x80)
        length = buf[1] & 0x7F
        if opcode not in KNOWN_OPCODES:
            self._fail(FrameError(f"reserved opcode {opcode}"))
        if opcode >= 8 and not fin:
            self._fail(FrameError("fragmented control frame"))
        if opcode >= 8 and length > 125:
            self._fail(FrameError("control frame payload over 125 bytes"))
        if masked != self.require_mask:
            self._fail(FrameError("mask bit"))
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return None
            (length,) = struct.unpack("!H", buf[2:4])
            pos = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            (length,) = struct.unpack("!Q", buf[2:10])
            if length >= 2**63:
                self._fail(FrameError("64-bit length with top bit set"))
            pos = 10
        if length > self.max_frame_bytes:
            self._fail(MessageTooBig("frame too big"))
        mask = None
        if masked:
            if len(buf) < pos + 4:
                return None
            mask = buf[pos:pos + 4]
            pos += 4
        return fin, rsv, opcode, length, mask, pos

    def next_frame(self) -> tuple[bool, int, int, bytes] | None:
        if self._error is not None:
            raise self._error
        header = self._header()
        if header is None:
            return None
        fin, rsv, opcode, length, mask, pos = header
        if len(self._buf) < pos + length:
            return None
        payload = self._buf[pos:pos + length]
        self._buf = self._buf[pos + length:]
        if mask is not None:
            payload = unmask(payload, mask)
        return fin, rsv, opcode, payload

    def pending_frame(self) -> tuple[bool, int, int, int, int] | None:
        if self._error is not None:
            raise self._error
        header = self._header()
        if header is None:
            return None
        fin, rsv, opcode, length, _mask, pos = header
        have = len(self._buf) - pos
        if have >= length:
            return None
        return fin, rsv, opcode, length, have

    def pending_payload(self, offset: int = 0) -> bytes:
        info = self.pending_frame()
        if info is None:
            return b""
        header = self._header()
        assert header is not None
        _fin, _rsv, _opcode, _length, mask, pos = header
        data = self._buf[pos:]
        if mask is not None:
            data = unmask(data, mask)
        return data[offset:]

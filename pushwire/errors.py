"""Errors and close codes: the bottom of pushwire, imported by every layer (Cython modules included).

This module imports nothing from pushwire. The exception tree::

    PushwireError
    ├── ProtocolError (also ValueError) ........ bad input from the network; carries a CloseCode
    │   ├── FrameError ......................... malformed frame (JSON, WebSocket or RP)       1002
    │   │   ├── BadJson ........................ not JSON, or not a JSON object
    │   │   └── BinaryFrameError
    │   │       ├── FrameTooShort, InvalidMagic, UnsupportedVersion, UnknownChannel
    │   │       ├── CompressionError, MissingDictionary, PayloadDecodeError
    │   ├── HandshakeError ..................... bad HTTP upgrade or first message              1002
    │   ├── InvalidUTF8 ........................ text that is not UTF-8                           1007
    │   ├── AuthRejected ....................... the auth validator said no                      1008
    │   ├── MessageTooBig ...................... over a configured size limit                    1009
    │   └── SlowConsumer ....................... a lossless lane overflowed                       4000
    ├── HttpError .............................. a request to answer with an HTTP status
    ├── FragmentError (also ValueError)
    │   ├── InvalidFragment, DuplicateFragment, FragmentTotalMismatch, FragmentLimitExceeded
    ├── HistoryError
    │   ├── CursorTooOld ....................... resume point older than the kept history
    │   └── CursorAhead ........................ resume point beyond the stream's top (history reset)
    ├── AssetError (also ValueError) ........... asset size, MIME type or hash problems
    ├── SendError .............................. a frame could not be queued for a client
    ├── BrokerError ............................ the broker failed; ``temporary`` says if a retry may help
    ├── StateError ............................. a call made in the wrong state
    └── ConfigError (also ValueError) .......... invalid configuration

Wire-level codes (:class:`CloseCode`, :class:`ErrorCode`) are data, documented in ``docs/protocol.md``.
"""

from __future__ import annotations

import enum

__all__ = [
    "AssetError",
    "AuthRejected",
    "BadJson",
    "BinaryFrameError",
    "BrokerError",
    "CloseCode",
    "CompressionError",
    "ConfigError",
    "CursorAhead",
    "CursorTooOld",
    "DuplicateFragment",
    "ErrorCode",
    "FragmentError",
    "FragmentLimitExceeded",
    "FragmentTotalMismatch",
    "FrameError",
    "FrameTooShort",
    "HandshakeError",
    "HistoryError",
    "HttpError",
    "InvalidFragment",
    "InvalidMagic",
    "InvalidUTF8",
    "MessageTooBig",
    "MissingDictionary",
    "PayloadDecodeError",
    "ProtocolError",
    "PushwireError",
    "SendError",
    "SlowConsumer",
    "StateError",
    "UnknownChannel",
    "UnsupportedVersion",
]


class CloseCode(enum.IntEnum):
    """WebSocket close codes pushwire sends (RFC 6455 section 7.4 plus the 4xxx private range).

    Ranges: 1000-2999 are RFC 6455 / IANA codes; 4000-4499 mean "reconnect and resume from your cursors";
    4500-4999 mean "do not reconnect automatically".
    """

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005  # never sent on the wire; reported when a close frame had no code
    ABNORMAL = 1006  # never sent on the wire; reported when the TCP connection dropped
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SLOW_CONSUMER = 4000
    PING_TIMEOUT = 4001
    AUTH_TIMEOUT = 4002
    REPLACED = 4500

    @property
    def reconnect(self) -> bool:
        """Whether a client should reconnect (and resume) after this close code."""
        if self in (CloseCode.NORMAL, CloseCode.POLICY_VIOLATION, CloseCode.PROTOCOL_ERROR,
                    CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_DATA, CloseCode.MESSAGE_TOO_BIG,
                    CloseCode.MANDATORY_EXTENSION):
            return False
        return not 4500 <= self.value <= 4999


class ErrorCode(str, enum.Enum):
    """Machine-readable ``code`` of an ``error`` system op (see docs/protocol.md, "error")."""

    BAD_JSON = "bad_json"
    BAD_FRAME = "bad_frame"
    UNKNOWN_CHANNEL = "unknown_channel"
    BAD_STREAM = "bad_stream"
    AUTH_REQUIRED = "auth_required"
    AUTH_REJECTED = "auth_rejected"
    AUTH_TIMEOUT = "auth_timeout"
    FORBIDDEN = "forbidden"
    TOO_BIG = "too_big"
    UNSUPPORTED = "unsupported"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"


class PushwireError(Exception):
    """Base class of every error pushwire raises on purpose."""


class ProtocolError(PushwireError, ValueError):
    """Bad input from the network.

    Attributes:
        code: the WebSocket close code the connection ends with, if the error is fatal.
        reason: a short human-readable reason (fits in a close frame: at most 123 bytes of UTF-8).
    """

    default_code: CloseCode = CloseCode.PROTOCOL_ERROR

    def __init__(self, reason: str, *, code: CloseCode | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code if code is not None else self.default_code


class FrameError(ProtocolError):
    """A frame (JSON envelope, WebSocket frame or binary RP frame) is malformed."""


class BadJson(FrameError):
    """A text message is not valid JSON (or not a JSON object)."""


class BinaryFrameError(FrameError):
    """A binary ``RP`` frame cannot be decoded."""


class FrameTooShort(BinaryFrameError):
    """Fewer bytes than the 9-byte ``RP`` header."""


class InvalidMagic(BinaryFrameError):
    """The first two bytes are not ``RP`` (0x52 0x50)."""


class UnsupportedVersion(BinaryFrameError):
    """The version byte is not one this build speaks."""

    def __init__(self, version: int) -> None:
        super().__init__(f"unsupported RP frame version {version}")
        self.version = version


class UnknownChannel(BinaryFrameError):
    """The wire id names no known channel."""

    def __init__(self, wire_id: int) -> None:
        super().__init__(f"unknown channel wire id {wire_id}")
        self.wire_id = wire_id


class CompressionError(BinaryFrameError):
    """zstd compression or decompression failed."""


class MissingDictionary(BinaryFrameError):
    """A compressed payload names a zstd dictionary this side does not have."""

    def __init__(self, dict_id: int) -> None:
        super().__init__(f"missing zstd dictionary {dict_id}")
        self.dict_id = dict_id


class PayloadDecodeError(BinaryFrameError):
    """The MessagePack or CBOR payload cannot be decoded."""


class HandshakeError(ProtocolError):
    """The HTTP upgrade or the session's first message is not acceptable.

    Attributes:
        status: the HTTP status to answer with when the handshake is still at the HTTP stage.
    """

    def __init__(self, reason: str, *, status: int = 400, code: CloseCode | None = None) -> None:
        super().__init__(reason, code=code)
        self.status = status


class InvalidUTF8(ProtocolError):
    """A text message or close reason is not valid UTF-8."""

    default_code = CloseCode.INVALID_DATA


class AuthRejected(ProtocolError):
    """The auth validator rejected the client (or a subscription)."""

    default_code = CloseCode.POLICY_VIOLATION


class MessageTooBig(ProtocolError):
    """A message, frame, header or body is over its configured limit."""

    default_code = CloseCode.MESSAGE_TOO_BIG


class SlowConsumer(ProtocolError):
    """A lossless lane of a connection overflowed: the client must reconnect and resume."""

    default_code = CloseCode.SLOW_CONSUMER


class HttpError(PushwireError):
    """A request to be answered with an HTTP error status (and then, usually, closed)."""

    def __init__(self, status: int, reason: str, *, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers


class FragmentError(PushwireError, ValueError):
    """A fragment shard cannot be accepted."""


class InvalidFragment(FragmentError):
    """Malformed shard: short header, ``total == 0`` or ``index >= total``."""


class DuplicateFragment(FragmentError):
    """The same shard index arrived twice for one fragment id."""

    def __init__(self, index: int, total: int) -> None:
        super().__init__(f"duplicate fragment {index}/{total}")
        self.index = index
        self.total = total


class FragmentTotalMismatch(FragmentError):
    """A shard disagrees with earlier shards of the same id on the total count."""


class FragmentLimitExceeded(FragmentError):
    """Accepting the shard would pass the assembler's message-size limit."""


class HistoryError(PushwireError):
    """A replay request that history cannot answer as asked."""


class CursorTooOld(HistoryError):
    """The requested cursor is older than what history keeps.

    Attributes:
        cursor: the cursor asked for (frames after it were wanted).
        first_offset: the oldest offset still kept (frames ``cursor+1 .. first_offset-1`` are gone).
    """

    def __init__(self, cursor: int, first_offset: int) -> None:
        super().__init__(f"cursor {cursor} is older than history (oldest kept offset {first_offset})")
        self.cursor = cursor
        self.first_offset = first_offset


class CursorAhead(HistoryError):
    """The requested cursor is beyond the stream's latest offset: the stream was reset."""

    def __init__(self, cursor: int, last_offset: int) -> None:
        super().__init__(f"cursor {cursor} is beyond the stream's latest offset {last_offset}")
        self.cursor = cursor
        self.last_offset = last_offset


class AssetError(PushwireError, ValueError):
    """An asset is too large, of a MIME type not allowed, or fails its size or SHA-256 check."""


class SendError(PushwireError):
    """A frame could not be queued for delivery."""


class BrokerError(PushwireError):
    """The broker failed.

    Attributes:
        temporary: True when retrying the same call later may succeed.
    """

    def __init__(self, message: str, *, temporary: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary


class StateError(PushwireError):
    """A method was called in a state that does not allow it (e.g. send before auth)."""


class ConfigError(PushwireError, ValueError):
    """A configuration value is invalid."""

"""Stream names, personal streams and the SSE position vector (layer 2, sans-I/O).

A stream is a channel (``chat``) or a channel plus a topic (``chat:room42``). A topic is 1..128 characters of
``[A-Za-z0-9_.:@-]``; topics starting with ``@`` are reserved: ``chat:@<client_id>`` is that client's personal
stream. The system channel is never a stream.

The position vector is how an SSE connection's position in every stream survives in the one ``id:`` that a
browser's EventSource remembers: ``chat=41~k3x9a2b1,chat:@5e0c...=3~p0q1r2s3``.
See docs/protocol.md, "Channels, streams, cursors" and "SSE".
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ErrorCode, ProtocolError
from .channels import CHANNEL_NAME_RE, ChannelKind

__all__ = [
    "EPOCH_RE",
    "MAX_CURSOR",
    "MAX_POSITION_CHARS",
    "MAX_POSITION_ENTRIES",
    "MAX_STREAM_NAME_CHARS",
    "PositionVectorError",
    "StreamError",
    "StreamRef",
    "TOPIC_RE",
    "check_stream_syntax",
    "check_topic",
    "format_positions",
    "is_personal",
    "is_uuid",
    "normalize_uuid",
    "parse_positions",
    "parse_stream",
    "personal_owner",
    "personal_topic",
    "stream_name",
]

TOPIC_RE = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
#: a stream's epoch: opaque, changes whenever its history is lost
EPOCH_RE = re.compile(r"[A-Za-z0-9]{1,32}")
#: canonical hyphenated UUID, any version, either case (compared lower-cased)
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: 32-char channel name + ":" + 128-char topic
MAX_STREAM_NAME_CHARS = 32 + 1 + 128
MAX_CURSOR = 2**64 - 1
MAX_POSITION_ENTRIES = 64
MAX_POSITION_CHARS = 4096
_DIGITS_RE = re.compile(r"[0-9]{1,20}")


class StreamError(ProtocolError):
    """A stream name is malformed (``bad_stream``) or names no known channel (``unknown_channel``).

    Not fatal after auth: the server answers with an ``error`` op carrying :attr:`error_code`.

    Attributes:
        error_code: ``ErrorCode.BAD_STREAM`` or ``ErrorCode.UNKNOWN_CHANNEL``.
        stream: the offending name.
    """

    def __init__(self, reason: str, *, error_code: ErrorCode = ErrorCode.BAD_STREAM,
                 stream: str = "") -> None:
        super().__init__(reason)
        self.error_code = error_code
        self.stream = stream


class PositionVectorError(ProtocolError):
    """A position vector (``Last-Event-ID``, ``cursors=``) is malformed or over its limits."""

    error_code = ErrorCode.BAD_STREAM


def is_uuid(text: object) -> bool:
    """Return True when ``text`` is a canonical hyphenated UUID string (either case)."""
    return isinstance(text, str) and _UUID_RE.fullmatch(text) is not None


def normalize_uuid(value: str | uuid.UUID) -> str:
    """Return the lower-case canonical form of a client id.

    Raises:
        ValueError: ``value`` is not a UUID object or a canonical hyphenated UUID string.
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if not is_uuid(value):
        raise ValueError(f"not a canonical UUID: {value!r}")
    return value.lower()


def personal_topic(client_id: str | uuid.UUID) -> str:
    """Return the topic of ``client_id``'s personal streams: ``@`` + the lower-case UUID."""
    return "@" + normalize_uuid(client_id)


def is_personal(topic: str | None) -> bool:
    """Return True when ``topic`` is a reserved (personal) topic, i.e. starts with ``@``."""
    return topic is not None and topic.startswith("@")


def personal_owner(topic: str | None) -> str | None:
    """Return the lower-case client id owning a personal topic, or None for any other topic."""
    if topic is None or not topic.startswith("@") or not is_uuid(topic[1:]):
        return None
    return topic[1:].lower()


def stream_name(channel_name: str, topic: str | None) -> str:
    """Return the stream name ``channel`` or ``channel:topic``."""
    return channel_name if topic is None else f"{channel_name}:{topic}"


@dataclass(frozen=True, slots=True)
class StreamRef:
    """A parsed, validated stream: a (non-system) channel member and an optional topic.

    Build one with :func:`parse_stream`, :meth:`of` or :meth:`personal`; the constructor does not validate.
    """

    channel: Any
    topic: str | None = None
    #: the stream name, ``chat`` or ``chat:room42`` (computed once: it is read on every hub operation)
    name: str = field(init=False, repr=False, compare=False)
    #: True for a personal stream ``<channel>:@<client_id>`` (computed once, like ``name``)
    is_personal: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", stream_name(self.channel.wire_name, self.topic))
        object.__setattr__(self, "is_personal", is_personal(self.topic))

    @property
    def owner(self) -> str | None:
        """The client id owning this personal stream, or None."""
        return personal_owner(self.topic)

    @classmethod
    def of(cls, channel: ChannelKind, topic: str | None = None) -> StreamRef:
        """Validate and build a stream of ``channel``.

        Raises:
            StreamError: the channel is the system channel, or the topic is malformed.
        """
        return parse_stream(stream_name(channel.wire_name, topic), type(channel))

    @classmethod
    def personal(cls, channel: ChannelKind, client_id: str | uuid.UUID) -> StreamRef:
        """Return ``client_id``'s personal stream of ``channel``."""
        if channel.is_system:
            raise StreamError("the system channel has no streams", stream=channel.wire_name)
        return cls(channel, personal_topic(client_id))

    def __str__(self) -> str:
        return self.name


def _syntax_error(name: str, why: str) -> StreamError:
    return StreamError(f"bad stream {name[:64]!r}: {why}", stream=name)


def check_topic(topic: str, name: str = "") -> str:
    """Validate a topic; return it (a personal topic lower-cased).

    Raises:
        StreamError: ``bad_stream`` when the topic is malformed or reserved but not ``@<uuid>``.
    """
    if TOPIC_RE.fullmatch(topic) is None:
        raise _syntax_error(name or topic, "a topic is 1..128 characters of [A-Za-z0-9_.:@-]")
    if topic.startswith("@"):
        owner = personal_owner(topic)
        if owner is None:
            raise _syntax_error(name or topic, "topics starting with '@' are reserved for '@<client_id>'")
        return "@" + owner
    return topic


def check_stream_syntax(name: object) -> str:
    """Check a stream name's syntax without knowing the channels; return it (personal topic lower-cased).

    Raises:
        StreamError: ``bad_stream``.
    """
    if not isinstance(name, str):
        raise StreamError(f"a stream name must be a string, got {type(name).__name__}")
    if len(name) > MAX_STREAM_NAME_CHARS:
        raise _syntax_error(name, f"longer than {MAX_STREAM_NAME_CHARS} characters")
    channel_name, sep, topic = name.partition(":")
    if CHANNEL_NAME_RE.fullmatch(channel_name) is None:
        raise _syntax_error(name, "the channel part must match ^[a-z][a-z0-9_-]{0,31}$")
    if not sep:
        return name
    return stream_name(channel_name, check_topic(topic, name))


def parse_stream(name: object, channels: type[ChannelKind]) -> StreamRef:
    """Parse a stream name against an application's channels.

    Args:
        name: ``chat``, ``chat:room42`` or ``chat:@<client_id>``.
        channels: the ChannelKind subclass in use.

    Returns:
        The stream. A personal topic's UUID is lower-cased.

    Raises:
        StreamError: ``unknown_channel`` when the channel part is well-formed but not one of ``channels``;
            ``bad_stream`` for malformed names and for the system channel (it is never a stream).
    """
    if type(name) is str:
        ref = _PARSED.get((channels, name))
        if ref is not None:
            return ref
    checked = check_stream_syntax(name)
    channel_name, sep, topic = checked.partition(":")
    channel = channels.from_name(channel_name)
    if channel is None:
        raise StreamError(f"unknown channel {channel_name!r}", error_code=ErrorCode.UNKNOWN_CHANNEL,
                          stream=checked)
    if channel.is_system:
        raise StreamError("the system channel is not a stream", stream=checked)
    ref = StreamRef(channel, topic if sep else None)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[channels, name] = ref  # type: ignore[index]
    return ref


#: (channels, name as sent) -> its StreamRef: clients send the same few names over and over, and a StreamRef is
#: immutable. Bounded: past the bound it starts afresh, so names nobody uses again cannot accumulate.
_PARSED: dict[tuple[type[ChannelKind], str], StreamRef] = {}
_PARSED_MAX = 4096


# ---------------------------------------------------------------------------------------------------------
# position vector
# ---------------------------------------------------------------------------------------------------------

def format_positions(positions: Mapping[str, tuple[int, str]]) -> str:
    """Encode stream positions as a position vector, in the mapping's order.

    Args:
        positions: stream name -> (cursor, epoch).

    Returns:
        ``chat=41~k3x9a2b1,chat:room1=3~p0q1r2s3`` (empty string for no streams).

    Raises:
        ValueError: a stream name, cursor or epoch is invalid (a bug in the caller, not bad input).
    """
    parts = []
    for stream, (cursor, epoch) in positions.items():
        if (not isinstance(cursor, int) or isinstance(cursor, bool) or not 0 <= cursor <= MAX_CURSOR
                or not isinstance(epoch, str) or EPOCH_RE.fullmatch(epoch) is None):
            raise ValueError(f"bad position for {stream!r}: {(cursor, epoch)!r}")
        parts.append(f"{check_stream_syntax(stream)}={cursor}~{epoch}")
    return ",".join(parts)


def parse_positions(text: str, *, max_entries: int = MAX_POSITION_ENTRIES,
                    max_chars: int = MAX_POSITION_CHARS) -> dict[str, tuple[int, str | None]]:
    """Decode a position vector (``Last-Event-ID``, ``last_event_id`` or ``cursors=``).

    Entries are ``stream=cursor~epoch`` or ``stream=cursor`` (epoch None: resume against the current epoch),
    joined by ``,``. An empty (or all-blank) text is an empty vector.

    Args:
        text: the vector, already URL-decoded.
        max_entries: at most this many entries (default 64).
        max_chars: at most this many characters (default 4096).

    Returns:
        stream name -> (cursor, epoch or None), in the text's order.

    Raises:
        PositionVectorError: malformed entry, duplicate stream, or a limit exceeded.
    """
    if not isinstance(text, str):
        raise PositionVectorError(f"a position vector is a string, got {type(text).__name__}")
    if len(text) > max_chars:
        raise PositionVectorError(f"position vector longer than {max_chars} characters")
    text = text.strip()
    if not text:
        return {}
    entries = text.split(",")
    if len(entries) > max_entries:
        raise PositionVectorError(f"position vector has more than {max_entries} entries")
    out: dict[str, tuple[int, str | None]] = {}
    for entry in entries:
        stream, cursor, epoch = _parse_entry(entry)
        if stream in out:
            raise PositionVectorError(f"stream {stream!r} appears twice in the position vector")
        out[stream] = (cursor, epoch)
    return out


def _parse_entry(entry: str) -> tuple[str, int, str | None]:
    stream, eq, rest = entry.partition("=")
    if not eq:
        raise PositionVectorError(f"position entry {entry[:64]!r} is not stream=cursor~epoch")
    try:
        stream = check_stream_syntax(stream)
    except StreamError as exc:
        raise PositionVectorError(exc.reason) from None
    digits, tilde, epoch = rest.partition("~")
    if _DIGITS_RE.fullmatch(digits) is None or int(digits) > MAX_CURSOR:
        raise PositionVectorError(f"position entry {entry[:64]!r}: the cursor must be an integer 0..2**64-1")
    if not tilde:
        return stream, int(digits), None
    if EPOCH_RE.fullmatch(epoch) is None:
        raise PositionVectorError(f"position entry {entry[:64]!r}: the epoch must be [A-Za-z0-9]{{1,32}}")
    return stream, int(digits), epoch

"""The sans-I/O state machine of one ``/rps`` WebSocket session (layer 2).

The I/O layer feeds every complete WebSocket message to :meth:`Session.receive_text` or
:meth:`Session.receive_binary` and acts on the returned events; it writes the bytes that the helper methods
return. The session decides what every inbound message means and which violations are fatal (with which
close code); it owns no socket, no clock and no task::

    AUTH --auth + accept()--> LIVE --close()/fatal violation--> CLOSING --connection_closed()--> CLOSED
         \\--reject() / fatal violation--> CLOSING

Typical use::

    session = Session(AppChannel)
    for event in session.receive_text(message):
        match event:
            case AuthRequested(auth=auth, streams=streams):
                ... validate, resume ...; write(session.accept(auth_ok)); then handle session.drain_buffered()
            case Violation(code=code, message=msg, close=close):
                write(session.error(code, msg)); if close: start the close handshake with `close`
            ...

See docs/protocol.md, sections 4 and 5, and the error table in 14.2.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeAlias

from .._core.chunker import FragmentAssembler
from .._core.codec import FLAG_FRAGMENTED
from ..errors import (
    AuthRejected,
    BadJson,
    CloseCode,
    ErrorCode,
    FragmentError,
    FragmentLimitExceeded,
    FrameError,
    MessageTooBig,
    MissingDictionary,
    StateError,
    UnknownChannel,
)
from .binary import BinaryCodec
from .channels import ChannelKind
from .frames import Frame
from .messages import (
    Ack,
    AnyOp,
    Auth,
    AuthOk,
    Error,
    Features,
    Goodbye,
    Health,
    Op,
    OpError,
    Ping,
    Pong,
    ResumeRequired,
    Slow,
    StreamStatus,
    Subscribe,
    Subscribed,
    Unsubscribe,
    decode_op,
    encode_op,
    op_type,
)
from .streams import StreamError, StreamRef, parse_stream

__all__ = [
    "AckReceived",
    "AuthRequested",
    "FeaturesRequested",
    "FrameReceived",
    "GoodbyeReceived",
    "PingReceived",
    "PongReceived",
    "ResumeRangeRequested",
    "Session",
    "SessionEvent",
    "SessionState",
    "SubscribeRequested",
    "UnsubscribeRequested",
    "Violation",
    "error_code_for",
    "negotiate_features",
]

MAX_PENDING_MESSAGES = 64
_DICT_FEATURE = re.compile(r"zstd\.dict:([1-9][0-9]{0,9})")
_BINARY_FEATURES = {"binary.msgpack": "msgpack", "binary.cbor": "cbor"}
#: effectively "never compress" when zstd was not granted
_NO_COMPRESSION = 1 << 62
#: the dictionaries of a session that has none (shared, read-only)
_NOTHING: Mapping[int, bytes] = MappingProxyType({})


class SessionState(enum.Enum):
    """Where a session is in its life."""

    AUTH = "auth"
    LIVE = "live"
    CLOSING = "closing"
    CLOSED = "closed"


# ---------------------------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AuthRequested:
    """The client authenticated: validate, resume, then call :meth:`Session.accept` or :meth:`Session.reject`.

    Attributes:
        auth: the op, normalised: ``capabilities`` hold the parsed stream names (system channel and the
            client's own personal streams removed), resume map keys are normalised stream names.
        streams: the streams to subscribe, parsed.
    """

    auth: Auth
    streams: tuple[StreamRef, ...]


@dataclass(frozen=True, slots=True)
class FrameReceived:
    """An application frame (never the system channel); hand it to the channel's handler."""

    frame: Frame


@dataclass(frozen=True, slots=True)
class SubscribeRequested:
    """Validate the new streams, then answer with :meth:`Session.subscribed` (or ``error`` forbidden)."""

    streams: tuple[StreamRef, ...]
    resume_cursors: dict[str, int]
    resume_epochs: dict[str, str]


@dataclass(frozen=True, slots=True)
class UnsubscribeRequested:
    """Stop delivering these streams (no reply)."""

    streams: tuple[StreamRef, ...]


@dataclass(frozen=True, slots=True)
class ResumeRangeRequested:
    """Replay ``stream`` from ``from_cursor`` (inclusive): a subscribe with resume cursor from_cursor - 1."""

    stream: StreamRef
    from_cursor: int
    epoch: str | None = None

    @property
    def resume_cursor(self) -> int:
        """The equivalent resume cursor (``from_cursor - 1``, at least 0)."""
        return max(self.from_cursor - 1, 0)


@dataclass(frozen=True, slots=True)
class AckReceived:
    """Frames of ``stream`` up to ``cursor`` were processed (trim a personal stream's history)."""

    stream: StreamRef
    cursor: int


@dataclass(frozen=True, slots=True)
class PingReceived:
    """Answer with :meth:`Session.pong`."""


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The client answered a ``ping`` op (unsolicited ones may be ignored)."""


@dataclass(frozen=True, slots=True)
class FeaturesRequested:
    """Answer with :meth:`Session.features`."""

    requested: tuple[str, ...]
    supported: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GoodbyeReceived:
    """The client is leaving: close with 1000 (:meth:`Session.close`)."""

    reason: str | None


@dataclass(frozen=True, slots=True)
class Violation:
    """The client broke the protocol.

    Send :meth:`Session.error` with ``code`` and ``message``; when ``close`` is not None, then close the
    connection with that code (the session is already CLOSING). When ``close`` is None the message was
    dropped and the connection stays open.
    """

    code: ErrorCode
    message: str
    close: CloseCode | None = None


SessionEvent: TypeAlias = (AuthRequested | FrameReceived | SubscribeRequested | UnsubscribeRequested
                           | ResumeRangeRequested | AckReceived | PingReceived | PongReceived
                           | FeaturesRequested | GoodbyeReceived | Violation)


def _clip(text: str, limit: int = 123) -> str:
    """Cut ``text`` to at most ``limit`` bytes of UTF-8 (a close reason's limit), whole characters only."""
    raw = text.encode("utf-8", "replace")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


def error_code_for(exc: BaseException) -> ErrorCode:
    """The ``error`` op code that answers an exception raised while decoding client input.

    Streams and ops carry their own code (``exc.error_code``); the rest follows docs/protocol.md 14.2 and
    11.5.
    """
    code = getattr(exc, "error_code", None)
    if isinstance(code, ErrorCode):
        return code
    if isinstance(exc, BadJson):
        return ErrorCode.BAD_JSON
    if isinstance(exc, UnknownChannel):
        return ErrorCode.UNKNOWN_CHANNEL
    if isinstance(exc, MissingDictionary):
        return ErrorCode.UNSUPPORTED
    if isinstance(exc, (MessageTooBig, FragmentLimitExceeded)):
        return ErrorCode.TOO_BIG
    if isinstance(exc, AuthRejected):
        return ErrorCode.AUTH_REJECTED
    if isinstance(exc, (FrameError, FragmentError)):
        return ErrorCode.BAD_FRAME
    return ErrorCode.INTERNAL


def negotiate_features(requested: Iterable[str], supported: Iterable[str]) -> tuple[str, ...]:
    """Grant the features of a client's request that the server supports (docs/protocol.md 4.13).

    At most one ``binary.*`` (the first requested that is supported); ``zstd`` and ``fragments`` only with a
    binary grant; ``zstd.dict:<id>`` only with ``zstd``. The grant keeps the client's order.
    """
    offered = set(supported)
    wanted = [name for name in dict.fromkeys(requested) if name in offered]
    binary = next((name for name in wanted if name in _BINARY_FEATURES), None)
    zstd = binary is not None and "zstd" in wanted
    granted = []
    for name in wanted:
        if name in _BINARY_FEATURES:
            ok = name == binary
        elif name in ("zstd", "fragments"):
            ok = binary is not None
        elif name.startswith("zstd.dict:"):
            ok = zstd and _DICT_FEATURE.fullmatch(name) is not None
        else:
            ok = True
        if ok:
            granted.append(name)
    return tuple(granted)


# ---------------------------------------------------------------------------------------------------------
# session
# ---------------------------------------------------------------------------------------------------------

class Session:
    """One ``/rps`` session: decides what each inbound message means.

    Args:
        channels: the application's ChannelKind subclass.
        dictionaries: zstd dictionaries this server has (id -> bytes), usable once ``zstd.dict:<id>`` is
            granted.
        compression_threshold: zstd threshold for binary frames once ``zstd`` is granted.
        max_payload_bytes: largest decompressed binary payload accepted (``too_big`` beyond).
        max_pending: most messages held while the auth is being decided (more: fatal violation, 1008).
        assembler: the fragment assembler to use once ``fragments`` is granted (default: a new one with
            the limits of docs/protocol.md 11.4).
    """

    __slots__ = ("_assembler", "_auth_pending", "_buffered_events", "_compression_threshold", "_dictionaries",
                 "_fragments", "_held", "_max_payload_bytes", "_max_pending", "_wire_table", "binary",
                 "channels", "client_id", "granted", "state", "system")

    def __init__(self, channels: type[ChannelKind], *, dictionaries: Mapping[int, bytes] = {},
                 compression_threshold: int = 512, max_payload_bytes: int = 1024 * 1024,
                 max_pending: int = MAX_PENDING_MESSAGES, assembler: FragmentAssembler | None = None) -> None:
        self.channels = channels
        self.system = channels.system()
        self.state = SessionState.AUTH
        self.client_id: str | None = None
        self.granted: tuple[str, ...] | None = None
        self.binary: BinaryCodec | None = None
        # nothing per session until there is something to hold: most sessions never do (memory per connection)
        self._dictionaries: Mapping[int, bytes] = dict(dictionaries) if dictionaries else _NOTHING
        self._compression_threshold = compression_threshold
        self._max_payload_bytes = max_payload_bytes
        self._max_pending = max_pending
        self._assembler = assembler
        self._fragments = False
        self._wire_table = channels.wire_table()
        self._auth_pending: Auth | None = None
        self._held: list[tuple[bool, bytes]] | tuple[()] = ()
        self._buffered_events: list[SessionEvent] | tuple[()] = ()

    # -- input --------------------------------------------------------------------------------------------

    def receive_text(self, data: bytes | bytearray | memoryview | str) -> list[SessionEvent]:
        """Process one complete text message (valid UTF-8: the I/O layer checked it, 1007 otherwise)."""
        if self.state in (SessionState.CLOSING, SessionState.CLOSED):
            return []
        if self._auth_pending is not None:
            return self._hold(False, bytes(data, "utf-8") if isinstance(data, str) else bytes(data))
        try:
            frame = Frame.decode(data, self.channels)
        except BadJson as exc:
            return self._violation(ErrorCode.BAD_JSON, exc.reason, CloseCode.PROTOCOL_ERROR)
        except StreamError as exc:
            if self.state is SessionState.AUTH:
                return self._violation(ErrorCode.AUTH_REQUIRED, "the first message must be auth",
                                       CloseCode.PROTOCOL_ERROR)
            return self._violation(exc.error_code, exc.reason)
        except FrameError as exc:
            return self._violation(ErrorCode.BAD_FRAME, exc.reason, self._fatal_before_auth())
        if self.state is SessionState.AUTH:
            return self._first_message(frame)
        if frame.channel is self.system:
            return self._system_payload(frame.payload)
        return self._app_frame(frame)

    def receive_binary(self, data: bytes, *, now: float = -1.0) -> list[SessionEvent]:
        """Process one complete binary message (an ``RP`` frame).

        Args:
            data: the message.
            now: monotonic time for fragment expiry, or -1 to let the assembler read its clock.
        """
        if self.state in (SessionState.CLOSING, SessionState.CLOSED):
            return []
        if self._auth_pending is not None:
            return self._hold(True, bytes(data))
        if self.binary is None:
            return self._violation(ErrorCode.UNSUPPORTED, "binary messages need a granted binary.* feature",
                                   CloseCode.UNSUPPORTED_DATA)
        try:
            wire_id, flags, _sequence, payload = self.binary.decode(data, self._wire_table)
            if flags & FLAG_FRAGMENTED:
                if not self._fragments:
                    return self._violation(ErrorCode.UNSUPPORTED, "fragments were not granted")
                assembler = self._fragment_assembler()
                whole = assembler.push(payload, now)
                if whole is None:
                    return []
                payload = self.binary.decode_payload(whole, flags)
        except (FrameError, MessageTooBig, FragmentError) as exc:
            # every binary decode error is non-fatal: the frame is dropped (docs/protocol.md 11.5)
            return self._violation(error_code_for(exc), str(exc))
        channel = self.channels.from_wire_id(wire_id)
        if channel is self.system:
            return self._system_payload(payload)
        return [FrameReceived(Frame(channel, payload))]

    def drain_buffered(self) -> list[SessionEvent]:
        """Return the events of messages that arrived while the auth was being decided (call after accept)."""
        events, self._buffered_events = self._buffered_events, ()
        return list(events)

    # -- auth ---------------------------------------------------------------------------------------------

    def accept(self, auth_ok: AuthOk) -> bytes:
        """Accept the pending auth: the session goes LIVE.

        Messages held meanwhile are processed now; fetch their events with :meth:`drain_buffered`.

        Returns:
            The ``auth_ok`` system frame to send (then the replay).

        Raises:
            StateError: no auth is pending.
        """
        auth = self._take_pending_auth()
        self.client_id = auth.client_id
        self.state = SessionState.LIVE
        held, self._held = self._held, ()
        buffered: list[SessionEvent] = []
        for is_binary, data in held:
            if self.state is not SessionState.LIVE:
                break
            buffered.extend(self.receive_binary(data) if is_binary else self.receive_text(data))
        if buffered:
            self._buffered_events = buffered
        return encode_op(auth_ok, self.system)

    def reject(self, message: str, *, code: ErrorCode = ErrorCode.AUTH_REJECTED,
               close: CloseCode = CloseCode.POLICY_VIOLATION) -> tuple[bytes, CloseCode]:
        """Refuse the pending auth: the session goes CLOSING.

        Returns:
            The ``error`` frame to send, and the close code to close with (1008 by default).

        Raises:
            StateError: no auth is pending.
        """
        self._take_pending_auth()
        self._held = ()
        self.state = SessionState.CLOSING
        return self.error(code, message), close

    def _take_pending_auth(self) -> Auth:
        auth = self._auth_pending
        if auth is None or self.state is not SessionState.AUTH:
            raise StateError(f"no auth is pending (state {self.state.value})")
        self._auth_pending = None
        return auth

    # -- output helpers -----------------------------------------------------------------------------------

    def send_op(self, op: Op) -> bytes:
        """Encode any op as a system frame of this session's system channel."""
        return encode_op(op, self.system)

    def error(self, code: ErrorCode | str, message: str = "") -> bytes:
        """An ``error`` op."""
        return self.send_op(Error(code, message))

    def pong(self) -> bytes:
        """A ``pong`` op (the answer to :class:`PingReceived`)."""
        return self.send_op(Pong())

    def ping(self) -> bytes:
        """A ``ping`` op."""
        return self.send_op(Ping())

    def goodbye(self, reason: str | None = None) -> bytes:
        """A ``goodbye`` op (``shutdown`` before 1001, ``replaced`` before 4500)."""
        return self.send_op(Goodbye(reason))

    def subscribed(self, streams: Mapping[str, StreamStatus]) -> bytes:
        """A ``subscribed`` op (the answer to an accepted subscribe or replay request)."""
        return self.send_op(Subscribed(dict(streams)))

    def resume_required(self, stream: str, from_cursor: int, to_cursor: int, epoch: str,
                        reason: str) -> bytes:
        """A server ``resume_required`` op: frames ``from_cursor..to_cursor`` of ``stream`` are lost."""
        return self.send_op(ResumeRequired(stream, from_cursor, to_cursor, epoch, reason))

    def slow(self, window: int) -> bytes:
        """A ``slow`` op: ``window`` frame slots are left in the lossless lanes."""
        return self.send_op(Slow(window))

    def health(self, status: str = "ok", detail: str | None = None) -> bytes:
        """A ``health`` op."""
        return self.send_op(Health(status, detail))

    def features(self, supported: Sequence[str], requested: Sequence[str] = ()) -> bytes:
        """Answer a ``features`` request and put the grant into force.

        The first answer fixes the grant; later requests are answered with it unchanged.

        Args:
            supported: every feature the server offers.
            requested: the client's request (:attr:`FeaturesRequested.requested`).

        Returns:
            The ``features`` op to send. After it, binary messages are accepted when a ``binary.*`` feature
            was granted (:attr:`binary` is the codec; encode outbound ``RP`` frames with it).
        """
        if self.granted is None:
            self.granted = negotiate_features(requested, supported)
            self._enable(self.granted)
        return self.send_op(Features(tuple(supported), self.granted))

    def _enable(self, granted: tuple[str, ...]) -> None:
        encoding = next((_BINARY_FEATURES[name] for name in granted if name in _BINARY_FEATURES), None)
        if encoding is None:
            return
        dict_ids = [int(m.group(1)) for m in map(_DICT_FEATURE.fullmatch, granted) if m is not None]
        dictionaries = {i: self._dictionaries[i] for i in dict_ids if i in self._dictionaries}
        zstd = "zstd" in granted
        self.binary = BinaryCodec(
            encoding,  # type: ignore[arg-type]
            compression_threshold=self._compression_threshold if zstd else _NO_COMPRESSION,
            dictionaries=dictionaries, compress_with=next(iter(dictionaries), None) if zstd else None,
            max_payload_bytes=self._max_payload_bytes)
        self._fragments = "fragments" in granted

    # -- lifecycle ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Start closing (after ``goodbye``, shutdown, or any close the I/O layer decides)."""
        if self.state is not SessionState.CLOSED:
            self.state = SessionState.CLOSING
            self._auth_pending = None
            self._held = ()

    def connection_closed(self) -> None:
        """The transport is gone."""
        self.state = SessionState.CLOSED
        self._auth_pending = None
        self._held = ()

    # -- internals ----------------------------------------------------------------------------------------

    def _fatal_before_auth(self) -> CloseCode | None:
        return CloseCode.PROTOCOL_ERROR if self.state is SessionState.AUTH else None

    def _violation(self, code: ErrorCode, message: str, close: CloseCode | None = None) -> list[SessionEvent]:
        if close is not None:
            self.state = SessionState.CLOSING
            self._auth_pending = None
            self._held = ()
        return [Violation(code, _clip(message), close)]

    def _hold(self, is_binary: bool, data: bytes) -> list[SessionEvent]:
        if len(self._held) >= self._max_pending:
            return self._violation(ErrorCode.AUTH_REQUIRED,
                                   f"more than {self._max_pending} messages sent before auth_ok",
                                   CloseCode.POLICY_VIOLATION)
        if not self._held:
            self._held = []
        self._held.append((is_binary, data))  # type: ignore[union-attr]
        return []

    def _first_message(self, frame: Frame) -> list[SessionEvent]:
        payload = frame.payload
        if frame.channel is not self.system or not isinstance(payload, dict):
            return self._violation(ErrorCode.AUTH_REQUIRED, "the first message must be auth",
                                   CloseCode.PROTOCOL_ERROR)
        try:
            tag = op_type(payload)
        except OpError:
            tag = ""
        if tag != Auth.TYPE:
            return self._violation(ErrorCode.AUTH_REQUIRED, "the first message must be auth",
                                   CloseCode.PROTOCOL_ERROR)
        try:
            auth = decode_op(payload)
            assert isinstance(auth, Auth)
            auth, streams = self._normalise_auth(auth)
        except OpError as exc:
            return self._violation(ErrorCode.BAD_FRAME, exc.reason, CloseCode.PROTOCOL_ERROR)
        except StreamError as exc:
            close = (CloseCode.POLICY_VIOLATION if exc.error_code is ErrorCode.FORBIDDEN
                     else CloseCode.PROTOCOL_ERROR)
            return self._violation(exc.error_code, exc.reason, close)
        self._auth_pending = auth
        return [AuthRequested(auth, streams)]

    def _normalise_auth(self, auth: Auth) -> tuple[Auth, tuple[StreamRef, ...]]:
        owner = auth.client_id
        refs = self._streams(auth.capabilities, owner, skip_personal=True)
        cursors = self._resume_map(auth.resume_cursors, owner)
        if auth.resume_cursor is not None:
            # the legacy single cursor is the fallback of every listed stream without its own (docs 4.1)
            for ref in refs:
                cursors.setdefault(ref.name, auth.resume_cursor)
        epochs = self._resume_map(auth.resume_epochs, owner)
        auth = Auth(auth.client_id, auth.token, tuple([ref.name for ref in refs]), auth.resume_cursor, cursors,
                    epochs)
        return auth, refs

    def _parse(self, name: str, owner: str | None) -> StreamRef | None:
        """Parse a stream name a client sent; None for the system channel (always implicit)."""
        if name == self.system.wire_name:
            return None
        ref = parse_stream(name, self.channels)
        if ref.is_personal and ref.owner != owner:
            raise StreamError(f"{name[:80]!r} is another client's personal stream",
                              error_code=ErrorCode.FORBIDDEN, stream=name)
        return ref

    def _streams(self, names: Iterable[str], owner: str | None, *,
                 skip_personal: bool = False) -> tuple[StreamRef, ...]:
        refs: dict[str, StreamRef] = {}
        for name in names:
            ref = self._parse(name, owner)
            if ref is not None and not (skip_personal and ref.is_personal):
                refs.setdefault(ref.name, ref)
        return tuple(refs.values())

    def _resume_map(self, values: Mapping[str, Any], owner: str | None) -> dict[str, Any]:
        out = {}
        for name, value in values.items():
            ref = self._parse(name, owner)
            if ref is not None:
                out[ref.name] = value
        return out

    def _system_payload(self, payload: Any) -> list[SessionEvent]:
        try:
            op = decode_op(payload)
        except OpError as exc:
            return self._violation(exc.error_code, exc.reason)
        try:
            return self._dispatch(op)
        except StreamError as exc:
            return self._violation(exc.error_code, exc.reason)

    def _dispatch(self, op: AnyOp) -> list[SessionEvent]:
        owner = self.client_id
        if isinstance(op, Subscribe):
            streams = self._streams(op.channels, owner)
            return [SubscribeRequested(streams, self._resume_map(op.resume_cursors, owner),
                                       self._resume_map(op.resume_epochs, owner))]
        if isinstance(op, Unsubscribe):
            # personal streams (anyone's) cannot be unsubscribed: naming them, or the system channel, is
            # ignored
            refs = (parse_stream(n, self.channels) for n in op.channels if n != self.system.wire_name)
            streams = tuple({r.name: r for r in refs if not r.is_personal}.values())
            return [UnsubscribeRequested(streams)] if streams else []
        if isinstance(op, ResumeRequired):
            ref = self._parse(op.channel, owner)
            if ref is None:
                raise StreamError("the system channel is not a stream", stream=op.channel)
            return [ResumeRangeRequested(ref, op.from_cursor, op.epoch)]
        if isinstance(op, Ack):
            ref = self._parse(op.channel, owner)
            if ref is None:
                raise StreamError("the system channel is not a stream", stream=op.channel)
            return [AckReceived(ref, op.cursor)]
        if isinstance(op, Ping):
            return [PingReceived()]
        if isinstance(op, Pong):
            return [PongReceived()]
        if isinstance(op, Features):
            return [FeaturesRequested(op.requested, op.supported)]
        if isinstance(op, Goodbye):
            return [GoodbyeReceived(op.reason)]
        if isinstance(op, Error):
            return []  # clients do not send errors; nothing to answer
        if isinstance(op, Auth):
            return self._violation(ErrorCode.UNSUPPORTED, "already authenticated")
        return self._violation(ErrorCode.UNSUPPORTED, f"{op.TYPE} is a server-to-client op")

    def _app_frame(self, frame: Frame) -> list[SessionEvent]:
        if frame.topic is not None and frame.topic.startswith("@"):
            return self._violation(ErrorCode.BAD_STREAM, "clients cannot send to topics starting with '@'")
        return [FrameReceived(frame)]

    def _fragment_assembler(self) -> FragmentAssembler:
        if self._assembler is None:
            self._assembler = FragmentAssembler()
        return self._assembler

"""System ops: the control messages carried on the system channel, as typed classes (layer 2, sans-I/O).

Every op is a frozen dataclass with a wire tag (``Auth.TYPE == "auth"``). :func:`encode_op` writes the op
wrapped in a system frame, with every field present (optional ones as ``null``, ``{}`` or ``[]``) in the key
order of docs/protocol.md — the golden vectors in ``tests/vectors/system_ops.json`` pin those bytes.
:func:`decode_op` is lenient where the spec says so (tag under ``type`` or ``op``, snake_case or PascalCase
tag values, ``null`` or missing optionals, unknown keys ignored) and strict about values: a bad field raises
:class:`OpError` carrying the ``error`` op code to answer with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

import orjson

from .._core.codec import encode_json_frame
from ..errors import ErrorCode, FrameError
from .resume import ResumeDecision, ResumeOutcome
from .streams import EPOCH_RE, MAX_CURSOR, MAX_STREAM_NAME_CHARS, is_uuid

__all__ = [
    "Ack",
    "Auth",
    "AuthOk",
    "Error",
    "Features",
    "Goodbye",
    "Health",
    "MAX_FEATURES",
    "MAX_STREAMS",
    "MAX_TEXT_CHARS",
    "MAX_TOKEN_CHARS",
    "ModeSwitch",
    "Op",
    "OpError",
    "Ping",
    "Pong",
    "ResumeRequired",
    "Slow",
    "StreamStatus",
    "Subscribe",
    "Subscribed",
    "Unsubscribe",
    "decode_op",
    "encode_op",
    "op_type",
]

#: at most this many streams in one auth / subscribe / unsubscribe (and entries in a resume map)
MAX_STREAMS = 256
MAX_TOKEN_CHARS = 4096
#: bound of every other free-text field (error message, health detail, goodbye reason, session token)
MAX_TEXT_CHARS = 4096
#: at most this many feature names, each at most MAX_FEATURE_CHARS
MAX_FEATURES = 64
MAX_FEATURE_CHARS = 64
MAX_U32 = 2**32 - 1

TRANSPORT_MODES = ("direct", "p2p", "relay")
MODE_SWITCH_REASONS = ("requested", "path_degraded", "path_recovered", "operator_override")


class OpError(FrameError):
    """A system op is malformed (``bad_frame``) or of an unknown type (``unsupported``).

    Attributes:
        error_code: the ``code`` of the ``error`` op to answer with.
    """

    def __init__(self, reason: str, *, error_code: ErrorCode = ErrorCode.BAD_FRAME) -> None:
        super().__init__(reason[:123])
        self.error_code = error_code


# ---------------------------------------------------------------------------------------------------------
# field readers (decode side)
# ---------------------------------------------------------------------------------------------------------

_MISSING: Any = object()


def _bad(tag: str, key: str, what: str) -> OpError:
    return OpError(f"{tag}.{key} {what}")


def _raw(obj: Mapping[str, Any], key: str) -> Any:
    value = obj.get(key, _MISSING)
    return _MISSING if value is None else value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _req(tag: str, obj: Mapping[str, Any], key: str) -> Any:
    value = _raw(obj, key)
    if value is _MISSING:
        raise _bad(tag, key, "is required")
    return value


def _text(tag: str, obj: Mapping[str, Any], key: str, *, required: bool = False,
          max_chars: int = MAX_TEXT_CHARS) -> str | None:
    value = _req(tag, obj, key) if required else _raw(obj, key)
    if value is _MISSING:
        return None
    if not isinstance(value, str):
        raise _bad(tag, key, "must be a string")
    if len(value) > max_chars:
        raise _bad(tag, key, f"is longer than {max_chars} characters")
    return value


def _uuid(tag: str, obj: Mapping[str, Any], key: str) -> str:
    value = _req(tag, obj, key)
    if not is_uuid(value):
        raise _bad(tag, key, "must be a canonical UUID string")
    return value.lower()


def _uint(tag: str, key: str, value: Any, limit: int = MAX_CURSOR) -> int:
    if not _is_int(value) or not 0 <= value <= limit:
        raise _bad(tag, key, f"must be an integer in 0..{limit}")
    return value


def _cursor(tag: str, obj: Mapping[str, Any], key: str, *, required: bool = False) -> int | None:
    value = _req(tag, obj, key) if required else _raw(obj, key)
    return None if value is _MISSING else _uint(tag, key, value)


def _epoch(tag: str, key: str, value: Any, entry: str | None = None) -> str:
    """Check an epoch; ``entry``: the name of the map entry it is (the error then names it)."""
    if not isinstance(value, str) or EPOCH_RE.fullmatch(value) is None:
        raise _bad(tag, key if entry is None else _entry(key, entry), "must be an epoch ([A-Za-z0-9]{1,32})")
    return value


def _str_list(tag: str, obj: Mapping[str, Any], key: str, *, max_items: int = MAX_STREAMS,
              max_chars: int = MAX_STREAM_NAME_CHARS, required: bool = False) -> tuple[str, ...]:
    value = _req(tag, obj, key) if required else _raw(obj, key)
    if value is _MISSING:
        return ()
    if not isinstance(value, list):
        raise _bad(tag, key, "must be a list of strings")
    if len(value) > max_items:
        raise _bad(tag, key, f"has more than {max_items} entries")
    for item in value:
        if not isinstance(item, str) or len(item) > max_chars:
            raise _bad(tag, key, f"must hold strings of at most {max_chars} characters")
    return tuple(value)


def _map(tag: str, obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = _raw(obj, key)
    if value is _MISSING:
        return {}
    if not isinstance(value, dict):
        raise _bad(tag, key, "must be an object")
    if len(value) > MAX_STREAMS:
        raise _bad(tag, key, f"has more than {MAX_STREAMS} entries")
    for name in value:
        if not isinstance(name, str) or len(name) > MAX_STREAM_NAME_CHARS:
            raise _bad(tag, key, f"keys are stream names of at most {MAX_STREAM_NAME_CHARS} characters")
    return value


def _cursor_map(tag: str, obj: Mapping[str, Any], key: str) -> dict[str, int]:
    cursors = _map(tag, obj, key)
    for name, value in cursors.items():
        if not _is_int(value) or not 0 <= value <= MAX_CURSOR:
            _uint(tag, _entry(key, name), value)  # raises, naming the entry
    return dict(cursors)


def _epoch_map(tag: str, obj: Mapping[str, Any], key: str) -> dict[str, str]:
    epochs = _map(tag, obj, key)
    for name, value in epochs.items():
        _epoch(tag, key, value, name)
    return dict(epochs)


def _entry(key: str, name: str) -> str:
    """How an error names the entry ``name`` of the map field ``key``."""
    return f"{key}[{name[:40]!r}]"


def _choice(tag: str, obj: Mapping[str, Any], key: str, choices: Iterable[str], *,
            required: bool = True) -> str | None:
    value = _req(tag, obj, key) if required else _raw(obj, key)
    if value is _MISSING:
        return None
    if value not in choices:
        raise _bad(tag, key, f"must be one of {', '.join(choices)}")
    return str(value)


# ---------------------------------------------------------------------------------------------------------
# ops
# ---------------------------------------------------------------------------------------------------------

class Op:
    """Base of every system op: ``TYPE`` is the wire tag, :meth:`to_payload` the op as a JSON object."""

    __slots__ = ()
    TYPE: ClassVar[str] = ""

    def to_payload(self) -> dict[str, Any]:
        """Return the op as the dict that travels as a system frame's payload (wire key order)."""
        raise NotImplementedError

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Op:
        """Build the op from a decoded payload whose tag was already checked (see :func:`decode_op`)."""
        raise NotImplementedError


def _tuple(value: Iterable[str]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else tuple(value)


@dataclass(frozen=True, slots=True)
class Auth(Op):
    """c->s, the first message of a session: who the client is and which streams it wants.

    Attributes:
        client_id: the client's UUID, lower-case canonical form.
        token: credential for the auth validator, or None.
        capabilities: stream names to subscribe (may list the system channel, which is implicit).
        resume_cursor: legacy single cursor, the fallback for every stream without its own entry.
        resume_cursors: stream name -> last cursor seen.
        resume_epochs: stream name -> the epoch of that cursor.
    """

    TYPE: ClassVar[str] = "auth"
    client_id: str
    token: str | None = None
    capabilities: tuple[str, ...] = ()
    resume_cursor: int | None = None
    resume_cursors: dict[str, int] = field(default_factory=dict)
    resume_epochs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "capabilities", _tuple(self.capabilities))

    def cursor_for(self, stream: str) -> int | None:
        """The resume cursor for ``stream``: its own entry, else the legacy ``resume_cursor``."""
        return self.resume_cursors.get(stream, self.resume_cursor)

    def epoch_for(self, stream: str) -> str | None:
        """The epoch the client's cursor for ``stream`` belongs to, or None (the current one)."""
        return self.resume_epochs.get(stream)

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE, "client_id": self.client_id, "token": self.token,
                "capabilities": list(self.capabilities), "resume_cursor": self.resume_cursor,
                "resume_cursors": dict(self.resume_cursors), "resume_epochs": dict(self.resume_epochs)}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Auth:
        t = cls.TYPE
        return cls(_uuid(t, obj, "client_id"), _text(t, obj, "token", max_chars=MAX_TOKEN_CHARS),
                   _str_list(t, obj, "capabilities"), _cursor(t, obj, "resume_cursor"),
                   _cursor_map(t, obj, "resume_cursors"), _epoch_map(t, obj, "resume_epochs"))


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """Where one stream resumed: an entry of ``auth_ok.streams`` / ``subscribed.streams``.

    Attributes:
        epoch: the stream's current epoch.
        cursor: frames with a cursor greater than this follow (replay, then live).
        top: the stream's latest offset now.
        outcome: ``new``, ``recovered``, ``gap`` or ``epoch_changed``.
        recovered: True only for ``recovered`` (derived from ``outcome`` when not given).
    """

    epoch: str
    cursor: int
    top: int
    outcome: ResumeOutcome
    recovered: bool | None = None

    def __post_init__(self) -> None:
        if type(self.outcome) is not ResumeOutcome:
            object.__setattr__(self, "outcome", ResumeOutcome(self.outcome))
        if self.recovered is None:
            object.__setattr__(self, "recovered", self.outcome is ResumeOutcome.RECOVERED)

    @classmethod
    def from_decision(cls, decision: ResumeDecision, *, epoch: str, top: int) -> StreamStatus:
        """Build the status of a stream from its resume decision."""
        return cls(epoch, decision.replay_after, top, decision.outcome, decision.recovered)

    def to_payload(self) -> dict[str, Any]:
        """The status as a JSON object (wire key order)."""
        return {"epoch": self.epoch, "cursor": self.cursor, "top": self.top, "outcome": self.outcome.value,
                "recovered": self.recovered}

    @classmethod
    def from_payload(cls, tag: str, key: str, obj: Any) -> StreamStatus:
        """Decode one status entry; ``tag``/``key`` only name it in errors."""
        if not isinstance(obj, dict):
            raise _bad(tag, key, "must be an object")
        recovered = _raw(obj, "recovered")
        if recovered is not _MISSING and not isinstance(recovered, bool):
            raise _bad(tag, f"{key}.recovered", "must be a boolean")
        outcome = _choice(tag, obj, "outcome", [o.value for o in ResumeOutcome])
        return cls(_epoch(tag, f"{key}.epoch", _req(tag, obj, "epoch")),
                   _uint(tag, f"{key}.cursor", _req(tag, obj, "cursor")),
                   _uint(tag, f"{key}.top", _req(tag, obj, "top")),
                   ResumeOutcome(outcome), None if recovered is _MISSING else recovered)


def _streams_payload(streams: Mapping[str, StreamStatus]) -> dict[str, Any]:
    return {name: status.to_payload() for name, status in streams.items()}


def _streams_field(tag: str, obj: Mapping[str, Any]) -> dict[str, StreamStatus]:
    return {name: StreamStatus.from_payload(tag, f"streams[{name[:40]!r}]", value)
            for name, value in _map(tag, obj, "streams").items()}


@dataclass(frozen=True, slots=True)
class AuthOk(Op):
    """s->c, auth accepted: a session token and, per stream, where the session resumes.

    Attributes:
        session_token: opaque secret for ``POST /rps/ack`` (None from peers that send none).
        streams: stream name -> :class:`StreamStatus`.
        resume_cursor: always 0 (legacy field).
        resume_cursors: stream name -> ``cursor`` (upstream shape); derived from ``streams`` when None.
    """

    TYPE: ClassVar[str] = "auth_ok"
    session_token: str | None = None
    streams: dict[str, StreamStatus] = field(default_factory=dict)
    resume_cursor: int = 0
    resume_cursors: dict[str, int] | None = None

    def __post_init__(self) -> None:
        if self.resume_cursors is None:
            object.__setattr__(self, "resume_cursors", {n: s.cursor for n, s in self.streams.items()})

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE, "session_token": self.session_token, "resume_cursor": self.resume_cursor,
                "resume_cursors": dict(self.resume_cursors or {}), "streams": _streams_payload(self.streams)}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> AuthOk:
        t = cls.TYPE
        has_cursors = _raw(obj, "resume_cursors") is not _MISSING
        cursors = _cursor_map(t, obj, "resume_cursors") if has_cursors else None
        return cls(_text(t, obj, "session_token"), _streams_field(t, obj),
                   _cursor(t, obj, "resume_cursor") or 0, cursors)


@dataclass(frozen=True, slots=True)
class Subscribe(Op):
    """c->s, add streams (replaying from the given cursors); answered by ``subscribed`` or ``error``."""

    TYPE: ClassVar[str] = "subscribe"
    channels: tuple[str, ...] = ()
    resume_cursors: dict[str, int] = field(default_factory=dict)
    resume_epochs: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", _tuple(self.channels))

    def cursor_for(self, stream: str) -> int | None:
        """The resume cursor for ``stream``, or None."""
        return self.resume_cursors.get(stream)

    def epoch_for(self, stream: str) -> str | None:
        """The epoch of the resume cursor for ``stream``, or None."""
        return self.resume_epochs.get(stream)

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE, "channels": list(self.channels),
                "resume_cursors": dict(self.resume_cursors), "resume_epochs": dict(self.resume_epochs)}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Subscribe:
        t = cls.TYPE
        return cls(_str_list(t, obj, "channels", required=True), _cursor_map(t, obj, "resume_cursors"),
                   _epoch_map(t, obj, "resume_epochs"))


@dataclass(frozen=True, slots=True)
class Subscribed(Op):
    """s->c, a subscribe (or client ``resume_required``) was accepted; replay follows."""

    TYPE: ClassVar[str] = "subscribed"
    streams: dict[str, StreamStatus] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE, "streams": _streams_payload(self.streams)}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Subscribed:
        return cls(_streams_field(cls.TYPE, obj))


@dataclass(frozen=True, slots=True)
class Unsubscribe(Op):
    """c->s, stop receiving streams (no reply)."""

    TYPE: ClassVar[str] = "unsubscribe"
    channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", _tuple(self.channels))

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE, "channels": list(self.channels)}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Unsubscribe:
        return cls(_str_list(cls.TYPE, obj, "channels", required=True))


@dataclass(frozen=True, slots=True)
class ResumeRequired(Op):
    """Both directions, two forms.

    s->c (``to_cursor``, ``epoch`` and ``reason`` set): frames ``from_cursor..to_cursor`` of stream
    ``channel`` cannot be replayed (``from_cursor > to_cursor`` is an empty range: for ``epoch_changed``
    nothing of the current epoch was lost, but the client's old position is void); reload state.
    c->s (``channel``, ``from_cursor`` and optionally ``epoch``): replay the stream from ``from_cursor``
    (inclusive), like ``subscribe`` with ``resume_cursors: {channel: from_cursor - 1}``.

    Attributes:
        channel: a stream name.
    """

    TYPE: ClassVar[str] = "resume_required"
    channel: str
    from_cursor: int
    to_cursor: int | None = None
    epoch: str | None = None
    reason: str | None = None

    @property
    def is_request(self) -> bool:
        """True for the client form (a replay request): no ``to_cursor`` and no ``reason``."""
        return self.to_cursor is None and self.reason is None

    @property
    def resume_cursor(self) -> int:
        """The resume cursor a replay request stands for: ``from_cursor - 1`` (0 at least)."""
        return max(self.from_cursor - 1, 0)

    @classmethod
    def from_decision(cls, stream: str, decision: ResumeDecision, *, epoch: str) -> ResumeRequired | None:
        """The server op announcing what a ``gap``/``epoch_changed`` decision lost, else None."""
        if not decision.resume_required:
            return None
        if decision.outcome is ResumeOutcome.GAP:
            assert decision.lost_from is not None and decision.lost_to is not None
            return cls(stream, decision.lost_from, decision.lost_to, epoch, decision.outcome.value)
        return cls(stream, 1, decision.replay_after, epoch, decision.outcome.value)

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE, "channel": self.channel, "from_cursor": self.from_cursor}
        if self.is_request:
            if self.epoch is not None:
                out["epoch"] = self.epoch
        else:
            out["to_cursor"] = self.to_cursor
            out["epoch"] = self.epoch
            out["reason"] = self.reason
        return out

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> ResumeRequired:
        t = cls.TYPE
        epoch = _raw(obj, "epoch")
        return cls(_text(t, obj, "channel", required=True, max_chars=MAX_STREAM_NAME_CHARS),  # type: ignore
                   _cursor(t, obj, "from_cursor", required=True),  # type: ignore[arg-type]
                   _cursor(t, obj, "to_cursor"), None if epoch is _MISSING else _epoch(t, "epoch", epoch),
                   _choice(t, obj, "reason", ("gap", "epoch_changed"), required=False))


@dataclass(frozen=True, slots=True)
class Ack(Op):
    """c->s, frames of stream ``channel`` up to ``cursor`` were processed."""

    TYPE: ClassVar[str] = "ack"
    channel: str
    cursor: int

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE, "channel": self.channel, "cursor": self.cursor}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Ack:
        t = cls.TYPE
        return cls(_text(t, obj, "channel", required=True, max_chars=MAX_STREAM_NAME_CHARS),  # type: ignore
                   _cursor(t, obj, "cursor", required=True))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Ping(Op):
    """Either direction; answered by ``pong``."""

    TYPE: ClassVar[str] = "ping"

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Ping:
        return cls()


@dataclass(frozen=True, slots=True)
class Pong(Op):
    """Either direction; the answer to ``ping``."""

    TYPE: ClassVar[str] = "pong"

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Pong:
        return cls()


@dataclass(frozen=True, slots=True)
class Slow(Op):
    """s->c, the connection's queue passed half its limit; ``window`` free frame slots are left."""

    TYPE: ClassVar[str] = "slow"
    window: int | None = None

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE, "window": self.window}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Slow:
        window = _raw(obj, "window")
        return cls(None if window is _MISSING else _uint(cls.TYPE, "window", window, MAX_U32))


@dataclass(frozen=True, slots=True)
class Error(Op):
    """Either direction: something went wrong; ``code`` is machine-readable.

    ``code`` is an :class:`ErrorCode`, or the raw string for a code this build does not know; a peer that
    sends no code (upstream sends only ``message``) decodes as ``internal``.
    """

    TYPE: ClassVar[str] = "error"
    code: ErrorCode | str
    message: str = ""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "code", ErrorCode(self.code))
        except ValueError:
            pass

    def to_payload(self) -> dict[str, Any]:
        code = self.code.value if isinstance(self.code, ErrorCode) else self.code
        return {"type": self.TYPE, "code": code, "message": self.message}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Error:
        t = cls.TYPE
        return cls(_text(t, obj, "code", max_chars=64) or ErrorCode.INTERNAL, _text(t, obj, "message") or "")


@dataclass(frozen=True, slots=True)
class Health(Op):
    """s->c status report."""

    TYPE: ClassVar[str] = "health"
    status: str = "ok"
    detail: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE, "status": self.status, "detail": self.detail}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Health:
        t = cls.TYPE
        return cls(_text(t, obj, "status", required=True), _text(t, obj, "detail"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Features(Op):
    """Feature negotiation: c->s asks for ``requested``; s->c lists ``supported`` and the granted subset."""

    TYPE: ClassVar[str] = "features"
    supported: tuple[str, ...] = ()
    requested: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "supported", _tuple(self.supported))
        object.__setattr__(self, "requested", _tuple(self.requested))

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE, "supported": list(self.supported), "requested": list(self.requested)}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Features:
        t = cls.TYPE
        return cls(_str_list(t, obj, "supported", max_items=MAX_FEATURES, max_chars=MAX_FEATURE_CHARS),
                   _str_list(t, obj, "requested", max_items=MAX_FEATURES, max_chars=MAX_FEATURE_CHARS))


@dataclass(frozen=True, slots=True)
class Goodbye(Op):
    """Either direction, before a graceful close."""

    TYPE: ClassVar[str] = "goodbye"
    reason: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE, "reason": self.reason}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> Goodbye:
        return cls(_text(cls.TYPE, obj, "reason"))


@dataclass(frozen=True, slots=True)
class ModeSwitch(Op):
    """s->c, a peer's transport mode changed (RTC): ``direct``, ``p2p`` or ``relay``."""

    TYPE: ClassVar[str] = "mode_switch"
    peer_id: str
    mode: str
    previous_mode: str
    reason: str
    generation: int

    def to_payload(self) -> dict[str, Any]:
        return {"type": self.TYPE, "peer_id": self.peer_id, "mode": self.mode,
                "previous_mode": self.previous_mode, "reason": self.reason, "generation": self.generation}

    @classmethod
    def from_payload(cls, obj: Mapping[str, Any]) -> ModeSwitch:
        t = cls.TYPE
        return cls(_uuid(t, obj, "peer_id"),
                   _choice(t, obj, "mode", TRANSPORT_MODES),  # type: ignore[arg-type]
                   _choice(t, obj, "previous_mode", TRANSPORT_MODES),  # type: ignore[arg-type]
                   _choice(t, obj, "reason", MODE_SWITCH_REASONS),  # type: ignore[arg-type]
                   _uint(t, "generation", _req(t, obj, "generation")))


AnyOp: TypeAlias = (Auth | AuthOk | Subscribe | Subscribed | Unsubscribe | ResumeRequired | Ack | Ping | Pong
                    | Slow | Error | Health | Features | Goodbye | ModeSwitch)

OPS: dict[str, type[Op]] = {cls.TYPE: cls for cls in (
    Auth, AuthOk, Subscribe, Subscribed, Unsubscribe, ResumeRequired, Ack, Ping, Pong, Slow, Error, Health,
    Features, Goodbye, ModeSwitch)}

_PASCAL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PASCAL_RE = re.compile(r"(?:[A-Z][a-z0-9]+)+")


def op_type(obj: Mapping[str, Any]) -> str:
    """Return the normalised (snake_case) tag of an op object: ``type``, else ``op``.

    Raises:
        OpError: no string tag (``bad_frame``).
    """
    tag = obj.get("type")
    if not isinstance(tag, str):
        tag = obj.get("op")
        if not isinstance(tag, str):
            raise OpError("a system op needs a string 'type' (or 'op')")
    if _PASCAL_RE.fullmatch(tag) is not None:
        tag = _PASCAL_BOUNDARY.sub("_", tag).lower()
    return tag


def decode_op(obj: Any) -> AnyOp:
    """Decode a system op from its JSON object (a system frame's payload, or a bare op).

    Args:
        obj: the decoded JSON object.

    Returns:
        The typed op.

    Raises:
        OpError: not an object or no tag (``bad_frame``), unknown tag (``unsupported``), or a field with a
            bad value (``bad_frame``; the message names the field).
    """
    if not isinstance(obj, dict):
        raise OpError("a system op must be a JSON object")
    tag = op_type(obj)
    cls = OPS.get(tag)
    if cls is None:
        raise OpError(f"unknown system op {tag[:40]!r}", error_code=ErrorCode.UNSUPPORTED)
    return cls.from_payload(obj)  # type: ignore[return-value]


def encode_op(op: Op, system_channel: Any = "system") -> bytes:
    """Encode an op as a system frame: ``{"channel":"system","cursor":null,"client_id":null,"payload":{..}}``.

    Args:
        op: the op.
        system_channel: the system channel's wire name, or its ChannelKind member.

    Returns:
        The JSON frame (a WebSocket text message, or SSE ``data:``).
    """
    name = getattr(system_channel, "wire_name", system_channel)
    return encode_json_frame(name, None, orjson.dumps(op.to_payload()))

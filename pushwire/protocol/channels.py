"""Channels: the application's taxonomy of what travels over a connection (layer 2, sans-I/O).

An application names its channels by subclassing :class:`ChannelKind`, an :class:`enum.Enum` whose member
values are :class:`ChannelSpec` objects (or ``(wire_id, priority[, system])`` tuples)::

    class AppChannel(ChannelKind):
        SYSTEM = ChannelSpec(wire_id=5, priority=0, system=True)
        CHAT = ChannelSpec(wire_id=1, priority=1)
        TELEMETRY = (4, 2)
        MY_FEED = ChannelSpec(wire_id=7, priority=1, name="my-feed")

The class is validated when it is created (``ConfigError`` on a bad wire name, a duplicate wire id or name, or
not exactly one system channel), so a bad taxonomy fails at import time, not on the first frame.
See docs/protocol.md, "Channels, streams, cursors".
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = [
    "CHANNEL_NAME_RE",
    "ChannelKind",
    "ChannelSpec",
    "DefaultChannel",
    "LANE_HIGH",
    "LANE_LOW",
    "LANE_NORMAL",
]

#: a channel's wire name (what JSON frames and SSE ``event:`` lines carry)
CHANNEL_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")

LANE_HIGH = 0
LANE_NORMAL = 1
LANE_LOW = 2


def _check_byte(what: str, value: object, low: int) -> int:
    # bool is an int subclass; ``True`` as a wire id is a bug, not a 1
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 255:
        raise ConfigError(f"{what} must be an int in {low}..255, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """The wire properties of one channel.

    Attributes:
        wire_id: the one-byte id used in binary ``RP`` frames, 1..255 (0 is reserved).
        priority: 0 high, 1 normal, >= 2 low (the outbound lane of the channel's frames).
        system: True for the one channel that carries system ops.
        name: the wire name; None means the enum member's name lower-cased.
    """

    wire_id: int
    priority: int = 1
    system: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        _check_byte("wire_id", self.wire_id, 1)
        _check_byte("priority", self.priority, 0)
        if not isinstance(self.system, bool):
            raise ConfigError(f"system must be a bool, got {self.system!r}")
        if self.name is not None:
            _check_name(self.name)

    @classmethod
    def coerce(cls, args: tuple[Any, ...]) -> ChannelSpec:
        """Turn an enum member's value (a spec, or the tuple shorthand) into a spec.

        Raises:
            ConfigError: the value is neither a ChannelSpec nor ``(wire_id, priority[, system])``.
        """
        if len(args) == 1 and isinstance(args[0], ChannelSpec):
            return args[0]
        if 2 <= len(args) <= 3:
            return cls(*args)
        raise ConfigError(f"a channel is a ChannelSpec or (wire_id, priority[, system]), got {args!r}")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or CHANNEL_NAME_RE.fullmatch(name) is None:
        raise ConfigError(f"channel name {name!r} does not match ^[a-z][a-z0-9_-]{{0,31}}$")
    return name


class _ChannelKindMeta(enum.EnumType):
    """Validates a ChannelKind subclass once its members exist, and builds its lookup tables."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: Any, **kwargs: Any) -> Any:
        cls = super().__new__(mcls, name, bases, namespace, **kwargs)
        if cls._member_names_:
            _index(cls)
        return cls


def _index(cls: Any) -> None:
    # an alias means two members had equal values, i.e. the same wire id (the member value is the wire id)
    if len(cls._member_map_) != len(cls._member_names_):
        aliases = sorted(set(cls._member_map_) - set(cls._member_names_))
        raise ConfigError(f"{cls.__name__}: duplicate wire id on {', '.join(aliases)}")
    by_name: dict[str, Any] = {}
    systems = []
    table = bytearray(256)
    for member in cls._member_map_.values():
        if member.wire_name in by_name:
            raise ConfigError(f"{cls.__name__}: duplicate channel name {member.wire_name!r}")
        by_name[member.wire_name] = member
        table[member.wire_id] = 1
        if member.is_system:
            systems.append(member)
    if len(systems) != 1:
        raise ConfigError(f"{cls.__name__}: exactly one system channel is required, found {len(systems)}")
    # plain attributes on the class (not members: set after the enum body was processed)
    type.__setattr__(cls, "_pw_by_name", by_name)
    type.__setattr__(cls, "_pw_system", systems[0])
    type.__setattr__(cls, "_pw_all", tuple(cls._member_map_.values()))
    type.__setattr__(cls, "_pw_wire_table", bytes(table))


class ChannelKind(enum.Enum, metaclass=_ChannelKindMeta):
    """Base class of an application's channels; subclass it with one member per channel.

    Each member's value is a :class:`ChannelSpec` or a ``(wire_id, priority[, system])`` tuple. After class
    creation ``member.value`` is the wire id, so ``AppChannel(5)`` finds the member with wire id 5 (prefer
    :meth:`from_wire_id`, which returns None instead of raising).
    """

    _pw_spec: ChannelSpec
    _pw_name: str

    def __new__(cls, *args: Any) -> ChannelKind:
        spec = ChannelSpec.coerce(args)
        member = object.__new__(cls)
        member._value_ = spec.wire_id
        member._pw_spec = spec
        return member

    def __init__(self, *args: Any) -> None:
        # ``self.name`` (the member name) is only known here, not in __new__
        spec = self._pw_spec
        self._pw_name = spec.name if spec.name is not None else _check_name(self.name.lower())

    @property
    def spec(self) -> ChannelSpec:
        """The member's ChannelSpec."""
        return self._pw_spec

    @property
    def wire_name(self) -> str:
        """The name on the wire: JSON ``channel``, SSE ``event:``, stream names."""
        return self._pw_name

    @property
    def wire_id(self) -> int:
        """The one-byte id of binary RP frames (1..255)."""
        return self._pw_spec.wire_id

    @property
    def priority(self) -> int:
        """0 high, 1 normal, >= 2 low."""
        return self._pw_spec.priority

    @property
    def is_system(self) -> bool:
        """True for the channel that carries system ops."""
        return self._pw_spec.system

    @property
    def lane(self) -> int:
        """The outbound lane: 0 high (priority 0), 1 normal (priority 1), 2 low (priority >= 2)."""
        return min(self._pw_spec.priority, LANE_LOW)

    @classmethod
    def from_name(cls, name: str) -> Any:
        """Return the member whose wire name is ``name``, or None."""
        return cls._lookup("_pw_by_name").get(name)

    @classmethod
    def from_wire_id(cls, wire_id: int) -> Any:
        """Return the member with this wire id, or None."""
        cls._lookup("_pw_by_name")
        return cls._value2member_map_.get(wire_id)

    @classmethod
    def system(cls) -> Any:
        """Return the system channel."""
        return cls._lookup("_pw_system")

    @classmethod
    def all(cls) -> tuple[Any, ...]:
        """Return every channel, in definition order."""
        return cls._lookup("_pw_all")

    @classmethod
    def wire_table(cls) -> bytes:
        """Return the 256-byte table of known wire ids (byte ``i`` is 1 when ``i`` is a wire id).

        This is the ``known_wire_ids`` argument of ``pushwire._core.codec.decode_binary_frame``.
        """
        return cls._lookup("_pw_wire_table")

    @classmethod
    def _lookup(cls, attr: str) -> Any:
        try:
            return cls.__dict__[attr]
        except KeyError:
            raise TypeError(f"{cls.__name__} has no channels; subclass it and add members") from None

    def __repr__(self) -> str:
        return (f"<{type(self).__name__}.{self.name}: {self.wire_name!r} id={self.wire_id} "
                f"prio={self.priority}>")


class DefaultChannel(ChannelKind):
    """The channels of ``pushwire-serve`` and the demo."""

    SYSTEM = ChannelSpec(wire_id=5, priority=0, system=True)
    ALERTS = ChannelSpec(wire_id=1, priority=0)
    CHAT = ChannelSpec(wire_id=2, priority=1)
    EVENTS = ChannelSpec(wire_id=3, priority=1)
    TELEMETRY = ChannelSpec(wire_id=4, priority=2)
    RTC = ChannelSpec(wire_id=6, priority=0)

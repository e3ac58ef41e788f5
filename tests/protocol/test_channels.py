"""ChannelKind: declaration forms, lookups, lanes and class-creation validation."""

from __future__ import annotations

import pickle

import pytest

from pushwire.errors import ConfigError
from pushwire.protocol.channels import ChannelKind, ChannelSpec, DefaultChannel


class AppChannel(ChannelKind):
    SYSTEM = ChannelSpec(wire_id=5, priority=0, system=True)
    CHAT = ChannelSpec(wire_id=1, priority=1)
    TELEMETRY = (4, 2)
    MY_FEED = ChannelSpec(wire_id=7, priority=1, name="my-feed")
    BULK = (200, 9)


def test_member_properties() -> None:
    assert AppChannel.CHAT.wire_name == "chat"
    assert AppChannel.CHAT.wire_id == 1
    assert AppChannel.CHAT.priority == 1
    assert not AppChannel.CHAT.is_system
    assert AppChannel.SYSTEM.is_system
    assert AppChannel.TELEMETRY.wire_id == 4
    assert AppChannel.TELEMETRY.priority == 2
    assert AppChannel.MY_FEED.wire_name == "my-feed"
    assert AppChannel.MY_FEED.name == "MY_FEED"


def test_lanes() -> None:
    assert AppChannel.SYSTEM.lane == 0
    assert AppChannel.CHAT.lane == 1
    assert AppChannel.TELEMETRY.lane == 2
    assert AppChannel.BULK.lane == 2


def test_lookups() -> None:
    assert AppChannel.from_name("my-feed") is AppChannel.MY_FEED
    assert AppChannel.from_name("MY_FEED") is None
    assert AppChannel.from_name("my_feed") is None
    assert AppChannel.from_name("nope") is None
    assert AppChannel.from_wire_id(4) is AppChannel.TELEMETRY
    assert AppChannel.from_wire_id(0) is None
    assert AppChannel.from_wire_id(3) is None
    assert AppChannel.system() is AppChannel.SYSTEM
    assert AppChannel.all() == (AppChannel.SYSTEM, AppChannel.CHAT, AppChannel.TELEMETRY,
                                AppChannel.MY_FEED, AppChannel.BULK)
    assert AppChannel(7) is AppChannel.MY_FEED


def test_wire_table() -> None:
    table = AppChannel.wire_table()
    assert len(table) == 256
    assert {i for i, b in enumerate(table) if b} == {1, 4, 5, 7, 200}


def test_members_pickle_and_compare() -> None:
    assert pickle.loads(pickle.dumps(AppChannel.MY_FEED)) is AppChannel.MY_FEED
    assert AppChannel.CHAT != DefaultChannel.CHAT


def test_default_channel() -> None:
    expected = {"system": (5, 0, True), "alerts": (1, 0, False), "chat": (2, 1, False),
                "events": (3, 1, False), "telemetry": (4, 2, False), "rtc": (6, 0, False)}
    got = {c.wire_name: (c.wire_id, c.priority, c.is_system) for c in DefaultChannel.all()}
    assert got == expected


def test_base_class_has_no_channels() -> None:
    with pytest.raises(TypeError):
        ChannelKind.system()


def _declare(**members: object) -> type[ChannelKind]:
    return ChannelKind("Tmp", members)  # type: ignore[return-value]


@pytest.mark.parametrize("members, fragment", [
    ({"SYSTEM": (5, 0, True), "A": (1, 1), "B": (1, 2)}, "duplicate wire id"),
    ({"SYSTEM": (5, 0, True), "A": (1, 1), "B": ChannelSpec(2, 1, name="a")}, "duplicate channel name"),
    ({"A": (1, 1)}, "exactly one system"),
    ({"S1": (1, 0, True), "S2": (2, 0, True)}, "exactly one system"),
    ({"SYSTEM": (5, 0, True), "A": (0, 1)}, "wire_id"),
    ({"SYSTEM": (5, 0, True), "A": (256, 1)}, "wire_id"),
    ({"SYSTEM": (5, 0, True), "A": (True, 1)}, "wire_id"),
    ({"SYSTEM": (5, 0, True), "A": (3, -1)}, "priority"),
    ({"SYSTEM": (5, 0, True), "A": (3, 256)}, "priority"),
    ({"SYSTEM": (5, 0, True), "A": (3, 1.0)}, "priority"),
    ({"SYSTEM": (5, 0, True), "A": (3,)}, "ChannelSpec or"),
    ({"SYSTEM": (5, 0, True), "A": (3, 1, True, 4)}, "ChannelSpec or"),
    ({"SYSTEM": (5, 0, True), "A" * 33: (3, 1)}, "does not match"),
])
def test_invalid_declarations(members: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        _declare(**members)


@pytest.mark.parametrize("name", ["a", "a" * 32, "x9", "my-feed", "my_feed", "z-_0"])
def test_valid_names(name: str) -> None:
    cls = _declare(SYSTEM=(5, 0, True), A=ChannelSpec(3, 1, name=name))
    assert cls.from_name(name).wire_id == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["", "a" * 33, "9a", "-a", "_a", "a b", "a:b", "ä", "A"])
def test_invalid_names(name: str) -> None:
    with pytest.raises(ConfigError):
        ChannelSpec(3, 1, name=name)


def test_spec_system_must_be_bool() -> None:
    with pytest.raises(ConfigError):
        ChannelSpec(3, 1, system=1)  # type: ignore[arg-type]

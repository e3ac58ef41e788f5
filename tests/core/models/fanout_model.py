"""Pure-Python model of the ordering contract of ``pushwire._core.fanout.Outbox`` (tests only).

It does not re-implement the lanes: it records what was handed to an outbox and what came out of it, and says
what is allowed to come out:

- per stream, frames come out in the order they were handed in (live or replay), never twice;
- a lossless stream (high or normal lane) and the system messages lose nothing while the outbox is open;
- a low-lane stream may skip frames, and every skipped frame was a low-lane drop;
- once the outbox is cut (overflow), nothing more comes out.

It also follows the catch-up backlog from the outside (which streams catch up, which queued publications were
replay and which live), so a test can tell where a publication must go and when a cut is allowed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

SYSTEM = "!"
"""Stream name the model uses for system messages (high lane, lossless)."""

Key = tuple[str, int]


@dataclass(frozen=True)
class LaneBound:
    """One lane's count and byte bounds and whether it is lossless (``SIGNAL``) or drops (``DROP_OLDEST``)."""

    max_count: int
    max_bytes: int
    lossless: bool

    def fits(self, count: int, nbytes: int, item_bytes: int) -> bool:
        """Whether a push of ``item_bytes`` onto a lane holding ``count``/``nbytes`` is accepted as is."""
        return count == 0 or (count < self.max_count and nbytes + item_bytes <= self.max_bytes)


@dataclass
class OrderingModel:
    """What an outbox was given, what it wrote, and what it may still write."""

    lane_of: dict[str, int]
    expected: dict[str, list[int]] = field(default_factory=dict)
    written: dict[str, list[int]] = field(default_factory=dict)
    #: the catch-up backlog as seen from outside: (key, is_live), oldest first
    backlog: deque[tuple[Key, bool]] = field(default_factory=deque)
    catching_up: set[str] = field(default_factory=set)
    cut: bool = False
    warn_due: bool = False

    def __post_init__(self) -> None:
        self.lane_of = {**self.lane_of, SYSTEM: 0}
        for stream in self.lane_of:
            self.expected.setdefault(stream, [])
            self.written.setdefault(stream, [])

    # -- input -------------------------------------------------------------------------------------------

    def handed(self, key: Key) -> None:
        """An item was handed to the (open) outbox."""
        stream, offset = key
        assert not self.expected[stream] or self.expected[stream][-1] < offset, "offsets must grow per stream"
        self.expected[stream].append(offset)

    def live_goes_to_backlog(self, stream: str, backlog_size: int) -> bool:
        """Whether a live publication of ``stream`` must queue behind a catch-up."""
        return backlog_size > 0 and stream in self.catching_up

    def queued_behind(self, key: Key, live: bool) -> None:
        """A publication entered the catch-up backlog."""
        if not live:
            self.catching_up.add(key[0])
        self.backlog.append((key, live))

    def backlog_now(self, size: int) -> None:
        """The outbox's backlog holds ``size`` publications now: the oldest ones left for the lanes."""
        assert size <= len(self.backlog), "the backlog grew by itself"
        while len(self.backlog) > size:
            self.backlog.popleft()
        if size == 0:
            self.catching_up.clear()

    @property
    def live_waiting(self) -> int:
        """Live publications waiting in the backlog right now."""
        return sum(1 for _, live in self.backlog if live)

    def was_cut(self) -> None:
        """The outbox overflowed: everything queued is gone."""
        self.cut = True
        self.backlog.clear()
        self.catching_up.clear()

    # -- output ------------------------------------------------------------------------------------------

    def lossless(self, stream: str) -> bool:
        return self.lane_of[stream] < 2

    def wrote(self, key: Key) -> None:
        """One item came out of the outbox: check it against the contract."""
        stream, offset = key
        assert not self.cut, f"{key} written after the cut"
        done = self.written[stream]
        if self.lossless(stream):
            want = self.expected[stream][len(done)] if len(done) < len(self.expected[stream]) else None
            assert offset == want, f"lossless {stream}: wrote {offset}, expected {want} (written: {done})"
        else:
            assert offset in self.expected[stream], f"{key} was never handed in"
            assert not done or offset > done[-1], f"{stream}: {offset} after {done[-1]} (order or duplicate)"
        done.append(offset)

    def missing(self, lossless: bool) -> int:
        """Items handed in and not written, over the lossless or over the lossy streams."""
        streams = [s for s in self.lane_of if self.lossless(s) == lossless]
        return sum(len(self.expected[s]) - len(self.written[s]) for s in streams)

    def check_complete(self, low_drops: int) -> None:
        """After a full drain of an open outbox: all written, low-lane gaps exactly the frames dropped."""
        for stream in self.lane_of:
            if self.lossless(stream):
                assert self.written[stream] == self.expected[stream], stream
        assert self.missing(lossless=False) == low_drops

"""Per-stream cursor tracking of the clients: delivery decisions, holes, and the resume point.

Layer 5 (faces). Pure computation, no I/O: the client feeds every inbound frame's cursor to
:meth:`CursorTracker.advance` and delivers the frame only when the answer says so; it feeds every ``auth_ok`` and
``subscribed`` stream entry to :meth:`CursorTracker.sync`.

Unlike the upstream tracker (which accepts any first cursor), a stream's position starts from what the server
reported in ``auth_ok``/``subscribed``, so a gap before the first frame is seen. A gap is remembered as a *hole*:
the frames in it are delivered exactly once if they arrive later (gap filling or replay after a reconnect), and
:meth:`CursorTracker.resume_cursor` points just before the oldest hole, so a resume asks the server for them.

Truth table of :meth:`CursorTracker.advance` for a stream whose highest delivered cursor is ``last``:

=========================== =============== ==========================================
cursor                      result          effect
=========================== =============== ==========================================
``last + 1``                ``SEQUENTIAL``  deliver; ``last`` moves on
``> last + 1``              ``GAP``         deliver; hole ``[last+1, cursor-1]``
``<= last``, inside a hole  ``FILL``        deliver; the cursor leaves the hole
``<= last``, not in a hole  ``DUPLICATE``   drop
=========================== =============== ==========================================
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass, field

__all__ = ["Advance", "CursorResult", "CursorTracker", "StreamCursor"]

#: A stream keeps at most this many holes; older ones are given up (reported lost) past it, so a client that
#: sees every other frame dropped cannot make the tracker grow without bound.
MAX_HOLES = 1024


class CursorResult(enum.Enum):
    """What to do with an inbound frame, by its cursor."""

    SEQUENTIAL = "sequential"
    GAP = "gap"
    FILL = "fill"
    DUPLICATE = "duplicate"

    @property
    def deliver(self) -> bool:
        """Whether the frame goes to the handlers."""
        return self is not CursorResult.DUPLICATE


@dataclass(frozen=True, slots=True)
class Advance:
    """The answer of :meth:`CursorTracker.advance`.

    Attributes:
        result: the decision.
        missing_from: for ``GAP``, the first cursor not received; otherwise 0.
        missing_to: for ``GAP``, the last cursor not received; otherwise 0.
    """

    result: CursorResult
    missing_from: int = 0
    missing_to: int = 0

    @property
    def deliver(self) -> bool:
        """Whether the frame goes to the handlers."""
        return self.result.deliver


@dataclass(slots=True)
class StreamCursor:
    """One stream's position.

    Attributes:
        last: highest cursor delivered (or the server-reported start position).
        epoch: the stream's epoch as last reported by the server; None when not known yet.
        holes: sorted, disjoint, inclusive ranges of cursors below ``last`` not delivered yet.
    """

    last: int = 0
    epoch: str | None = None
    holes: list[tuple[int, int]] = field(default_factory=list)

    def contiguous(self) -> int:
        """Return the highest cursor up to which everything was delivered (or given up)."""
        return self.holes[0][0] - 1 if self.holes else self.last

    def find_hole(self, cursor: int) -> int:
        """Return the index of the hole holding ``cursor``, or -1."""
        i = bisect.bisect_right(self.holes, (cursor, float("inf"))) - 1
        if i >= 0 and self.holes[i][0] <= cursor <= self.holes[i][1]:
            return i
        return -1

    def drop_holes_through(self, cursor: int) -> list[tuple[int, int]]:
        """Forget every hole cursor ``<= cursor`` and return the forgotten ranges."""
        lost: list[tuple[int, int]] = []
        kept: list[tuple[int, int]] = []
        for lo, hi in self.holes:
            if hi <= cursor:
                lost.append((lo, hi))
            elif lo <= cursor:
                lost.append((lo, cursor))
                kept.append((cursor + 1, hi))
            else:
                kept.append((lo, hi))
        self.holes = kept
        return lost


class CursorTracker:
    """Cursor positions, epochs and holes of every stream a client receives."""

    def __init__(self, *, max_holes: int = MAX_HOLES) -> None:
        self._streams: dict[str, StreamCursor] = {}
        self._max_holes = max_holes
        #: number of cursors given up so far (holes the server said it cannot fill, or evicted holes)
        self.lost = 0

    def __contains__(self, stream: object) -> bool:
        return stream in self._streams

    def streams(self) -> list[str]:
        """Return the names of the tracked streams."""
        return list(self._streams)

    def get(self, stream: str) -> StreamCursor | None:
        """Return the state of ``stream``, or None when it is not tracked."""
        return self._streams.get(stream)

    def advance(self, stream: str, cursor: int) -> Advance:
        """Decide about an inbound frame of ``stream`` with ``cursor`` and record it (see the module table).

        An untracked stream starts at 0 (nothing seen): that happens for a personal stream created after the
        client connected, whose first frame is cursor 1.
        """
        state = self._streams.get(stream)
        if state is None:
            state = self._streams[stream] = StreamCursor()
        if cursor == state.last + 1:
            state.last = cursor
            return Advance(CursorResult.SEQUENTIAL)
        if cursor > state.last + 1:
            missing = (state.last + 1, cursor - 1)
            state.holes.append(missing)
            state.last = cursor
            self._evict_holes(state)
            return Advance(CursorResult.GAP, missing[0], missing[1])
        i = state.find_hole(cursor)
        if i < 0:
            return Advance(CursorResult.DUPLICATE)
        lo, hi = state.holes[i]
        pieces = [r for r in ((lo, cursor - 1), (cursor + 1, hi)) if r[0] <= r[1]]
        state.holes[i : i + 1] = pieces
        return Advance(CursorResult.FILL)

    def sync(self, stream: str, *, cursor: int, epoch: str | None, reset: bool = False) -> list[tuple[int, int]]:
        """Take the position the server resumes ``stream`` from (an ``auth_ok``/``subscribed`` entry).

        Frames with a cursor above ``cursor`` follow from the server. Whatever the client still missed at or
        below ``cursor`` will never come, so those holes are given up.

        Args:
            stream: the stream name.
            cursor: the server's resume position for the stream.
            epoch: the stream's current epoch.
            reset: the client's position is meaningless now (outcome ``epoch_changed``); restart from
                ``cursor``. A known epoch that differs from ``epoch`` resets too.

        Returns:
            The cursor ranges given up (empty when nothing was lost).
        """
        state = self._streams.get(stream)
        if state is None:
            self._streams[stream] = StreamCursor(last=cursor, epoch=epoch)
            return []
        if reset or (state.epoch is not None and epoch is not None and state.epoch != epoch):
            self._streams[stream] = StreamCursor(last=cursor, epoch=epoch)
            return []
        if epoch is not None:
            state.epoch = epoch
        lost = state.drop_holes_through(cursor)
        if cursor > state.last:
            lost.append((state.last + 1, cursor))
            state.last = cursor
        self.lost += sum(hi - lo + 1 for lo, hi in lost)
        return lost

    def give_up(self, stream: str, first: int, last: int) -> None:
        """Stop waiting for cursors ``first..last`` of ``stream`` (the server said they cannot be replayed)."""
        state = self._streams.get(stream)
        if state is None or last < first:
            return
        kept: list[tuple[int, int]] = []
        for lo, hi in state.holes:
            if hi < first or lo > last:
                kept.append((lo, hi))
                continue
            self.lost += min(hi, last) - max(lo, first) + 1
            if lo < first:
                kept.append((lo, first - 1))
            if hi > last:
                kept.append((last + 1, hi))
        state.holes = kept

    def forget(self, stream: str) -> None:
        """Stop tracking ``stream`` (after an unsubscribe)."""
        self._streams.pop(stream, None)

    def holes(self, stream: str) -> list[tuple[int, int]]:
        """Return the ranges of ``stream`` still missing (a copy)."""
        state = self._streams.get(stream)
        return list(state.holes) if state else []

    def resume_cursor(self, stream: str) -> int:
        """Return the cursor to resume ``stream`` from: everything up to it was delivered (0 when untracked)."""
        state = self._streams.get(stream)
        return state.contiguous() if state else 0

    def resume_cursors(self) -> dict[str, int]:
        """Return :meth:`resume_cursor` of every tracked stream."""
        return {name: state.contiguous() for name, state in self._streams.items()}

    def cursors(self) -> dict[str, int]:
        """Return the highest delivered cursor of every tracked stream."""
        return {name: state.last for name, state in self._streams.items()}

    def epochs(self) -> dict[str, str]:
        """Return the known epoch of every tracked stream (streams with no known epoch are left out)."""
        return {name: state.epoch for name, state in self._streams.items() if state.epoch is not None}

    def set_epoch(self, stream: str, epoch: str) -> None:
        """Record ``stream``'s epoch (e.g. from an SSE position vector) without moving its cursor."""
        state = self._streams.get(stream)
        if state is None:
            self._streams[stream] = StreamCursor(epoch=epoch)
        elif state.epoch != epoch:
            state.epoch = epoch

    def _evict_holes(self, state: StreamCursor) -> None:
        while len(state.holes) > self._max_holes:
            lo, hi = state.holes.pop(0)
            self.lost += hi - lo + 1

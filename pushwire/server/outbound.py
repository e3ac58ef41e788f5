"""A connection's outbound path (layer 4): how a connection gets its Cython :class:`Outbox`.

Frames are queued as references (the same bytes for every subscriber) in the connection's priority lanes. The
first frame queued in a loop turn marks the outbox dirty; once per turn the server's :class:`Flusher` drains
every dirty outbox (high, then normal, then low, under a byte budget) into one ``writelines`` each. While the
transport's write buffer is above its high-water mark the outbox is paused, so frames wait in the bounded lanes:
a lossless lane that overflows ends the connection with close code 4000 (the client resumes from its cursors),
the low lane drops its oldest frames (the client sees a cursor gap).

Replay does not go through the lane bounds at once: a client that resumes far behind would overflow them with
frames that history already holds. Replayed publications wait in a *catch-up backlog* (references to what
history keeps) and move into the lanes as the socket drains; live publications of a stream that is catching up
queue behind its replay, so every stream stays in order. The backlog is bounded too: a client that falls
further behind while catching up is cut as slow like any other.

The mechanics live in ``pushwire._core.fanout`` (C speed on the path of every publish); this module only turns
configuration into an outbox.
"""

from __future__ import annotations

from typing import Any

from .._core.fanout import OUT_SSE, OUT_WS, Flusher, Outbox
from .._core.lanes import DROP_OLDEST, SIGNAL, PriorityLanes
from ..config import QueueConfig

__all__ = ["OUT_SSE", "OUT_WS", "OutboxMaker", "make_outbox"]


class OutboxMaker:
    """Makes the outboxes of one server: the queue limits are turned into constructor arguments once."""

    __slots__ = ("_flusher", "_lanes_args", "_outbox_args")

    def __init__(self, queue: QueueConfig, flusher: Flusher, *, backlog_limit: int) -> None:
        self._flusher = flusher
        self._lanes_args = (queue.high.max_count, queue.high.max_bytes, queue.normal.max_count,
                            queue.normal.max_bytes, queue.low.max_count, queue.low.max_bytes)
        lanes_min_count = min(queue.high.max_count, queue.normal.max_count, queue.low.max_count)
        lanes_min_bytes = min(queue.high.max_bytes, queue.normal.max_bytes, queue.low.max_bytes)
        self._outbox_args = {
            "max_flush_bytes": queue.max_flush_bytes,
            "backlog_limit": backlog_limit,
            # the backlog fills the lanes to half their smallest bound, so live frames still have room
            "refill_count": lanes_min_count // 2,
            "refill_bytes": min(lanes_min_bytes, 2 * queue.max_flush_bytes) // 2,
            # ``slow`` is due when the high or the normal lane passes half of its count or byte bound
            "warn_high_count": queue.high.max_count // 2, "warn_high_bytes": queue.high.max_bytes // 2,
            "warn_normal_count": queue.normal.max_count // 2, "warn_normal_bytes": queue.normal.max_bytes // 2,
        }

    def __call__(self, owner: Any, kind: int) -> Outbox:
        """A new outbox for ``owner`` (see :func:`make_outbox`)."""
        lanes = PriorityLanes(*self._lanes_args, high_policy=SIGNAL, normal_policy=SIGNAL,
                              low_policy=DROP_OLDEST)
        return Outbox(lanes, kind, self._flusher, owner, **self._outbox_args)


def make_outbox(owner: Any, kind: int, queue: QueueConfig, flusher: Flusher, *, backlog_limit: int) -> Outbox:
    """Create a connection's outbox from the queue limits.

    ``owner`` must provide ``on_overflow()`` (cut as slow consumer) and ``warn_slow()`` (send ``slow``); the
    caller sets ``outbox.write`` once it has a transport. A server makes many: it keeps an
    :class:`OutboxMaker`.
    """
    return OutboxMaker(queue, flusher, backlog_limit=backlog_limit)(owner, kind)

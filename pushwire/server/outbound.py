"""A connection's outbound path (layer 4): priority lanes, one flush per loop turn, one write per flush.

Frames are queued as references (the same bytes for every subscriber) in the Cython
:class:`~pushwire._core.lanes.PriorityLanes`. The first frame queued in a loop turn schedules one flush; the
flush drains high, then normal, then low, under a byte budget, and hands the batch to the transport in one
``writelines``. While the transport's write buffer is above its high-water mark the connection stops draining,
so frames wait in the bounded lanes: a lossless lane that overflows ends the connection with close code 4000
(the client resumes from its cursors), the low lane drops its oldest frames (the client sees a cursor gap).
"""

from __future__ import annotations

import asyncio
from typing import Any

from .._core.lanes import DROP_OLDEST, PUSH_DROPPED_OLDEST, PUSH_OVERFLOW, SIGNAL, PriorityLanes
from ..config import QueueConfig
from ..metrics import Metrics

__all__ = ["Outbound"]


class Outbound:
    """Mixin for connection classes: queue frames by lane and flush them once per event-loop turn.

    Subclasses set ``self.transport`` and implement :meth:`write_batch` (turn drained items into bytes and
    write them) and :meth:`on_overflow` (a lossless lane is full).
    """

    __slots__ = ("loop", "metrics", "lanes", "max_flush_bytes", "flush_scheduled", "writing_paused",
                 "outbound_closed", "slow_warned", "_slow_threshold")

    transport: Any

    def init_outbound(self, loop: asyncio.AbstractEventLoop, queue: QueueConfig, metrics: Metrics) -> None:
        self.loop = loop
        self.metrics = metrics
        self.lanes = PriorityLanes(
            queue.high.max_count, queue.high.max_bytes,
            queue.normal.max_count, queue.normal.max_bytes,
            queue.low.max_count, queue.low.max_bytes,
            high_policy=SIGNAL, normal_policy=SIGNAL, low_policy=DROP_OLDEST,
        )
        self.max_flush_bytes = queue.max_flush_bytes
        self.flush_scheduled = False
        self.writing_paused = False
        self.outbound_closed = False
        self.slow_warned = False
        self._slow_threshold = (queue.high.max_count + queue.normal.max_count) // 2

    def enqueue(self, item: object, nbytes: int, lane: int) -> bool:
        """Queue one item for the client; return False when it could not be queued (the connection ends)."""
        if self.outbound_closed:
            return False
        result = self.lanes.push(item, nbytes, lane)
        if result == PUSH_OVERFLOW:
            self.metrics.inc("slow_consumer_closes")
            self.outbound_closed = True
            self.lanes.clear()
            self.on_overflow()
            return False
        if result == PUSH_DROPPED_OLDEST:
            self.metrics.inc("low_lane_drops")
        if not self.flush_scheduled and not self.writing_paused:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)
        return True

    def flush(self) -> None:
        """Drain the lanes into one write (called once per loop turn)."""
        self.flush_scheduled = False
        if self.writing_paused or self.outbound_closed or not self.lanes:
            return
        batch: list[Any] = []
        self.lanes.drain_into(batch, self.max_flush_bytes)
        self.write_batch(batch)
        if self.lanes and not self.writing_paused and not self.flush_scheduled:
            # more than one budget's worth was queued: continue next turn, letting other connections write
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def queued_lossless(self) -> int:
        """Frames waiting in the high and normal lanes."""
        return self.lanes.high_count + self.lanes.normal_count

    def should_warn_slow(self) -> bool:
        """True once when the lossless lanes pass half their capacity (then ``slow`` is sent)."""
        if not self.slow_warned and self.queued_lossless() >= self._slow_threshold:
            self.slow_warned = True
            return True
        return False

    def stop_outbound(self) -> None:
        """Drop everything queued; nothing more is written."""
        self.outbound_closed = True
        self.lanes.clear()

    # asyncio flow control (the transport calls these on the protocol)

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.metrics.inc("write_pauses")

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.lanes and not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    # subclass hooks

    def write_batch(self, batch: list[Any]) -> None:
        raise NotImplementedError

    def on_overflow(self) -> None:
        raise NotImplementedError

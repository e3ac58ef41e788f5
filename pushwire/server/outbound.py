"""A connection's outbound path (layer 4): priority lanes, one flush per loop turn, one write per flush.

Frames are queued as references (the same bytes for every subscriber) in the Cython
:class:`~pushwire._core.lanes.PriorityLanes`. The first frame queued in a loop turn schedules one flush; the
flush drains high, then normal, then low, under a byte budget, and hands the batch to the transport in one
``writelines``. While the transport's write buffer is above its high-water mark the connection stops draining,
so frames wait in the bounded lanes: a lossless lane that overflows ends the connection with close code 4000
(the client resumes from its cursors), the low lane drops its oldest frames (the client sees a cursor gap).

Replay does not go through the lane bounds at once: a client that resumes far behind would overflow them with
frames that history already holds. Replayed publications wait in a *catch-up backlog* (references to what
history keeps) and are moved into the lanes as the socket drains; live publications of a stream that is
catching up queue behind its replay, so every stream stays in order. The backlog is bounded too: a client that
falls further behind while catching up is cut as slow like any other.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from .._core.lanes import DROP_OLDEST, PUSH_DROPPED_OLDEST, PUSH_OVERFLOW, SIGNAL, PriorityLanes
from ..config import QueueConfig
from ..metrics import Metrics

__all__ = ["Outbound"]


class Outbound:
    """Mixin for connection classes: queue frames by lane and flush them once per event-loop turn.

    List it *before* ``asyncio.Protocol`` in the bases: ``asyncio.BaseProtocol`` has no-op ``pause_writing``
    and ``resume_writing`` that would otherwise win and silently disable flow control.

    Subclasses set ``self.transport`` and implement :meth:`write_batch` (turn drained items into bytes and
    write them) and :meth:`on_overflow` (a lossless lane is full).
    """

    __slots__ = ("loop", "metrics", "lanes", "max_flush_bytes", "flush_scheduled", "writing_paused",
                 "outbound_closed", "slow_warned", "backlog", "catching_up", "_backlog_limit",
                 "_refill_count", "_refill_bytes", "_warn_at")

    transport: Any

    def init_outbound(self, loop: asyncio.AbstractEventLoop, queue: QueueConfig, metrics: Metrics, *,
                      backlog_limit: int) -> None:
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
        #: (count, bytes) of the high and of the normal lane at which ``slow`` is sent: half their bounds
        self._warn_at = (queue.high.max_count // 2, queue.high.max_bytes // 2,
                         queue.normal.max_count // 2, queue.normal.max_bytes // 2)
        #: publications waiting to enter the lanes (replay, then live frames of streams still catching up)
        self.backlog: deque[Any] | None = None
        #: streams whose live publications must queue behind their replay
        self.catching_up: set[str] | None = None
        self._backlog_limit = backlog_limit
        #: how full the lanes may get from the backlog before waiting for the socket
        self._refill_count = max(1, min(queue.high.max_count, queue.normal.max_count, queue.low.max_count) // 2)
        self._refill_bytes = max(1, min(queue.high.max_bytes, queue.normal.max_bytes, queue.low.max_bytes,
                                        2 * queue.max_flush_bytes) // 2)

    # -- publications ---------------------------------------------------------------------------------------

    def deliver(self, publication: Any) -> None:
        """Queue a live publication (the hub calls this for every subscriber; never blocks)."""
        catching_up = self.catching_up
        if catching_up is not None and publication.stream in catching_up:
            self._to_backlog(publication)
        elif self.push_publication(publication) and self.should_warn_slow():
            self.warn_slow()

    def deliver_replay(self, stream: str, publications: list[Any]) -> None:
        """Queue a stream's replay; live publications of the stream queue behind it until it is written."""
        if not publications:
            return
        if (self.backlog is None and len(publications) + self.lanes.count <= self._refill_count
                and sum(len(p.json) for p in publications) + self.lanes.nbytes <= self._refill_bytes):
            for publication in publications:  # small replay: straight into the lanes
                if not self.push_publication(publication):
                    return
            return
        if self.backlog is None:
            self.backlog, self.catching_up = deque(), set()
        self.catching_up.add(stream)  # type: ignore[union-attr]
        for publication in publications:
            self._to_backlog(publication)
        self._schedule_flush()

    def _to_backlog(self, publication: Any) -> None:
        backlog = self.backlog
        assert backlog is not None
        if len(backlog) >= self._backlog_limit:
            self.metrics.inc("slow_consumer_closes")
            self.stop_outbound()
            self.on_overflow()
            return
        backlog.append(publication)

    def _refill(self) -> None:
        """Move publications from the backlog into the lanes, up to half their capacity."""
        backlog = self.backlog
        assert backlog is not None
        lanes = self.lanes
        while backlog and lanes.count < self._refill_count and lanes.nbytes < self._refill_bytes:
            if not self.push_publication(backlog.popleft()):
                return
        if not backlog:
            self.backlog = self.catching_up = None

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

    def _schedule_flush(self) -> None:
        if not self.flush_scheduled and not self.writing_paused:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Drain the lanes into one write (called once per loop turn)."""
        self.flush_scheduled = False
        if self.writing_paused or self.outbound_closed:
            return
        if self.backlog is not None:
            self._refill()
        if not self.lanes:
            return
        batch: list[Any] = []
        self.lanes.drain_into(batch, self.max_flush_bytes)
        self.write_batch(batch)
        if (self.lanes or self.backlog) and not self.writing_paused:
            # more than one budget's worth was queued: continue next turn, letting other connections write
            self._schedule_flush()

    def queued_lossless(self) -> int:
        """Frames waiting in the high and normal lanes."""
        return self.lanes.high_count + self.lanes.normal_count

    def should_warn_slow(self) -> bool:
        """True once, when the high or the normal lane passes half its count or byte bound (``slow`` follows)."""
        if self.slow_warned:
            return False
        lanes = self.lanes
        high_count, high_bytes, normal_count, normal_bytes = self._warn_at
        if (lanes.normal_count >= normal_count or lanes.normal_bytes >= normal_bytes
                or lanes.high_count >= high_count or lanes.high_bytes >= high_bytes):
            self.slow_warned = True
            return True
        return False

    def stop_outbound(self) -> None:
        """Drop everything queued; nothing more is written."""
        self.outbound_closed = True
        self.lanes.clear()
        self.backlog = self.catching_up = None

    # asyncio flow control (the transport calls these on the protocol)

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.metrics.inc("write_pauses")

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.lanes or self.backlog:
            self._schedule_flush()

    # subclass hooks

    def push_publication(self, publication: Any) -> bool:
        """Put one publication in the lanes in this transport's form; False when the connection ended."""
        raise NotImplementedError

    def warn_slow(self) -> None:
        raise NotImplementedError

    def write_batch(self, batch: list[Any]) -> None:
        raise NotImplementedError

    def on_overflow(self) -> None:
        raise NotImplementedError

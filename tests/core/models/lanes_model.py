"""Pure-Python model of ``pushwire._core.lanes.PriorityLanes`` (tests only): three deques, no cleverness."""

from __future__ import annotations

from collections import deque
from typing import Any

SIGNAL = 0
DROP_OLDEST = 1
PUSH_OK = 0
PUSH_DROPPED_OLDEST = 1
PUSH_OVERFLOW = -1


class _LaneModel:
    def __init__(self, max_count: int, max_bytes: int, policy: int) -> None:
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.policy = policy
        self.items: deque[tuple[Any, int]] = deque()
        self.nbytes = 0
        self.dropped = 0
        self.overflows = 0

    def fits(self, nbytes: int) -> bool:
        return len(self.items) + 1 <= self.max_count and self.nbytes + nbytes <= self.max_bytes


class PriorityLanesModel:
    """Same contract as ``PriorityLanes``, written for clarity rather than speed."""

    def __init__(self, high_count: int, high_bytes: int, normal_count: int, normal_bytes: int,
                 low_count: int, low_bytes: int, *, high_policy: int = SIGNAL,
                 normal_policy: int = SIGNAL, low_policy: int = DROP_OLDEST) -> None:
        self.lanes = [
            _LaneModel(high_count, high_bytes, high_policy),
            _LaneModel(normal_count, normal_bytes, normal_policy),
            _LaneModel(low_count, low_bytes, low_policy),
        ]

    def push(self, item: Any, nbytes: int, priority: int) -> int:
        if priority < 0:
            raise ValueError("priority must be >= 0")
        if nbytes < 0:
            raise ValueError("nbytes must be >= 0")
        lane = self.lanes[min(priority, 2)]
        result = PUSH_OK
        if lane.items and not lane.fits(nbytes):
            if lane.policy == SIGNAL:
                lane.overflows += 1
                return PUSH_OVERFLOW
            while lane.items and not lane.fits(nbytes):
                _, size = lane.items.popleft()
                lane.nbytes -= size
                lane.dropped += 1
            result = PUSH_DROPPED_OLDEST
        lane.items.append((item, nbytes))
        lane.nbytes += nbytes
        return result

    def drain_into(self, out: list[Any], max_bytes: int = -1) -> int:
        total = 0
        moved = 0
        for lane in self.lanes:
            while lane.items:
                item, size = lane.items[0]
                if max_bytes >= 0 and moved and total + size > max_bytes:
                    return total
                lane.items.popleft()
                lane.nbytes -= size
                out.append(item)
                total += size
                moved += 1
        return total

    def clear(self) -> None:
        for lane in self.lanes:
            lane.items.clear()
            lane.nbytes = 0

    @property
    def count(self) -> int:
        return sum(len(lane.items) for lane in self.lanes)

    @property
    def nbytes(self) -> int:
        return sum(lane.nbytes for lane in self.lanes)

    @property
    def high_count(self) -> int:
        return len(self.lanes[0].items)

    @property
    def normal_count(self) -> int:
        return len(self.lanes[1].items)

    @property
    def low_count(self) -> int:
        return len(self.lanes[2].items)

    @property
    def high_bytes(self) -> int:
        return self.lanes[0].nbytes

    @property
    def normal_bytes(self) -> int:
        return self.lanes[1].nbytes

    @property
    def low_bytes(self) -> int:
        return self.lanes[2].nbytes

    @property
    def dropped(self) -> int:
        return sum(lane.dropped for lane in self.lanes)

    @property
    def dropped_low(self) -> int:
        return self.lanes[2].dropped

    @property
    def overflows(self) -> int:
        return sum(lane.overflows for lane in self.lanes)

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

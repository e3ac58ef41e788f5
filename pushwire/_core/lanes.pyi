"""Priority lanes: one connection's outbound queue (types of the compiled ``pushwire._core.lanes``)."""

from typing import Any, Final

__all__ = ["DROP_OLDEST", "PUSH_DROPPED_OLDEST", "PUSH_OK", "PUSH_OVERFLOW", "SIGNAL", "PriorityLanes"]

SIGNAL: Final[int]
"""Lane policy: refuse an item that does not fit and report ``PUSH_OVERFLOW``."""
DROP_OLDEST: Final[int]
"""Lane policy: drop the oldest items until the new one fits and report ``PUSH_DROPPED_OLDEST``."""
PUSH_OK: Final[int]
"""``push`` result: queued, nothing dropped."""
PUSH_DROPPED_OLDEST: Final[int]
"""``push`` result: queued after dropping older items of a ``DROP_OLDEST`` lane."""
PUSH_OVERFLOW: Final[int]
"""``push`` result: refused by a full ``SIGNAL`` lane; nothing was queued."""

class PriorityLanes:
    """Three bounded FIFO lanes (high, normal, low) of references, with byte accounting."""

    def __init__(
        self,
        high_count: int,
        high_bytes: int,
        normal_count: int,
        normal_bytes: int,
        low_count: int,
        low_bytes: int,
        *,
        high_policy: int = ...,
        normal_policy: int = ...,
        low_policy: int = ...,
    ) -> None:
        """Create empty lanes with these count and byte bounds (ConfigError when a bound is < 1)."""
    def push(self, item: Any, nbytes: int, priority: int) -> int:
        """Queue ``item`` on lane 0 high, 1 normal, >=2 low; return a PUSH_* result."""
    def drain_into(self, out: list[Any], max_bytes: int = -1) -> int:
        """Move items into ``out`` by priority, FIFO per lane, up to ``max_bytes``; return bytes moved."""
    def compact(self) -> None:
        """Give back the storage of empty lanes (queued items are kept)."""
    def clear(self) -> None:
        """Drop every queued item (drop and overflow counters are kept)."""
    @property
    def count(self) -> int:
        """Items queued in all lanes."""
    @property
    def nbytes(self) -> int:
        """Bytes queued in all lanes."""
    @property
    def high_count(self) -> int:
        """Items queued in the high lane."""
    @property
    def normal_count(self) -> int:
        """Items queued in the normal lane."""
    @property
    def low_count(self) -> int:
        """Items queued in the low lane."""
    @property
    def high_bytes(self) -> int:
        """Bytes queued in the high lane."""
    @property
    def normal_bytes(self) -> int:
        """Bytes queued in the normal lane."""
    @property
    def low_bytes(self) -> int:
        """Bytes queued in the low lane."""
    @property
    def dropped(self) -> int:
        """Items dropped so far by DROP_OLDEST lanes."""
    @property
    def dropped_low(self) -> int:
        """Items dropped so far by the low lane."""
    @property
    def overflows(self) -> int:
        """Pushes refused so far with PUSH_OVERFLOW."""
    def __len__(self) -> int:
        """Items queued in all lanes."""
    def __bool__(self) -> bool:
        """Whether any item is queued."""

"""Replay index: one stream's history ring (types of the compiled ``pushwire._core.replay``)."""

from typing import Any

__all__ = ["ReplayIndex"]

class ReplayIndex:
    """One stream's history: entries at consecutive offsets, bounded by count and age, O(1) offset lookup."""

    def __init__(
        self, max_count: int, max_age_s: float = 0.0, *, epoch: str = "", start_offset: int = 1
    ) -> None:
        """Create an empty history (ConfigError when max_count < 1, max_age_s < 0 or start_offset < 1)."""
    def append(self, entry: Any, now: float = -1.0) -> int:
        """Store ``entry`` at the next offset (time ``now``, negative = clock); return the offset."""
    def get(self, offset: int) -> Any | None:
        """Return the entry kept at ``offset``, or None."""
    def after(self, cursor: int) -> list[Any]:
        """Return all entries after ``cursor``, oldest first (CursorTooOld / CursorAhead when it cannot)."""
    def after_available(self, cursor: int, limit: int = -1) -> list[Any]:
        """Return the kept entries after ``cursor`` (the oldest ``limit`` when limit >= 0), never raising."""
    def trim(self, now: float = -1.0) -> int:
        """Drop entries older than ``max_age_s`` (if > 0) at time ``now``; return how many were dropped."""
    def trim_through(self, offset: int) -> int:
        """Drop entries with offsets <= ``offset``; return how many were dropped."""
    def reset(self, epoch: str, start_offset: int = 1) -> None:
        """Forget all history and start epoch ``epoch`` at ``start_offset``."""
    @property
    def epoch(self) -> str:
        """The opaque id of this history."""
    @property
    def first_offset(self) -> int:
        """Offset of the oldest kept entry (== next_offset when empty)."""
    @property
    def last_offset(self) -> int:
        """Offset of the latest appended entry (start_offset - 1 before any)."""
    @property
    def next_offset(self) -> int:
        """Offset the next append assigns."""
    @property
    def max_count(self) -> int:
        """Most entries kept."""
    @property
    def max_age_s(self) -> float:
        """Age limit in seconds used by trim (0: none)."""
    def __len__(self) -> int:
        """Entries kept."""

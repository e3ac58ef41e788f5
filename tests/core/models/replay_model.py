"""Pure-Python model of ``pushwire._core.replay.ReplayIndex`` (tests only): a dict from offset to entry."""

from __future__ import annotations

import time
from typing import Any

from pushwire.errors import ConfigError, CursorAhead, CursorTooOld


class ReplayIndexModel:
    """Same contract as ``ReplayIndex``: ``{offset: (entry, time)}`` plus the first and next offsets."""

    def __init__(self, max_count: int, max_age_s: float = 0.0, *, epoch: str = "",
                 start_offset: int = 1) -> None:
        if max_count < 1 or max_age_s < 0 or start_offset < 1:
            raise ConfigError("bad replay index settings")
        self.max_count = max_count
        self.max_age_s = max_age_s
        self.reset(epoch, start_offset)

    def reset(self, epoch: str, start_offset: int = 1) -> None:
        if start_offset < 1:
            raise ConfigError("start_offset must be >= 1")
        self.epoch = epoch
        self.entries: dict[int, tuple[Any, float]] = {}
        self.first_offset = start_offset
        self.next_offset = start_offset

    @property
    def last_offset(self) -> int:
        return self.next_offset - 1

    def _drop_oldest(self) -> None:
        del self.entries[self.first_offset]
        self.first_offset += 1

    def append(self, entry: Any, now: float = -1.0) -> int:
        if now < 0:
            now = time.monotonic()
        if len(self.entries) == self.max_count:
            self._drop_oldest()
        offset = self.next_offset
        self.entries[offset] = (entry, now)
        self.next_offset += 1
        return offset

    def get(self, offset: int) -> Any:
        kept = self.entries.get(offset)
        return None if kept is None else kept[0]

    def after(self, cursor: int) -> list[Any]:
        if cursor > self.last_offset:
            raise CursorAhead(cursor, self.last_offset)
        if cursor < self.first_offset - 1:
            raise CursorTooOld(cursor, self.first_offset)
        return [self.entries[o][0] for o in range(cursor + 1, self.next_offset)]

    def after_available(self, cursor: int, limit: int = -1) -> list[Any]:
        start = max(cursor + 1, self.first_offset)
        found = [self.entries[o][0] for o in range(start, self.next_offset)]
        return found if limit < 0 else found[:limit]

    def trim(self, now: float = -1.0) -> int:
        if self.max_age_s <= 0 or not self.entries:
            return 0
        if now < 0:
            now = time.monotonic()
        dropped = 0
        while self.entries and now - self.entries[self.first_offset][1] > self.max_age_s:
            self._drop_oldest()
            dropped += 1
        return dropped

    def trim_through(self, offset: int) -> int:
        dropped = 0
        while self.entries and self.first_offset <= offset:
            self._drop_oldest()
            dropped += 1
        return dropped

    def __len__(self) -> int:
        return len(self.entries)

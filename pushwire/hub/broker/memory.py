"""The in-memory broker (layer 3): the embedded default for a single process.

History lives in one Cython :class:`~pushwire._core.replay.ReplayIndex` per stream. Epochs are random per stream
and per process, so a client that resumes against a restarted server is told ``epoch_changed`` instead of being
handed offsets that mean something else now.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Container

from ..._core.replay import ReplayIndex
from ...config import HistoryConfig
from .base import Broker, Encoder, HistoryRead, Publication, StreamState

__all__ = ["MemoryBroker", "new_epoch"]


def new_epoch() -> str:
    """Return a fresh random epoch: 8 lowercase base32 characters (40 bits)."""
    return base64.b32encode(os.urandom(5)).decode("ascii").lower()


class _MemoryStream:
    __slots__ = ("replay", "last_active")

    def __init__(self, history: HistoryConfig) -> None:
        self.replay = ReplayIndex(history.max_count, history.max_age_s, epoch=new_epoch())
        self.last_active = time.monotonic()


class MemoryBroker(Broker):
    """Single-process broker: offsets, epochs and history in memory, delivery by a direct call.

    Args:
        history: how many frames, and for how long, each stream keeps.
        idle_stream_ttl_s: a stream with empty history and no publish for this long is forgotten (its epoch with
            it) by :meth:`sweep`, so personal streams of departed clients do not pile up.
    """

    synchronous = True

    def __init__(self, history: HistoryConfig | None = None, *, idle_stream_ttl_s: float = 3600.0) -> None:
        # a subclass that makes history reads wait (a test double of a networked store) is read through them
        self.synchronous_reads = type(self).read_history is MemoryBroker.read_history
        self._history = history or HistoryConfig()
        self._idle_stream_ttl_s = idle_stream_ttl_s
        self._streams: dict[str, _MemoryStream] = {}

    def _stream(self, name: str) -> _MemoryStream:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = _MemoryStream(self._history)
        return stream

    async def publish(self, stream: str, encode: Encoder) -> Publication:
        return self.publish_now(stream, encode)

    def publish_now(self, stream: str, encode: Encoder) -> Publication:
        """Publish synchronously: assign the offset, keep, deliver to the hub, return the publication."""
        entry = self._stream(stream)
        replay = entry.replay
        publication = encode(replay.next_offset, replay.epoch)
        replay.append(publication)
        entry.last_active = time.monotonic()
        if self._handler is not None:
            self._handler.handle_publication(publication)
        return publication

    async def read_history(self, stream: str, after: int, limit: int) -> HistoryRead:
        return self.read_history_now(stream, after, limit)

    def read_history_now(self, stream: str, after: int, limit: int) -> HistoryRead:
        """Synchronous :meth:`read_history` (the memory broker never waits)."""
        replay = self._stream(stream).replay
        publications = replay.after_available(after, limit)
        return HistoryRead(self._state_of(replay), publications)

    def state(self, stream: str) -> StreamState:
        return self._state_of(self._stream(stream).replay)

    @staticmethod
    def _state_of(replay: ReplayIndex) -> StreamState:
        return StreamState(replay.epoch, replay.first_offset, replay.last_offset)

    def trim_through(self, stream: str, offset: int) -> None:
        entry = self._streams.get(stream)
        if entry is not None:
            entry.replay.trim_through(offset)

    def discard_unused(self, stream: str) -> None:
        entry = self._streams.get(stream)
        if entry is not None and entry.replay.last_offset == 0:
            del self._streams[stream]

    def sweep(self, in_use: Container[str] = ()) -> tuple[int, list[str]]:
        now = time.monotonic()
        dropped = 0
        forget = []
        for name, entry in self._streams.items():
            dropped += entry.replay.trim()
            if (len(entry.replay) == 0 and now - entry.last_active > self._idle_stream_ttl_s
                    and name not in in_use):
                forget.append(name)
        for name in forget:
            del self._streams[name]
        return dropped, forget

    @property
    def stream_count(self) -> int:
        """How many streams are known."""
        return len(self._streams)

"""The broker contract (layer 3): what the hub needs from whoever assigns offsets and keeps history.

A publish reads straight down: ``Hub.publish`` -> ``Broker.publish`` assigns the stream's next offset, builds the
wire bytes once (through the ``encode`` callback the hub gives it), keeps them in history and hands the
:class:`Publication` back to the hub's ``handle_publication``, which fans it out to local subscribers. The
in-memory broker does all of that synchronously inside ``publish``; a broker that spans processes (Redis) calls
``handle_publication`` when the publication comes back from its bus, on every node.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from collections.abc import Container
from typing import Callable, Protocol

from ..._core.fanout import Publication

__all__ = [
    "Broker",
    "HistoryRead",
    "Publication",
    "PublicationHandler",
    "StreamState",
]


#: Builds the wire bytes of a frame once its offset is known: ``(offset, epoch) -> Publication``.
Encoder = Callable[[int, str], Publication]


@dataclass(frozen=True, slots=True)
class StreamState:
    """Where a stream stands: its epoch and the range of offsets history still holds."""

    epoch: str
    #: oldest offset still kept (== last_offset + 1 when history is empty)
    first_offset: int
    #: latest offset assigned (0 when nothing was ever published in this epoch)
    last_offset: int


@dataclass(frozen=True, slots=True)
class HistoryRead:
    """Publications read from history, with the stream's state at the time of the read."""

    state: StreamState
    publications: list[Publication]


class PublicationHandler(Protocol):
    """The hub side of the contract: receives every publication to fan out locally."""

    def handle_publication(self, publication: Publication) -> None: ...


class Broker(abc.ABC):
    """Assigns offsets, keeps history per stream, and delivers publications to the hub."""

    _handler: PublicationHandler | None = None
    #: True when :meth:`publish_now` works: offsets are assigned in this process, without waiting
    synchronous: bool = False
    #: True when :meth:`read_history_now` works (the hub then prepares subscribes without awaiting)
    synchronous_reads: bool = False

    def bind(self, handler: PublicationHandler) -> None:
        """Set the hub that receives publications; called once by the hub."""
        self._handler = handler

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect to whatever the broker needs; the memory broker needs nothing."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and tasks."""

    @abc.abstractmethod
    async def publish(self, stream: str, encode: Encoder) -> Publication:
        """Assign the stream's next offset, encode, keep in history, deliver to the hub; return the publication."""

    def publish_now(self, stream: str, encode: Encoder) -> Publication:
        """Publish without waiting; only brokers with ``synchronous = True`` implement it."""
        raise NotImplementedError(f"{type(self).__name__} publishes asynchronously: await publish()")

    @abc.abstractmethod
    async def read_history(self, stream: str, after: int, limit: int) -> HistoryRead:
        """Return the stream's state and, oldest first, at most ``limit`` kept publications with offset > after."""

    def read_history_now(self, stream: str, after: int, limit: int) -> HistoryRead:
        """:meth:`read_history` without waiting; only brokers with ``synchronous_reads = True`` implement it."""
        raise NotImplementedError(f"{type(self).__name__} reads history asynchronously: await read_history()")

    @abc.abstractmethod
    def state(self, stream: str) -> StreamState:
        """Return the stream's current state (creating the stream, with a fresh epoch, if unknown)."""

    @abc.abstractmethod
    def trim_through(self, stream: str, offset: int) -> None:
        """Drop history through ``offset`` (acknowledged frames of a personal stream)."""

    def discard_unused(self, stream: str) -> None:  # noqa: B027 - optional hook
        """Forget a stream that never had a publication and has no local subscriber (nothing to resume)."""

    @abc.abstractmethod
    def sweep(self, in_use: Container[str] = ()) -> tuple[int, list[str]]:
        """Trim history by age and forget idle empty streams not in ``in_use``.

        Returns:
            How many history entries were dropped, and the names of the streams forgotten (their epochs with
            them: a client resuming one later is told ``epoch_changed``).
        """

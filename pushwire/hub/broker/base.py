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

__all__ = [
    "Broker",
    "HistoryRead",
    "Publication",
    "PublicationHandler",
    "StreamState",
]


class Publication:
    """One published frame, encoded once and shared by every subscriber and by history.

    Attributes:
        stream: stream name (``chat`` or ``chat:room42``).
        offset: the frame's cursor in its stream.
        epoch: the stream's epoch when the frame was published.
        lane: 0 high, 1 normal, 2 low (from the channel's priority).
        json: the JSON frame bytes (the WebSocket text message, the SSE ``data:``).
        ws_frame: the complete unmasked WebSocket text frame (header + ``json``).
        event: the SSE ``event:`` name (the channel's wire name).
    """

    __slots__ = ("stream", "offset", "epoch", "lane", "json", "ws_frame", "event", "_sse_body")

    def __init__(self, stream: str, offset: int, epoch: str, lane: int, json: bytes, ws_frame: bytes,
                 event: str) -> None:
        self.stream = stream
        self.offset = offset
        self.epoch = epoch
        self.lane = lane
        self.json = json
        self.ws_frame = ws_frame
        self.event = event
        self._sse_body: bytes | None = None

    @property
    def sse_body(self) -> bytes:
        """``event:`` and ``data:`` lines and the blank line, built on first use and then shared.

        The ``id:`` line is not part of it: it carries each SSE connection's own position vector.
        """
        body = self._sse_body
        if body is None:
            # JSON from orjson never contains a raw newline, so the frame is exactly one data line.
            body = b"event: " + self.event.encode() + b"\ndata: " + self.json + b"\n\n"
            self._sse_body = body
        return body

    def __repr__(self) -> str:
        return f"<Publication {self.stream}@{self.offset} epoch={self.epoch} {len(self.json)}B>"


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

    @abc.abstractmethod
    async def read_history(self, stream: str, after: int, limit: int) -> HistoryRead:
        """Return the stream's state and, oldest first, at most ``limit`` kept publications with offset > after."""

    @abc.abstractmethod
    def state(self, stream: str) -> StreamState:
        """Return the stream's current state (creating the stream, with a fresh epoch, if unknown)."""

    @abc.abstractmethod
    def trim_through(self, stream: str, offset: int) -> None:
        """Drop history through ``offset`` (acknowledged frames of a personal stream)."""

    @abc.abstractmethod
    def sweep(self, in_use: Container[str] = ()) -> int:
        """Trim history by age and forget idle empty streams not in ``in_use``; return entries dropped."""

"""Fan-out: publications, connection outboxes, per-stream fan-out and the per-turn flusher (compiled)."""

from collections.abc import Callable, Container, Iterator, MutableMapping
from typing import Any

from .lanes import PriorityLanes

__all__ = ["Flusher", "OUT_SSE", "OUT_WS", "Outbox", "Publication", "CallbackSink", "Sink", "StreamFanout", "sse_parts"]

OUT_WS: int
OUT_SSE: int

class Publication:
    """One published frame, encoded once and shared by every subscriber and by history."""

    stream: str
    offset: int
    epoch: str
    lane: int
    json: bytes
    ws_frame: bytes
    event: str
    sse_id_line: bytes | None
    def __init__(self, stream: str, offset: int, epoch: str, lane: int, json: bytes, ws_frame: bytes,
                 event: str) -> None: ...
    @property
    def sse_body(self) -> bytes:
        """``event:``/``data:`` lines and the blank line, built once."""

class Flusher:
    """Flushes every dirty outbox once per event-loop turn."""

    counters: MutableMapping[str, int]
    passes: int
    def __init__(self, schedule: Callable[[Callable[[], None]], Any], counters: MutableMapping[str, int],
                 on_error: Callable[[Outbox, BaseException], None] | None = None) -> None: ...
    def run(self) -> None:
        """Flush every dirty outbox (one write each); cut the ones that overflowed."""
    @property
    def pending(self) -> int:
        """Outboxes waiting for the next pass."""

class Sink:
    """Where an outbox's batches go (``put``, called from C); the I/O layer's socket writer is one."""

class CallbackSink(Sink):
    """A sink that hands each batch to ``target``."""

    target: Callable[[Any], Any]
    def __init__(self, target: Callable[[Any], Any]) -> None: ...

class Outbox:
    """One connection's outbound queue: priority lanes, catch-up backlog, flow-control flags."""

    lanes: PriorityLanes
    kind: int
    owner: Any
    #: a :class:`Sink`, or a callable (wrapped in one)
    write: Sink | Callable[[Any], Any] | None
    #: SSE: the one stream whose batches this outbox may share (None: it does not share)
    sse_single: str | None
    #: SSE: where a shared batch goes (``sse_last`` then keeps the batch's last publication)
    write_shared: Sink | None
    #: SSE: the last publication of a shared batch, until the connection takes it into its positions
    sse_last: Publication | None
    paused: bool
    closed: bool
    scheduled: bool
    warn_pending: bool
    flusher: Flusher
    low_drops: int
    overflows: int
    def __init__(self, lanes: PriorityLanes, kind: int, flusher: Flusher, owner: Any, *, max_flush_bytes: int,
                 backlog_limit: int, refill_count: int, refill_bytes: int, warn_high_count: int,
                 warn_high_bytes: int, warn_normal_count: int, warn_normal_bytes: int) -> None: ...
    def deliver(self, publication: Publication) -> int:
        """Queue a live publication; 0, or -1 when the connection overflowed."""
    def push_system(self, item: Any, nbytes: int) -> int:
        """Queue a system message (high lane)."""
    def deliver_replay(self, stream: str, publications: list[Publication]) -> None:
        """Queue a stream's replay ahead of its later live publications."""
    def flush(self) -> int:
        """Write one batch; 1 when more is waiting."""
    def stop(self) -> None:
        """Drop everything queued; accept and write nothing more."""
    def resume(self) -> None:
        """The transport drained: flush again if anything waits."""
    def compact(self) -> None:
        """Give back lane storage while nothing is queued."""
    @property
    def backlog_size(self) -> int:
        """Publications waiting in the catch-up backlog."""
    @property
    def queued_lossless(self) -> int:
        """Frames waiting in the high and normal lanes."""

class StreamFanout:
    """The outboxes subscribed to one stream."""

    def __init__(self) -> None: ...
    def add(self, outbox: Outbox) -> None:
        """Subscribe an outbox (idempotent)."""
    def discard(self, outbox: Outbox) -> bool:
        """Unsubscribe an outbox; return whether it was subscribed."""
    def publish(self, publication: Publication) -> int:
        """Queue the publication for every subscriber; return how many there are."""
    def __len__(self) -> int: ...
    def __contains__(self, outbox: object) -> bool: ...
    def __iter__(self) -> Iterator[Outbox]: ...

def sse_parts(batch: list[Any], positions: dict[str, Any], streams: Container[str],
              room_for: Callable[[str], bool], vector: Callable[[], bytes],
              system_part: Callable[[Any], bytes]) -> list[bytes]:
    """Turn an SSE connection's drained batch into byte strings, updating its positions."""

"""Micro benchmark of the publish path: one publish to 1,000 in-process subscribers, no sockets.

Builds a :class:`pushwire.hub.Hub` over the default in-memory broker, subscribes 1,000 fake WebSocket
connections through the public two-phase subscribe (``prepare`` then ``activate``), and times ``Hub.publish``
of one small JSON payload to the ``chat`` stream: the offset and history append, the JSON and WebSocket frames
built once, and one reference pushed into each subscriber's priority lanes.

Two generations of the hub are supported, so the benchmark measures whichever is checked out:

- with ``pushwire._core.fanout`` (the Cython fan-out), a subscriber carries an ``outbox`` built by the
  server's own ``make_outbox``; "draining" is one pass of the server's ``Flusher``, which writes each outbox's
  batch to a sink instead of a socket;
- before it, the hub calls ``deliver(publication)`` on every subscriber; the fake pushes the shared WebSocket
  frame into its :class:`~pushwire._core.lanes.PriorityLanes`, as ``WebSocketConnection`` did, and draining is
  one ``drain_into`` per subscriber.

``test_publish_1000`` times ``PUBLISHES`` publishes per round (one publish, ~35 us, is too short a round to be
steady on this machine) and drains before every round, outside the timing: in the server that is the flush,
once per loop turn, which joins everything published meanwhile into one write per connection. Divide its
median by ``PUBLISHES`` for one publish. ``test_publish_1000_and_drain`` times the whole in-process cycle, one
publish and one flush, per iteration. ``Hub.publish`` is a coroutine,
but with the memory broker it never suspends: it is driven to completion with one ``send(None)``, so no event
loop turn is timed. Not part of the default test run (``testpaths`` is ``tests/``). Run from the repository
root:

    .venv/bin/python -m pytest bench/micro/test_publish_bench.py --benchmark-only -q
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from pushwire._core.lanes import DROP_OLDEST, SIGNAL, PriorityLanes
from pushwire.config import HistoryConfig, QueueConfig
from pushwire.hub import Hub
from pushwire.protocol.channels import DefaultChannel
from pushwire.protocol.streams import StreamRef

try:  # the hub with the Cython fan-out: subscribers are reached through their outbox
    from pushwire._core.fanout import OUT_WS, Flusher

    from pushwire.server.outbound import make_outbox
except ImportError:  # the hub before it: subscribers get deliver() calls
    Flusher = make_outbox = None  # type: ignore[assignment,misc]

SUBSCRIBERS = 1000
#: publishes per timed round of test_publish_1000 (its group name says it too)
PUBLISHES = 10
PAYLOAD = b'{"x":1}'
QUEUE = QueueConfig()
#: as the server computes it from the default HistoryConfig and QueueConfig (service.py)
BACKLOG_LIMIT = HistoryConfig().max_replay * 4 + QUEUE.normal.max_count


def run_now(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that completes without suspending (the memory broker's); return its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the coroutine suspended: this benchmark expects a broker that never waits")


class Sink:
    """Stands for every socket: the flusher's one ``schedule`` slot and the writes, counted."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []
        self.frames = 0
        self.last: Any = None

    def schedule(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def write(self, batch: list[Any]) -> None:
        self.frames += len(batch)
        self.last = batch[-1]


class FakeSubscriber:
    """A WebSocket connection without a socket."""

    __slots__ = ("client_id", "lanes", "outbox", "streams")

    def __init__(self, client_id: str, flusher: Any, sink: Sink) -> None:
        self.client_id = client_id
        self.streams: set[str] = set()
        if make_outbox is not None:
            self.outbox = make_outbox(self, OUT_WS, QUEUE, flusher, backlog_limit=BACKLOG_LIMIT)
            self.outbox.write = sink.write
            self.lanes = self.outbox.lanes
        else:
            # the server's lane bounds and policies: lossless high and normal, the low lane drops its oldest
            self.lanes = PriorityLanes(QUEUE.high.max_count, QUEUE.high.max_bytes,
                                       QUEUE.normal.max_count, QUEUE.normal.max_bytes,
                                       QUEUE.low.max_count, QUEUE.low.max_bytes,
                                       high_policy=SIGNAL, normal_policy=SIGNAL, low_policy=DROP_OLDEST)

    # the hub before the Cython fan-out calls these

    def deliver(self, publication: Any) -> None:
        frame = publication.ws_frame
        self.lanes.push(frame, len(frame), publication.lane)

    def deliver_replay(self, stream: str, publications: list[Any]) -> None:
        for publication in publications:
            self.deliver(publication)

    # the outbox calls these

    def on_overflow(self) -> None:
        raise AssertionError("a lane overflowed: the benchmark must drain every round")

    def warn_slow(self) -> None:
        raise AssertionError("slow warning: the benchmark must drain every round")


class Bench:
    """A hub with ``SUBSCRIBERS`` fake connections live on the ``chat`` stream (no resume cursor)."""

    def __init__(self) -> None:
        self.ref = StreamRef.of(DefaultChannel.CHAT)
        self.hub = Hub(DefaultChannel)
        self.sink = Sink()
        flusher = Flusher(self.sink.schedule, self.hub.metrics.counters) if Flusher is not None else None
        self.subscribers = [FakeSubscriber(f"00000000-0000-4000-8000-{i:012d}", flusher, self.sink)
                            for i in range(SUBSCRIBERS)]
        for subscriber in self.subscribers:
            prepared = run_now(self.hub.prepare(subscriber, [self.ref], {}, {}))
            self.hub.activate(subscriber, prepared)
            subscriber.streams.add(self.ref.name)
        assert self.hub.subscriber_count(self.ref.name) == SUBSCRIBERS

    def publish(self) -> Any:
        return run_now(self.hub.publish(self.ref, PAYLOAD))

    def publish_many(self) -> Any:
        for _ in range(PUBLISHES):
            publication = run_now(self.hub.publish(self.ref, PAYLOAD))
        return publication

    def drain(self) -> int:
        """Empty every subscriber's lanes, as the server's flush does; return the frames written."""
        if Flusher is not None:
            sink = self.sink
            sink.frames = 0
            while sink.callbacks:
                sink.callbacks.pop(0)()
            return sink.frames
        sink = self.sink
        sink.frames = 0
        for subscriber in self.subscribers:  # what Outbound.flush did: one batch, one write per connection
            if subscriber.lanes:
                batch: list[bytes] = []
                subscriber.lanes.drain_into(batch)
                sink.write(batch)
        return sink.frames

    def drain_before_round(self) -> None:
        self.drain()  # a pedantic ``setup`` must return None (or the round's arguments)

    def publish_and_drain(self) -> int:
        self.publish()
        return self.drain()


@pytest.fixture(scope="module")
def bench() -> Bench:
    return Bench()


@pytest.mark.gate
@pytest.mark.benchmark(group=f"hub: {PUBLISHES} publishes to {SUBSCRIBERS} subscribers")
def test_publish_1000(measure, bench):
    bench.drain()
    publication = measure(bench.publish_many, iterations=1, setup=bench.drain_before_round)
    assert all(len(s.lanes) == PUBLISHES for s in bench.subscribers)
    assert bench.drain() == PUBLISHES * SUBSCRIBERS and bench.sink.last is publication.ws_frame
    assert publication.json.endswith(b',"payload":{"x":1}}')


@pytest.mark.gate
@pytest.mark.benchmark(group=f"hub: publish to {SUBSCRIBERS} subscribers + drain")
def test_publish_1000_and_drain(measure, bench):
    bench.drain()
    assert measure(bench.publish_and_drain, iterations=2) == SUBSCRIBERS
    assert all(len(s.lanes) == 0 for s in bench.subscribers)

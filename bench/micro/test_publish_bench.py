"""Micro benchmark of the publish path: publishes to 1,000 in-process subscribers, no sockets.

Builds a :class:`pushwire.hub.Hub` over the default in-memory broker, subscribes 1,000 fake WebSocket
connections through the public two-phase subscribe (``prepare`` then ``activate``), each with an outbox built by
the server's own ``make_outbox``, and times ``Hub.publish`` of one small JSON payload to the ``chat`` stream:
the offset and history append, the JSON and WebSocket frames built once, and the fan-out. "Draining" is one
pass of the server's ``Flusher`` writing every outbox to a sink instead of a socket, as the server does once
per loop turn.

Two fan-out paths are measured:

- **shared**: every subscriber is idle, so it takes the stream's batch of the turn whole: the publish touches
  no per-subscriber lane, and the flush writes one joined buffer, the same ``bytes`` object, to each;
- **lanes**: every subscriber already has a system frame queued, so each publish pushes a reference into each
  subscriber's lanes and the flush joins each connection's batch on its own.

``Hub.publish`` is a coroutine, but with the memory broker it never suspends: it is driven to completion with
one ``send(None)``, so no event loop turn is timed. Not part of the default test run (``testpaths`` is
``tests/``). Run from the repository root:

    .venv/bin/python -m pytest bench/micro/test_publish_bench.py --benchmark-only -q
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from pushwire._core.fanout import OUT_WS, Flusher
from pushwire.config import QueueConfig
from pushwire.hub import Hub
from pushwire.protocol.channels import DefaultChannel
from pushwire.protocol.streams import StreamRef
from pushwire.server.outbound import make_outbox

SUBSCRIBERS = 1000
#: publishes per timed round of the "publishes" benchmarks (their group names say it too)
PUBLISHES = 10
PAYLOAD = b'{"x":1}'
QUEUE = QueueConfig()
#: as the server computes it (service.py): the three lanes' count bounds
BACKLOG_LIMIT = QUEUE.high.max_count + QUEUE.normal.max_count + QUEUE.low.max_count
SYSTEM_FRAME = b"\x81\x0f{\"type\":\"ping\"}"


def run_now(coro: Coroutine[Any, Any, Any]) -> Any:
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
        self.writes = 0
        self.nbytes = 0
        self.last: Any = None

    def schedule(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.nbytes += len(data)
        self.last = data


class FakeSubscriber:
    """A WebSocket connection without a socket."""

    __slots__ = ("client_id", "outbox", "streams")

    def __init__(self, client_id: str, flusher: Flusher, sink: Sink) -> None:
        self.client_id = client_id
        self.streams: set[str] = set()
        self.outbox = make_outbox(self, OUT_WS, QUEUE, flusher, backlog_limit=BACKLOG_LIMIT)
        self.outbox.write = sink.write

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
        self.flusher = Flusher(self.sink.schedule, self.hub.metrics.counters)
        self.subscribers = [FakeSubscriber(f"00000000-0000-4000-8000-{i:012d}", self.flusher, self.sink)
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
        """One flush pass (or more, until nothing is scheduled); return the bytes written."""
        sink = self.sink
        sink.nbytes = sink.writes = 0
        while sink.callbacks:
            sink.callbacks.pop(0)()
        return sink.nbytes

    def drain_idle(self) -> None:
        self.drain()  # a pedantic ``setup`` must return None (or the round's arguments)

    def drain_busy(self) -> None:
        """Drain, then queue one system frame per subscriber: each publish then goes through the lanes."""
        self.drain()
        for subscriber in self.subscribers:
            subscriber.outbox.push_system(SYSTEM_FRAME, len(SYSTEM_FRAME))

    def publish_and_drain(self) -> int:
        self.publish()
        return self.drain()


@pytest.fixture(scope="module")
def bench() -> Bench:
    return Bench()


@pytest.mark.gate
@pytest.mark.benchmark(group=f"hub: {PUBLISHES} publishes to {SUBSCRIBERS} idle subscribers (shared)")
def test_publishes_shared(measure, bench):
    bench.drain()
    publication = measure(bench.publish_many, iterations=1, setup=bench.drain_idle)
    assert all(len(s.outbox.lanes) == 0 for s in bench.subscribers)  # nothing per subscriber
    assert bench.drain() == PUBLISHES * SUBSCRIBERS * len(publication.ws_frame)
    assert bench.sink.writes == SUBSCRIBERS and bench.sink.last.endswith(publication.ws_frame)
    assert publication.json.endswith(b',"payload":{"x":1}}')


@pytest.mark.gate
@pytest.mark.benchmark(group=f"hub: {PUBLISHES} publishes to {SUBSCRIBERS} busy subscribers (lanes)")
def test_publishes_through_lanes(measure, bench):
    bench.drain()
    publication = measure(bench.publish_many, iterations=1, setup=bench.drain_busy)
    assert all(len(s.outbox.lanes) == PUBLISHES + 1 for s in bench.subscribers)
    assert bench.drain() == SUBSCRIBERS * (len(SYSTEM_FRAME) + PUBLISHES * len(publication.ws_frame))


@pytest.mark.gate
@pytest.mark.benchmark(group=f"hub: publish to {SUBSCRIBERS} subscribers + drain")
def test_publish_and_drain(measure, bench):
    bench.drain()
    nbytes = measure(bench.publish_and_drain, iterations=2)
    assert bench.sink.writes == SUBSCRIBERS and nbytes == SUBSCRIBERS * len(bench.sink.last)
    assert all(len(s.outbox.lanes) == 0 for s in bench.subscribers)

"""The hub without sockets: publish, resume, the pending buffer between history and live, personal streams."""

from __future__ import annotations

import asyncio
import collections
import uuid

import pytest

from pushwire import DefaultChannel, HistoryConfig
from pushwire._core.fanout import OUT_WS, Flusher, Publication
from pushwire.config import QueueConfig
from pushwire.hub import Hub
from pushwire.hub.broker.base import Broker, HistoryRead, StreamState
from pushwire.hub.broker.memory import MemoryBroker
from pushwire.protocol.streams import StreamRef
from pushwire.server.outbound import make_outbox

CHAT = StreamRef.of(DefaultChannel.CHAT)


class Manual:
    """A flusher schedule that runs only when the test says so."""

    def __init__(self) -> None:
        self.callbacks: list = []

    def __call__(self, callback) -> None:
        self.callbacks.append(callback)

    def run(self) -> None:
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()


class FakeConnection:
    def __init__(self, flusher: Flusher, client_id: str | None = None) -> None:
        self.client_id = client_id or str(uuid.uuid4())
        self.streams: set[str] = set()
        self.written: list[bytes] = []
        self.outbox = make_outbox(self, OUT_WS, QueueConfig(), flusher, backlog_limit=100)
        self.outbox.write = self._write
        self.cut = False

    def on_overflow(self) -> None:
        self.cut = True

    def warn_slow(self) -> None:
        pass

    def _write(self, data: bytes) -> None:
        """A WebSocket outbox writes one joined buffer per flush: split it back into frames."""
        while data:
            length = data[1] & 0x7F
            start = 2 if length < 126 else (4 if length == 126 else 10)
            if length == 126:
                length = int.from_bytes(data[2:4], "big")
            elif length == 127:
                length = int.from_bytes(data[2:10], "big")
            self.written.append(data[:start + length])
            data = data[start + length:]

    def payloads(self) -> list[bytes]:
        return [frame[frame.index(b'"payload":') + 10:-1] for frame in self.written]


@pytest.fixture
def setup():
    schedule = Manual()
    flusher = Flusher(schedule, collections.Counter())
    return schedule, flusher


async def subscribe(hub: Hub, conn: FakeConnection, ref: StreamRef, cursor: int | None = None,
                    epoch: str | None = None):
    cursors = {} if cursor is None else {ref.name: cursor}
    epochs = {} if epoch is None else {ref.name: epoch}
    prepared = await hub.prepare(conn, [ref], cursors, epochs)
    conn.streams.add(ref.name)
    hub.activate(conn, prepared)
    return prepared[0]


async def test_publish_encodes_once_and_reaches_every_subscriber(setup):
    schedule, flusher = setup
    hub = Hub(DefaultChannel)
    conns = [FakeConnection(flusher) for _ in range(3)]
    for conn in conns:
        await subscribe(hub, conn, CHAT)
    publication = await hub.publish(CHAT, b'{"n":1}')
    assert isinstance(publication, Publication) and publication.offset == 1
    schedule.run()
    assert all(conn.written == [publication.ws_frame] for conn in conns)
    assert hub.metrics.get("deliveries") == 3


async def test_one_flush_pass_per_loop_turn_joins_publications(setup):
    schedule, flusher = setup
    hub = Hub(DefaultChannel)
    conn = FakeConnection(flusher)
    await subscribe(hub, conn, CHAT)
    for i in range(5):
        hub.publish_now(CHAT, b"%d" % i)
    assert len(schedule.callbacks) == 1  # one pass scheduled for all five
    schedule.run()
    assert conn.payloads() == [b"0", b"1", b"2", b"3", b"4"]
    assert flusher.passes == 1


async def test_resume_outcomes(setup):
    _, flusher = setup
    hub = Hub(DefaultChannel, history=HistoryConfig(max_count=5, max_age_s=0, max_replay=5))
    for i in range(8):
        hub.publish_now(CHAT, b"%d" % i)
    epoch = hub.state(CHAT).epoch
    assert (await subscribe(hub, FakeConnection(flusher), CHAT)).decision.outcome == "new"
    recovered = await subscribe(hub, FakeConnection(flusher), CHAT, 6, epoch)
    assert recovered.decision.outcome == "recovered" and [p.offset for p in recovered.replay] == [7, 8]
    gap = await subscribe(hub, FakeConnection(flusher), CHAT, 1, epoch)
    assert gap.decision.outcome == "gap" and (gap.decision.lost_from, gap.decision.lost_to) == (2, 3)
    assert [p.offset for p in gap.replay] == [4, 5, 6, 7, 8]
    changed = await subscribe(hub, FakeConnection(flusher), CHAT, 2, "otherepoch")
    assert changed.decision.outcome == "epoch_changed"


class SlowHistoryBroker(MemoryBroker):
    """A memory broker whose history read suspends, as a networked broker's would."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = asyncio.Event()
        self.release = asyncio.Event()

    async def read_history(self, stream, after, limit):
        self.reading.set()
        await self.release.wait()
        return self.read_history_now(stream, after, limit)


async def test_publications_during_a_suspended_history_read_are_neither_lost_nor_doubled(setup):
    schedule, flusher = setup
    broker = SlowHistoryBroker()
    hub = Hub(DefaultChannel, broker)
    for i in range(3):
        hub.publish_now(CHAT, b"%d" % i)
    conn = FakeConnection(flusher)
    task = asyncio.ensure_future(subscribe(hub, conn, CHAT, 1))
    await broker.reading.wait()
    for i in range(3, 6):  # published while the history read is in flight: buffered for the subscriber
        hub.publish_now(CHAT, b"%d" % i)
    broker.release.set()
    await task
    hub.publish_now(CHAT, b"6")
    schedule.run()
    schedule.run()
    assert conn.payloads() == [b"1", b"2", b"3", b"4", b"5", b"6"]


async def test_personal_streams_reach_their_connected_owner_and_acks_trim(setup):
    schedule, flusher = setup
    hub = Hub(DefaultChannel)
    owner = FakeConnection(flusher)
    hub.attach_client(owner.client_id, owner)
    personal = StreamRef.personal(DefaultChannel.ALERTS, owner.client_id)
    hub.publish_now(personal, b'"hi"')  # created while the owner is connected: delivered live
    schedule.run()
    assert owner.payloads() == [b'"hi"'] and personal.name in owner.streams
    assert [ref.name for ref in hub.personal_streams(owner.client_id)] == [personal.name]
    hub.ack(personal, 1)
    assert len(hub.broker._streams[personal.name].replay) == 0
    hub.ack(personal, 99)  # beyond the top: ignored, so a future frame is not hidden
    hub.publish_now(personal, b'"again"')
    later = FakeConnection(flusher, owner.client_id)
    item = await subscribe(hub, later, personal)  # no cursor: from the last ack, nothing reported lost
    assert item.decision.outcome == "recovered" and [p.offset for p in item.replay] == [2]


async def test_sweep_forgets_idle_personal_streams_and_their_acks(setup):
    _, flusher = setup
    broker = MemoryBroker(HistoryConfig(max_count=10, max_age_s=0.01), idle_stream_ttl_s=0.0)
    hub = Hub(DefaultChannel, broker)
    client_id = str(uuid.uuid4())
    personal = StreamRef.personal(DefaultChannel.ALERTS, client_id)
    hub.publish_now(personal, b"1")
    hub.ack(personal, 1)
    await asyncio.sleep(0.02)
    hub.sweep()
    assert hub.personal_streams(client_id) == [] and hub._acked == {}
    assert broker.stream_count == 0


async def test_unsubscribe_and_already_live_replay(setup):
    schedule, flusher = setup
    hub = Hub(DefaultChannel)
    conn = FakeConnection(flusher)
    await subscribe(hub, conn, CHAT)
    for i in range(3):
        hub.publish_now(CHAT, b"%d" % i)
    schedule.run()
    item = await subscribe(hub, conn, CHAT, 1, hub.state(CHAT).epoch)  # a gap-filling replay request
    assert item.already_live
    schedule.run()
    assert conn.payloads() == [b"0", b"1", b"2", b"1", b"2"]
    assert hub.unsubscribe(conn, [CHAT.name]) == [CHAT.name]
    hub.publish_now(CHAT, b"after")
    schedule.run()
    assert conn.payloads()[-1] == b"2" and hub.subscriber_count(CHAT.name) == 0


async def test_a_far_behind_client_with_many_streams_catches_up(setup):
    schedule, flusher = setup
    hub = Hub(DefaultChannel, history=HistoryConfig(max_count=1000, max_age_s=0, max_replay=1000))
    refs = [StreamRef.of(DefaultChannel.CHAT, f"room{i}") for i in range(10)]
    for ref in refs:
        for n in range(1000):
            hub.publish_now(ref, b"%d" % n)
    conn = FakeConnection(flusher)  # backlog limit 100: replay itself must not count toward it
    prepared = await hub.prepare(conn, refs, {ref.name: 0 for ref in refs}, {})
    hub.activate(conn, prepared)
    for _ in range(10_000):
        if not schedule.callbacks:
            break
        schedule.run()
    assert not conn.cut and len(conn.written) == 10_000


class NotSynchronous(Broker):
    async def publish(self, stream, encode):  # pragma: no cover - not called
        raise AssertionError

    async def read_history(self, stream, after, limit):  # pragma: no cover
        return HistoryRead(StreamState("e", 1, 0), [])

    def state(self, stream):  # pragma: no cover
        return StreamState("e", 1, 0)

    def trim_through(self, stream, offset):  # pragma: no cover
        pass

    def sweep(self, in_use=()):  # pragma: no cover
        return 0, []


def test_publish_now_needs_a_synchronous_broker():
    hub = Hub(DefaultChannel, NotSynchronous())
    with pytest.raises(NotImplementedError):
        hub.publish_now(CHAT, b"1")


def test_history_reads_are_synchronous_only_where_read_history_is_the_memory_brokers() -> None:
    # the hub prepares without awaiting only then; a subclass whose reads wait is awaited (test above)
    assert MemoryBroker().synchronous_reads is True
    assert SlowHistoryBroker().synchronous_reads is False

"""Tests of ``pushwire._core.fanout``: publications, per-stream fan-out, the per-turn flusher, connection
outboxes (lanes, flow control, slow warning, catch-up backlog) and SSE batch assembly, plus a hypothesis state
machine that drives one outbox against the ordering model in ``tests/core/models/fanout_model.py``.

The flusher always runs on a manual schedule: callbacks collect in a list and a test runs one "loop turn" (a
pass) when it chooses, so every assertion about what is scheduled and when is exact.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pushwire._core import fanout
from pushwire._core.fanout import OUT_SSE, OUT_WS, Flusher, Outbox, Publication, StreamFanout, sse_parts
from pushwire._core.lanes import PriorityLanes
from pushwire.config import LaneLimits, QueueConfig
from pushwire.server.outbound import make_outbox
from tests.core.models.fanout_model import SYSTEM, LaneBound, OrderingModel

SSE_OVERHEAD = 64  # bytes the outbox accounts on top of the JSON for an SSE event
BIG = 1 << 30
NO_WARN = dict(warn_high_count=BIG, warn_high_bytes=BIG, warn_normal_count=BIG, warn_normal_bytes=BIG)


# -- helpers ------------------------------------------------------------------------------------------------


class Manual:
    """A flusher schedule that runs only when the test says so (one ``run_pass`` = one loop turn)."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], Any]] = []

    def __call__(self, callback: Callable[[], Any]) -> None:
        self.callbacks.append(callback)

    def run_pass(self) -> int:
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            callback()
        return len(callbacks)

    def drain(self, limit: int = 1000) -> int:
        """Run passes until nothing is scheduled; return how many ran."""
        passes = 0
        while self.callbacks:
            passes += 1
            assert passes <= limit, "the flusher keeps rescheduling itself"
            self.run_pass()
        return passes


class Owner:
    """What an outbox's owner (the connection) provides; records the flusher's calls."""

    def __init__(self) -> None:
        self.overflows = 0
        self.warnings = 0
        self.on_warn: Callable[[], Any] | None = None

    def on_overflow(self) -> None:
        self.overflows += 1

    def warn_slow(self) -> None:
        self.warnings += 1
        if self.on_warn is not None:
            self.on_warn()


class Sys:
    """An SSE system event (anything in an SSE batch that is not a Publication)."""

    def __init__(self, n: int, json: bytes = b'{"type":"ping"}', nbytes: int = 80) -> None:
        self.n = n
        self.json = json
        self.nbytes = nbytes


def ws_frame_for(key: str, size: int) -> bytes:
    """A self-delimiting stand-in for a WebSocket frame: ``<key....>`` padded to ``size`` bytes."""
    head = b"<" + key.encode()
    return head + b"." * max(0, size - len(head) - 1) + b">"


def pub(stream: str = "chat", offset: int = 1, lane: int = 1, size: int = 10, epoch: str = "ep0",
        event: str = "chat") -> Publication:
    """A publication whose ``json`` is ``size`` bytes (at least 8) and whose ws_frame is 2 bytes longer."""
    json = b'{"p":"' + b"x" * max(0, size - 8) + b'"}'
    ws_frame = ws_frame_for(f"{stream}#{offset}", len(json) + 2)
    return Publication(stream, offset, epoch, lane, json, ws_frame, event)


def system_frame(n: int, size: int = 12) -> bytes:
    return ws_frame_for(f"{SYSTEM}#{n}", size)


def split_ws(data: bytes) -> list[tuple[str, int]]:
    """Keys of the frames in one joined WebSocket write."""
    keys = []
    for chunk in data.split(b">")[:-1]:
        assert chunk[:1] == b"<", data
        stream, _, offset = chunk[1:].rstrip(b".").decode().rpartition("#")
        keys.append((stream, int(offset)))
    assert data.endswith(b">"), data
    return keys


def key_of(item: Any) -> tuple[str, int]:
    if isinstance(item, Publication):
        return item.stream, item.offset
    if isinstance(item, Sys):
        return SYSTEM, item.n
    raise AssertionError(f"unexpected SSE item {item!r}")


class Sink:
    """An outbox's ``write``: records each batch as a list of keys (and the raw argument)."""

    def __init__(self, kind: int) -> None:
        self.kind = kind
        self.raw: list[Any] = []
        self.batches: list[list[tuple[str, int]]] = []
        self.hook: Callable[[], Any] | None = None

    def __call__(self, data: Any) -> None:
        self.raw.append(data)
        if self.kind == OUT_WS:
            assert isinstance(data, bytes), "a WebSocket outbox writes one joined buffer"
            self.batches.append(split_ws(data))
        else:
            assert isinstance(data, list), "an SSE outbox writes the list of items"
            self.batches.append([key_of(item) for item in data])
        if self.hook is not None:
            self.hook()

    @property
    def keys(self) -> list[tuple[str, int]]:
        return [key for batch in self.batches for key in batch]

    def offsets(self, stream: str) -> list[int]:
        return [offset for s, offset in self.keys if s == stream]


class Rig:
    """A flusher on a manual schedule, its counters, and a factory of outboxes with recording sinks."""

    def __init__(self, *, on_error: bool = True) -> None:
        self.schedule = Manual()
        self.counters: Counter[str] = Counter()
        self.errors: list[tuple[Outbox, BaseException]] = []
        self.flusher = Flusher(self.schedule, self.counters, self._error if on_error else None)

    def _error(self, outbox: Outbox, exc: BaseException) -> None:
        self.errors.append((outbox, exc))

    def outbox(self, kind: int = OUT_WS, *, high: tuple[int, int] = (16, 1 << 20),
               normal: tuple[int, int] = (16, 1 << 20), low: tuple[int, int] = (8, 1 << 20),
               max_flush_bytes: int = 1 << 20, backlog_limit: int = 100, refill_count: int = 4,
               refill_bytes: int = 1 << 20, **warn: int) -> Outbox:
        lanes = PriorityLanes(*high, *normal, *low)
        outbox = Outbox(lanes, kind, self.flusher, Owner(), max_flush_bytes=max_flush_bytes,
                        backlog_limit=backlog_limit, refill_count=refill_count, refill_bytes=refill_bytes,
                        **{**NO_WARN, **warn})
        outbox.write = Sink(kind)
        return outbox


class TestSinkContract:
    """What the I/O layer relies on: ``write`` takes a fanout.Sink as it is, and wraps any callable in one."""

    def test_a_callable_is_wrapped_and_a_sink_used_as_it_is(self, rig: Rig) -> None:
        outbox = rig.outbox()
        got: list[Any] = []
        outbox.write = got.append
        assert outbox.write == got.append  # reads back what was set
        outbox.deliver(pub(offset=1))
        rig.schedule.run_pass()
        assert got == [pub(offset=1).ws_frame]
        core_sink = fanout.CallbackSink(got.append)
        outbox.write = core_sink
        assert outbox.write is core_sink and core_sink.target == got.append
        outbox.deliver(pub(offset=2))
        rig.schedule.run_pass()
        assert got == [pub(offset=1).ws_frame, pub(offset=2).ws_frame]

    def test_no_sink_is_a_clear_error(self, rig: Rig) -> None:
        outbox = rig.outbox()
        outbox.write = None
        outbox.deliver(pub(offset=1))
        rig.schedule.run_pass()
        outbox.write = fanout.Sink()  # the base class writes nowhere
        outbox.deliver(pub(offset=2))
        rig.schedule.run_pass()
        assert [type(exc) for _, exc in rig.errors] == [TypeError, NotImplementedError]


def sink(outbox: Outbox) -> Sink:
    assert isinstance(outbox.write, Sink)
    return outbox.write


def owner(outbox: Outbox) -> Owner:
    assert isinstance(outbox.owner, Owner)
    return outbox.owner


def lane_capacity(lanes: PriorityLanes) -> list[int]:
    """Slots allocated by the high, normal and low lanes (the rings' item lists, seen through the GC)."""
    rings = gc.get_referents(lanes)
    assert len(rings) == 3, rings
    return [sum(len(x) for x in gc.get_referents(ring) if isinstance(x, list)) for ring in rings]


@pytest.fixture
def rig() -> Rig:
    return Rig()


# -- Publication --------------------------------------------------------------------------------------------


class TestPublication:
    def test_fields(self) -> None:
        p = Publication("chat:room1", 41, "k3x9a2b1", 2, b'{"a":1}', b"\x81\x07{\"a\":1}", "chat")
        assert (p.stream, p.offset, p.epoch, p.lane, p.json, p.ws_frame, p.event) == (
            "chat:room1", 41, "k3x9a2b1", 2, b'{"a":1}', b"\x81\x07{\"a\":1}", "chat")
        assert p.sse_id_line is None
        assert "chat:room1@41" in repr(p) and "k3x9a2b1" in repr(p)

    def test_large_offset(self) -> None:
        assert pub(offset=2**64 - 1).offset == 2**64 - 1

    @pytest.mark.parametrize("offset", [-1, 2**64])
    def test_offset_out_of_range(self, offset: int) -> None:
        with pytest.raises(OverflowError):
            pub(offset=offset)

    @pytest.mark.parametrize("name", ["stream", "offset", "epoch", "lane", "json", "ws_frame", "event"])
    def test_fields_are_read_only(self, name: str) -> None:
        p = pub()
        with pytest.raises(AttributeError):
            setattr(p, name, getattr(p, name))

    def test_wrong_types_rejected(self) -> None:
        with pytest.raises(TypeError):
            Publication("chat", 1, "e", 1, "not bytes", b"", "chat")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            Publication(b"chat", 1, "e", 1, b"{}", b"", "chat")  # type: ignore[arg-type]

    def test_sse_body(self) -> None:
        p = Publication("chat:room1", 3, "e", 1, b'{"channel":"chat"}', b"", "chat")
        assert p.sse_body == b'event: chat\ndata: {"channel":"chat"}\n\n'

    def test_sse_body_built_once(self) -> None:
        p = pub()
        assert p.sse_body is p.sse_body

    def test_sse_body_non_ascii_event(self) -> None:
        p = Publication("s", 1, "e", 1, b"{}", b"", "caf\u00e9")
        assert p.sse_body == "event: caf\u00e9\ndata: {}\n\n".encode()

    def test_sse_id_line_cache(self) -> None:
        p = pub()
        line = b"id: chat=1~ep0\n"
        p.sse_id_line = line
        assert p.sse_id_line is line
        p.sse_id_line = None
        assert p.sse_id_line is None
        with pytest.raises(TypeError):
            p.sse_id_line = "id: x\n"  # type: ignore[assignment]

    def test_module_exports(self) -> None:
        assert set(fanout.__all__) == {"CallbackSink", "Flusher", "OUT_SSE", "OUT_WS", "Outbox", "Publication",
                                       "Sink", "StreamFanout", "sse_parts"}
        assert (OUT_WS, OUT_SSE) == (0, 1)


# -- StreamFanout -------------------------------------------------------------------------------------------


class TestStreamFanout:
    def test_empty(self) -> None:
        f = StreamFanout()
        assert len(f) == 0 and not f and list(f) == []
        assert f.publish(pub()) == 0

    def test_add_is_idempotent(self, rig: Rig) -> None:
        f = StreamFanout()
        a = rig.outbox()
        f.add(a)
        f.add(a)
        assert len(f) == 1 and a in f and list(f) == [a]
        assert f.publish(pub()) == 1
        rig.schedule.run_pass()
        assert len(sink(a).keys) == 1

    def test_contains_and_non_outbox(self, rig: Rig) -> None:
        f = StreamFanout()
        a = rig.outbox()
        assert a not in f and "x" not in f
        with pytest.raises(TypeError):
            f.add("x")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            f.discard("x")  # type: ignore[arg-type]

    def test_discard(self, rig: Rig) -> None:
        f = StreamFanout()
        a, b = rig.outbox(), rig.outbox()
        f.add(a)
        assert f.discard(b) is False
        assert f.discard(a) is True
        assert f.discard(a) is False
        assert len(f) == 0 and a not in f
        f.add(a)  # can come back
        assert list(f) == [a]

    @pytest.mark.parametrize("victim", range(5))
    def test_discard_swap_keeps_every_other_member(self, rig: Rig, victim: int) -> None:
        f = StreamFanout()
        boxes = [rig.outbox() for _ in range(5)]
        for box in boxes:
            f.add(box)
        assert f.discard(boxes[victim])
        rest = [box for i, box in enumerate(boxes) if i != victim]
        assert sorted(map(id, f)) == sorted(map(id, rest))
        for box in rest:
            assert box in f
        assert f.publish(pub()) == 4
        rig.schedule.run_pass()
        assert [len(sink(box).keys) for box in boxes] == [0 if i == victim else 1 for i in range(5)]
        # the index stays consistent after the swap: every remaining member can still be removed
        for box in rest:
            assert f.discard(box)
        assert len(f) == 0

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.tuples(st.booleans(), st.integers(0, 7)), max_size=60))
    def test_random_add_discard_against_a_set(self, ops: list[tuple[bool, int]]) -> None:
        rig = Rig()
        boxes = [rig.outbox() for _ in range(8)]
        f = StreamFanout()
        model: set[int] = set()
        for add, i in ops:
            if add:
                f.add(boxes[i])
                model.add(i)
            else:
                assert f.discard(boxes[i]) == (i in model)
                model.discard(i)
            assert len(f) == len(model)
            assert sorted(map(id, f)) == sorted(id(boxes[j]) for j in model)
        assert f.publish(pub()) == len(model)
        rig.schedule.run_pass()
        assert [len(sink(box).keys) for box in boxes] == [int(j in model) for j in range(8)]

    def test_publish_reaches_each_outbox_once(self, rig: Rig) -> None:
        f = StreamFanout()
        ws = [rig.outbox(OUT_WS) for _ in range(3)]
        sse = [rig.outbox(OUT_SSE) for _ in range(2)]
        for box in ws + sse:
            f.add(box)
        p = pub("chat", 7)
        assert f.publish(p) == 5
        assert len(rig.schedule.callbacks) == 1  # one pass for every outbox
        rig.schedule.run_pass()
        for box in ws:
            assert sink(box).raw == [p.ws_frame] and sink(box).raw[0] is p.ws_frame  # the shared object
        for box in sse:
            assert len(sink(box).raw) == 1 and sink(box).raw[0][0] is p

    def test_publish_counts_closed_outboxes_but_queues_nothing(self, rig: Rig) -> None:
        f = StreamFanout()
        a, b = rig.outbox(), rig.outbox()
        f.add(a)
        f.add(b)
        a.stop()
        assert f.publish(pub()) == 2
        rig.schedule.run_pass()
        assert sink(a).raw == [] and len(sink(b).keys) == 1

    def test_iter_is_a_snapshot(self, rig: Rig) -> None:
        f = StreamFanout()
        boxes = [rig.outbox() for _ in range(4)]
        for box in boxes:
            f.add(box)
        seen = []
        for box in f:
            f.discard(box)
            seen.append(box)
        assert seen == boxes and len(f) == 0


# -- Flusher ------------------------------------------------------------------------------------------------


class TestFlusher:
    def test_nothing_scheduled_initially(self, rig: Rig) -> None:
        rig.outbox()
        assert rig.schedule.callbacks == [] and rig.flusher.pending == 0 and rig.flusher.passes == 0

    def test_one_pass_for_many_outboxes(self, rig: Rig) -> None:
        boxes = [rig.outbox() for _ in range(6)]
        for i, box in enumerate(boxes):
            for k in range(i + 1):
                box.deliver(pub("s", k + 1))
        assert len(rig.schedule.callbacks) == 1
        assert rig.flusher.pending == 6
        rig.schedule.run_pass()
        assert rig.flusher.passes == 1 and rig.flusher.pending == 0 and rig.schedule.callbacks == []
        for i, box in enumerate(boxes):
            assert sink(box).batches == [[("s", k + 1) for k in range(i + 1)]]  # one write, everything
            assert not box.scheduled

    def test_run_when_idle(self, rig: Rig) -> None:
        rig.flusher.run()
        assert rig.flusher.passes == 1 and rig.schedule.callbacks == []

    def test_delivery_after_a_pass_schedules_again(self, rig: Rig) -> None:
        box = rig.outbox()
        box.deliver(pub("s", 1))
        rig.schedule.run_pass()
        box.deliver(pub("s", 2))
        assert len(rig.schedule.callbacks) == 1 and box.scheduled
        rig.schedule.run_pass()
        assert sink(box).batches == [[("s", 1)], [("s", 2)]]

    def test_over_budget_is_remarked_for_the_next_pass(self, rig: Rig) -> None:
        big = rig.outbox(max_flush_bytes=30)  # frames are 12 bytes: two per write
        small = rig.outbox(max_flush_bytes=30)
        for k in range(5):
            big.deliver(pub("b", k + 1))
        small.deliver(pub("s", 1))
        rig.schedule.run_pass()
        assert sink(big).batches == [[("b", 1), ("b", 2)]]
        assert sink(small).batches == [[("s", 1)]]  # not held back by the other connection
        assert big.scheduled and not small.scheduled
        assert rig.flusher.pending == 1 and len(rig.schedule.callbacks) == 1
        assert rig.schedule.drain() == 2
        assert sink(big).batches == [[("b", 1), ("b", 2)], [("b", 3), ("b", 4)], [("b", 5)]]
        assert rig.flusher.passes == 3

    def test_one_item_larger_than_the_budget_is_written(self, rig: Rig) -> None:
        box = rig.outbox(max_flush_bytes=5)
        box.deliver(pub("s", 1, size=100))
        box.deliver(pub("s", 2, size=100))
        assert rig.schedule.drain() == 2
        assert sink(box).batches == [[("s", 1)], [("s", 2)]]

    def test_overflow_calls_on_overflow_in_the_next_pass(self, rig: Rig) -> None:
        box = rig.outbox(normal=(2, 1 << 20))
        box.deliver(pub("s", 1))
        box.deliver(pub("s", 2))
        assert box.deliver(pub("s", 3)) == -1
        assert rig.counters["slow_consumer_closes"] == 1
        assert owner(box).overflows == 0  # not from inside the publish
        assert len(rig.schedule.callbacks) == 1
        rig.schedule.run_pass()
        assert owner(box).overflows == 1
        assert sink(box).batches == []  # what was queued is dropped
        assert rig.schedule.callbacks == [] and not box.scheduled
        rig.schedule.drain()
        assert owner(box).overflows == 1 and rig.counters["slow_consumer_closes"] == 1

    def test_overflow_of_an_idle_outbox_schedules_a_pass(self, rig: Rig) -> None:
        box = rig.outbox(high=(1, 1 << 20))
        box.paused = True  # a paused outbox does not ask for passes on its own
        box.push_system(system_frame(1), 12)
        assert rig.schedule.callbacks == []
        assert box.push_system(system_frame(2), 12) == -1
        assert len(rig.schedule.callbacks) == 1
        rig.schedule.run_pass()
        assert owner(box).overflows == 1

    def test_overflows_of_many_outboxes_in_one_pass(self, rig: Rig) -> None:
        boxes = [rig.outbox(normal=(1, 1 << 20)) for _ in range(3)]
        for box in boxes:
            box.deliver(pub("s", 1))
            box.deliver(pub("s", 2))
        assert len(rig.schedule.callbacks) == 1
        assert rig.counters["slow_consumer_closes"] == 3
        rig.schedule.run_pass()
        assert [owner(box).overflows for box in boxes] == [1, 1, 1]

    def test_warn_slow_once(self, rig: Rig) -> None:
        box = rig.outbox(warn_normal_count=2)
        box.deliver(pub("s", 1))
        assert not box.warn_pending
        box.deliver(pub("s", 2))
        assert box.warn_pending and owner(box).warnings == 0
        rig.schedule.run_pass()
        assert owner(box).warnings == 1 and not box.warn_pending
        for k in range(3, 8):
            box.deliver(pub("s", k))
        rig.schedule.drain()
        assert owner(box).warnings == 1 and not box.warn_pending

    def test_warn_slow_comes_before_the_write(self, rig: Rig) -> None:
        """The owner queues ``slow`` from ``warn_slow``: it goes out (high lane first) in the same write."""
        box = rig.outbox(warn_normal_count=2)
        owner(box).on_warn = lambda: box.push_system(system_frame(1), 12)
        box.deliver(pub("s", 1))
        box.deliver(pub("s", 2))
        rig.schedule.run_pass()
        assert sink(box).batches == [[(SYSTEM, 1), ("s", 1), ("s", 2)]]

    def test_write_error_reaches_on_error_and_others_are_written(self, rig: Rig) -> None:
        boxes = [rig.outbox() for _ in range(3)]
        boom = RuntimeError("transport gone")

        def fail(data: Any) -> None:
            raise boom

        boxes[1].write = fail
        for box in boxes:
            box.deliver(pub("s", 1))
        rig.schedule.run_pass()
        assert rig.errors == [(boxes[1], boom)]
        assert sink(boxes[0]).keys == [("s", 1)] and sink(boxes[2]).keys == [("s", 1)]
        assert not boxes[1].scheduled
        # the failed outbox is not stuck: the next delivery schedules it again
        boxes[1].write = Sink(OUT_WS)
        boxes[1].deliver(pub("s", 2))
        rig.schedule.run_pass()
        assert sink(boxes[1]).keys == [("s", 2)]

    def test_owner_errors_reach_on_error(self, rig: Rig) -> None:
        box = rig.outbox(normal=(1, 1 << 20), warn_normal_count=1)
        other = rig.outbox()

        def broken() -> None:
            raise ValueError("owner bug")

        box.owner.on_overflow = broken
        box.deliver(pub("s", 1))
        box.deliver(pub("s", 2))  # overflow
        other.deliver(pub("s", 1))
        rig.schedule.run_pass()
        assert [(o, type(e)) for o, e in rig.errors] == [(box, ValueError)]
        assert sink(other).keys == [("s", 1)]

    def test_warn_error_reaches_on_error_and_the_write_still_happens(self, rig: Rig) -> None:
        box = rig.outbox(warn_normal_count=1)

        def broken() -> None:
            raise KeyError("warn")

        box.owner.warn_slow = broken
        box.deliver(pub("s", 1))
        rig.schedule.run_pass()
        assert [type(e) for _, e in rig.errors] == [KeyError]
        assert sink(box).keys == [("s", 1)]

    def test_errors_without_on_error_are_swallowed(self) -> None:
        rig = Rig(on_error=False)
        a, b = rig.outbox(), rig.outbox()
        a.write = lambda data: 1 / 0
        a.deliver(pub("s", 1))
        b.deliver(pub("s", 1))
        rig.schedule.run_pass()
        assert sink(b).keys == [("s", 1)]

    def test_counters_mapping_is_the_one_given(self, rig: Rig) -> None:
        assert rig.flusher.counters is rig.counters
        replacement: Counter[str] = Counter()
        rig.flusher.counters = replacement
        box = rig.outbox(low=(1, 1 << 20))
        box.deliver(pub("s", 1, lane=2))
        box.deliver(pub("s", 2, lane=2))
        assert replacement["low_lane_drops"] == 1 and rig.counters["low_lane_drops"] == 0


# -- Outbox: queueing --------------------------------------------------------------------------------------


class TestOutboxQueueing:
    def test_unknown_kind(self, rig: Rig) -> None:
        with pytest.raises(ValueError):
            Outbox(PriorityLanes(1, 1, 1, 1, 1, 1), 2, rig.flusher, Owner(), max_flush_bytes=1,
                   backlog_limit=1, refill_count=1, refill_bytes=1, **NO_WARN)

    def test_initial_state(self, rig: Rig) -> None:
        box = rig.outbox()
        assert (box.paused, box.closed, box.scheduled, box.warn_pending) == (False, False, False, False)
        assert (box.low_drops, box.overflows, box.backlog_size, box.queued_lossless) == (0, 0, 0, 0)
        assert box.kind == OUT_WS and box.flusher is rig.flusher

    def test_ws_queues_the_ws_frame(self, rig: Rig) -> None:
        box = rig.outbox(OUT_WS)
        p = pub(size=30)
        assert box.deliver(p) == 0
        assert box.lanes.normal_count == 1 and box.lanes.normal_bytes == len(p.ws_frame) == 32
        rig.schedule.run_pass()
        assert sink(box).raw == [p.ws_frame] and sink(box).raw[0] is p.ws_frame

    def test_ws_joins_a_batch_into_one_buffer(self, rig: Rig) -> None:
        box = rig.outbox(OUT_WS)
        ps = [pub("s", k) for k in range(1, 4)]
        for p in ps:
            box.deliver(p)
        rig.schedule.run_pass()
        assert sink(box).raw == [b"".join(p.ws_frame for p in ps)]

    def test_sse_queues_the_publication(self, rig: Rig) -> None:
        box = rig.outbox(OUT_SSE)
        p = pub(size=30)
        box.deliver(p)
        assert box.lanes.normal_bytes == len(p.json) + SSE_OVERHEAD
        rig.schedule.run_pass()
        assert len(sink(box).raw) == 1 and len(sink(box).raw[0]) == 1 and sink(box).raw[0][0] is p

    @pytest.mark.parametrize(("lane", "where"), [(0, "high_count"), (1, "normal_count"), (2, "low_count"),
                                                 (7, "low_count")])
    def test_lane_of_the_publication(self, rig: Rig, lane: int, where: str) -> None:
        box = rig.outbox()
        box.deliver(pub(lane=lane))
        assert getattr(box.lanes, where) == 1 and len(box.lanes) == 1
        assert box.queued_lossless == (1 if lane < 2 else 0)

    def test_push_system_goes_to_the_high_lane(self, rig: Rig) -> None:
        box = rig.outbox()
        assert box.push_system(system_frame(1), 12) == 0
        assert box.lanes.high_count == 1 and box.lanes.high_bytes == 12
        assert box.scheduled

    def test_system_before_normal_and_low(self, rig: Rig) -> None:
        box = rig.outbox()
        box.deliver(pub("n", 1, lane=1))
        box.deliver(pub("l", 1, lane=2))
        box.push_system(system_frame(1), 12)
        rig.schedule.run_pass()
        assert sink(box).batches == [[(SYSTEM, 1), ("n", 1), ("l", 1)]]

    @pytest.mark.parametrize("kind", [OUT_WS, OUT_SSE])
    def test_priority_order_within_a_flush(self, rig: Rig, kind: int) -> None:
        box = rig.outbox(kind)
        order = [("l", 2), ("n", 1), ("h", 0), ("l", 2), ("n", 1), ("h", 0), ("n", 1)]
        offsets: Counter[str] = Counter()
        for stream, lane in order:
            offsets[stream] += 1
            box.deliver(pub(stream, offsets[stream], lane=lane))
        rig.schedule.run_pass()
        assert sink(box).batches == [[("h", 1), ("h", 2), ("n", 1), ("n", 2), ("n", 3), ("l", 1), ("l", 2)]]

    def test_priority_order_with_a_byte_budget(self, rig: Rig) -> None:
        box = rig.outbox(max_flush_bytes=25)  # two 12-byte frames per write
        box.deliver(pub("l", 1, lane=2))
        box.deliver(pub("n", 1, lane=1))
        box.deliver(pub("n", 2, lane=1))
        box.push_system(system_frame(1), 12)
        rig.schedule.run_pass()
        box.push_system(system_frame(2), 12)  # a new high frame overtakes what is left
        rig.schedule.drain()
        assert sink(box).batches == [[(SYSTEM, 1), ("n", 1)], [(SYSTEM, 2), ("n", 2)], [("l", 1)]]

    def test_flush_return_values(self, rig: Rig) -> None:
        box = rig.outbox(max_flush_bytes=12)
        assert box.flush() == 0  # nothing queued: no write
        assert sink(box).raw == []
        box.deliver(pub("s", 1))
        box.deliver(pub("s", 2))
        assert box.flush() == 1
        assert box.flush() == 0
        assert sink(box).keys == [("s", 1), ("s", 2)]

    def test_queued_lossless(self, rig: Rig) -> None:
        box = rig.outbox()
        box.push_system(system_frame(1), 12)
        box.deliver(pub("n", 1, lane=1))
        box.deliver(pub("n", 2, lane=1))
        box.deliver(pub("l", 1, lane=2))
        assert box.queued_lossless == 3


# -- Outbox: flow control ----------------------------------------------------------------------------------


class TestOutboxFlowControl:
    def test_paused_outbox_is_not_written_until_resume(self, rig: Rig) -> None:
        box = rig.outbox()
        box.paused = True
        box.deliver(pub("s", 1))
        box.push_system(system_frame(1), 12)
        assert not box.scheduled and rig.schedule.callbacks == []
        assert box.flush() == 0 and sink(box).raw == []
        box.resume()
        assert not box.paused and box.scheduled and len(rig.schedule.callbacks) == 1
        rig.schedule.run_pass()
        assert sink(box).keys == [(SYSTEM, 1), ("s", 1)]

    def test_pause_while_scheduled(self, rig: Rig) -> None:
        box = rig.outbox()
        box.deliver(pub("s", 1))
        box.paused = True
        rig.schedule.run_pass()
        assert sink(box).raw == [] and not box.scheduled
        box.resume()
        rig.schedule.run_pass()
        assert sink(box).keys == [("s", 1)]

    def test_pause_during_the_write(self, rig: Rig) -> None:
        """The transport pauses from inside ``write`` (buffer over its high-water mark): stop until resume."""
        box = rig.outbox(max_flush_bytes=12)
        sink(box).hook = lambda: setattr(box, "paused", True)
        box.deliver(pub("s", 1))
        box.deliver(pub("s", 2))
        assert box.flush() == 0  # more is queued, but the transport asked to wait
        rig.schedule.drain()
        assert sink(box).keys == [("s", 1)] and not box.scheduled
        sink(box).hook = None
        box.resume()
        rig.schedule.drain()
        assert sink(box).keys == [("s", 1), ("s", 2)]

    def test_resume_with_nothing_queued(self, rig: Rig) -> None:
        box = rig.outbox()
        box.paused = True
        box.resume()
        assert not box.paused and not box.scheduled and rig.schedule.callbacks == []

    def test_resume_when_already_scheduled(self, rig: Rig) -> None:
        box = rig.outbox()
        box.deliver(pub("s", 1))
        box.resume()
        assert rig.flusher.pending == 1
        rig.schedule.run_pass()
        assert sink(box).batches == [[("s", 1)]]

    def test_stop_drops_everything_and_accepts_nothing(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=1)
        box.deliver(pub("s", 1))
        box.deliver_replay("r", [pub("r", 1), pub("r", 2)])
        assert box.backlog_size == 2
        box.stop()
        assert box.closed and len(box.lanes) == 0 and box.backlog_size == 0
        assert box.deliver(pub("s", 2)) == 0
        assert box.push_system(system_frame(1), 12) == 0
        assert box.deliver_replay("r", [pub("r", 3)]) is None
        assert len(box.lanes) == 0 and box.backlog_size == 0
        rig.schedule.drain()
        assert sink(box).raw == [] and box.flush() == 0
        box.resume()
        assert rig.schedule.callbacks == []
        assert rig.counters["slow_consumer_closes"] == 0  # a stop is not an overflow

    def test_stop_during_the_write(self, rig: Rig) -> None:
        box = rig.outbox(max_flush_bytes=12)
        sink(box).hook = box.stop
        box.deliver(pub("s", 1))
        box.deliver(pub("s", 2))
        rig.schedule.drain()
        assert sink(box).keys == [("s", 1)] and box.closed and not box.scheduled


# -- Outbox: bounds, drops, overflow, slow ------------------------------------------------------------------


class TestOutboxLimits:
    @pytest.mark.parametrize("kind", [OUT_WS, OUT_SSE])
    def test_low_lane_drops_oldest(self, rig: Rig, kind: int) -> None:
        box = rig.outbox(kind, low=(2, 1 << 20))
        results = [box.deliver(pub("l", k, lane=2)) for k in range(1, 6)]
        assert results == [0] * 5  # a drop is not an overflow
        assert box.low_drops == 3 and rig.counters["low_lane_drops"] == 3
        assert not box.closed and box.overflows == 0 and rig.counters["slow_consumer_closes"] == 0
        rig.schedule.run_pass()
        assert sink(box).keys == [("l", 4), ("l", 5)]

    def test_low_lane_drops_by_bytes(self, rig: Rig) -> None:
        box = rig.outbox(low=(100, 30))
        for k in range(1, 4):
            box.deliver(pub("l", k, lane=2))  # 12 bytes each: two fit in 30
        assert box.low_drops == 1 and rig.counters["low_lane_drops"] == 1

    @pytest.mark.parametrize(("lane", "bounds"), [(0, "count"), (0, "bytes"), (1, "count"), (1, "bytes")])
    def test_lossless_overflow_stops_the_outbox(self, rig: Rig, lane: int, bounds: str) -> None:
        limit = (2, 1 << 20) if bounds == "count" else (100, 30)
        box = rig.outbox(**{"high" if lane == 0 else "normal": limit}, low=(8, 1 << 20))
        box.deliver(pub("l", 1, lane=2))
        assert box.deliver(pub("s", 1, lane=lane)) == 0
        assert box.deliver(pub("s", 2, lane=lane)) == 0
        assert box.deliver(pub("s", 3, lane=lane)) == -1
        assert box.closed and box.overflows == 1 and len(box.lanes) == 0
        assert rig.counters["slow_consumer_closes"] == 1
        assert box.deliver(pub("s", 4, lane=lane)) == 0  # closed: accepted silently, not queued
        assert len(box.lanes) == 0 and box.overflows == 1
        rig.schedule.drain()
        assert sink(box).raw == [] and owner(box).overflows == 1

    def test_push_system_overflow(self, rig: Rig) -> None:
        box = rig.outbox(high=(1, 1 << 20))
        assert box.push_system(system_frame(1), 12) == 0
        assert box.push_system(system_frame(2), 12) == -1
        assert box.closed and rig.counters["slow_consumer_closes"] == 1

    def test_large_item_into_an_empty_lane(self, rig: Rig) -> None:
        box = rig.outbox(normal=(4, 10))
        assert box.deliver(pub("s", 1, size=100)) == 0
        assert not box.closed

    @pytest.mark.parametrize("which", ["high_count", "high_bytes", "normal_count", "normal_bytes"])
    def test_slow_at_half_of_a_bound(self, rig: Rig, which: str) -> None:
        # frames are 12 bytes; the warning is due at the third frame of the watched lane
        threshold = 3 if which.endswith("count") else 36
        box = rig.outbox(**{f"warn_{which}": threshold})
        lane = 0 if which.startswith("high") else 1
        other = 1 - lane
        for k in range(1, 4):
            box.deliver(pub("o", k, lane=other))  # the other lane does not reach it
        assert not box.warn_pending
        box.deliver(pub("s", 1, lane=lane))
        box.deliver(pub("s", 2, lane=lane))
        assert not box.warn_pending
        box.deliver(pub("s", 3, lane=lane))
        assert box.warn_pending
        rig.schedule.drain()
        assert owner(box).warnings == 1

    def test_push_system_can_trigger_slow(self, rig: Rig) -> None:
        box = rig.outbox(warn_high_count=2)
        box.push_system(system_frame(1), 12)
        box.push_system(system_frame(2), 12)
        assert box.warn_pending

    def test_low_lane_never_warns(self, rig: Rig) -> None:
        box = rig.outbox(warn_normal_count=1, warn_high_count=1, warn_normal_bytes=1, warn_high_bytes=1)
        for k in range(1, 6):
            box.deliver(pub("l", k, lane=2))
        assert not box.warn_pending
        rig.schedule.drain()
        assert owner(box).warnings == 0

    def test_small_replay_is_queued_like_live_frames(self, rig: Rig) -> None:
        """A small replay skips the backlog, so it is checked against the slow bound like live frames."""
        box = rig.outbox(warn_normal_count=2, refill_count=4)
        box.paused = True
        box.deliver_replay("r", [pub("r", 1), pub("r", 2)])
        assert box.backlog_size == 0 and box.lanes.normal_count == 2 and box.warn_pending

    def test_slow_warned_once_even_after_the_queue_drains(self, rig: Rig) -> None:
        box = rig.outbox(warn_normal_count=2)
        for round_ in range(3):
            box.deliver(pub("s", 2 * round_ + 1))
            box.deliver(pub("s", 2 * round_ + 2))
            rig.schedule.drain()
        assert owner(box).warnings == 1

    def test_backlog_refill_never_warns(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=4, warn_normal_count=2, warn_normal_bytes=24, max_flush_bytes=12)
        box.deliver_replay("r", [pub("r", k) for k in range(1, 11)])
        assert box.backlog_size == 10
        rig.schedule.drain()
        assert sink(box).offsets("r") == list(range(1, 11))
        assert owner(box).warnings == 0 and not box.warn_pending
        # a live frame passing the bound still warns
        box.deliver(pub("s", 1))
        box.deliver(pub("s", 2))
        assert box.warn_pending

    def test_live_push_sees_refilled_frames(self, rig: Rig) -> None:
        """The bound is checked on the lanes as a live push into the high or normal lane leaves them."""
        box = rig.outbox(refill_count=4, warn_normal_count=3, max_flush_bytes=12)  # one frame per write
        box.deliver_replay("r", [pub("r", k) for k in range(1, 11)])
        rig.schedule.run_pass()  # refills 4 (over the bound, but a refill does not warn), writes 1
        assert box.lanes.normal_count == 3 and not box.warn_pending
        box.deliver(pub("l", 1, lane=2))  # a low-lane push does not check
        assert not box.warn_pending
        box.deliver(pub("s", 1, lane=0))  # a high-lane push checks both lanes: normal holds 3 of 3
        assert box.warn_pending
        rig.schedule.drain()
        assert owner(box).warnings == 1 and sink(box).offsets("r") == list(range(1, 11))


# -- Outbox: replay and the catch-up backlog ----------------------------------------------------------------


class TestReplay:
    def test_empty_replay(self, rig: Rig) -> None:
        box = rig.outbox()
        box.deliver_replay("r", [])
        assert box.backlog_size == 0 and not box.scheduled and rig.schedule.callbacks == []

    @pytest.mark.parametrize("kind", [OUT_WS, OUT_SSE])
    def test_small_replay_goes_straight_to_the_lanes(self, rig: Rig, kind: int) -> None:
        box = rig.outbox(kind, refill_count=4)
        box.deliver_replay("r", [pub("r", k) for k in range(1, 5)])
        assert box.backlog_size == 0 and box.lanes.normal_count == 4 and box.scheduled
        box.deliver(pub("r", 5))  # not catching up: straight into the lanes too
        assert box.lanes.normal_count == 5
        rig.schedule.run_pass()
        assert sink(box).batches == [[("r", k) for k in range(1, 6)]]

    def test_queued_frames_count_toward_the_small_replay(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=4)
        box.deliver(pub("s", 1))
        box.deliver_replay("r", [pub("r", k) for k in range(1, 5)])  # 1 + 4 > 4
        assert box.backlog_size == 4 and box.lanes.normal_count == 1

    def test_replay_over_the_refill_bytes_goes_to_the_backlog(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=100, refill_bytes=25)
        box.deliver_replay("r", [pub("r", 1), pub("r", 2)])  # two 12-byte frames, 24 bytes: small
        assert box.backlog_size == 0
        box.deliver_replay("q", [pub("q", 1), pub("q", 2), pub("q", 3)])  # 24 queued + 36: backlog
        assert box.backlog_size == 3

    def test_large_replay_goes_through_the_backlog(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=3)
        box.deliver_replay("r", [pub("r", k) for k in range(1, 11)])
        assert box.backlog_size == 10 and len(box.lanes) == 0
        assert box.scheduled and len(rig.schedule.callbacks) == 1
        rig.schedule.run_pass()
        assert sink(box).batches == [[("r", 1), ("r", 2), ("r", 3)]]
        assert box.backlog_size == 7 and box.scheduled
        assert rig.schedule.drain() == 3
        assert sink(box).offsets("r") == list(range(1, 11))
        assert [len(b) for b in sink(box).batches] == [3, 3, 3, 1]
        assert box.backlog_size == 0 and not box.scheduled

    def test_refill_respects_refill_bytes(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=100, refill_bytes=30)  # ws frames are 12 bytes: 3 fill it
        box.deliver_replay("r", [pub("r", k) for k in range(1, 8)])
        assert box.backlog_size == 7
        rig.schedule.drain()
        assert [len(b) for b in sink(box).batches] == [3, 3, 1]

    def test_small_replay_behind_another_catch_up_uses_the_backlog(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=2)
        box.deliver_replay("a", [pub("a", k) for k in range(1, 6)])
        box.deliver_replay("b", [pub("b", 1)])
        assert box.backlog_size == 6
        box.deliver(pub("b", 2))  # b catches up now: behind its replay
        assert box.backlog_size == 7
        rig.schedule.drain()
        assert sink(box).offsets("a") == [1, 2, 3, 4, 5] and sink(box).offsets("b") == [1, 2]

    def test_paused_replay_waits_for_resume(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=2)
        box.paused = True
        box.deliver_replay("r", [pub("r", k) for k in range(1, 6)])
        assert not box.scheduled and rig.schedule.callbacks == []
        box.resume()
        rig.schedule.drain()
        assert sink(box).offsets("r") == [1, 2, 3, 4, 5]

    @pytest.mark.parametrize("kind", [OUT_WS, OUT_SSE])
    def test_live_queues_behind_the_replay_of_its_stream(self, rig: Rig, kind: int) -> None:
        box = rig.outbox(kind, refill_count=2, max_flush_bytes=1 << 20)
        box.deliver_replay("a", [pub("a", k) for k in range(1, 8)])
        box.deliver(pub("a", 8))
        box.deliver(pub("b", 1))  # another stream goes ahead
        assert box.backlog_size == 8 and box.lanes.normal_count == 1
        rig.schedule.run_pass()  # the lanes are filled up to refill_count, b's live frame included
        assert sink(box).batches == [[("b", 1), ("a", 1)]]
        rig.schedule.drain()
        assert sink(box).offsets("a") == list(range(1, 9))

    @pytest.mark.parametrize("kind", [OUT_WS, OUT_SSE])
    def test_per_stream_order_across_many_flushes(self, rig: Rig, kind: int) -> None:
        box = rig.outbox(kind, refill_count=3, max_flush_bytes=40, low=(64, 1 << 20))
        box.deliver_replay("a", [pub("a", k) for k in range(1, 21)])
        next_a, next_b, next_c = 21, 1, 1
        for turn in range(40):
            if turn % 2 == 0:
                box.deliver(pub("a", next_a))
                next_a += 1
            box.deliver(pub("b", next_b, lane=1))
            next_b += 1
            if turn % 3 == 0:
                box.deliver(pub("c", next_c, lane=2))
                next_c += 1
            if turn == 10:
                box.deliver_replay("c", [pub("c", next_c + k, lane=2) for k in range(12)])
                next_c += 12
            rig.schedule.run_pass()
        rig.schedule.drain()
        assert not box.closed and box.low_drops == 0
        assert sink(box).offsets("a") == list(range(1, next_a))
        assert sink(box).offsets("b") == list(range(1, next_b))
        assert sink(box).offsets("c") == list(range(1, next_c))
        # the catch-up really overlapped live traffic: b went ahead of a's replay
        keys = sink(box).keys
        assert keys.index(("b", 1)) < keys.index(("a", 20))
        for batch in sink(box).batches:
            assert sum(12 for _ in batch) <= 40 or len(batch) == 1

    def test_catch_up_ends_when_the_backlog_is_empty(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=2)
        box.deliver_replay("a", [pub("a", k) for k in range(1, 4)])
        rig.schedule.drain()
        assert box.backlog_size == 0
        box.deliver(pub("a", 4))
        assert box.backlog_size == 0 and box.lanes.normal_count == 1

    def test_replay_does_not_count_toward_the_backlog_limit(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=2, backlog_limit=3)
        box.deliver_replay("a", [pub("a", k) for k in range(1, 51)])
        box.deliver_replay("b", [pub("b", k) for k in range(1, 51)])
        assert not box.closed and box.backlog_size == 100
        for k in range(51, 54):  # three live frames behind the catch-up: at the limit
            assert box.deliver(pub("a", k)) == 0
        assert not box.closed
        assert box.deliver(pub("b", 51)) == -1  # the fourth: cut
        assert box.closed and box.overflows == 1 and box.backlog_size == 0 and len(box.lanes) == 0
        assert rig.counters["slow_consumer_closes"] == 1
        rig.schedule.drain()
        assert owner(box).overflows == 1 and sink(box).raw == []

    def test_other_streams_live_frames_do_not_count(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=2, backlog_limit=1)
        box.deliver_replay("a", [pub("a", k) for k in range(1, 11)])
        for k in range(1, 6):
            assert box.deliver(pub("b", k)) == 0
        assert not box.closed

    def test_a_new_catch_up_gets_a_fresh_limit(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=2, backlog_limit=2)
        box.deliver_replay("a", [pub("a", k) for k in range(1, 4)])
        box.deliver(pub("a", 4))
        box.deliver(pub("a", 5))
        rig.schedule.drain()
        assert box.backlog_size == 0
        box.deliver_replay("a", [pub("a", k) for k in range(6, 9)])
        assert box.deliver(pub("a", 9)) == 0
        assert box.deliver(pub("a", 10)) == 0
        assert not box.closed
        rig.schedule.drain()
        assert sink(box).offsets("a") == list(range(1, 11))

    def test_refill_drops_of_the_low_lane_are_counted(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=4, low=(2, 1 << 20))
        box.paused = True
        box.deliver(pub("x", 1, lane=2))
        box.deliver(pub("x", 2, lane=2))
        box.deliver_replay("l", [pub("l", k, lane=2) for k in range(1, 4)])  # 2 + 3 > 4: backlog
        box.resume()
        rig.schedule.drain()
        assert box.low_drops == rig.counters["low_lane_drops"]
        assert len(sink(box).keys) + box.low_drops == 5

    def test_make_outbox_refill_and_warn_settings(self, rig: Rig) -> None:
        """The server's factory: backlog refills stay under the slow bound, replays are paced."""
        queue = QueueConfig(high=LaneLimits(8, 1000), normal=LaneLimits(8, 1000), low=LaneLimits(4, 1000),
                            max_flush_bytes=1000)
        own = Owner()
        box = make_outbox(own, OUT_WS, queue, rig.flusher, backlog_limit=10)
        box.write = Sink(OUT_WS)
        box.deliver_replay("a", [pub("a", k) for k in range(1, 31)])
        assert box.backlog_size == 30
        rig.schedule.drain()
        assert sink(box).offsets("a") == list(range(1, 31))
        assert max(len(b) for b in sink(box).batches) == 2  # refill_count = 4 // 2
        assert own.warnings == 0 and not box.closed


# -- Outbox: compact ---------------------------------------------------------------------------------------


class TestCompact:
    def test_releases_empty_lane_storage(self, rig: Rig) -> None:
        box = rig.outbox()
        assert lane_capacity(box.lanes) == [0, 0, 0]
        for k in range(1, 11):
            box.deliver(pub("n", k))
        box.push_system(system_frame(1), 12)
        assert lane_capacity(box.lanes)[1] >= 10
        rig.schedule.run_pass()
        assert lane_capacity(box.lanes)[1] >= 10  # draining keeps the storage
        box.compact()
        assert lane_capacity(box.lanes) == [0, 0, 0]

    def test_keeps_queued_items(self, rig: Rig) -> None:
        box = rig.outbox()
        box.paused = True
        box.deliver(pub("n", 1))
        box.deliver(pub("l", 1, lane=2))
        box.push_system(system_frame(1), 12)
        out: list[Any] = []
        box.lanes.drain_into(out, 12)  # empty the high lane only
        box.compact()
        assert lane_capacity(box.lanes)[0] == 0 and lane_capacity(box.lanes)[1] > 0
        assert (box.lanes.high_count, box.lanes.normal_count, box.lanes.low_count) == (0, 1, 1)
        box.resume()
        rig.schedule.run_pass()
        assert sink(box).keys == [("n", 1), ("l", 1)]

    def test_storage_comes_back_on_use(self, rig: Rig) -> None:
        box = rig.outbox()
        box.deliver(pub("n", 1))
        rig.schedule.run_pass()
        box.compact()
        box.deliver(pub("n", 2))
        rig.schedule.run_pass()
        assert sink(box).keys == [("n", 1), ("n", 2)]

    def test_not_during_a_catch_up(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=2)
        box.deliver(pub("n", 1))
        rig.schedule.run_pass()
        box.deliver_replay("a", [pub("a", k) for k in range(1, 6)])
        box.compact()
        assert lane_capacity(box.lanes)[1] > 0  # the refill needs it in a moment
        rig.schedule.drain()
        assert sink(box).offsets("a") == [1, 2, 3, 4, 5]


# -- sse_parts ----------------------------------------------------------------------------------------------


class SseConn:
    """The SSE connection's side of ``sse_parts``: positions, subscribed streams, vector, system part."""

    def __init__(self, streams: set[str], positions: dict[str, Any] | None = None, room: bool = True) -> None:
        self.streams = streams
        self.positions: dict[str, Any] = positions or {}
        self.room = room
        self.vector_calls = 0
        self.room_calls: list[str] = []

    def vector(self) -> bytes:
        self.vector_calls += 1
        return ",".join(f"{s}={p.offset}~{p.epoch}" if isinstance(p, Publication) else f"{s}={p[0]}~{p[1]}"
                        for s, p in sorted(self.positions.items())).encode()

    def room_for(self, stream: str) -> bool:
        self.room_calls.append(stream)
        return self.room

    def system_part(self, item: Sys) -> bytes:
        return b"id: " + self.vector() + b"\nevent: system\ndata: " + item.json + b"\n\n"

    def parts(self, batch: list[Any]) -> list[bytes]:
        return sse_parts(batch, self.positions, self.streams, self.room_for, self.vector, self.system_part)


class TestSseParts:
    def test_single_stream_event(self) -> None:
        conn = SseConn({"chat"}, {"chat": (0, "ep0")})
        p = pub("chat", 5, epoch="ep0")
        parts = conn.parts([p])
        assert parts == [b"id: chat=5~ep0\n", p.sse_body]
        assert b"".join(parts) == b'id: chat=5~ep0\nevent: chat\ndata: {"p":"xx"}\n\n'
        assert conn.positions["chat"] is p

    def test_single_stream_connections_share_the_id_line(self) -> None:
        conns = [SseConn({"chat"}, {"chat": (0, "ep0")}) for _ in range(3)]
        p = pub("chat", 5)
        parts = [conn.parts([p]) for conn in conns]
        assert parts[0][0] is parts[1][0] is parts[2][0] is p.sse_id_line
        assert parts[0][1] is parts[1][1] is parts[2][1] is p.sse_body
        assert [conn.vector_calls for conn in conns] == [1, 0, 0]  # built once, for all of them

    def test_first_event_tracks_a_new_stream(self) -> None:
        conn = SseConn({"chat"})
        p = pub("chat", 1)
        assert conn.parts([p])[0] == b"id: chat=1~ep0\n" and conn.positions == {"chat": p}
        assert p.sse_id_line == b"id: chat=1~ep0\n"

    def test_sse_body_built_lazily_and_shared_with_the_property(self) -> None:
        p = pub("chat", 1)
        parts = SseConn({"chat"}).parts([p])
        assert parts[1] is p.sse_body

    def test_multi_stream_gets_a_vector_per_event(self) -> None:
        conn = SseConn({"a", "b"}, {"a": (0, "e"), "b": (0, "e")})
        pa, pb, pa2 = pub("a", 1), pub("b", 7), pub("a", 2)
        parts = conn.parts([pa, pb, pa2])
        assert parts[0::2] == [b"id: a=1~ep0,b=0~e\n", b"id: a=1~ep0,b=7~ep0\n", b"id: a=2~ep0,b=7~ep0\n"]
        assert parts[1::2] == [pa.sse_body, pb.sse_body, pa2.sse_body]
        assert conn.vector_calls == 3
        assert pa.sse_id_line is None and pb.sse_id_line is None  # per-connection lines are not cached
        assert conn.positions == {"a": pa2, "b": pb}

    def test_multi_stream_ignores_a_cached_single_stream_line(self) -> None:
        p = pub("a", 3)
        SseConn({"a"}).parts([p])
        assert p.sse_id_line == b"id: a=3~ep0\n"
        conn = SseConn({"a", "b"}, {"b": (9, "x")})
        assert conn.parts([p])[0] == b"id: a=3~ep0,b=9~x\n"

    def test_untracked_stream_is_written_but_not_tracked(self) -> None:
        conn = SseConn({"a"}, {"a": (4, "e")})
        p = pub("other", 8)
        parts = conn.parts([p])
        assert parts == [b"id: a=4~e\n", p.sse_body]
        assert "other" not in conn.positions and conn.room_calls == []
        # the single-stream cache belongs to the publication's own stream: not filled with a's vector
        assert p.sse_id_line is None
        fresh = SseConn({"other"})
        assert fresh.parts([p])[0] == b"id: other=8~ep0\n"

    def test_no_room_keeps_a_new_stream_out(self) -> None:
        conn = SseConn({"a", "b"}, {"a": (4, "e")}, room=False)
        pb, pa = pub("b", 2), pub("a", 5)
        parts = conn.parts([pb, pa])
        assert parts[0] == b"id: a=4~e\n" and parts[1] is pb.sse_body
        assert parts[2] == b"id: a=5~ep0\n"
        assert set(conn.positions) == {"a"} and conn.room_calls == ["b"]  # a was tracked already
        assert pb.sse_id_line is None

    def test_no_room_on_an_empty_vector(self) -> None:
        conn = SseConn({"a"}, room=False)
        p = pub("a", 1)
        assert conn.parts([p]) == [b"id: \n", p.sse_body]
        assert conn.positions == {} and p.sse_id_line is None

    def test_system_events_use_the_current_vector(self) -> None:
        conn = SseConn({"a", "b"}, {"a": (0, "e"), "b": (0, "e")})
        s1, s2 = Sys(1, b'{"x":1}'), Sys(2, b'{"x":2}')
        pa = pub("a", 3)
        parts = conn.parts([s1, pa, s2])
        assert parts == [b'id: a=0~e,b=0~e\nevent: system\ndata: {"x":1}\n\n',
                         b"id: a=3~ep0,b=0~e\n", pa.sse_body,
                         b'id: a=3~ep0,b=0~e\nevent: system\ndata: {"x":2}\n\n']

    def test_system_event_on_a_single_stream_connection(self) -> None:
        conn = SseConn({"a"}, {"a": (0, "e")})
        p = pub("a", 1)
        parts = conn.parts([p, Sys(1)])
        assert parts[2].startswith(b"id: a=1~ep0\nevent: system\n")

    def test_empty_batch(self) -> None:
        conn = SseConn({"a"})
        assert conn.parts([]) == [] and conn.vector_calls == 0

    def test_outbox_batch_into_sse_parts(self, rig: Rig) -> None:
        """End to end: an SSE outbox's batch (system first) turned into one write."""
        box = rig.outbox(OUT_SSE)
        conn = SseConn({"a"}, {"a": (0, "e")})
        written: list[bytes] = []
        box.write = lambda batch: written.append(b"".join(conn.parts(batch)))
        box.deliver(pub("a", 1))
        box.push_system(Sys(1), 80)
        rig.schedule.run_pass()
        assert written == [b'id: a=0~e\nevent: system\ndata: {"type":"ping"}\n\n'
                           b'id: a=1~ep0\nevent: chat\ndata: {"p":"xx"}\n\n']


# -- regressions: each of these was a bug ------------------------------------------------------------------


class TestRegressions:
    def test_small_replay_cannot_overflow_queued_bytes(self, rig: Rig) -> None:
        queue = QueueConfig(high=LaneLimits(10, 1000), normal=LaneLimits(10, 1000), low=LaneLimits(10, 1000),
                            max_flush_bytes=1000)  # refill_count 5, refill_bytes 500 (make_outbox)
        own = Owner()
        box = make_outbox(own, OUT_WS, queue, rig.flusher, backlog_limit=100)
        box.write = Sink(OUT_WS)
        box.paused = True  # the socket is behind: one large live frame waits
        assert box.deliver(pub("b", 1, size=898)) == 0  # 900 of the normal lane's 1000 bytes
        box.deliver_replay("a", [pub("a", 1, size=60), pub("a", 2, size=60)])  # 120 bytes of JSON
        assert not box.closed, "a replay cut the connection"
        box.resume()
        rig.schedule.drain()
        assert sink(box).keys == [("b", 1), ("a", 1), ("a", 2)]

    def test_small_sse_replay_cannot_overflow(self, rig: Rig) -> None:
        limits = LaneLimits(100, 2000)
        queue = QueueConfig(high=limits, normal=limits, low=limits,
                            max_flush_bytes=2000)  # refill_count 50, refill_bytes 1000
        box = make_outbox(Owner(), OUT_SSE, queue, rig.flusher, backlog_limit=100)
        box.write = Sink(OUT_SSE)
        box.deliver_replay("a", [pub("a", k, size=10) for k in range(1, 41)])  # 400 B JSON, 2960 B queued
        assert not box.closed, "a replay cut the connection"
        rig.schedule.drain()
        assert sink(box).offsets("a") == list(range(1, 41))

    def test_low_lane_drops_count_frames(self, rig: Rig) -> None:
        box = rig.outbox(low=(10, 30))
        for k in range(1, 4):
            box.deliver(pub("l", k, lane=2, size=8))  # three 10-byte frames: the lane is full (30 bytes)
        box.deliver(pub("l", 4, lane=2, size=23))  # 25 bytes: all three older frames go
        assert box.lanes.dropped_low == 3
        rig.schedule.run_pass()
        assert sink(box).offsets("l") == [4]
        assert box.low_drops == 3 and rig.counters["low_lane_drops"] == 3

    def test_backlog_limit_counts_waiting_frames(self, rig: Rig) -> None:
        box = rig.outbox(refill_count=2, backlog_limit=3)
        box.deliver_replay("a", [pub("a", k) for k in range(1, 4)])
        for k in range(4, 7):
            assert box.deliver(pub("a", k)) == 0  # 3 live frames waiting: at the limit
        rig.schedule.run_pass()  # writes a1 a2
        rig.schedule.run_pass()  # writes a3 a4: two live frames (a5, a6) still wait
        assert box.backlog_size == 2
        assert box.deliver(pub("a", 7)) == 0, "cut with 3 live frames waiting (limit 3)"
        rig.schedule.drain()
        assert sink(box).offsets("a") == list(range(1, 8))


# -- state machine ------------------------------------------------------------------------------------------

# Bounds chosen so that live traffic overflows the lossless lanes and drops low frames often, while a small
# replay (at most REFILL_BYTES in the lanes) or a refill (stops at REFILL_COUNT frames or REFILL_BYTES, plus
# one frame of at most 88 accounted bytes) can never overflow them: a replay or a flush pass never cuts.
HIGH = LaneBound(6, 400, True)
NORMAL = LaneBound(8, 500, True)
LOW = LaneBound(6, 100, False)  # by bytes, one push may evict several frames
REFILL_COUNT = 3
REFILL_BYTES = 180
BACKLOG_LIMIT = 3
# (high count, high bytes, normal count, normal bytes) where ``slow`` is due: the first ones are within reach
# of a refill alone (which must not warn), the last only of live traffic
WARNS = [(2, 100, 2, 100), (3, 200, 3, 150), (3, 200, 4, 250), (5, 300, 6, 400)]
STREAMS = ("a", "b", "c")


class OutboxMachine(RuleBasedStateMachine):
    """Random deliveries, replays, pauses and flush passes on one outbox, checked with ``OrderingModel``."""

    @initialize(kind=st.sampled_from([OUT_WS, OUT_SSE]), lanes=st.tuples(*[st.integers(0, 2)] * 3),
                budget=st.sampled_from([30, 100, 1 << 20]), warn=st.sampled_from(WARNS))
    def setup(self, kind: int, lanes: tuple[int, int, int], budget: int,
              warn: tuple[int, int, int, int]) -> None:
        self.kind = kind
        self.warn = dict(zip(("warn_high_count", "warn_high_bytes", "warn_normal_count", "warn_normal_bytes"),
                             warn, strict=True))
        self.budget = budget
        self.schedule = Manual()
        self.counters: Counter[str] = Counter()
        self.errors: list[Any] = []
        self.flusher = Flusher(self.schedule, self.counters, lambda o, e: self.errors.append(e))
        self.owner = Owner()
        self.owner.on_warn = lambda: self._system(20)  # like the real owners: ``slow`` is a system op
        self.outbox = Outbox(
            PriorityLanes(HIGH.max_count, HIGH.max_bytes, NORMAL.max_count, NORMAL.max_bytes,
                          LOW.max_count, LOW.max_bytes),
            kind, self.flusher, self.owner, max_flush_bytes=budget, backlog_limit=BACKLOG_LIMIT,
            refill_count=REFILL_COUNT, refill_bytes=REFILL_BYTES, **self.warn)
        self.outbox.write = self._write
        self.model = OrderingModel(dict(zip(STREAMS, lanes, strict=True)))
        self.offsets: Counter[str] = Counter()
        self.keep: list[Any] = []
        self.sizes: dict[tuple[str, int], int] = {}
        self.paused = False
        self.pause_in_write = False
        self.writes_in_pass = 0
        self.cut_before_pass = False

    # -- helpers -----------------------------------------------------------------------------------------

    def _size(self, item: Any) -> int:
        if isinstance(item, Publication):
            return len(item.ws_frame) if self.kind == OUT_WS else len(item.json) + SSE_OVERHEAD
        return len(item) if isinstance(item, bytes) else item.nbytes

    def _lane_state(self, lane: int) -> tuple[int, int]:
        lanes = self.outbox.lanes
        return [(lanes.high_count, lanes.high_bytes), (lanes.normal_count, lanes.normal_bytes),
                (lanes.low_count, lanes.low_bytes)][lane]

    def _over_warn(self) -> bool:
        lanes = self.outbox.lanes
        warn = self.warn
        return (lanes.high_count >= warn["warn_high_count"] or lanes.high_bytes >= warn["warn_high_bytes"]
                or lanes.normal_count >= warn["warn_normal_count"]
                or lanes.normal_bytes >= warn["warn_normal_bytes"])

    def _new_pub(self, stream: str, size: int) -> Publication:
        self.offsets[stream] += 1
        p = pub(stream, self.offsets[stream], lane=self.model.lane_of[stream], size=size)
        self.keep.append(p)
        self.sizes[stream, p.offset] = self._size(p)
        return p

    def _live_push(self, key: tuple[str, int], lane: int, nbytes: int, push: Callable[[], int]) -> None:
        """Push one live item straight into the lanes; check the result against the lane's state before."""
        count, queued = self._lane_state(lane)
        drops = self.outbox.low_drops
        dropped = self.outbox.lanes.dropped_low
        self.model.handed(key)
        result = push()
        bound = (HIGH, NORMAL, LOW)[lane]
        fits = bound.fits(count, queued, nbytes)
        if bound.lossless and not fits:
            assert result == -1 and self.outbox.closed
            event("cut: lossless lane full")
            self.model.was_cut()
            return
        assert result == 0 and not self.outbox.closed
        assert (self.outbox.low_drops - drops) == (self.outbox.lanes.dropped_low - dropped)
        assert (self.outbox.low_drops > drops) == (not fits)
        if not fits:
            event("low-lane drop")
        if lane < 2 and self._over_warn():
            self.model.warn_due = True

    def _system(self, size: int) -> None:
        if self.outbox.closed:
            assert self.outbox.push_system(b"late", 4) == 0 and len(self.outbox.lanes) == 0
            return
        self.offsets[SYSTEM] += 1
        n = self.offsets[SYSTEM]
        item: Any = system_frame(n, size) if self.kind == OUT_WS else Sys(n, nbytes=size)
        self.keep.append(item)
        self.sizes[SYSTEM, n] = size
        self._live_push((SYSTEM, n), 0, size, lambda: self.outbox.push_system(item, size))

    def _write(self, data: Any) -> None:
        assert not self.paused, "written while paused"
        assert not self.outbox.closed, "written after the cut"
        self.writes_in_pass += 1
        items = split_ws(data) if self.kind == OUT_WS else [key_of(item) for item in data]
        assert items, "an empty write"
        total = sum(self.sizes[key] for key in items)
        assert total <= self.budget or len(items) == 1, "over the flush budget"
        lanes = [self.model.lane_of[s] for s, _ in items]
        assert lanes == sorted(lanes), f"not in priority order: {items}"
        for key in items:
            self.model.wrote(key)
        if self.pause_in_write:
            event("paused during a write")
            self.pause_in_write = False
            self.paused = self.outbox.paused = True

    def _after_backlog_change(self) -> None:
        if not self.outbox.closed:
            self.model.backlog_now(self.outbox.backlog_size)

    # -- rules -------------------------------------------------------------------------------------------

    @rule(stream=st.sampled_from(STREAMS), size=st.integers(8, 24))
    def deliver(self, stream: str, size: int) -> None:
        p = self._new_pub(stream, size)
        key = (stream, p.offset)
        if self.outbox.closed:
            assert self.outbox.deliver(p) == 0 and len(self.outbox.lanes) == 0
            return
        backlog = self.outbox.backlog_size
        if not self.model.live_goes_to_backlog(stream, backlog):
            self._live_push(key, p.lane, self._size(p), lambda: self.outbox.deliver(p))
            assert self.outbox.closed or self.outbox.backlog_size == backlog
            return
        # the limit is on live frames waiting behind catch-ups right now (replay does not count)
        waiting = self.model.live_waiting
        self.model.handed(key)
        self.model.queued_behind(key, live=True)
        lanes_before = len(self.outbox.lanes)
        result = self.outbox.deliver(p)
        if waiting >= BACKLOG_LIMIT:
            assert result == -1 and self.outbox.closed, f"{waiting} live frames waited, limit {BACKLOG_LIMIT}"
            event("cut: catch-up limit")
            self.model.was_cut()
            return
        assert result == 0, f"cut with {waiting} live frames waiting (limit {BACKLOG_LIMIT})"
        assert self.outbox.backlog_size == backlog + 1 and len(self.outbox.lanes) == lanes_before

    @rule(stream=st.sampled_from(STREAMS), sizes=st.lists(st.integers(8, 24), min_size=2, max_size=6))
    def burst(self, stream: str, sizes: list[int]) -> None:
        """Several live publications of one stream within one loop turn."""
        for size in sizes:
            self.deliver(stream, size)

    @rule(size=st.integers(10, 40))
    def push_system(self, size: int) -> None:
        self._system(size)

    @rule(stream=st.sampled_from(STREAMS), sizes=st.lists(st.integers(8, 24), max_size=8))
    def deliver_replay(self, stream: str, sizes: list[int]) -> None:
        ps = [self._new_pub(stream, size) for size in sizes]
        if self.outbox.closed:
            self.outbox.deliver_replay(stream, ps)
            assert len(self.outbox.lanes) == 0 and self.outbox.backlog_size == 0
            return
        backlog, queued = self.outbox.backlog_size, len(self.outbox.lanes)
        lane = self.model.lane_of[stream]
        lane_count = self._lane_state(lane)[0]
        dropped = self.outbox.lanes.dropped_low
        # the shortcut sizes the replay as the lanes account it, on top of the bytes already queued
        small = (backlog == 0 and len(ps) + queued <= REFILL_COUNT
                 and sum(self._size(p) for p in ps) + self.outbox.lanes.nbytes <= REFILL_BYTES)
        for p in ps:
            self.model.handed((stream, p.offset))
            if not small:
                self.model.queued_behind((stream, p.offset), live=False)
        was_scheduled = self.outbox.scheduled
        self.outbox.deliver_replay(stream, ps)
        assert not self.outbox.closed, "a replay cut the connection"
        if ps:
            event("replay: small, straight into the lanes" if small else "replay: through the backlog")
        if small:
            assert self.outbox.backlog_size == 0
            if lane < 2:
                assert self._lane_state(lane)[0] == lane_count + len(ps)
                if ps and self._over_warn():
                    self.model.warn_due = True
            else:
                now_dropped = self.outbox.lanes.dropped_low - dropped
                assert self._lane_state(lane)[0] + now_dropped == lane_count + len(ps)
        else:
            assert self.outbox.backlog_size == backlog + len(ps) and len(self.outbox.lanes) == queued
        if ps and not self.paused:
            assert self.outbox.scheduled or was_scheduled

    @rule()
    def pause(self) -> None:
        self.paused = self.outbox.paused = True

    @rule()
    def pause_during_next_write(self) -> None:
        self.pause_in_write = True

    @rule()
    def resume(self) -> None:
        self.paused = False
        self.outbox.resume()

    @rule()
    def flush_pass(self) -> None:
        self.writes_in_pass = 0
        cut_before = self.outbox.closed
        self.schedule.run_pass()
        if self.errors:  # a failed check inside write or warn_slow: the flusher handed it to on_error
            raise self.errors[0]
        assert self.writes_in_pass <= 1, "more than one write in one pass"
        if cut_before:
            assert self.owner.overflows == 1
        assert self.outbox.closed == self.model.cut, "a flush pass cut the outbox"
        self._after_backlog_change()

    @rule()
    def compact(self) -> None:
        lanes = self.outbox.lanes
        before = (lanes.high_count, lanes.normal_count, lanes.low_count, lanes.nbytes)
        self.outbox.compact()
        assert (lanes.high_count, lanes.normal_count, lanes.low_count, lanes.nbytes) == before
        if self.outbox.backlog_size == 0:
            counts = before[:3]
            capacity = lane_capacity(lanes)
            for count, cap in zip(counts, capacity, strict=True):
                assert (cap == 0) == (count == 0)

    @rule()
    def drain(self) -> None:
        """Resume and run passes until nothing is scheduled: everything handed in must be accounted for."""
        self.pause_in_write = False
        self.resume()
        for _ in range(500):
            if not self.schedule.callbacks:
                break
            self.flush_pass()
        assert not self.schedule.callbacks, "the outbox never finishes"
        if self.outbox.closed:
            event("drained: cut")
            assert self.owner.overflows == 1
            assert self.outbox.low_drops <= self.model.missing(lossless=False)
            return
        assert len(self.outbox.lanes) == 0 and self.outbox.backlog_size == 0 and not self.outbox.scheduled
        self.model.check_complete(self.outbox.low_drops)
        event("drained: open, with low-lane gaps" if self.outbox.low_drops else "drained: open, nothing lost")
        if self.model.warn_due:
            assert self.owner.warnings == 1 and not self.outbox.warn_pending

    # -- invariants --------------------------------------------------------------------------------------

    @invariant()
    def one_pass_at_a_time(self) -> None:
        if hasattr(self, "outbox"):
            assert len(self.schedule.callbacks) <= 1

    @invariant()
    def nothing_waits_unscheduled(self) -> None:
        if not hasattr(self, "outbox"):
            return
        box = self.outbox
        if not box.closed and not box.paused and (len(box.lanes) or box.backlog_size):
            assert box.scheduled and len(self.schedule.callbacks) == 1 and self.flusher.pending >= 1

    @invariant()
    def counters_agree(self) -> None:
        if not hasattr(self, "outbox"):
            return
        box = self.outbox
        assert self.counters["low_lane_drops"] == box.low_drops == box.lanes.dropped_low  # frames, not pushes
        cut = int(self.model.cut)
        assert self.counters["slow_consumer_closes"] == box.overflows == int(box.closed) == cut
        assert self.owner.overflows <= 1
        if box.closed:
            assert len(box.lanes) == 0 and box.backlog_size == 0
        assert box.queued_lossless == box.lanes.high_count + box.lanes.normal_count
        assert self.errors == []

    @invariant()
    def slow_matches_the_model(self) -> None:
        if not hasattr(self, "outbox"):
            return
        assert self.owner.warnings <= 1
        assert (self.outbox.warn_pending or self.owner.warnings == 1) == self.model.warn_due

    def teardown(self) -> None:
        if hasattr(self, "outbox"):
            self.drain()


OutboxMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow])
TestOutboxAgainstModel = OutboxMachine.TestCase

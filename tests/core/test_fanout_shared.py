"""The shared batch of ``StreamFanout``: idle WebSocket subscribers take a stream's frames of one loop turn as
one joined ``bytes`` object, written to each of them; anything else for such a subscriber moves the frames into
its lanes first, so no frame is lost, doubled or reordered within its stream."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pushwire._core.fanout import OUT_SSE, OUT_WS, StreamFanout

from .test_fanout import SYSTEM, Rig, owner, pub, sink, system_frame


def test_idle_subscribers_share_one_joined_buffer() -> None:
    rig = Rig()
    fanout = StreamFanout()
    boxes = [rig.outbox() for _ in range(3)]
    for box in boxes:
        fanout.add(box)
    pubs = [pub("chat", k) for k in range(1, 4)]
    for p in pubs:
        assert fanout.publish(p) == 3
    assert all(len(box.lanes) == 0 for box in boxes)  # nothing queued per subscriber
    assert rig.schedule.run_pass() == 1
    written = [sink(box).raw for box in boxes]
    assert all(len(w) == 1 for w in written)
    assert written[0][0] == b"".join(p.ws_frame for p in pubs)
    assert written[0][0] is written[1][0] is written[2][0]  # one join, the same object for everyone
    assert sink(boxes[0]).offsets("chat") == [1, 2, 3]


def test_a_single_frame_batch_is_the_publication_frame_itself() -> None:
    rig = Rig()
    fanout = StreamFanout()
    box = rig.outbox()
    fanout.add(box)
    p = pub("chat", 1)
    fanout.publish(p)
    rig.schedule.run_pass()
    assert sink(box).raw == [p.ws_frame] and sink(box).raw[0] is p.ws_frame


def test_a_system_op_mid_turn_moves_the_batch_into_the_lanes_first() -> None:
    rig = Rig()
    fanout = StreamFanout()
    a, b = rig.outbox(), rig.outbox()
    fanout.add(a)
    fanout.add(b)
    fanout.publish(pub("chat", 1))
    fanout.publish(pub("chat", 2))
    a.push_system(system_frame(1), 12)  # a leaves the shared batch: its frames go into its lanes
    fanout.publish(pub("chat", 3))  # a gets it in its lanes now, b still through the batch
    rig.schedule.run_pass()
    assert sink(a).keys == [(SYSTEM, 1), ("chat", 1), ("chat", 2), ("chat", 3)]  # high lane first
    assert sink(b).offsets("chat") == [1, 2, 3]


def test_another_stream_keeps_each_stream_in_order() -> None:
    rig = Rig()
    chat, news = StreamFanout(), StreamFanout()
    box = rig.outbox()
    chat.add(box)
    news.add(box)
    chat.publish(pub("chat", 1))
    news.publish(pub("news", 1))
    chat.publish(pub("chat", 2))
    rig.schedule.run_pass()
    assert sink(box).offsets("chat") == [1, 2] and sink(box).offsets("news") == [1]


def test_a_subscriber_joining_mid_turn_gets_only_what_follows() -> None:
    rig = Rig()
    fanout = StreamFanout()
    early, late = rig.outbox(), rig.outbox()
    fanout.add(early)
    fanout.publish(pub("chat", 1))
    fanout.add(late)
    fanout.publish(pub("chat", 2))
    rig.schedule.run_pass()
    assert sink(early).offsets("chat") == [1, 2]
    assert sink(late).offsets("chat") == [2]


def test_a_socket_paused_before_the_flush_keeps_the_frames_in_its_lanes() -> None:
    rig = Rig()
    fanout = StreamFanout()
    box = rig.outbox()
    fanout.add(box)
    fanout.publish(pub("chat", 1))
    box.paused = True
    rig.schedule.run_pass()
    assert sink(box).raw == [] and len(box.lanes) == 1
    box.resume()
    rig.schedule.drain()
    assert sink(box).offsets("chat") == [1]


def test_unsubscribing_or_stopping_mid_turn_writes_nothing_and_frees_the_batch() -> None:
    rig = Rig()
    fanout = StreamFanout()
    gone, stopped, stays = rig.outbox(), rig.outbox(), rig.outbox()
    for box in (gone, stopped, stays):
        fanout.add(box)
    fanout.publish(pub("chat", 1))
    assert fanout.discard(gone)
    stopped.stop()
    rig.schedule.run_pass()
    assert sink(gone).raw == [] and sink(stopped).raw == []
    assert sink(stays).offsets("chat") == [1]
    fanout.publish(pub("chat", 2))  # a new turn starts a new batch
    rig.schedule.run_pass()
    assert sink(stays).offsets("chat") == [1, 2]


def test_busy_paused_catching_up_and_sse_outboxes_take_the_lanes() -> None:
    rig = Rig()
    fanout = StreamFanout()
    busy, paused, sse = rig.outbox(), rig.outbox(), rig.outbox(OUT_SSE)
    busy.push_system(system_frame(1), 12)
    paused.paused = True
    for box in (busy, paused, sse):
        fanout.add(box)
    fanout.publish(pub("chat", 1))
    assert len(busy.lanes) == 2 and len(paused.lanes) == 1 and len(sse.lanes) == 1
    paused.resume()
    rig.schedule.drain()
    assert sink(busy).keys == [(SYSTEM, 1), ("chat", 1)]
    assert sink(paused).offsets("chat") == [1] and sink(sse).offsets("chat") == [1]


def test_frames_moved_into_full_lanes_cut_the_connection() -> None:
    rig = Rig()
    fanout = StreamFanout()
    box = rig.outbox(normal=(2, 1 << 20))
    fanout.add(box)
    for k in range(1, 4):  # three frames in the batch, but a normal lane of two
        fanout.publish(pub("chat", k))
    box.push_system(system_frame(1), 12)  # moving the batch into the lanes overflows them
    assert box.closed
    rig.schedule.drain()
    assert owner(box).overflows == 1 and sink(box).raw == []


class SharedBatchMachine(RuleBasedStateMachine):
    """Random publishes on two streams, system ops, pauses, subscriptions and passes over three outboxes:
    each outbox receives every frame of each stream from its subscription on, in order, exactly once."""

    def __init__(self) -> None:
        super().__init__()
        self.rig = Rig()
        self.fanouts = {"a": StreamFanout(), "b": StreamFanout()}
        self.boxes = [self.rig.outbox(normal=(64, 1 << 20), high=(64, 1 << 20)) for _ in range(3)]
        self.offsets = {"a": 0, "b": 0}
        #: per (box, stream): offsets it must receive (from its subscription on)
        self.expected: dict[tuple[int, str], list[int]] = {}
        self.systems = 0

    @rule(box=st.integers(0, 2), stream=st.sampled_from(["a", "b"]))
    def subscribe(self, box: int, stream: str) -> None:
        if (box, stream) not in self.expected:
            self.fanouts[stream].add(self.boxes[box])
            self.expected[(box, stream)] = []

    @rule(stream=st.sampled_from(["a", "b"]), count=st.integers(1, 4))
    def publish(self, stream: str, count: int) -> None:
        for _ in range(count):
            self.offsets[stream] += 1
            self.fanouts[stream].publish(pub(stream, self.offsets[stream]))
            for (box, s), offsets in self.expected.items():
                if s == stream:
                    offsets.append(self.offsets[stream])

    @rule(box=st.integers(0, 2))
    def system(self, box: int) -> None:
        self.systems += 1
        self.boxes[box].push_system(system_frame(self.systems), 12)

    @rule(box=st.integers(0, 2))
    def pause(self, box: int) -> None:
        self.boxes[box].paused = True

    @rule(box=st.integers(0, 2))
    def resume(self, box: int) -> None:
        self.boxes[box].resume()

    @rule()
    def run_pass(self) -> None:
        self.rig.schedule.run_pass()

    @precondition(lambda self: True)
    @invariant()
    def in_order_without_duplicates(self) -> None:
        for (box, stream), offsets in self.expected.items():
            got = sink(self.boxes[box]).offsets(stream)
            assert got == offsets[:len(got)], (box, stream, got, offsets)

    def teardown(self) -> None:
        for box in self.boxes:
            box.resume()
        self.rig.schedule.drain()
        for (box, stream), offsets in self.expected.items():
            assert not self.boxes[box].closed
            assert sink(self.boxes[box]).offsets(stream) == offsets, (box, stream)


TestSharedBatch = SharedBatchMachine.TestCase
TestSharedBatch.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)

_ = OUT_WS  # the kind every shared outbox has


def test_a_batch_outgrowing_the_lanes_sends_its_takers_back_to_their_bounded_lanes() -> None:
    rig = Rig()
    fanout = StreamFanout()
    box = rig.outbox(low=(4, 1 << 20))  # shared batches stay within 4 frames (the low lane's bound)
    fanout.add(box)
    for k in range(1, 7):
        fanout.publish(pub("chat", k))
    assert len(box.lanes) == 6  # past 4 the frames went to the lanes, in order, with their bounds
    rig.schedule.drain()
    assert sink(box).offsets("chat") == [1, 2, 3, 4, 5, 6]


def test_a_lossy_stream_past_the_low_lane_bound_drops_oldest_as_without_sharing() -> None:
    rig = Rig()
    fanout = StreamFanout()
    box = rig.outbox(low=(4, 1 << 20))
    fanout.add(box)
    for k in range(1, 11):
        fanout.publish(pub("telemetry", k, lane=2))
    rig.schedule.drain()
    assert sink(box).offsets("telemetry") == [7, 8, 9, 10] and box.low_drops == 6


def test_single_stream_sse_connections_share_the_batch_with_their_id_lines() -> None:
    from collections import Counter

    from pushwire._core.fanout import CallbackSink, Flusher

    from .test_fanout import Manual

    schedule = Manual()
    flusher = Flusher(schedule, Counter(), sse_id_line=lambda p: b"id: %s=%d~%s\n" % (
        p.stream.encode(), p.offset, p.epoch.encode()))
    rig = Rig()
    rig.flusher, rig.schedule = flusher, schedule
    fanout = StreamFanout()
    shared_writes: list[tuple[int, bytes]] = []
    boxes = [rig.outbox(OUT_SSE) for _ in range(2)]
    other = rig.outbox(OUT_SSE)
    for i, box in enumerate(boxes):
        box.sse_single = "chat"
        box.write_shared = CallbackSink(lambda data, i=i: shared_writes.append((i, data)))
    other.sse_single = "news"  # positioned on another stream: its frames go through the lanes
    for box in (*boxes, other):
        fanout.add(box)
    pubs = [pub("chat", k) for k in (1, 2)]
    for p in pubs:
        fanout.publish(p)
    schedule.run_pass()
    assert [i for i, _ in shared_writes] == [0, 1]
    data = shared_writes[0][1]
    assert data is shared_writes[1][1]  # built once for both
    assert data == b"".join(b"id: chat=%d~ep0\n" % p.offset + p.sse_body for p in pubs)
    assert all(box.sse_last is pubs[-1] for box in boxes)  # the position moves to the last publication
    assert sink(other).offsets("chat") == [1, 2]


def test_a_sink_takes_the_shared_sse_batch_from_c_and_the_last_publication_waits() -> None:
    from collections import Counter

    from pushwire._core.fanout import CallbackSink, Flusher

    from .test_fanout import Manual

    schedule = Manual()
    flusher = Flusher(schedule, Counter(), sse_id_line=lambda p: b"id: %s=%d\n" % (p.stream.encode(), p.offset))
    rig = Rig()
    rig.flusher, rig.schedule = flusher, schedule
    fanout = StreamFanout()
    written: list[bytes] = []
    box = rig.outbox(OUT_SSE)
    box.sse_single = "chat"
    box.write_shared = CallbackSink(written.append)
    fanout.add(box)
    assert box.sse_last is None
    pubs = [pub("chat", k) for k in (1, 2, 3)]
    for p in pubs:
        fanout.publish(p)
    schedule.run_pass()
    assert written == [b"".join(b"id: chat=%d\n" % p.offset + p.sse_body for p in pubs)]
    assert box.sse_last is pubs[-1]  # for the connection to take into its position vector
    box.sse_last = None
    fanout.publish(pub("chat", 4))
    box.stop()  # a stopped outbox writes nothing and moves nothing
    schedule.run_pass()
    assert len(written) == 1 and box.sse_last is None

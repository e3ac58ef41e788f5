"""Tests of ``pushwire._core.lanes.PriorityLanes``: every documented rule, reference counting, and a
hypothesis state machine that runs random operation sequences against the deque model in
``tests/core/models``.
"""

from __future__ import annotations

import gc
import sys
import weakref

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pushwire._core import lanes
from pushwire._core.lanes import (
    DROP_OLDEST,
    PUSH_DROPPED_OLDEST,
    PUSH_OK,
    PUSH_OVERFLOW,
    SIGNAL,
    PriorityLanes,
)
from pushwire.errors import ConfigError
from tests.core.models.lanes_model import PriorityLanesModel

PROPS = ("count", "nbytes", "high_count", "normal_count", "low_count", "high_bytes", "normal_bytes",
         "low_bytes", "dropped", "dropped_low", "overflows")


def make(count: int = 4, nbytes: int = 100, **policies: int) -> PriorityLanes:
    return PriorityLanes(count, nbytes, count, nbytes, count, nbytes, **policies)


def drain(q: PriorityLanes, max_bytes: int = -1) -> tuple[list[object], int]:
    out: list[object] = []
    n = q.drain_into(out, max_bytes)
    return out, n


class TestConstants:
    def test_values(self) -> None:
        assert (SIGNAL, DROP_OLDEST) == (0, 1)
        assert (PUSH_OK, PUSH_DROPPED_OLDEST, PUSH_OVERFLOW) == (0, 1, -1)
        assert set(lanes.__all__) >= {"PriorityLanes", "SIGNAL", "DROP_OLDEST", "PUSH_OK", "PUSH_OVERFLOW",
                                      "PUSH_DROPPED_OLDEST"}


class TestConstruction:
    @pytest.mark.parametrize("index", range(6))
    def test_bounds_below_one_rejected(self, index: int) -> None:
        args = [4, 100, 4, 100, 4, 100]
        args[index] = 0
        with pytest.raises(ConfigError):
            PriorityLanes(*args)

    @pytest.mark.parametrize("name", ["high_policy", "normal_policy", "low_policy"])
    def test_unknown_policy_rejected(self, name: str) -> None:
        with pytest.raises(ConfigError):
            make(**{name: 2})

    def test_policies_are_keyword_only(self) -> None:
        with pytest.raises(TypeError):
            PriorityLanes(1, 1, 1, 1, 1, 1, SIGNAL)  # type: ignore[misc]

    def test_starts_empty(self) -> None:
        q = make()
        assert len(q) == 0 and not q
        assert all(getattr(q, name) == 0 for name in PROPS)

    def test_default_policies(self) -> None:
        # high and normal signal, low drops oldest
        q = PriorityLanes(1, 100, 1, 100, 1, 100)
        q.push(b"a", 1, 0)
        q.push(b"a", 1, 1)
        q.push(b"a", 1, 2)
        assert q.push(b"b", 1, 0) == PUSH_OVERFLOW
        assert q.push(b"b", 1, 1) == PUSH_OVERFLOW
        assert q.push(b"b", 1, 2) == PUSH_DROPPED_OLDEST


class TestPush:
    def test_priority_selects_lane(self) -> None:
        q = make(count=10, nbytes=1000)
        assert q.push(b"h", 1, 0) == PUSH_OK
        assert q.push(b"nn", 2, 1) == PUSH_OK
        assert q.push(b"lll", 3, 2) == PUSH_OK
        assert q.push(b"llll", 4, 9) == PUSH_OK
        assert (q.high_count, q.normal_count, q.low_count) == (1, 1, 2)
        assert (q.high_bytes, q.normal_bytes, q.low_bytes) == (1, 2, 7)
        assert (q.count, q.nbytes, len(q), bool(q)) == (4, 10, 4, True)

    def test_negative_priority_rejected(self) -> None:
        q = make()
        with pytest.raises(ValueError):
            q.push(b"x", 1, -1)
        assert q.count == 0

    def test_negative_nbytes_rejected(self) -> None:
        q = make()
        with pytest.raises(ValueError):
            q.push(b"x", -1, 0)
        assert q.count == 0

    def test_empty_lane_accepts_oversized_item(self) -> None:
        q = make(count=4, nbytes=10)
        big = b"x" * 50
        assert q.push(big, 50, 0) == PUSH_OK
        assert q.high_bytes == 50
        # the lane is no longer empty: the next item does not fit
        assert q.push(b"y", 1, 0) == PUSH_OVERFLOW
        assert q.high_count == 1 and q.overflows == 1

    def test_signal_count_bound(self) -> None:
        q = make(count=2, nbytes=1000)
        assert [q.push(i, 1, 1) for i in range(3)] == [PUSH_OK, PUSH_OK, PUSH_OVERFLOW]
        assert q.normal_count == 2 and q.normal_bytes == 2
        assert q.overflows == 1 and q.dropped == 0
        assert drain(q) == ([0, 1], 2)

    def test_signal_byte_bound(self) -> None:
        q = make(count=10, nbytes=10)
        assert q.push("a", 6, 0) == PUSH_OK
        assert q.push("b", 4, 0) == PUSH_OK  # exactly at the bound
        assert q.push("c", 1, 0) == PUSH_OVERFLOW
        assert q.push("d", 0, 0) == PUSH_OK  # zero bytes still fits
        assert q.overflows == 1
        assert drain(q) == (["a", "b", "d"], 10)

    def test_overflow_counts_every_refusal(self) -> None:
        q = make(count=1, nbytes=100)
        q.push("a", 1, 0)
        q.push("b", 1, 1)
        for _ in range(3):
            assert q.push("x", 1, 0) == PUSH_OVERFLOW
        assert q.push("y", 1, 1) == PUSH_OVERFLOW
        assert q.overflows == 4

    def test_drop_oldest_by_count(self) -> None:
        q = make(count=3, nbytes=1000)
        results = [q.push(i, 1, 2) for i in range(5)]
        assert results == [PUSH_OK, PUSH_OK, PUSH_OK, PUSH_DROPPED_OLDEST, PUSH_DROPPED_OLDEST]
        assert q.dropped == 2 and q.dropped_low == 2 and q.overflows == 0
        assert drain(q) == ([2, 3, 4], 3)

    def test_drop_oldest_by_bytes_drops_until_it_fits(self) -> None:
        q = make(count=10, nbytes=10)
        for name in "abcde":
            q.push(name, 2, 2)  # 10 bytes, full
        assert q.push("big", 7, 2) == PUSH_DROPPED_OLDEST
        # 7 bytes need 4 of the 2-byte items gone: a, b, c, d
        assert q.dropped_low == 4
        assert q.low_count == 2 and q.low_bytes == 9
        assert drain(q) == (["e", "big"], 9)

    def test_drop_oldest_oversized_item_empties_the_lane(self) -> None:
        q = make(count=10, nbytes=10)
        q.push("a", 5, 2)
        q.push("b", 5, 2)
        assert q.push("huge", 50, 2) == PUSH_DROPPED_OLDEST
        assert q.dropped_low == 2 and q.low_count == 1 and q.low_bytes == 50

    def test_drop_oldest_on_high_lane_counts_in_dropped_not_dropped_low(self) -> None:
        q = make(count=1, nbytes=100, high_policy=DROP_OLDEST)
        q.push("a", 1, 0)
        assert q.push("b", 1, 0) == PUSH_DROPPED_OLDEST
        assert q.dropped == 1 and q.dropped_low == 0
        assert drain(q) == (["b"], 1)

    def test_signal_low_lane(self) -> None:
        q = make(count=1, nbytes=100, low_policy=SIGNAL)
        q.push("a", 1, 2)
        assert q.push("b", 1, 5) == PUSH_OVERFLOW
        assert q.dropped == 0 and q.overflows == 1

    def test_same_object_is_queued_not_copied(self) -> None:
        q = make()
        frame = b"shared frame"
        q.push(frame, len(frame), 0)
        q.push(frame, len(frame), 2)
        out, _ = drain(q)
        assert out[0] is frame and out[1] is frame


class TestDrain:
    def test_strict_priority_then_fifo(self) -> None:
        q = make(count=10, nbytes=1000)
        pushes = [("l1", 2), ("n1", 1), ("h1", 0), ("l2", 3), ("h2", 0), ("n2", 1)]
        for item, prio in pushes:
            q.push(item, 1, prio)
        assert drain(q) == (["h1", "h2", "n1", "n2", "l1", "l2"], 6)
        assert q.count == 0 and q.nbytes == 0 and not q

    def test_appends_to_existing_list(self) -> None:
        q = make()
        q.push("a", 1, 0)
        out = ["already"]
        assert q.drain_into(out) == 1
        assert out == ["already", "a"]

    def test_empty_drain_returns_zero(self) -> None:
        q = make()
        assert drain(q) == ([], 0)
        assert drain(q, 0) == ([], 0)

    def test_max_bytes_stops_before_the_item_that_would_exceed(self) -> None:
        q = make(count=10, nbytes=1000)
        for item, size in [("a", 4), ("b", 4), ("c", 4)]:
            q.push(item, size, 1)
        assert drain(q, 10) == (["a", "b"], 8)
        assert q.normal_count == 1 and q.normal_bytes == 4

    def test_max_bytes_exact_fit(self) -> None:
        q = make(count=10, nbytes=1000)
        for item in "abc":
            q.push(item, 5, 0)
        assert drain(q, 10) == (["a", "b"], 10)

    def test_at_least_one_item_is_drained(self) -> None:
        q = make(count=10, nbytes=1000)
        q.push("big", 500, 2)
        q.push("small", 1, 2)
        assert drain(q, 10) == (["big"], 500)
        assert drain(q, 0) == (["small"], 1)

    def test_limit_does_not_skip_to_smaller_items_of_lower_lanes(self) -> None:
        q = make(count=10, nbytes=1000)
        q.push("h", 5, 0)
        q.push("n-big", 50, 1)
        q.push("l-small", 1, 2)
        assert drain(q, 10) == (["h"], 5)
        assert drain(q, -1) == (["n-big", "l-small"], 51)

    def test_negative_max_bytes_means_no_limit(self) -> None:
        q = make(count=10, nbytes=1000)
        for i in range(5):
            q.push(i, 100, i % 3)
        assert drain(q, -5)[1] == 500

    def test_out_must_be_a_list(self) -> None:
        q = make()
        q.push("a", 1, 0)
        with pytest.raises(TypeError):
            q.drain_into(None)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            q.drain_into(())  # type: ignore[arg-type]
        assert q.count == 1

    def test_ring_wraps_and_grows_keeping_fifo(self) -> None:
        q = make(count=100, nbytes=10**6)
        expected: list[int] = []
        got: list[int] = []
        n = 0
        # interleave pushes and partial drains so the ring wraps while it grows past its initial slots
        for round_ in range(30):
            for _ in range(round_ % 7 + 3):
                assert q.push(n, 1, 1) == PUSH_OK
                expected.append(n)
                n += 1
            q.drain_into(got, (round_ % 4) * 3)
        q.drain_into(got)
        assert got == expected


class TestClearAndCounters:
    def test_clear_empties_and_keeps_counters(self) -> None:
        q = make(count=1, nbytes=100)
        q.push("a", 1, 0)
        q.push("b", 1, 0)  # overflow
        q.push("c", 1, 2)
        q.push("d", 1, 2)  # drop
        q.clear()
        assert (q.count, q.nbytes, len(q), bool(q)) == (0, 0, 0, False)
        assert (q.overflows, q.dropped, q.dropped_low) == (1, 1, 1)
        assert drain(q) == ([], 0)
        assert q.push("e", 1, 0) == PUSH_OK

    def test_repr_mentions_lanes(self) -> None:
        q = make()
        q.push(b"x", 3, 1)
        assert "normal=1/3B" in repr(q)


class TestReferences:
    def test_refcounts_return_to_baseline(self) -> None:
        item = object()
        base = sys.getrefcount(item)
        q = make(count=50, nbytes=10**6)
        for i in range(40):
            q.push(item, 1, i % 3)
        assert sys.getrefcount(item) == base + 40
        out, _ = drain(q, 10)
        assert sys.getrefcount(item) == base + 40
        del out
        assert sys.getrefcount(item) == base + 30
        for _ in range(20):
            q.push(item, 1, 2)  # low lane drops some
        q.clear()
        assert sys.getrefcount(item) == base
        for _ in range(5):
            q.push(item, 1, 0)
        del q
        assert sys.getrefcount(item) == base

    def test_cycle_through_a_queued_item_is_collected(self) -> None:
        class Holder:
            pass

        q = make()
        holder = Holder()
        holder.lanes = q  # type: ignore[attr-defined]
        q.push(holder, 1, 0)
        ref = weakref.ref(holder)
        del q, holder
        gc.collect()
        assert ref() is None


class LanesMachine(RuleBasedStateMachine):
    """Random push / drain / clear sequences on PriorityLanes and its model; every result must agree."""

    @initialize(
        counts=st.tuples(*[st.integers(1, 20)] * 3),
        sizes=st.tuples(*[st.integers(1, 60)] * 3),
        policies=st.tuples(*[st.sampled_from([SIGNAL, DROP_OLDEST])] * 3),
    )
    def setup(self, counts: tuple[int, int, int], sizes: tuple[int, int, int],
              policies: tuple[int, int, int]) -> None:
        args = (counts[0], sizes[0], counts[1], sizes[1], counts[2], sizes[2])
        kwargs = dict(zip(("high_policy", "normal_policy", "low_policy"), policies, strict=True))
        self.real = PriorityLanes(*args, **kwargs)
        self.model = PriorityLanesModel(*args, **kwargs)
        self.serial = 0

    @rule(nbytes=st.integers(0, 40), priority=st.integers(0, 4))
    def push(self, nbytes: int, priority: int) -> None:
        item = ("item", self.serial)
        self.serial += 1
        assert self.real.push(item, nbytes, priority) == self.model.push(item, nbytes, priority)

    @rule(max_bytes=st.one_of(st.just(-1), st.integers(0, 120)))
    def drain(self, max_bytes: int) -> None:
        out_real: list[object] = []
        out_model: list[object] = []
        assert self.real.drain_into(out_real, max_bytes) == self.model.drain_into(out_model, max_bytes)
        assert out_real == out_model

    @rule()
    def clear(self) -> None:
        self.real.clear()
        self.model.clear()

    @invariant()
    def same_state(self) -> None:
        if not hasattr(self, "real"):
            return
        for name in PROPS:
            assert getattr(self.real, name) == getattr(self.model, name), name
        assert len(self.real) == len(self.model)
        assert bool(self.real) == bool(self.model)


LanesMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestLanesAgainstModel = LanesMachine.TestCase

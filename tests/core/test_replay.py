"""Tests of ``pushwire._core.replay.ReplayIndex``: offsets, cursor rules, trimming by count / age / ack,
epochs, reference counting, and a hypothesis state machine against the dict model in ``tests/core/models``.
"""

from __future__ import annotations

import gc
import sys
import time
import weakref

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from pushwire._core.replay import ReplayIndex
from pushwire.errors import ConfigError, CursorAhead, CursorTooOld, HistoryError
from tests.core.models.replay_model import ReplayIndexModel

U64_MAX = 2**64 - 1


def filled(n: int, max_count: int = 100, **kwargs: object) -> ReplayIndex:
    r = ReplayIndex(max_count, **kwargs)  # type: ignore[arg-type]
    for i in range(n):
        r.append(f"m{i + 1}", float(i))
    return r


class TestConstruction:
    def test_defaults(self) -> None:
        r = ReplayIndex(10)
        assert (r.max_count, r.max_age_s, r.epoch) == (10, 0.0, "")
        assert (r.first_offset, r.last_offset, r.next_offset, len(r)) == (1, 0, 1, 0)

    def test_epoch_and_start_offset(self) -> None:
        r = ReplayIndex(10, 5.0, epoch="k3x9a2b1", start_offset=100)
        assert (r.epoch, r.max_age_s) == ("k3x9a2b1", 5.0)
        assert (r.first_offset, r.last_offset, r.next_offset) == (100, 99, 100)
        assert r.append("x", 0.0) == 100

    @pytest.mark.parametrize("kwargs", [
        {"max_count": 0}, {"max_count": 1, "max_age_s": -1.0}, {"max_count": 1, "start_offset": 0},
    ])
    def test_bad_settings(self, kwargs: dict[str, object]) -> None:
        with pytest.raises(ConfigError):
            ReplayIndex(**kwargs)  # type: ignore[arg-type]

    def test_epoch_and_start_are_keyword_only(self) -> None:
        with pytest.raises(TypeError):
            ReplayIndex(10, 0.0, "e")  # type: ignore[misc]


class TestAppendAndGet:
    def test_offsets_are_consecutive(self) -> None:
        r = ReplayIndex(10)
        assert [r.append(i, 0.0) for i in range(5)] == [1, 2, 3, 4, 5]
        assert (r.first_offset, r.last_offset, r.next_offset, len(r)) == (1, 5, 6, 5)

    def test_get_by_offset(self) -> None:
        r = filled(5)
        assert [r.get(o) for o in range(1, 6)] == ["m1", "m2", "m3", "m4", "m5"]
        assert r.get(0) is None and r.get(6) is None and r.get(U64_MAX) is None

    def test_full_index_drops_oldest(self) -> None:
        r = filled(7, max_count=3)
        assert (r.first_offset, r.last_offset, len(r)) == (5, 7, 3)
        assert r.get(4) is None
        assert [r.get(o) for o in (5, 6, 7)] == ["m5", "m6", "m7"]

    def test_get_across_wraparound_and_growth(self) -> None:
        r = ReplayIndex(50)
        for i in range(1, 201):
            assert r.append(i, 0.0) == i
            if i % 3 == 0:
                r.trim_through(max(0, i - 20))
            first = r.first_offset
            assert r.get(first) == first and r.get(i) == i
        assert r.after_available(0) == list(range(r.first_offset, 201))

    def test_stores_the_same_object(self) -> None:
        r = ReplayIndex(4)
        entry = b"encoded frame"
        r.append(entry, 0.0)
        assert r.get(1) is entry and r.after(0)[0] is entry

    def test_offsets_run_out_at_u64_max(self) -> None:
        r = ReplayIndex(4, start_offset=U64_MAX - 1)
        assert r.append("last", 0.0) == U64_MAX - 1
        assert r.last_offset == U64_MAX - 1
        with pytest.raises(OverflowError):
            r.append("too far", 0.0)
        assert r.after(U64_MAX - 2) == ["last"]
        with pytest.raises(CursorAhead):
            r.after(U64_MAX)

    def test_negative_offsets_are_not_offsets(self) -> None:
        r = filled(2)
        with pytest.raises(OverflowError):
            r.get(-1)
        with pytest.raises(OverflowError):
            r.after(-1)


class TestAfter:
    def test_everything_after_cursor(self) -> None:
        r = filled(5)
        assert r.after(0) == ["m1", "m2", "m3", "m4", "m5"]
        assert r.after(3) == ["m4", "m5"]
        assert r.after(5) == []

    def test_cursor_too_old(self) -> None:
        r = filled(10, max_count=4)  # keeps 7..10
        assert r.after(6) == ["m7", "m8", "m9", "m10"]
        with pytest.raises(CursorTooOld) as info:
            r.after(5)
        assert (info.value.cursor, info.value.first_offset) == (5, 7)
        assert isinstance(info.value, HistoryError)

    def test_cursor_ahead(self) -> None:
        r = filled(3)
        with pytest.raises(CursorAhead) as info:
            r.after(4)
        assert (info.value.cursor, info.value.last_offset) == (4, 3)

    def test_never_appended(self) -> None:
        r = ReplayIndex(5, start_offset=10)
        assert r.after(9) == []
        with pytest.raises(CursorTooOld) as too_old:
            r.after(3)
        assert too_old.value.first_offset == 10
        with pytest.raises(CursorAhead) as ahead:
            r.after(10)
        assert ahead.value.last_offset == 9

    def test_everything_trimmed(self) -> None:
        r = filled(5)
        assert r.trim_through(5) == 5
        assert (len(r), r.first_offset, r.next_offset, r.last_offset) == (0, 6, 6, 5)
        assert r.after(5) == []
        with pytest.raises(CursorTooOld):
            r.after(4)

    def test_result_is_a_new_list(self) -> None:
        r = filled(3)
        first = r.after(0)
        first.clear()
        assert r.after(0) == ["m1", "m2", "m3"]


class TestAfterAvailable:
    def test_skips_what_was_dropped(self) -> None:
        r = filled(10, max_count=4)
        assert r.after_available(0) == ["m7", "m8", "m9", "m10"]
        assert r.after_available(8) == ["m9", "m10"]

    def test_limit_keeps_the_oldest(self) -> None:
        r = filled(10)
        assert r.after_available(2, 3) == ["m3", "m4", "m5"]
        assert r.after_available(2, 0) == []
        assert r.after_available(8, 100) == ["m9", "m10"]
        assert r.after_available(2, -1) == [f"m{i}" for i in range(3, 11)]

    def test_cursor_at_or_beyond_last(self) -> None:
        r = filled(3)
        assert r.after_available(3) == [] and r.after_available(U64_MAX) == []

    def test_empty(self) -> None:
        assert ReplayIndex(3).after_available(0) == []


class TestTrim:
    def test_age(self) -> None:
        r = ReplayIndex(10, 5.0)
        for t in (0.0, 1.0, 2.0, 3.0):
            r.append(t, t)
        assert r.trim(6.0) == 1  # age 6 > 5; age exactly 5 is kept
        assert r.first_offset == 2
        assert r.trim(6.0) == 0
        assert r.trim(100.0) == 3
        assert (len(r), r.first_offset, r.last_offset) == (0, 5, 4)

    def test_no_age_limit(self) -> None:
        r = filled(3)
        assert r.trim(1e9) == 0 and len(r) == 3

    def test_trim_reads_the_monotonic_clock(self) -> None:
        r = ReplayIndex(10, 30.0)
        before = time.monotonic()
        r.append("x")  # timestamped by CLOCK_MONOTONIC, the clock behind time.monotonic()
        after = time.monotonic()
        assert r.trim() == 0
        assert r.trim(before + 29.0) == 0
        assert r.trim(after + 31.0) == 1

    def test_trim_through(self) -> None:
        r = filled(6)
        assert r.trim_through(0) == 0
        assert r.trim_through(3) == 3
        assert (r.first_offset, len(r)) == (4, 3)
        assert r.trim_through(3) == 0
        assert r.trim_through(U64_MAX) == 3
        assert r.first_offset == r.next_offset == 7
        assert r.append("next", 0.0) == 7


class TestReset:
    def test_reset_clears_and_renames(self) -> None:
        r = filled(5, epoch="old")
        r.reset("new")
        assert (r.epoch, len(r), r.first_offset, r.last_offset, r.next_offset) == ("new", 0, 1, 0, 1)
        assert r.get(1) is None
        assert r.append("a", 0.0) == 1

    def test_reset_with_start_offset(self) -> None:
        r = filled(5)
        r.reset("e2", 42)
        assert (r.first_offset, r.last_offset) == (42, 41)
        with pytest.raises(ConfigError):
            r.reset("e3", 0)
        with pytest.raises(TypeError):
            r.reset(None)  # type: ignore[arg-type]


class TestReferences:
    def test_refcounts_return_to_baseline(self) -> None:
        item = object()
        base = sys.getrefcount(item)
        r = ReplayIndex(20, 1.0)
        for i in range(50):
            r.append(item, float(i))
        assert sys.getrefcount(item) == base + 20
        got = r.after_available(0)
        assert sys.getrefcount(item) == base + 40
        del got
        r.trim_through(40)
        assert sys.getrefcount(item) == base + 10
        r.trim(1000.0)
        assert sys.getrefcount(item) == base
        r.append(item, 0.0)
        r.reset("x")
        assert sys.getrefcount(item) == base
        r.append(item, 0.0)
        del r
        assert sys.getrefcount(item) == base

    def test_cycle_through_an_entry_is_collected(self) -> None:
        class Holder:
            pass

        r = ReplayIndex(4)
        holder = Holder()
        holder.index = r  # type: ignore[attr-defined]
        r.append(holder, 0.0)
        ref = weakref.ref(holder)
        del r, holder
        gc.collect()
        assert ref() is None


def outcome(fn, *args):  # type: ignore[no-untyped-def]
    """``("ok", value)`` or ``("raise", class, attributes)`` so both implementations can be compared."""
    try:
        return ("ok", fn(*args))
    except (CursorTooOld, CursorAhead) as exc:
        return ("raise", type(exc), vars(exc))
    except (ValueError, ConfigError, OverflowError) as exc:
        return ("raise", type(exc))


class ReplayMachine(RuleBasedStateMachine):
    """Random append / lookup / trim / reset sequences on ReplayIndex and its model."""

    @initialize(max_count=st.integers(1, 24), max_age_s=st.sampled_from([0.0, 0.5, 2.0, 5.0]),
                start=st.integers(1, 5))
    def setup(self, max_count: int, max_age_s: float, start: int) -> None:
        self.real = ReplayIndex(max_count, max_age_s, epoch="e0", start_offset=start)
        self.model = ReplayIndexModel(max_count, max_age_s, epoch="e0", start_offset=start)
        self.now = 0.0
        self.serial = 0

    def cursor(self, delta: int) -> int:
        return max(0, self.model.next_offset + delta)

    @rule(dt=st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0]))
    def append(self, dt: float) -> None:
        self.now += dt
        entry = ("e", self.serial)
        self.serial += 1
        assert self.real.append(entry, self.now) == self.model.append(entry, self.now)

    @rule(delta=st.integers(-30, 3))
    def get(self, delta: int) -> None:
        offset = self.cursor(delta)
        assert self.real.get(offset) == self.model.get(offset)

    @rule(delta=st.integers(-30, 3))
    def after(self, delta: int) -> None:
        cursor = self.cursor(delta)
        assert outcome(self.real.after, cursor) == outcome(self.model.after, cursor)

    @rule(delta=st.integers(-30, 3), limit=st.integers(-1, 10))
    def after_available(self, delta: int, limit: int) -> None:
        cursor = self.cursor(delta)
        assert self.real.after_available(cursor, limit) == self.model.after_available(cursor, limit)

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 2.0, 6.0]))
    def trim(self, dt: float) -> None:
        self.now += dt
        assert self.real.trim(self.now) == self.model.trim(self.now)

    @rule(delta=st.integers(-30, 3))
    def trim_through(self, delta: int) -> None:
        offset = self.cursor(delta)
        assert self.real.trim_through(offset) == self.model.trim_through(offset)

    # Resets wipe the history the other rules explore, so allow them only now and then.
    @precondition(lambda self: self.serial % 5 == 4)
    @rule(start=st.integers(1, 100), epoch=st.text("abc123", min_size=1, max_size=4))
    def reset(self, start: int, epoch: str) -> None:
        self.real.reset(epoch, start)
        self.model.reset(epoch, start)

    @invariant()
    def same_state(self) -> None:
        if not hasattr(self, "real"):
            return
        for name in ("epoch", "first_offset", "last_offset", "next_offset", "max_count", "max_age_s"):
            assert getattr(self.real, name) == getattr(self.model, name), name
        assert len(self.real) == len(self.model)


ReplayMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestReplayAgainstModel = ReplayMachine.TestCase

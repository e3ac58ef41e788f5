"""Tests of ``pushwire._core.bucket.TokenBucket``: refill, burst, waiting times, the monotonic clock, and a
hypothesis state machine against the float-clock model in ``tests/core/models``.
"""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pushwire._core.bucket import TokenBucket
from pushwire.errors import ConfigError
from tests.core.models.bucket_model import TokenBucketModel


class TestConstruction:
    def test_starts_full(self) -> None:
        b = TokenBucket(100.0, 50.0)
        assert (b.rate_per_s, b.burst, b.total_taken) == (100.0, 50.0, 0.0)
        assert b.tokens(0.0) == 50.0

    @pytest.mark.parametrize(("rate", "burst"), [
        (-1.0, 1.0), (1.0, -1.0), (math.inf, 1.0), (1.0, math.inf), (math.nan, 1.0), (1.0, math.nan)])
    def test_bad_settings(self, rate: float, burst: float) -> None:
        with pytest.raises(ConfigError):
            TokenBucket(rate, burst)

    def test_zero_burst_grants_only_nothing(self) -> None:
        b = TokenBucket(10.0, 0.0)
        assert b.try_take(0.0, 0.0) is True
        assert b.try_take(0.5, 10.0) is False


class TestTake:
    def test_take_until_empty(self) -> None:
        b = TokenBucket(10.0, 30.0)
        assert [b.try_take(10.0, 0.0) for _ in range(4)] == [True, True, True, False]
        assert b.tokens(0.0) == 0.0
        assert b.total_taken == 30.0

    def test_refill_at_rate(self) -> None:
        b = TokenBucket(10.0, 30.0)
        b.try_take(30.0, 0.0)
        assert b.tokens(0.5) == 5.0
        assert b.try_take(6.0, 0.5) is False
        assert b.try_take(6.0, 0.75) is True
        assert b.tokens(0.75) == 1.5

    def test_refill_is_capped_at_burst(self) -> None:
        b = TokenBucket(10.0, 30.0)
        b.try_take(10.0, 0.0)
        assert b.tokens(1000.0) == 30.0
        assert b.try_take(30.0, 1000.0) is True
        assert b.try_take(1.0, 1000.0) is False

    def test_more_than_burst_is_never_granted(self) -> None:
        b = TokenBucket(1000.0, 10.0)
        assert b.try_take(10.5, 0.0) is False
        assert b.try_take(10.5, 1e6) is False
        assert b.total_taken == 0.0

    def test_refused_take_takes_nothing(self) -> None:
        b = TokenBucket(0.0, 10.0)
        b.try_take(8.0, 0.0)
        assert b.try_take(3.0, 0.0) is False
        assert b.tokens(0.0) == 2.0 and b.total_taken == 8.0

    def test_zero_rate_never_refills(self) -> None:
        b = TokenBucket(0.0, 10.0)
        b.try_take(10.0, 0.0)
        assert b.tokens(1e9) == 0.0

    def test_clock_going_backwards_adds_nothing(self) -> None:
        b = TokenBucket(10.0, 100.0)
        b.try_take(100.0, 10.0)
        assert b.tokens(5.0) == 0.0
        # the refill point stays at 10.0: 1 s later means 10 tokens, not 60
        assert b.tokens(11.0) == 10.0

    def test_negative_or_nan_amounts(self) -> None:
        b = TokenBucket(10.0, 10.0)
        for bad in (-1.0, math.nan):
            with pytest.raises(ValueError):
                b.try_take(bad, 0.0)
            with pytest.raises(ValueError):
                b.time_until(bad, 0.0)
        assert b.total_taken == 0.0

    def test_ints_are_accepted(self) -> None:
        b = TokenBucket(10, 20)
        assert b.try_take(5, 0) is True
        assert b.tokens(0) == 15.0


class TestTimeUntil:
    def test_available_now(self) -> None:
        b = TokenBucket(10.0, 30.0)
        assert b.time_until(30.0, 0.0) == 0.0
        assert b.time_until(0.0, 0.0) == 0.0

    def test_waiting_time(self) -> None:
        b = TokenBucket(10.0, 30.0)
        b.try_take(30.0, 0.0)
        assert b.time_until(5.0, 0.0) == 0.5
        assert b.time_until(5.0, 0.25) == 0.25
        assert b.try_take(5.0, 0.5) is True

    def test_never(self) -> None:
        assert TokenBucket(10.0, 30.0).time_until(31.0, 0.0) == math.inf
        b = TokenBucket(0.0, 30.0)
        b.try_take(20.0, 0.0)
        assert b.time_until(10.0, 0.0) == 0.0
        assert b.time_until(11.0, 0.0) == math.inf

    def test_does_not_take(self) -> None:
        b = TokenBucket(10.0, 30.0)
        b.time_until(20.0, 0.0)
        assert b.tokens(0.0) == 30.0 and b.total_taken == 0.0


class TestClock:
    def test_default_clock_is_monotonic_seconds(self) -> None:
        b = TokenBucket(0.0, 10.0)
        assert b.try_take(6.0) is True
        assert b.try_take(6.0) is False
        assert b.tokens() == 4.0

    def test_default_clock_refills(self) -> None:
        b = TokenBucket(1e6, 10.0)
        assert b.try_take(10.0) is True
        start = time.monotonic()
        # 1e6 tokens/s: ten tokens take 10 microseconds; spin (bounded) until the clock has moved that far
        while time.monotonic() - start < 0.001:
            pass
        assert b.try_take(10.0) is True

    def test_default_clock_agrees_with_time_monotonic(self) -> None:
        b = TokenBucket(1.0, 100.0)
        b.try_take(100.0)  # stamps the bucket with CLOCK_MONOTONIC
        later = time.monotonic() + 50.0
        # had the bucket used another clock, 50 s on time.monotonic() would not give ~50 tokens
        assert 50.0 <= b.tokens(later) <= 51.0


# Dyadic rationals keep every sum and product exact, so the two implementations agree bit for bit even where
# a compiler fuses multiply-adds.
AMOUNTS = st.integers(0, 64).map(lambda k: k / 4)
STEPS = st.integers(0, 16).map(lambda k: k / 8)


class BucketMachine(RuleBasedStateMachine):
    """Random take / wait / peek sequences with a moving clock on TokenBucket and its model."""

    @initialize(rate=st.sampled_from([0.0, 0.5, 1.0, 4.0, 10.0, 64.0]), burst=st.integers(0, 12).map(float))
    def setup(self, rate: float, burst: float) -> None:
        self.real = TokenBucket(rate, burst)
        self.model = TokenBucketModel(rate, burst)
        self.now = 100.0

    @rule(n=AMOUNTS, dt=STEPS)
    def try_take(self, n: float, dt: float) -> None:
        self.now += dt
        assert self.real.try_take(n, self.now) == self.model.try_take(n, self.now)

    @rule(n=AMOUNTS, dt=STEPS)
    def time_until(self, n: float, dt: float) -> None:
        self.now += dt
        assert self.real.time_until(n, self.now) == self.model.time_until(n, self.now)

    @rule(dt=STEPS)
    def tokens(self, dt: float) -> None:
        self.now += dt
        assert self.real.tokens(self.now) == self.model.tokens(self.now)

    @rule(back=STEPS)
    def stale_time(self, back: float) -> None:
        assert self.real.tokens(self.now - back) == self.model.tokens(self.now - back)

    @invariant()
    def same_state(self) -> None:
        if not hasattr(self, "real"):
            return
        assert self.real.total_taken == self.model.total_taken
        assert (self.real.rate_per_s, self.real.burst) == (self.model.rate_per_s, self.model.burst)


BucketMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestBucketAgainstModel = BucketMachine.TestCase

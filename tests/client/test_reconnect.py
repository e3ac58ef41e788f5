"""ReconnectPolicy: nominal delays, cap, jitter bounds, retry limits, validation."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushwire.client.reconnect import ReconnectPolicy
from pushwire.errors import ConfigError


def test_default_nominal_sequence() -> None:
    policy = ReconnectPolicy(jitter=False)
    delays = [policy.delay_for_attempt(n) for n in range(12)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0, 30.0])


def test_defaults_match_upstream() -> None:
    policy = ReconnectPolicy()
    assert policy.enabled and policy.jitter
    assert (policy.initial_delay_s, policy.max_delay_s, policy.backoff_factor) == (0.1, 30.0, 2.0)
    assert policy.max_retries is None


def test_huge_attempt_is_capped_without_overflow() -> None:
    policy = ReconnectPolicy(jitter=False)
    assert policy.delay_for_attempt(10_000) == 30.0
    assert ReconnectPolicy().delay_for_attempt(10**9) <= 30.0


def test_factor_one_is_constant() -> None:
    policy = ReconnectPolicy(initial_delay_s=0.5, backoff_factor=1.0, jitter=False)
    assert {policy.delay_for_attempt(n) for n in range(50)} == {0.5}


def test_zero_initial_delay() -> None:
    policy = ReconnectPolicy(initial_delay_s=0.0, max_delay_s=0.0)
    assert policy.delay_for_attempt(7) == 0.0


def test_negative_attempt_rejected() -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy().delay_for_attempt(-1)


@settings(max_examples=200)
@given(attempt=st.integers(0, 200), seed=st.integers(0, 2**32 - 1))
def test_jitter_bounds(attempt: int, seed: int) -> None:
    policy = ReconnectPolicy()
    nominal = policy.nominal_delay(attempt)
    delay = policy.delay_for_attempt(attempt, rng=random.Random(seed))
    assert 0.5 * nominal <= delay <= nominal <= policy.max_delay_s


def test_jitter_actually_varies_and_spans_range() -> None:
    policy = ReconnectPolicy(initial_delay_s=1.0, max_delay_s=1.0)
    rng = random.Random(1234)
    samples = [policy.delay_for_attempt(3, rng=rng) for _ in range(2000)]
    assert min(samples) < 0.55 and max(samples) > 0.95
    assert all(0.5 <= s <= 1.0 for s in samples)


def test_should_retry_unlimited() -> None:
    policy = ReconnectPolicy()
    assert all(policy.should_retry(n) for n in (0, 1, 10, 10**6))


@pytest.mark.parametrize("limit", [0, 1, 3])
def test_should_retry_limit(limit: int) -> None:
    policy = ReconnectPolicy(max_retries=limit)
    assert [policy.should_retry(n) for n in range(limit + 2)] == [True] * limit + [False, False]


def test_disabled_never_retries() -> None:
    policy = ReconnectPolicy.disabled()
    assert not policy.enabled
    assert not policy.should_retry(0)
    assert not ReconnectPolicy(enabled=False, max_retries=5).should_retry(0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_delay_s": -1.0},
        {"initial_delay_s": 5.0, "max_delay_s": 1.0},
        {"backoff_factor": 0.5},
        {"backoff_factor": float("inf")},
        {"backoff_factor": float("nan")},
        {"max_retries": -1},
    ],
)
def test_invalid_policy(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        ReconnectPolicy(**kwargs)

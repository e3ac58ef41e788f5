"""Reconnect policy of the clients: exponential backoff with a cap, optional jitter and a retry limit.

Layer 5 (faces). Pure computation: the client asks the policy how long to wait before attempt ``n`` and whether
to try at all; it does the sleeping itself.

Nominal delays with the defaults: 0.1, 0.2, 0.4, ... 25.6 s, then 30 s for every later attempt. With jitter on,
each delay is scaled by a factor drawn uniformly from [0.5, 1.0] ("equal jitter"), so a herd of clients cut at
the same moment spreads out, and a delay never exceeds ``max_delay_s``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["ReconnectPolicy"]

#: lower bound of the jitter factor; the upper bound is 1.0
JITTER_MIN = 0.5


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """When and how often a client reconnects after losing its transport.

    Attributes:
        enabled: reconnect automatically at all.
        initial_delay_s: delay before the first attempt (attempt 0).
        max_delay_s: cap of the delay between attempts.
        backoff_factor: multiplier per failed attempt (>= 1).
        max_retries: how many attempts are made before giving up; None retries forever.
        jitter: scale each delay by a random factor in [0.5, 1.0].
    """

    enabled: bool = True
    initial_delay_s: float = 0.1
    max_delay_s: float = 30.0
    backoff_factor: float = 2.0
    max_retries: int | None = None
    jitter: bool = True

    def __post_init__(self) -> None:
        if not self.initial_delay_s >= 0:
            raise ConfigError(f"initial_delay_s must be >= 0, got {self.initial_delay_s!r}")
        if not self.max_delay_s >= self.initial_delay_s:
            raise ConfigError("max_delay_s must be >= initial_delay_s")
        if not self.backoff_factor >= 1.0 or math.isinf(self.backoff_factor):
            raise ConfigError(f"backoff_factor must be a finite number >= 1, got {self.backoff_factor!r}")
        if self.max_retries is not None and self.max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0 or None, got {self.max_retries!r}")

    @classmethod
    def disabled(cls) -> ReconnectPolicy:
        """Return a policy that never reconnects: a lost connection is final."""
        return cls(enabled=False)

    def nominal_delay(self, attempt: int) -> float:
        """Return the delay before attempt ``attempt`` (0-based) without jitter, capped at ``max_delay_s``."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        if self.initial_delay_s == 0:
            return 0.0
        # Compare in log space so a huge attempt number cannot overflow the float power.
        if self.backoff_factor > 1.0:
            limit = math.log(self.max_delay_s / self.initial_delay_s) / math.log(self.backoff_factor)
            if attempt >= limit:
                return self.max_delay_s
        return min(self.initial_delay_s * self.backoff_factor**attempt, self.max_delay_s)

    def delay_for_attempt(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """Return the delay in seconds to wait before attempt ``attempt`` (0-based).

        Args:
            attempt: how many attempts were made since the connection was lost.
            rng: source of the jitter (the module's shared generator by default); pass a seeded one in tests.

        Returns:
            The capped delay, scaled by a uniform factor in [0.5, 1.0] when jitter is on.
        """
        delay = self.nominal_delay(attempt)
        if not self.jitter:
            return delay
        factor = (rng or random).uniform(JITTER_MIN, 1.0)
        return min(delay * factor, self.max_delay_s)

    def should_retry(self, attempts: int) -> bool:
        """Return whether another attempt is allowed after ``attempts`` attempts were made."""
        if not self.enabled:
            return False
        return self.max_retries is None or attempts < self.max_retries

"""Pure-Python model of ``pushwire._core.bucket.TokenBucket`` (tests only): floats and time.monotonic."""

from __future__ import annotations

import math
import time

from pushwire.errors import ConfigError


class TokenBucketModel:
    def __init__(self, rate_per_s: float, burst: float) -> None:
        if not (0 <= rate_per_s < math.inf and 0 <= burst < math.inf):
            raise ConfigError("bad bucket settings")
        self.rate_per_s = float(rate_per_s)
        self.burst = float(burst)
        self._tokens = self.burst
        self._last: float | None = None
        self.total_taken = 0.0

    def _refill(self, now: float) -> None:
        if now < 0:
            now = time.monotonic()
        if self._last is None:
            self._last = now
        elif now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate_per_s)
            self._last = now

    def try_take(self, n: float, now: float = -1.0) -> bool:
        if not n >= 0:
            raise ValueError("n must be >= 0")
        self._refill(now)
        if self._tokens >= n:
            self._tokens -= n
            self.total_taken += n
            return True
        return False

    def time_until(self, n: float, now: float = -1.0) -> float:
        if not n >= 0:
            raise ValueError("n must be >= 0")
        self._refill(now)
        if self._tokens >= n:
            return 0.0
        if n > self.burst or self.rate_per_s <= 0:
            return math.inf
        return (n - self._tokens) / self.rate_per_s

    def tokens(self, now: float = -1.0) -> float:
        self._refill(now)
        return self._tokens

# cython: language_level=3, embedsignature=True
"""Token bucket: rate plus burst on the monotonic clock (layer 1, pure computation).

Used for relay bandwidth and per-client rate limits. Tokens are bytes (or messages: the unit is the caller's).
The bucket starts full and refills continuously at ``rate_per_s`` up to ``burst``. Every method takes an
optional ``now`` (monotonic seconds) so callers that already read the clock, and tests, can pass the time;
otherwise ``CLOCK_MONOTONIC`` is read in C.
"""

cimport cython
from libc.math cimport INFINITY

from pushwire._core._common cimport monotonic_s

from pushwire.errors import ConfigError

__all__ = ["TokenBucket"]


@cython.final
cdef class TokenBucket:
    """Allow ``rate_per_s`` tokens per second on average, and bursts of up to ``burst`` tokens.

    Args:
        rate_per_s: refill rate in tokens (bytes) per second (>= 0; 0 never refills).
        burst: bucket size in tokens (>= 0); the bucket starts full.

    Raises:
        ConfigError: ``rate_per_s`` or ``burst`` is negative or not finite.

    Call :meth:`try_take` before spending; when it says no, :meth:`time_until` tells how long to wait.
    """

    def __init__(self, double rate_per_s, double burst):
        if not 0.0 <= rate_per_s < INFINITY:
            raise ConfigError(f"rate_per_s must be a finite number >= 0, got {rate_per_s}")
        if not 0.0 <= burst < INFINITY:
            raise ConfigError(f"burst must be a finite number >= 0, got {burst}")
        self._rate = rate_per_s
        self._burst = burst
        self._tokens = burst
        # The clock starts with the first call, so tests that pass `now` choose their own origin.
        self._last = -1.0
        self._taken = 0.0

    cdef inline void _refill(self, double now) noexcept:
        cdef double tokens
        if self._last < 0.0:
            self._last = now
            return
        if now <= self._last:
            # A clock that goes backwards (or a caller's stale `now`) adds nothing and moves nothing.
            return
        tokens = self._tokens + (now - self._last) * self._rate
        self._tokens = tokens if tokens < self._burst else self._burst
        self._last = now

    cpdef bint try_take(self, double n, double now=-1.0) except -1:
        """Take ``n`` tokens if the bucket holds them; return whether it did.

        Args:
            n: tokens wanted (>= 0). More than ``burst`` is never granted.
            now: current monotonic time in seconds; negative (the default) reads ``CLOCK_MONOTONIC``.

        Raises:
            ValueError: ``n`` is negative or NaN.
        """
        if not n >= 0.0:
            raise ValueError(f"n must be >= 0, got {n}")
        self._refill(now if now >= 0.0 else monotonic_s())
        if self._tokens >= n:
            self._tokens -= n
            self._taken += n
            return True
        return False

    cpdef double time_until(self, double n, double now=-1.0) except -1.0:
        """Return the seconds until ``n`` tokens are available: 0.0 if now, ``math.inf`` if never.

        Never means ``n > burst``, or ``rate_per_s == 0`` with too few tokens left.

        Raises:
            ValueError: ``n`` is negative or NaN.
        """
        if not n >= 0.0:
            raise ValueError(f"n must be >= 0, got {n}")
        self._refill(now if now >= 0.0 else monotonic_s())
        if self._tokens >= n:
            return 0.0
        if n > self._burst or self._rate <= 0.0:
            return INFINITY
        return (n - self._tokens) / self._rate

    cpdef double tokens(self, double now=-1.0) noexcept:
        """Return the tokens available at ``now`` (negative: read ``CLOCK_MONOTONIC``)."""
        self._refill(now if now >= 0.0 else monotonic_s())
        return self._tokens

    @property
    def total_taken(self) -> float:
        """Tokens granted by :meth:`try_take` so far."""
        return self._taken

    @property
    def rate_per_s(self) -> float:
        """Refill rate in tokens per second."""
        return self._rate

    @property
    def burst(self) -> float:
        """Bucket size in tokens."""
        return self._burst

    def __repr__(self) -> str:
        return f"<TokenBucket rate_per_s={self._rate} burst={self._burst} tokens={self._tokens}>"

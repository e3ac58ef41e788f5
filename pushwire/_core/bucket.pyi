"""Token bucket on the monotonic clock (types of the compiled ``pushwire._core.bucket``)."""

__all__ = ["TokenBucket"]

class TokenBucket:
    """Rate plus burst limiter; starts full, refills at rate_per_s up to burst."""

    def __init__(self, rate_per_s: float, burst: float) -> None:
        """Create a full bucket (ConfigError when rate_per_s or burst is negative or not finite)."""
    def try_take(self, n: float, now: float = -1.0) -> bool:
        """Refill to ``now`` (negative = clock), then take ``n`` tokens if there; return whether it did."""
    def time_until(self, n: float, now: float = -1.0) -> float:
        """Return seconds until ``n`` tokens are available (0.0 if now, math.inf if never)."""
    def tokens(self, now: float = -1.0) -> float:
        """Return the tokens available at ``now``."""
    @property
    def total_taken(self) -> float:
        """Tokens granted by try_take so far."""
    @property
    def rate_per_s(self) -> float:
        """Refill rate in tokens per second."""
    @property
    def burst(self) -> float:
        """Bucket size in tokens."""

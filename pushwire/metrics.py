"""Counters (layer 0): every bad input, drop and delivery is counted here and exported on ``GET /metrics``.

Plain integers in a dict: cheap enough for the hot path, no dependency. Names are snake_case; the exporter
prefixes them with ``pushwire_`` in the Prometheus text format.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["Metrics"]


class Metrics:
    """Monotonic counters by name, plus gauges computed on demand."""

    __slots__ = ("counters", "_gauges")

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self._gauges: dict[str, object] = {}

    def inc(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name``."""
        self.counters[name] += amount

    def get(self, name: str) -> int:
        """Current value of counter ``name`` (0 when never incremented)."""
        return self.counters.get(name, 0)

    def gauge(self, name: str, read: object) -> None:
        """Register a zero-argument callable whose value is exported as gauge ``name``."""
        self._gauges[name] = read

    def snapshot(self) -> dict[str, int | float]:
        """All counters and gauges now."""
        values: dict[str, int | float] = dict(self.counters)
        for name, read in self._gauges.items():
            values[name] = read()  # type: ignore[operator]
        return values

    def render_prometheus(self, prefix: str = "pushwire_") -> bytes:
        """The Prometheus text exposition format (version 0.0.4)."""
        lines = []
        for name, value in sorted(self.snapshot().items()):
            kind = "gauge" if name in self._gauges else "counter"
            metric = prefix + name + ("_total" if kind == "counter" else "")
            lines.append(f"# TYPE {metric} {kind}\n{metric} {value}\n")
        return "".join(lines).encode()

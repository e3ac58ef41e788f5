"""Limits and settings as frozen dataclasses, passed down from the faces to the layers that need them.

Nothing here reads the environment, argv or files: ``pushwire.cli`` is the only reader of those. Units are in
the names (``_bytes``, ``_s``, ``_ms``). Every limit is finite: pushwire bounds queues, history, headers and
messages so that one client can never make the server grow without bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigError

__all__ = [
    "AssetConfig",
    "HistoryConfig",
    "HttpConfig",
    "LaneLimits",
    "QueueConfig",
    "ServerConfig",
    "SseConfig",
    "WebSocketConfig",
]

KiB = 1024
MiB = 1024 * KiB


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class LaneLimits:
    """Bounds of one priority lane of one connection."""

    max_count: int
    max_bytes: int

    def __post_init__(self) -> None:
        _positive("max_count", self.max_count)
        _positive("max_bytes", self.max_bytes)


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A connection's outbound queue: three lanes and the socket's write-buffer watermark.

    The high and normal lanes are lossless: overflow closes the connection with 4000 (slow consumer,
    resume). The low lane drops its oldest frame on overflow; the client sees the cursor gap.
    """

    high: LaneLimits = LaneLimits(max_count=4096, max_bytes=4 * MiB)
    normal: LaneLimits = LaneLimits(max_count=4096, max_bytes=4 * MiB)
    low: LaneLimits = LaneLimits(max_count=1024, max_bytes=1 * MiB)
    #: stop draining lanes into the socket while its write buffer holds more than this
    write_high_water_bytes: int = 256 * KiB
    #: resume draining once the write buffer is back under this
    write_low_water_bytes: int = 64 * KiB
    #: largest batch written in one flush (one ``writelines``)
    max_flush_bytes: int = 1 * MiB
    #: write with ``send(2)`` on the socket while the transport's buffer is empty, skipping the transport's
    #: per-write bookkeeping (plain TCP transports of uvloop and asyncio only; False: every byte through it)
    direct_writes: bool = True

    def __post_init__(self) -> None:
        for name in ("write_high_water_bytes", "max_flush_bytes"):
            _positive(f"queue.{name}", getattr(self, name))
        if not 0 <= self.write_low_water_bytes <= self.write_high_water_bytes:
            raise ConfigError("queue.write_low_water_bytes must be between 0 and write_high_water_bytes")
        if type(self.direct_writes) is not bool:
            raise ConfigError(f"queue.direct_writes must be true or false, got {self.direct_writes!r}")


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """How much of each stream's history is kept for replay."""

    max_count: int = 1024
    #: entries older than this are trimmed; 0 keeps them until ``max_count`` pushes them out
    max_age_s: float = 300.0
    #: how many frames one resume may replay per stream (more -> ``gap``)
    max_replay: int = 1024

    def __post_init__(self) -> None:
        _positive("history.max_count", self.max_count)
        if self.max_age_s < 0:
            raise ConfigError("history.max_age_s must be >= 0")
        _positive("history.max_replay", self.max_replay)


@dataclass(frozen=True, slots=True)
class WebSocketConfig:
    """WebSocket limits and timers."""

    max_message_bytes: int = 1 * MiB
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    close_timeout_s: float = 5.0
    auth_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "ping_interval_s", "ping_timeout_s", "close_timeout_s", "auth_timeout_s"):
            _positive(f"websocket.{name}", getattr(self, name))


#: most listening sockets per address (each one is a file descriptor)
MAX_ACCEPT_BATCH = 256


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """HTTP/1.1 request limits and timers."""

    max_request_line_bytes: int = 8 * KiB
    max_header_bytes: int = 16 * KiB
    max_headers: int = 100
    max_body_bytes: int = 1 * MiB
    #: the whole request head must arrive within this, or the connection is cut (slowloris)
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keepalive_timeout_s: float = 60.0
    #: most connections one event-loop pass accepts: on Linux that many sockets share the listening address
    #: (``SO_REUSEPORT``), so a crowd connecting at once is set up in batches; 1 = one listening socket
    accept_batch: int = 16

    def __post_init__(self) -> None:
        for name in ("max_request_line_bytes", "max_header_bytes", "max_headers", "max_body_bytes",
                     "header_timeout_s", "body_timeout_s", "keepalive_timeout_s"):
            _positive(f"http.{name}", getattr(self, name))
        if type(self.accept_batch) is not int or not 1 <= self.accept_batch <= MAX_ACCEPT_BATCH:
            raise ConfigError(f"http.accept_batch must be an integer in 1..{MAX_ACCEPT_BATCH}, "
                              f"got {self.accept_batch!r}")


@dataclass(frozen=True, slots=True)
class SseConfig:
    """Server-Sent Events settings."""

    heartbeat_s: float = 15.0
    retry_ms: int = 2000

    def __post_init__(self) -> None:
        _positive("sse.heartbeat_s", self.heartbeat_s)
        if self.retry_ms < 0:
            raise ConfigError("sse.retry_ms must be >= 0")


@dataclass(frozen=True, slots=True)
class AssetConfig:
    """Binary asset delivery (``send_binary``)."""

    inline_limit_bytes: int = 256 * KiB
    max_asset_bytes: int = 64 * MiB
    #: empty means any MIME type is allowed
    allowed_mime: tuple[str, ...] = ()
    #: how long pointer assets stay downloadable
    ttl_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything a ``PushServer`` is configured with, besides code (channels, auth, handlers)."""

    queue: QueueConfig = field(default_factory=QueueConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    websocket: WebSocketConfig = field(default_factory=WebSocketConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    sse: SseConfig = field(default_factory=SseConfig)
    assets: AssetConfig = field(default_factory=AssetConfig)
    #: API key for ``POST /rps/publish``; None turns the publish API off
    publish_api_key: str | None = None
    #: serve the demo page on ``GET /``
    demo: bool = False
    #: serve the Autobahn echo endpoint ``/rps/echo``
    echo: bool = False
    #: how long a graceful shutdown waits for queues to drain
    shutdown_timeout_s: float = 5.0
    #: most streams one WebSocket connection may subscribe to (SSE: the position vector's own limit)
    max_streams_per_connection: int = 256

    def __post_init__(self) -> None:
        _positive("max_streams_per_connection", self.max_streams_per_connection)
        _positive("shutdown_timeout_s", self.shutdown_timeout_s)

"""``PushServer``, the face of the server (layer 5).

Example::

    from pushwire import PushServer, DefaultChannel

    server = PushServer(DefaultChannel, publish_api_key="secret")

    @server.handler(DefaultChannel.CHAT)
    async def on_chat(client_id, frame, server):
        await server.publish(DefaultChannel.CHAT, frame.payload, topic=frame.topic, sender=client_id)

    await server.serve("127.0.0.1", 9100)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

from .config import HistoryConfig, ServerConfig
from .errors import ConfigError, StateError
from .hub.broker.base import Broker
from .hub.hub import Hub, dumps
from .metrics import Metrics
from .protocol.channels import ChannelKind, DefaultChannel
from .protocol.frames import Frame
from .protocol.streams import StreamError, StreamRef, check_topic, is_uuid, normalize_uuid
from .server.http import HttpConnection
from .server.listen import open_listeners
from .server.routes import Routes
from .server.service import AuthValidator, ChannelHandler, PushService

__all__ = ["PushServer"]

_MAX_CACHED_REFS = 4096

log = logging.getLogger("pushwire.server")


class PushServer:
    """A push server: channels, handlers, publish and send, WebSocket and SSE on one port.

    Args:
        channels: the application's :class:`~pushwire.protocol.channels.ChannelKind` subclass.
        auth: validator ``auth(client_id, token, streams)`` (sync or async): return True/None to accept,
            False (or raise :class:`~pushwire.errors.AuthRejected`) to refuse. None accepts everyone.
        history: per-stream history limits (shortcut for ``config.history``).
        config: every limit and timer; see :mod:`pushwire.config`.
        broker: who keeps offsets and history; the in-memory broker when None.
        publish_api_key: enables ``POST /rps/publish`` with this bearer key.
        demo: serve the demo page on ``/``.
        echo: serve the ``/rps/echo`` WebSocket endpoint (for conformance tests).
        secret: key for session tokens; set it to keep tokens valid across restarts (random otherwise).
    """

    def __init__(self, channels: type[ChannelKind] = DefaultChannel, *, auth: AuthValidator | None = None,
                 history: HistoryConfig | None = None, config: ServerConfig | None = None,
                 broker: Broker | None = None, publish_api_key: str | None = None, demo: bool | None = None,
                 echo: bool | None = None, secret: bytes | None = None) -> None:
        config = config or ServerConfig()
        overrides: dict[str, Any] = {}
        if history is not None:
            overrides["history"] = history
        if publish_api_key is not None:
            overrides["publish_api_key"] = publish_api_key
        if demo is not None:
            overrides["demo"] = demo
        if echo is not None:
            overrides["echo"] = echo
        if overrides:
            config = _replace(config, **overrides)
        self.channels = channels
        self.config = config
        self.metrics = Metrics()
        self.hub = Hub(channels, broker, history=config.history, metrics=self.metrics)
        self._auth = auth
        self._secret = secret
        self._service: PushService | None = None
        self._pending_handlers: dict[ChannelKind, ChannelHandler] = {}
        self._connect_hooks: list[Callable[[str], Any]] = []
        self._disconnect_hooks: list[Callable[[str], Any]] = []
        self._servers: list[asyncio.AbstractServer] = []
        self._refs: dict[tuple[Any, str | None, str | None], StreamRef] = {}
        self._closed: asyncio.Event | None = None

    # -- application callbacks ------------------------------------------------------------------------------

    def register_handler(self, channel: ChannelKind | str, handler: ChannelHandler) -> None:
        """Call ``handler(client_id, frame, server)`` for every frame a client sends on ``channel``.

        The handler may be a coroutine function; one client's frames are handled in order. A later
        registration for the same channel replaces the earlier one.
        """
        member = self._channel(channel)
        if member.is_system:
            raise ConfigError("the system channel is handled by pushwire itself")
        self._pending_handlers[member] = handler
        if self._service is not None:
            self._service.handlers[member] = handler

    def handler(self, channel: ChannelKind | str) -> Callable[[ChannelHandler], ChannelHandler]:
        """Decorator form of :meth:`register_handler`."""
        def register(fn: ChannelHandler) -> ChannelHandler:
            self.register_handler(channel, fn)
            return fn
        return register

    def on_connect(self, hook: Callable[[str], Any]) -> Callable[[str], Any]:
        """Call ``hook(client_id)`` (sync or async) when a client's session opens. Usable as a decorator."""
        self._connect_hooks.append(hook)
        return hook

    def on_disconnect(self, hook: Callable[[str], Any]) -> Callable[[str], Any]:
        """Call ``hook(client_id)`` when a client's current connection closes. Usable as a decorator."""
        self._disconnect_hooks.append(hook)
        return hook

    # -- publish and send -----------------------------------------------------------------------------------

    async def publish(self, channel: ChannelKind | str, payload: Any, *, topic: str | None = None,
                      sender: str | None = None) -> int:
        """Publish ``payload`` (any JSON value) to stream ``channel`` or ``channel:topic``; return its cursor.

        ``sender`` fills the frame's ``client_id`` field (e.g. who wrote a chat message).
        """
        cursor, _ = await self.publish_json(channel, dumps(payload), topic=topic, sender=sender)
        return cursor

    async def publish_json(self, channel: ChannelKind | str, payload_json: bytes, *, topic: str | None = None,
                           to: str | None = None, sender: str | None = None) -> tuple[int, str]:
        """Publish an already-serialised JSON payload; return ``(cursor, stream name)``.

        With ``to`` (a client id) the frame goes to that client's personal stream of the channel, as
        :meth:`send` does; ``sender`` fills the frame's ``client_id`` field.
        """
        ref = self._stream_ref(channel, topic, to)
        publication = await self.hub.publish(ref, payload_json, client_id=sender)
        return publication.offset, publication.stream

    def publish_now(self, channel: ChannelKind | str, payload: Any, *, topic: str | None = None,
                    sender: str | None = None) -> int:
        """:meth:`publish` without awaiting, for synchronous code (handlers, callbacks); return the cursor.

        Works with a broker that assigns offsets in this process (the default memory broker); raises
        NotImplementedError with a broker that must be awaited.
        """
        cursor, _ = self.publish_json_now(channel, dumps(payload), topic=topic, sender=sender)
        return cursor

    def publish_json_now(self, channel: ChannelKind | str, payload_json: bytes, *, topic: str | None = None,
                         to: str | None = None, sender: str | None = None) -> tuple[int, str]:
        """:meth:`publish_json` without awaiting (see :meth:`publish_now`)."""
        ref = self._stream_ref(channel, topic, to)
        publication = self.hub.publish_now(ref, payload_json, client_id=sender)
        return publication.offset, publication.stream

    @property
    def publishes_synchronously(self) -> bool:
        """True when :meth:`publish_now` works (the broker assigns offsets in this process)."""
        return self.hub.broker.synchronous

    def _stream_ref(self, channel: ChannelKind | str, topic: str | None, to: str | None) -> StreamRef:
        key = (channel, topic, to)
        ref = self._refs.get(key)
        if ref is not None:
            return ref
        member = self._channel(channel)
        if member.is_system:
            raise ValueError("cannot publish on the system channel")
        if to is not None:
            if topic is not None:
                raise ValueError("give either a topic or a client_id, not both")
            ref = StreamRef.personal(member, _client(to))
        else:
            ref = StreamRef.of(member, check_topic(topic) if topic is not None else None)
        if len(self._refs) >= _MAX_CACHED_REFS:
            self._refs.clear()  # a bounded cache of parsed stream names: the common case is a few hot streams
        self._refs[key] = ref
        return ref

    async def send(self, client_id: str, frame_or_channel: Frame | ChannelKind | str, payload: Any = None) -> int:
        """Send to one client, on its personal stream of the channel; return the frame's cursor.

        The frame is kept in that stream's history: a client that is offline now gets it when it connects
        (within the history limits), and acks trim it.
        """
        if isinstance(frame_or_channel, Frame):
            channel, payload = frame_or_channel.channel, frame_or_channel.payload
            sender = frame_or_channel.client_id
        else:
            channel, sender = frame_or_channel, None
        cursor, _ = await self.publish_json(channel, dumps(payload), to=client_id, sender=sender)
        return cursor

    # -- clients --------------------------------------------------------------------------------------------

    def connected_client_ids(self) -> list[str]:
        """Ids of the clients connected now (WebSocket and SSE)."""
        return list(self._service.clients) if self._service else []

    def connected_clients(self) -> int:
        """How many clients are connected now (WebSocket and SSE)."""
        return len(self._service.clients) if self._service else 0

    def disconnect(self, client_id: str, *, reason: str = "disconnected by the server") -> bool:
        """Close a client's connection (it may reconnect); return whether it was connected."""
        if self._service is None or not is_uuid(client_id):
            return False
        connection = self._service.clients.get(normalize_uuid(client_id))
        if connection is None:
            return False
        self._service.guard_closed_loop()
        connection.goodbye(reason)
        return True

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self, host: str | Sequence[str] | None = "127.0.0.1", port: int = 9100, *,
                    backlog: int = 4096) -> None:
        """Listen on ``host:port`` (port 0 picks a free one; read :attr:`port`).

        ``host`` may list several addresses (``["127.0.0.1", "::1"]``); None listens on every interface.
        """
        if self._service is not None:
            raise StateError("the server is already started")
        loop = asyncio.get_running_loop()
        service = PushService(channels=self.channels, hub=self.hub, config=self.config, auth=self._auth,
                              metrics=self.metrics, loop=loop, secret=self._secret)
        service.face = self
        service.handlers.update(self._pending_handlers)
        service.on_connect.extend(self._connect_hooks)
        service.on_disconnect.extend(self._disconnect_hooks)
        routes = Routes(service)
        http_config = self.config.http
        tracker = service.http_connections

        def factory() -> HttpConnection:
            return HttpConnection(http_config, routes, self.metrics, loop, tracker)

        servers = await open_listeners(loop, factory, host, port, backlog=backlog,
                                       accept_batch=http_config.accept_batch)
        self._service = service
        self._servers.extend(servers)
        self._closed = asyncio.Event()
        service.start_sweeper()
        log.info("pushwire listening on %s", ", ".join(_address(s) for s in servers[0].sockets))

    @property
    def port(self) -> int:
        """The port the server listens on (after :meth:`start`)."""
        if not self._servers:
            raise StateError("the server is not started")
        return self._servers[0].sockets[0].getsockname()[1]

    async def serve(self, host: str = "127.0.0.1", port: int = 9100) -> None:
        """Start, then run until :meth:`close` is called (or the task is cancelled, which closes gracefully)."""
        await self.start(host, port)
        assert self._closed is not None
        try:
            await self._closed.wait()
        finally:
            await self.close()

    async def close(self, reason: str = "shutdown") -> None:
        """Stop accepting, send ``goodbye`` to every client, let queues drain (bounded), close everything."""
        service, self._service = self._service, None
        for server in self._servers:
            server.close()
        if service is not None:
            await service.shutdown(reason)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        await self.hub.broker.close()
        if self._closed is not None:
            self._closed.set()

    async def __aenter__(self) -> PushServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- helpers --------------------------------------------------------------------------------------------

    def _channel(self, channel: ChannelKind | str) -> ChannelKind:
        if isinstance(channel, self.channels):
            return channel
        if isinstance(channel, str):
            member = self.channels.from_name(channel)
            if member is not None:
                return member
        raise ValueError(f"unknown channel {channel!r}")


def _client(client_id: str) -> str:
    if not is_uuid(client_id):
        raise StreamError(f"client_id must be a UUID, got {client_id!r}")
    return normalize_uuid(client_id)


def _address(server_socket: Any) -> str:
    host, port = server_socket.getsockname()[:2]
    return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"


def _replace(config: ServerConfig, **changes: Any) -> ServerConfig:
    return dataclasses.replace(config, **changes)

"""Shared test configuration: every asyncio test runs on uvloop, as pushwire does in production, and
``start_server`` / ``server`` give real PushServers on 127.0.0.1 with ephemeral ports."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvloop

from pushwire import DefaultChannel, PushServer, ServerConfig


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Any]:
    return {"uvloop": uvloop.new_event_loop}

API_KEY = "test-api-key"

StartServer = Callable[..., Awaitable[PushServer]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    """Start PushServers with config overrides; all are closed at the end of the test."""
    servers: list[PushServer] = []

    async def start(channels: Any = DefaultChannel, *, relay_chat: bool = True, **kwargs: Any) -> PushServer:
        config = kwargs.pop("config", None) or ServerConfig()
        for section in ("queue", "history", "websocket", "http", "sse"):
            if section in kwargs:
                config = dataclasses.replace(config, **{section: kwargs.pop(section)})
        kwargs.setdefault("publish_api_key", API_KEY)
        server = PushServer(channels, config=config, **kwargs)
        if relay_chat and channels is DefaultChannel:
            from pushwire.cli import relay_chat as relay

            server.register_handler(DefaultChannel.CHAT, relay)
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def server(start_server: StartServer) -> PushServer:
    return await start_server()

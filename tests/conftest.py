"""Shared test configuration: every asyncio test runs on uvloop, as pushwire does in production, and
``start_server`` / ``server`` give real PushServers on 127.0.0.1 with ephemeral ports."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvloop

from pushwire import DefaultChannel, PushServer, ServerConfig


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Any]:
    return {"uvloop": uvloop.new_event_loop}


def pytest_sessionstart(session: Any) -> None:
    """Refuse to test a compiled module older than its source: Python would import the stale compiled one."""
    package = Path(__file__).resolve().parent.parent / "pushwire"
    stale = []
    for compiled in package.rglob("*.so"):
        source = compiled.with_name(compiled.name.split(".", 1)[0] + ".py")
        if not source.exists():
            source = source.with_suffix(".pyx")
        if source.exists() and source.stat().st_mtime > compiled.stat().st_mtime:
            stale.append(str(source.relative_to(package.parent)))
    if stale:
        pytest.exit(f"changed after they were compiled: {', '.join(sorted(stale))}; rebuild with "
                    "`.venv/bin/python setup.py build_ext --inplace -q` (bash scripts/test.sh does it)", returncode=2)

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

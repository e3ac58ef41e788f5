"""Listening sockets (layer 4): how many connections one pass of the event loop can accept.

libuv, under uvloop, accepts one connection per listening socket per loop pass. When thousands of clients
connect at once (a deploy, a network blip), that is one loop pass per connection: every answer is its own
burst of writes, and a peer that sleeps between them is woken for each one. On Linux, ``SO_REUSEPORT`` lets
several sockets of this process listen on the same address; the kernel spreads new connections over them and
one loop pass accepts up to one per socket, so set-up work and writes come in batches.

A second server started on a port already in use must still fail with "address in use", not quietly take
half of the connections: the address is first bound without ``SO_REUSEPORT`` (which conflicts with any
listener), then released and bound again as the group.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable, Sequence

__all__ = ["open_listeners", "REUSEPORT_SPREADS"]

#: the kernel spreads connections over ``SO_REUSEPORT`` listeners (Linux; on BSD and macOS it does not)
REUSEPORT_SPREADS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


async def open_listeners(loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol],
                         host: str | Sequence[str] | None, port: int, *, backlog: int,
                         accept_batch: int) -> list[asyncio.AbstractServer]:
    """Listen on ``host:port`` with ``accept_batch`` sockets per address (one where the kernel cannot spread).

    Port 0 picks a free port; every socket of the group then shares it.

    Raises:
        OSError: the address is in use or cannot be bound.
    """
    if accept_batch <= 1 or not REUSEPORT_SPREADS:
        return [await _listen(loop, factory, host, port, backlog, reuse_port=False)]
    probe = await loop.create_server(factory, host, port, backlog=backlog, reuse_address=True,
                                     start_serving=False)
    ports = {sock.getsockname()[1] for sock in probe.sockets}
    probe.close()
    await probe.wait_closed()
    if len(ports) != 1:
        # port 0 on several addresses gave each its own port: one group cannot share them
        return [await _listen(loop, factory, host, port, backlog, reuse_port=False)]
    (bound,) = ports
    servers: list[asyncio.AbstractServer] = []
    try:
        for _ in range(accept_batch):
            servers.append(await _listen(loop, factory, host, bound, backlog, reuse_port=True))
    except BaseException:
        for server in servers:
            server.close()
        raise
    return servers


async def _listen(loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol],
                  host: str | Sequence[str] | None, port: int, backlog: int, *,
                  reuse_port: bool) -> asyncio.AbstractServer:
    return await loop.create_server(factory, host, port, backlog=backlog, reuse_address=True,
                                    reuse_port=reuse_port)

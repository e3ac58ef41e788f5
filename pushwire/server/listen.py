"""Listening sockets (layer 4): how many connections one pass of the event loop can accept.

libuv, under uvloop, accepts one connection per listening socket per loop pass. When thousands of clients
connect at once (a deploy, a network blip), that is one loop pass per connection: every answer is its own
burst of writes, and a peer that sleeps between them is woken for each one. On Linux, ``SO_REUSEPORT`` lets
several sockets of this process listen on the same address; the kernel spreads new connections over them and
one loop pass accepts up to one per socket, so set-up work and writes come in batches.

A second server started on a port already in use must still fail with "address in use", not quietly take
half of the connections. Each address is therefore first bound and *listened on* without ``SO_REUSEPORT``
(which conflicts with any other listener, with or without it), then released, and the group is bound at once,
with no ``await`` in between: of two servers starting together, one gets the port and the other fails. (A
program that sets ``SO_REUSEPORT`` itself and runs as the same user can still join the group later; that is
what the option means. Set ``http.accept_batch = 1`` for a single ordinary socket.)
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["open_listeners", "REUSEPORT_SPREADS"]

#: the kernel spreads connections over ``SO_REUSEPORT`` listeners (Linux; on BSD and macOS it does not)
REUSEPORT_SPREADS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")

#: port 0 on several addresses: how often a free port is picked again when another program took it meanwhile
_PORT_ZERO_ATTEMPTS = 5

_Address = tuple[int, int, int, Any]  # family, type, proto, sockaddr


async def open_listeners(loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol],
                         host: str | Sequence[str] | None, port: int, *, backlog: int,
                         accept_batch: int) -> list[asyncio.AbstractServer]:
    """Listen on ``host:port`` with ``accept_batch`` sockets per address (one where the kernel cannot spread).

    ``host`` may list several addresses; None (or "") is every interface. Port 0 picks a free port, the same
    for every address.

    Raises:
        OSError: an address is in use or cannot be bound.
    """
    if accept_batch <= 1 or not REUSEPORT_SPREADS:
        return [await loop.create_server(factory, host, port, backlog=backlog, reuse_address=True)]
    addresses = await _resolve(loop, host, port)
    for attempt in range(_PORT_ZERO_ATTEMPTS):
        try:
            group = _bind_group(addresses, port, backlog, accept_batch)
            break
        except OSError:
            if port != 0 or attempt == _PORT_ZERO_ATTEMPTS - 1:
                raise
    servers: list[asyncio.AbstractServer] = []
    try:
        for sock in group:
            servers.append(await loop.create_server(factory, sock=sock, backlog=backlog))
    except BaseException:
        for server in servers:
            server.close()
        for sock in group[len(servers):]:
            sock.close()
        raise
    return servers


async def _resolve(loop: asyncio.AbstractEventLoop, host: str | Sequence[str] | None,
                   port: int) -> list[_Address]:
    """The addresses to listen on, as ``create_server`` would find them (``AI_PASSIVE``), without repeats."""
    hosts: Sequence[str | None] = [None] if host in (None, "") else [host] if isinstance(host, str) else host
    infos = await asyncio.gather(*(loop.getaddrinfo(name, port, family=socket.AF_UNSPEC,
                                                    type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
                                   for name in hosts))
    addresses: list[_Address] = []
    for family, kind, proto, _name, sockaddr in itertools.chain.from_iterable(infos):
        if (family, kind, proto, sockaddr) not in addresses:
            addresses.append((family, kind, proto, sockaddr))
    if not addresses:
        raise OSError(f"no address to listen on for {host!r}")
    return addresses


def _bind_group(addresses: list[_Address], port: int, backlog: int, accept_batch: int) -> list[socket.socket]:
    """Claim every address with a plain listener, release it, bind ``accept_batch`` sharing sockets in its place.

    Synchronous on purpose: nothing else in this process runs between the release and the group's bind.
    """
    claims: list[socket.socket] = []
    group: list[socket.socket] = []
    try:
        for family, kind, proto, sockaddr in addresses:
            if port == 0 and claims:  # every address on the port the first one got
                sockaddr = (sockaddr[0], claims[0].getsockname()[1], *sockaddr[2:])
            claims.append(_listener(family, kind, proto, sockaddr, backlog, reuse_port=False))
        bound = [(family, kind, proto, claim.getsockname())
                 for (family, kind, proto, _), claim in zip(addresses, claims)]
        for claim in claims:
            claim.close()
        for family, kind, proto, sockaddr in bound:
            for _ in range(accept_batch):
                group.append(_listener(family, kind, proto, sockaddr, backlog, reuse_port=True))
    except BaseException:
        for sock in claims + group:
            sock.close()
        raise
    return group


def _listener(family: int, kind: int, proto: int, sockaddr: Any, backlog: int, *,
              reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as create_server does
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            raise OSError(exc.errno, f"error while attempting to bind on address {sockaddr!r}: "
                                     f"{(exc.strerror or str(exc)).lower()}") from None
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock

"""Peer server: what a Python user writes today with `websockets` on uvloop.

Subscribers connect a WebSocket to any path except ``/publish`` and receive every published message as a
text frame, sent with ``websockets.asyncio.server.broadcast``.  Messages are published either by
``POST /publish`` on the HTTP port (``--pub-port``; body = the message) or by sending text frames on a
WebSocket connected to ``/publish`` on the WebSocket port.

Run with the harness's venv: ``python ws_broadcast.py --port 9001 --pub-port 9002``.
Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

CLIENTS: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    """Register a subscriber until it goes away, or relay a publisher's frames."""
    if ws.request is not None and ws.request.path == "/publish":
        async for message in ws:
            broadcast(CLIENTS, message)
        return
    CLIENTS.add(ws)
    try:
        await ws.wait_closed()
    finally:
        CLIENTS.discard(ws)


class PublishProtocol(asyncio.Protocol):
    """Minimal keep-alive HTTP/1.1 endpoint: ``POST /publish`` broadcasts the body."""

    def __init__(self) -> None:
        self.transport: asyncio.WriteTransport | None = None
        self.buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self._one_request():
            pass

    def _one_request(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        method, path = (lines[0].split(" ") + ["", ""])[:2]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if len(self.buf) < end + 4 + length:
            return False
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        if self.transport is None:
            return False
        if method == "POST" and path == "/publish":
            broadcast(CLIENTS, body.decode())
            self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        else:
            self.transport.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True


async def main(host: str, port: int, pub_port: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    http = await loop.create_server(PublishProtocol, host, pub_port, backlog=4096)
    async with serve(handler, host, port, backlog=4096):
        await stop
    http.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pub-port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(main(args.host, args.port, args.pub_port))

"""A small, independent RFC 6455 client for tests: written from the RFC and docs/protocol.md alone.

It shares no code with pushwire (no pushwire import), so a bug in pushwire's framing cannot hide itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import uuid
from typing import Any

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


class Closed(Exception):
    """The server closed: ``code`` and ``reason`` of its close frame (1006 when the TCP connection dropped)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


class RawWs:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response_head: str) -> None:
        self.reader = reader
        self.writer = writer
        self.response_head = response_head
        self.pings = 0

    @classmethod
    async def connect(cls, port: int, path: str = "/rps", *, host: str = "127.0.0.1",
                      headers: dict[str, str] | None = None, timeout: float = 5.0,
                      rcvbuf: int | None = None) -> RawWs:
        sock = None
        if rcvbuf is not None:  # a small receive buffer makes a stalled reader back up into the server fast
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
            reader, writer = await asyncio.open_connection(sock=sock, limit=rcvbuf)
        else:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)).decode()
        status = head.split(" ", 2)[1]
        if status != "101":
            writer.close()
            raise ConnectionRefusedError(head)
        expected = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        fields = dict(line.split(":", 1) for line in head.split("\r\n")[1:] if ":" in line)
        accept = {name.strip().lower(): value.strip() for name, value in fields.items()}["sec-websocket-accept"]
        assert accept == expected
        return cls(reader, writer, head)

    # sending

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True, rsv: int = 0) -> None:
        first = (0x80 if fin else 0) | (rsv << 4) | opcode
        length = len(payload)
        mask_bit = 0x80 if mask else 0
        if length < 126:
            header = struct.pack("!BB", first, mask_bit | length)
        elif length < 65536:
            header = struct.pack("!BBH", first, mask_bit | 126, length)
        else:
            header = struct.pack("!BBQ", first, mask_bit | 127, length)
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if length < 4096 else _xor(payload, key)
            header += key
        self.writer.write(header + payload)

    def send_text(self, text: str | bytes) -> None:
        self.send_frame(TEXT, text.encode() if isinstance(text, str) else text)

    def send_json(self, obj: Any) -> None:
        self.send_text(json.dumps(obj, separators=(",", ":")))

    def send_op(self, op: dict[str, Any]) -> None:
        self.send_json({"channel": "system", "cursor": None, "client_id": None, "payload": op})

    async def auth(self, client_id: str | None = None, streams: list[str] | None = None, *,
                   token: str | None = None, cursors: dict[str, int] | None = None,
                   epochs: dict[str, str] | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """Send ``auth`` and return the ``auth_ok`` payload (raises Closed if refused)."""
        op: dict[str, Any] = {"type": "auth", "client_id": client_id or str(uuid.uuid4()), "token": token,
                              "capabilities": streams or [], "resume_cursor": None,
                              "resume_cursors": cursors or {}}
        if epochs:
            op["resume_epochs"] = epochs
        self.send_op(op)
        frame = await self.recv_json(timeout)
        payload = frame["payload"]
        assert payload["type"] == "auth_ok", frame
        return payload

    async def close(self, code: int = 1000) -> None:
        try:
            self.send_frame(CLOSE, struct.pack("!H", code))
            await asyncio.wait_for(self.writer.drain(), 2)
        except (ConnectionError, asyncio.TimeoutError):
            pass
        self.writer.close()

    def abort(self) -> None:
        self.writer.transport.abort()

    # receiving

    async def recv_frame(self, timeout: float = 5.0) -> tuple[bool, int, bytes]:
        async def read() -> tuple[bool, int, bytes]:
            b1, b2 = await self.reader.readexactly(2)
            assert not b2 & 0x80, "server frames must not be masked"
            length = b2 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return bool(b1 & 0x80), b1 & 0x0F, await self.reader.readexactly(length)

        return await asyncio.wait_for(read(), timeout)

    async def recv_message(self, timeout: float = 5.0, *, answer_pings: bool = True) -> tuple[int, bytes]:
        """Next data message (pings answered and skipped); raises Closed on a close frame or EOF."""
        while True:
            try:
                _fin, opcode, payload = await self.recv_frame(timeout)
            except asyncio.IncompleteReadError:
                raise Closed(1006, "connection dropped") from None
            if opcode == PING:
                self.pings += 1
                if answer_pings:
                    self.send_frame(PONG, payload)
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                raise Closed(code, payload[2:].decode(errors="replace"))
            return opcode, payload

    async def recv_json(self, timeout: float = 5.0) -> dict[str, Any]:
        opcode, payload = await self.recv_message(timeout)
        assert opcode == TEXT
        return json.loads(payload)

    async def recv_until_closed(self, timeout: float = 5.0) -> tuple[list[dict[str, Any]], Closed]:
        """Collect messages until the server closes; return them and the close."""
        messages = []
        while True:
            try:
                messages.append(await self.recv_json(timeout))
            except Closed as closed:
                return messages, closed


def _xor(data: bytes, key: bytes) -> bytes:
    n = len(data)
    whole = int.from_bytes(data, "big") ^ int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return whole.to_bytes(n, "big")

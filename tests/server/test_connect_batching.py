"""Connection set-up in batches: several listening sockets per address, and the 101 written at the end of
the loop pass (or ahead of anything the connection writes before then)."""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import os
import socket
import struct
import uuid
from typing import Any

import pytest

from pushwire import PushServer, ServerConfig
from pushwire.config import ConfigError, HttpConfig
from pushwire.errors import ErrorCode
from pushwire.protocol.messages import Error, Pong
from pushwire.server.listen import REUSEPORT_SPREADS
from pushwire.server.websocket import WebSocketConnection

from .rawws import PING, PONG, TEXT, Closed, RawWs

linux_only = pytest.mark.skipif(not REUSEPORT_SPREADS,
                                reason="SO_REUSEPORT spreads connections on Linux only")


def _ports(server: PushServer) -> list[int]:
    return [sock.getsockname()[1] for listener in server._servers for sock in listener.sockets]


@linux_only
async def test_listening_sockets_share_one_port_and_serve(start_server):
    server = await start_server(http=HttpConfig(accept_batch=4))
    assert _ports(server) == [server.port] * 4
    clients = await asyncio.gather(*(RawWs.connect(server.port) for _ in range(40)))
    oks = await asyncio.gather(*(ws.auth(streams=["chat"]) for ws in clients))
    assert all(ok["session_token"] for ok in oks)
    assert server.connected_clients() == 40
    await server.publish("chat", {"n": 1})
    frames = await asyncio.gather(*(ws.recv_json() for ws in clients))
    assert {frame["payload"]["n"] for frame in frames} == {1}
    for ws in clients:
        await ws.close()


async def test_one_socket_when_the_batch_is_one(start_server):
    server = await start_server(http=HttpConfig(accept_batch=1))
    assert _ports(server) == [server.port]
    ws = await RawWs.connect(server.port)
    await ws.auth()
    await ws.close()


@linux_only
async def test_a_port_in_use_still_fails(start_server):
    first = await start_server()
    second = PushServer()
    with pytest.raises(OSError) as info:  # not a quiet share of the first server's connections
        await second.start("127.0.0.1", first.port)
    assert info.value.errno == errno.EADDRINUSE
    await second.close()
    # a listener of another program (no SO_REUSEPORT) blocks the port the same way
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen()
    try:
        third = PushServer()
        with pytest.raises(OSError) as info:
            await third.start("127.0.0.1", other.getsockname()[1])
        assert info.value.errno == errno.EADDRINUSE
        await third.close()
    finally:
        other.close()


def test_the_group_on_the_standard_event_loop():
    """An application may embed PushServer in a plain asyncio loop: the same listeners work there."""

    async def main() -> None:
        server = PushServer(config=ServerConfig(http=HttpConfig(accept_batch=3)))
        await server.start("127.0.0.1", 0)
        try:
            expected = 3 if REUSEPORT_SPREADS else 1
            assert _ports(server) == [server.port] * expected
            ws = await RawWs.connect(server.port)
            assert (await ws.auth())["session_token"]
            await ws.close()
        finally:
            await server.close()

    asyncio.run(main())


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


async def _auth_on_each(port: int, hosts: list[str]) -> None:
    for host in hosts:
        ws = await RawWs.connect(port, host=host)
        await ws.auth()
        await ws.close()


@linux_only
@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback")
async def test_several_addresses():
    """127.0.0.1 and ::1 together, on a port of their own (port 0) and on a given port: every address gets
    the whole group, all on one port."""
    both = ["127.0.0.1", "::1"]
    server = PushServer(config=ServerConfig(http=HttpConfig(accept_batch=2)))
    await server.start(both, 0)
    try:
        families = {sock.family for listener in server._servers for sock in listener.sockets}
        assert families == {socket.AF_INET, socket.AF_INET6}
        port = server.port
        assert _ports(server) == [port] * 4
        await _auth_on_each(port, both)
    finally:
        await server.close()
    server = PushServer(config=ServerConfig(http=HttpConfig(accept_batch=2)))
    try:
        await server.start(both, port)  # the same port again, now given
    except OSError:  # another program took it meanwhile, on either address: nothing to check
        pytest.skip("the port was taken before the test could bind it again")
    try:
        assert _ports(server) == [port] * 4
        await _auth_on_each(port, both)
    finally:
        await server.close()


@linux_only
async def test_two_servers_starting_together_on_one_port():
    """Of two servers starting at once on one port, one gets it and the other fails: no quiet sharing."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    first, second = PushServer(), PushServer()
    results = await asyncio.gather(first.start("127.0.0.1", port), second.start("127.0.0.1", port),
                                   return_exceptions=True)
    try:
        errors = [r for r in results if isinstance(r, OSError)]
        assert len(errors) == 1 and errors[0].errno == errno.EADDRINUSE, results
        winner = first if results[0] is None else second
        assert _ports(winner) == [port] * 16
    finally:
        await first.close()
        await second.close()


@pytest.mark.parametrize("value", [0, -1, 2.5, 257, True])
def test_accept_batch_is_a_small_positive_integer(value):
    with pytest.raises(ConfigError):
        HttpConfig(accept_batch=value)


# -- the 101 and what follows it ---------------------------------------------------------------------------

def _masked(opcode: int, payload: bytes) -> bytes:
    key = os.urandom(4)
    assert len(payload) < 65536
    length = (struct.pack("!B", 0x80 | len(payload)) if len(payload) < 126
              else struct.pack("!BH", 0x80 | 126, len(payload)))
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return struct.pack("!B", 0x80 | opcode) + length + key + masked


def _auth_frame() -> bytes:
    op = {"type": "auth", "client_id": str(uuid.uuid4()), "token": None, "capabilities": ["chat"],
          "resume_cursor": None, "resume_cursors": {}}
    return json.dumps({"channel": "system", "cursor": None, "client_id": None, "payload": op}).encode()


async def _pipelined(port: int, after_request: bytes) -> RawWs:
    """Send the upgrade request and ``after_request`` in one write; return the client once the 101 is read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /rps HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    writer.write(request + after_request)
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
    assert head.startswith("HTTP/1.1 101 "), head  # the first bytes on the wire are the 101, whatever follows
    return RawWs(reader, writer, head)


async def test_frames_pipelined_with_the_upgrade_follow_the_101(server):
    ws = await _pipelined(server.port, _masked(1, _auth_frame()) + _masked(PING, b"hi"))
    seen: dict[str, Any] = {}
    for _ in range(2):
        _fin, opcode, payload = await ws.recv_frame()
        if opcode == PONG:
            seen["pong"] = payload
        else:
            assert opcode == TEXT
            seen["auth_ok"] = json.loads(payload)["payload"]["type"]
    assert seen == {"pong": b"hi", "auth_ok": "auth_ok"}
    await ws.close()


async def test_a_protocol_error_pipelined_with_the_upgrade_closes_after_the_101(server):
    unmasked_text = struct.pack("!BB", 0x81, 2) + b"hi"  # clients must mask (RFC 6455 5.1): close 1002
    ws = await _pipelined(server.port, unmasked_text)
    with pytest.raises(Closed) as info:
        await ws.recv_message()
    assert info.value.code == 1002


class _Recorder:
    """Just enough of a transport to see what a connection writes, and in how many writes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, parts: Any) -> None:
        self.writes.append(b"".join(parts))

    def is_closing(self) -> bool:
        return False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


HEAD = b"HTTP/1.1 101 Switching Protocols\r\n\r\n"


async def test_a_flush_before_the_end_of_the_pass_carries_the_101(server):
    ws = WebSocketConnection(server._service, head=HEAD)
    transport = _Recorder()
    ws.connection_made(transport)  # type: ignore[arg-type]
    ws.send_op(Pong())
    ws.outbox.flush()  # another connection's flush pass got here first
    assert len(transport.writes) == 1 and transport.writes[0].startswith(HEAD + b"\x81")
    await asyncio.sleep(0)  # the pass ends: the 101 is not written twice
    await asyncio.sleep(0)
    assert len(transport.writes) == 1
    ws.connection_lost(None)


async def test_an_error_and_close_before_the_end_of_the_pass_follow_the_101(server):
    ws = WebSocketConnection(server._service, head=HEAD)
    transport = _Recorder()
    ws.connection_made(transport)  # type: ignore[arg-type]
    ws.fail(1008, "refused", Error(ErrorCode.AUTH_REJECTED, "refused"))
    # the error frame carries the 101 along (one write), then the close frame
    assert transport.writes[0].startswith(HEAD + b"\x81") and b"auth_rejected" in transport.writes[0]
    assert transport.writes[-1][:1] == b"\x88"
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert b"".join(transport.writes).count(HEAD) == 1
    ws.connection_lost(None)


async def test_a_goodbye_before_the_end_of_the_pass_follows_the_101(server):
    ws = WebSocketConnection(server._service, head=HEAD)
    transport = _Recorder()
    ws.connection_made(transport)  # type: ignore[arg-type]
    ws.send_op(Pong())  # queued: the goodbye flushes it first
    ws.goodbye("shutdown")
    assert transport.writes[0].startswith(HEAD + b"\x81")
    assert transport.writes[-1][:1] == b"\x88"
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert b"".join(transport.writes).count(HEAD) == 1
    ws.connection_lost(None)


async def test_the_101_alone_at_the_end_of_the_pass(server):
    ws = WebSocketConnection(server._service, head=HEAD)
    transport = _Recorder()
    ws.connection_made(transport)  # type: ignore[arg-type]
    assert transport.writes == []  # nothing before the end of the loop pass
    await asyncio.sleep(0)
    assert transport.writes == [HEAD]
    ws.send_op(Pong())
    ws.outbox.flush()
    assert len(transport.writes) == 2 and transport.writes[1].startswith(b"\x81")
    ws.connection_lost(None)

"""SocketWriter: writes with send(2) while the transport's buffer is empty, through the transport otherwise.

Real TCP sockets on 127.0.0.1, on uvloop and on asyncio's own loop (the two transports written to directly).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop

from pushwire._core.fanout import CallbackSink, Sink
from pushwire.server.sockwrite import SocketWriter, socket_fd, write_counts

LOOPS = {"uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}
TIMEOUT = 10.0


class Served(asyncio.Protocol):
    """The server side of one test connection: its transport and whether connection_lost came."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.made = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()
        self.paused = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.made.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)

    def pause_writing(self) -> None:
        self.paused += 1


async def _pair(sndbuf: int | None = None) -> tuple[Served, socket.socket, asyncio.AbstractServer]:
    """A served connection and its client socket (non-blocking, read by the test with sock_recv)."""
    loop = asyncio.get_running_loop()
    served: list[Served] = []

    def factory() -> Served:
        served.append(Served())
        return served[-1]

    server = await loop.create_server(factory, "127.0.0.1", 0)
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.setblocking(False)
    await loop.sock_connect(client, server.sockets[0].getsockname())
    while not served:
        await asyncio.sleep(0.001)
    await asyncio.wait_for(served[0].made, TIMEOUT)
    if sndbuf is not None:
        served[0].transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    return served[0], client, server


async def _read_exactly(client: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    got = 0
    async with asyncio.timeout(TIMEOUT):
        while got < size:
            chunk = await loop.sock_recv(client, 65536)
            assert chunk, f"connection closed after {got} of {size} bytes"
            chunks.append(chunk)
            got += len(chunk)
    data = b"".join(chunks)
    assert len(data) == size
    return data


class Counts:
    """Direct and transport writes since it was made (the counters are process-wide)."""

    def __init__(self) -> None:
        self.start = write_counts()

    def __call__(self) -> tuple[int, int]:
        now = write_counts()
        return now[0] - self.start[0], now[1] - self.start[1]


def _run(loop_name: str, scenario: Callable[[], Awaitable[None]]) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        runner.run(asyncio.wait_for(scenario(), TIMEOUT * 2))


@pytest.mark.parametrize("loop_name", LOOPS)
def test_writes_go_to_the_socket_directly(loop_name):
    async def scenario() -> None:
        served, client, server = await _pair()
        writer = SocketWriter(served.transport)
        assert writer.direct
        assert socket_fd(served.transport) == served.transport.get_extra_info("socket").fileno()
        counts = Counts()
        for n in range(100):
            writer.write(b"frame %03d;" % n)
        assert counts() == (100, 0)
        assert await _read_exactly(client, 1000) == b"".join(b"frame %03d;" % n for n in range(100))
        client.close()
        server.close()

    _run(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_the_head_goes_out_first_and_once(loop_name):
    async def scenario() -> None:
        served, client, server = await _pair()
        writer = SocketWriter(served.transport, b"HEAD|")
        assert writer.head_pending
        writer.write(b"one|")
        writer.write_head()  # nothing left to write
        writer.writelines([b"two", b"|", b"three"])
        assert await _read_exactly(client, 18) == b"HEAD|one|two|three"
        assert not writer.head_pending
        alone = SocketWriter(served.transport, b"ALONE")
        alone.write_head()
        alone.write_head()
        assert await _read_exactly(client, 5) == b"ALONE"
        client.close()
        server.close()

    _run(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_full_socket_hands_the_rest_to_the_transport_in_order(loop_name):
    async def scenario() -> None:
        served, client, server = await _pair(sndbuf=4096)
        served.transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        writer = SocketWriter(served.transport)
        chunks = [bytes([65 + n % 26]) * 1000 + b"#%05d" % n for n in range(400)]  # 402 KB, the client reads none
        counts = Counts()
        for chunk in chunks:
            writer.write(chunk)
        direct, through_transport = counts()
        assert direct > 0 and through_transport > 0 and direct + through_transport == 400
        assert served.paused == 1  # the transport's flow control still works: it paused the protocol
        expected = b"".join(chunks)
        assert await _read_exactly(client, len(expected)) == expected
        # drained: the next writes go to the socket again
        async with asyncio.timeout(TIMEOUT):
            while served.transport.get_write_buffer_size():
                await asyncio.sleep(0.001)
        counts = Counts()
        writer.write(b"after")
        assert counts() == (1, 0)
        assert await _read_exactly(client, 5) == b"after"
        client.close()
        server.close()

    _run(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_bytes_written_by_the_transport_before_are_not_overtaken(loop_name):
    async def scenario() -> None:
        served, client, server = await _pair(sndbuf=4096)
        first = b"x" * 300_000
        served.transport.write(first)  # an HTTP answer written before the writer existed, still buffered
        assert served.transport.get_write_buffer_size() > 0
        writer = SocketWriter(served.transport)
        counts = Counts()
        writer.write(b"behind")
        assert counts() == (0, 1)
        assert await _read_exactly(client, len(first) + 6) == first + b"behind"
        client.close()
        server.close()

    _run(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_reset_connection_is_closed_by_its_transport(loop_name):
    async def scenario() -> None:
        served, client, server = await _pair()
        writer = SocketWriter(served.transport)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        client.close()  # RST
        async with asyncio.timeout(TIMEOUT):
            while not served.lost.done():
                writer.write(b"into the void")  # no exception: the transport meets the error and closes
                await asyncio.sleep(0.01)
        assert not writer.direct  # the error was seen on a direct write: the socket is not touched again
        server.close()

    _run(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_detached_and_indirect_writers_use_the_transport(loop_name):
    async def scenario() -> None:
        served, client, server = await _pair()
        counts = Counts()
        detached = SocketWriter(served.transport)
        detached.detach()
        detached.write(b"a")
        indirect = SocketWriter(served.transport, direct=False)
        indirect.write(b"b")
        assert not detached.direct and not indirect.direct
        assert counts() == (0, 2)
        assert await _read_exactly(client, 2) == b"ab"
        client.close()
        server.close()

    _run(loop_name, scenario)


class FakeTransport:
    """Not a transport the writer knows: it must only ever call write()."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        raise AssertionError("an unknown transport's socket must not be looked at")


def test_an_unknown_transport_gets_every_write():
    transport = FakeTransport()
    writer = SocketWriter(transport, b"H")
    assert socket_fd(transport) == -1 and not writer.direct
    writer.write(b"1")
    writer.writelines([b"2", b"3"])
    writer.write(b"")
    assert transport.written == [b"H1", b"23"]


def test_the_outbox_sink_contract():
    calls: list[Any] = []
    sink = CallbackSink(calls.append)
    assert sink.target == calls.append
    transport = FakeTransport()
    writer = SocketWriter(transport)
    assert isinstance(writer, Sink) and not isinstance(writer, CallbackSink)
    with pytest.raises(TypeError):
        SocketWriter(transport, "not bytes")  # type: ignore[arg-type]


def test_no_none_and_no_descriptor_before_init():
    transport = FakeTransport()
    writer = SocketWriter(transport)
    with pytest.raises(TypeError):
        writer.write(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SocketWriter(transport, None)  # type: ignore[arg-type]
    bare = SocketWriter.__new__(SocketWriter)  # __init__ never ran: the descriptor is not 0 (stdin)
    assert not bare.direct


async def _connected_ws(server: Any) -> tuple[Any, Any]:
    from .rawws import RawWs

    ws = await RawWs.connect(server.port)
    client_id = str(uuid.uuid4())
    await ws.auth(client_id, streams=["chat"])
    connection = server._service.clients[client_id]
    assert connection.writer.direct
    return ws, connection


async def test_the_peers_eof_detaches_the_writer(start_server):
    server = await start_server()
    ws, connection = await _connected_ws(server)
    connection.eof_received()  # what the transport calls when the client half-closes
    assert not connection.writer.direct
    await ws.close()
    sse_client = socket.create_connection(("127.0.0.1", server.port))
    try:
        sse_client.sendall(b"GET /rps/sse?client_id=6f1c2d1e-0000-4000-8000-000000000001&channels=chat HTTP/1.1\r\n"
                           b"Host: 127.0.0.1\r\n\r\n")
        async with asyncio.timeout(TIMEOUT):
            while "6f1c2d1e-0000-4000-8000-000000000001" not in server._service.clients:
                await asyncio.sleep(0.01)
        sse = server._service.clients["6f1c2d1e-0000-4000-8000-000000000001"]
        assert sse.writer.direct
        assert sse.eof_received() is None  # the transport closes itself
        assert not sse.writer.direct
    finally:
        sse_client.close()


def test_a_closed_loop_never_writes_to_a_reused_descriptor():
    """A loop that closes with connections open closes their sockets without connection_lost."""
    from pushwire import PushServer

    from .rawws import RawWs

    loop = uvloop.new_event_loop()
    server = PushServer()

    async def connect() -> tuple[Any, Any]:
        await server.start("127.0.0.1", 0)
        ws = await RawWs.connect(server.port)
        client_id = str(uuid.uuid4())
        await ws.auth(client_id, streams=["chat"])
        return ws, client_id

    _ws, client_id = loop.run_until_complete(asyncio.wait_for(connect(), TIMEOUT))
    connection = server._service.clients[client_id]
    fd = connection.transport.get_extra_info("socket").fileno()
    loop.close()
    pairs = []
    try:
        while not any(fd in (a.fileno(), b.fileno()) for a, b in pairs) and len(pairs) < 1000:
            pairs.append(socket.socketpair())
        reused = next((a, b) for a, b in pairs if fd in (a.fileno(), b.fileno()))
        peer = reused[1] if reused[0].fileno() == fd else reused[0]
        peer.setblocking(False)
        with pytest.raises(RuntimeError):  # the closed transport refuses, as it always did
            server.disconnect(client_id)
        assert not connection.writer.direct
        with pytest.raises(BlockingIOError):
            peer.recv(100)  # nothing reached the socket that now has the old descriptor number
    finally:
        for a, b in pairs:
            a.close()
            b.close()

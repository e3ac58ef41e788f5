# cython: language_level=3, embedsignature=True
"""Writing a connection's bytes with ``send(2)`` while its transport holds nothing (layer 4).

The TCP transports of uvloop and of asyncio write at once when their buffer is empty, after a few layers of
Python-level bookkeeping. On a fan-out that bookkeeping is paid once per subscriber per publication: with
1,000 subscribers and one small frame each, it was a third of the server's user time. A
:class:`SocketWriter` is the one place a connection writes through: while the transport's buffer is empty it
calls ``send(2)`` on the socket itself, and whatever the socket does not take goes to ``transport.write``,
which buffers it, pauses the protocol above its high-water mark and meets errors the way it always does.
From then on every write goes through the transport, in order, until its buffer is empty again.

Why the file descriptor is safe to use: both transports close the socket only after the protocol's
``connection_lost`` returned, and the connection detaches its writer first thing there, when the peer's EOF
makes the transport close itself (``eof_received``), and when it closes or aborts the transport itself. The one
way a socket closes without ``connection_lost`` is the event loop closing with connections still open: the
service detaches every writer before it writes anything on a closed loop (``PushService.shutdown``,
``PushServer.disconnect``). Only the plain TCP transports of uvloop and asyncio's selector loop are written to
directly, and not on Windows; any other transport (TLS, a test's fake, another loop) gets every byte through
``write``.
"""

import asyncio.selector_events
import socket

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno

from pushwire._core.fanout cimport Sink

try:
    from uvloop.loop import TCPTransport as _UVTCPTransport
except ImportError:  # uvloop is optional when pushwire is embedded in a stdlib asyncio application
    _UVTCPTransport = None

__all__ = ["SocketWriter", "socket_fd", "write_counts"]

cdef extern from "<errno.h>":
    int EWOULDBLOCK

cdef extern from *:
    """
    #ifdef _WIN32
    #define PW_DIRECT_WRITES 0
    static Py_ssize_t pw_send(int fd, const char *buf, size_t n) { errno = ENOSYS; return -1; }
    #else
    #include <sys/socket.h>
    #define PW_DIRECT_WRITES 1
    /* Python ignores SIGPIPE anyway; MSG_NOSIGNAL (absent from some macOS SDKs) only makes sure of it */
    #ifndef MSG_NOSIGNAL
    #define MSG_NOSIGNAL 0
    #endif
    static Py_ssize_t pw_send(int fd, const char *buf, size_t n) {
        return send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    #endif
    """
    const bint PW_DIRECT_WRITES
    Py_ssize_t pw_send(int fd, const char *buf, size_t n) nogil

# process-wide, not per connection (memory per idle connection is a target): writes sent directly, and
# writes handed to the transport
cdef Py_ssize_t _direct_total = 0
cdef Py_ssize_t _transport_total = 0

cdef frozenset _DIRECT_TRANSPORTS = frozenset(
    t for t in (_UVTCPTransport, asyncio.selector_events._SelectorSocketTransport) if t is not None)


def write_counts() -> tuple:
    """Writes since the process started: ``(sent directly, handed to a transport)``."""
    return _direct_total, _transport_total


def socket_fd(transport) -> int:
    """The socket a transport writes to, or -1 when it must not be written to directly (see the module doc)."""
    if not PW_DIRECT_WRITES or type(transport) not in _DIRECT_TRANSPORTS \
            or transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM:
        return -1
    return sock.fileno()


cdef class SocketWriter(Sink):
    """The one way a connection writes: straight to the socket while the transport's buffer is empty.

    Args:
        transport: the connection's transport.
        head: bytes that go out ahead of the first write (a handshake answer); :meth:`write_head` sends them
            alone.
        direct: False writes everything through the transport (``queue.direct_writes``).
    """

    cdef object transport
    cdef int fd
    # bytes went to the transport: ours queue behind them until its buffer is empty
    cdef bint queued
    cdef bytes head

    def __cinit__(self):
        self.fd = -1  # never the zero of fresh memory: that is a valid descriptor

    def __init__(self, transport, bytes head not None=b"", bint direct=True):
        self.transport = transport
        self.fd = socket_fd(transport) if direct else -1
        # whatever went out before this writer (an HTTP answer on the same socket) may still be buffered
        self.queued = True
        self.head = head

    cdef int put(self, object data) except -1:
        return self._write(<bytes?>data)

    def write(self, bytes data not None) -> None:
        """Write ``data`` (after the head, if it still waits)."""
        self._write(data)

    def writelines(self, parts) -> None:
        """Write several byte strings as one."""
        self._write(b"".join(parts))

    def write_head(self) -> None:
        """Write the head alone if nothing took it along yet."""
        if self.head:
            self._write(b"")

    @property
    def head_pending(self) -> bool:
        """True while the head waits for the first write."""
        return bool(self.head)

    @property
    def direct(self) -> bool:
        """True while writes may go to the socket directly (not detached, a plain TCP transport)."""
        return self.fd >= 0

    def detach(self) -> None:
        """Never touch the socket again: the connection is closing, or its transport closes it soon (or did)."""
        self.fd = -1

    cdef int _write(self, bytes data) except -1:
        global _direct_total, _transport_total
        cdef Py_ssize_t size, sent
        if self.head:
            data = self.head + data
            self.head = b""
        size = PyBytes_GET_SIZE(data)
        if size == 0:
            return 0
        if self.fd >= 0 and (not self.queued or self._transport_empty()):
            sent = pw_send(self.fd, PyBytes_AS_STRING(data), <size_t>size)
            if sent == size:
                _direct_total += 1
                return 0
            if sent < 0:
                if errno != EAGAIN and errno != EWOULDBLOCK and errno != EINTR:
                    # a broken connection: the transport meets the same error on its write and closes
                    self.fd = -1
                sent = 0
            if sent > 0:
                data = data[sent:]
        self.queued = True
        _transport_total += 1
        self.transport.write(data)
        return 0

    cdef bint _transport_empty(self) except -1:
        if self.transport.get_write_buffer_size():
            return False
        self.queued = False
        return True

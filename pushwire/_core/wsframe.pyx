# cython: language_level=3, embedsignature=True
"""WebSocket frames (RFC 6455 section 5): encoding, incremental parsing, unmasking and UTF-8 checks.

Layer 1 of pushwire (``docs/architecture.md``): pure computation on bytes, no I/O, no clock. The sans-I/O
connection in ``pushwire.protocol.websocket`` builds the RFC 6455 state machine on top of these pieces, and
the hub calls :func:`encode_ws_frame` once per publish so that every WebSocket subscriber of a stream gets
the same bytes (server frames are never masked).

Framing errors raise :class:`pushwire.errors.FrameError` (a ``ProtocolError``, close code 1002); a frame
longer than the parser's limit raises :class:`pushwire.errors.MessageTooBig` (1009).
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memmove

from pushwire.errors import FrameError, MessageTooBig

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Utf8Validator",
    "WebSocketFrameParser",
    "build_ws_header",
    "encode_ws_frame",
    "encode_ws_frame_masked",
    "unmask",
    "validate_utf8",
]

OP_CONT = WS_OP_CONT
OP_TEXT = WS_OP_TEXT
OP_BINARY = WS_OP_BINARY
OP_CLOSE = WS_OP_CLOSE
OP_PING = WS_OP_PING
OP_PONG = WS_OP_PONG

# Bit n set <=> opcode n is defined by RFC 6455 (0, 1, 2, 8, 9, 10).
cdef enum:
    _KNOWN_OPCODES = 0x0707
    _MAX_CONTROL_PAYLOAD = 125
    _MAX_HEADER = 14
    # An empty parser buffer larger than this is freed, so idle connections do not keep big buffers.
    # an emptied buffer is given back at once: idle connections then hold no parse buffer at all
    _KEEP_BUFFER_BYTES = 0
    _MIN_BUFFER_BYTES = 4096

cdef uint64_t _HIGH_BITS = 0x8080808080808080ULL


# ----------------------------------------------------------------------------------------------- encoding

cdef inline int _check_server_frame(int opcode, Py_ssize_t length, bint fin) except -1:
    if opcode < 0 or opcode > 15 or not ((1 << opcode) & _KNOWN_OPCODES):
        raise ValueError(f"invalid WebSocket opcode {opcode}")
    if opcode >= 8:
        if length > _MAX_CONTROL_PAYLOAD:
            raise ValueError(f"control frame payload is {length} bytes, at most 125 allowed")
        if not fin:
            raise ValueError("control frames cannot be fragmented")
    if length < 0:
        raise ValueError("payload length must be >= 0")
    return 0


cdef inline Py_ssize_t _header_size(Py_ssize_t length) noexcept nogil:
    if length < 126:
        return 2
    if length < 65536:
        return 4
    return 10


cdef inline Py_ssize_t _write_header(unsigned char* out, Py_ssize_t length, int first_byte,
                                     int mask_bit) noexcept nogil:
    cdef uint64_t n = <uint64_t>length
    cdef int i
    out[0] = <unsigned char>first_byte
    if length < 126:
        out[1] = <unsigned char>(mask_bit | length)
        return 2
    if length < 65536:
        out[1] = <unsigned char>(mask_bit | 126)
        out[2] = <unsigned char>(n >> 8)
        out[3] = <unsigned char>(n & 0xFF)
        return 4
    out[1] = <unsigned char>(mask_bit | 127)
    for i in range(8):
        out[2 + i] = <unsigned char>((n >> (56 - 8 * i)) & 0xFF)
    return 10


cdef bytes c_encode_ws_frame(const unsigned char* data, Py_ssize_t length, int opcode, bint fin):
    """Return header + payload of an unmasked frame as one new bytes object (one allocation)."""
    _check_server_frame(opcode, length, fin)
    cdef Py_ssize_t hlen = _header_size(length)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, hlen + length)
    cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
    _write_header(p, length, (0x80 if fin else 0) | opcode, 0)
    if length:
        memcpy(p + hlen, data, <size_t>length)
    return out


cpdef bytes build_ws_header(Py_ssize_t payload_len, int opcode, bint fin=True):
    """Return the header of an unmasked (server) frame carrying ``payload_len`` bytes.

    The length is written in 7, 16 or 64 bits, whichever is the smallest that fits (RFC 6455 5.2).
    Write the payload right after it.

    Args:
        payload_len: the payload size in bytes.
        opcode: one of the ``OP_*`` constants.
        fin: False for every frame of a fragmented message but the last.

    Raises:
        ValueError: unknown opcode, negative length, or a control frame over 125 bytes or not final.
    """
    _check_server_frame(opcode, payload_len, fin)
    cdef unsigned char header[_MAX_HEADER]
    cdef Py_ssize_t hlen = _write_header(header, payload_len, (0x80 if fin else 0) | opcode, 0)
    return PyBytes_FromStringAndSize(<char*>header, hlen)


cpdef bytes encode_ws_frame(bytes payload, int opcode=WS_OP_TEXT, bint fin=True):
    """Return a complete unmasked (server) frame: header and payload in one bytes object.

    This is the broadcast hot path: the hub calls it once per publish and hands the same bytes to
    every WebSocket subscriber. Cython callers use ``c_encode_ws_frame`` from ``wsframe.pxd``.

    Args:
        payload: the frame payload (already UTF-8 for ``OP_TEXT``; not checked here).
        opcode: one of the ``OP_*`` constants (default ``OP_TEXT``).
        fin: False for every frame of a fragmented message but the last.

    Raises:
        ValueError: unknown opcode, or a control frame over 125 bytes or not final.
        TypeError: ``payload`` is not bytes.
    """
    if payload is None:
        raise TypeError("payload must be bytes, not None")
    return c_encode_ws_frame(<const unsigned char*>PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload),
                             opcode, fin)


def encode_ws_frame_masked(payload, int opcode, mask, bint fin=True, *, int rsv=0):
    """Return a masked (client) frame, as a client sends it.

    For tests and the raw client. Deliberately permissive so that tests can build frames a server must
    reject: any opcode 0-15, any ``rsv`` bits, control frames of any length or not final.

    Args:
        payload: the unmasked payload (any bytes-like object).
        opcode: 0-15.
        mask: the 4-byte masking key.
        fin: the FIN bit.
        rsv: the three RSV bits as an integer 0-7 (RSV1 is 4).

    Raises:
        ValueError: ``mask`` is not 4 bytes, ``opcode`` not in 0-15 or ``rsv`` not in 0-7.
    """
    if opcode < 0 or opcode > 15:
        raise ValueError(f"opcode must be in 0-15, got {opcode}")
    if rsv < 0 or rsv > 7:
        raise ValueError(f"rsv must be in 0-7, got {rsv}")
    cdef const unsigned char[::1] key = mask
    if key.shape[0] != 4:
        raise ValueError("mask must be exactly 4 bytes")
    cdef Py_buffer view
    PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
    cdef Py_ssize_t length = view.len
    cdef Py_ssize_t hlen
    cdef bytes out
    cdef unsigned char* p
    try:
        hlen = _header_size(length)
        out = PyBytes_FromStringAndSize(NULL, hlen + 4 + length)
        p = <unsigned char*>PyBytes_AS_STRING(out)
        _write_header(p, length, (0x80 if fin else 0) | (rsv << 4) | opcode, 0x80)
        memcpy(p + hlen, &key[0], 4)
        c_apply_mask(<const unsigned char*>view.buf, p + hlen + 4, length, &key[0], 0)
    finally:
        PyBuffer_Release(&view)
    return out


# ------------------------------------------------------------------------------------------------ masking

cdef void c_apply_mask(const unsigned char* src, unsigned char* dst, Py_ssize_t n,
                       const unsigned char* mask, Py_ssize_t phase) noexcept nogil:
    cdef unsigned char m[8]
    cdef uint64_t m64, w0, w1, w2, w3
    cdef Py_ssize_t i = 0
    for i in range(8):
        m[i] = mask[(i + phase) & 3]
    memcpy(&m64, m, 8)
    i = 0
    # 32 bytes per turn through unaligned 64-bit loads (memcpy compiles to plain moves); the compiler is
    # free to vectorise further.
    while i + 32 <= n:
        memcpy(&w0, src + i, 8)
        memcpy(&w1, src + i + 8, 8)
        memcpy(&w2, src + i + 16, 8)
        memcpy(&w3, src + i + 24, 8)
        w0 ^= m64
        w1 ^= m64
        w2 ^= m64
        w3 ^= m64
        memcpy(dst + i, &w0, 8)
        memcpy(dst + i + 8, &w1, 8)
        memcpy(dst + i + 16, &w2, 8)
        memcpy(dst + i + 24, &w3, 8)
        i += 32
    while i + 8 <= n:
        memcpy(&w0, src + i, 8)
        w0 ^= m64
        memcpy(dst + i, &w0, 8)
        i += 8
    while i < n:
        dst[i] = src[i] ^ m[i & 7]
        i += 1


def unmask(data, mask):
    """Return ``data`` XORed with the 4-byte masking key ``mask`` (RFC 6455 5.3).

    Masking is its own inverse, so this also masks. Works 8 bytes at a time.

    Args:
        data: bytes, bytearray, memoryview or any contiguous buffer.
        mask: the 4-byte masking key.

    Raises:
        ValueError: ``mask`` is not 4 bytes.
    """
    cdef Py_buffer dview
    cdef Py_buffer mview
    cdef bytes out
    cdef unsigned char* dst
    PyObject_GetBuffer(mask, &mview, PyBUF_SIMPLE)
    try:
        if mview.len != 4:
            raise ValueError("mask must be exactly 4 bytes")
        PyObject_GetBuffer(data, &dview, PyBUF_SIMPLE)
        try:
            out = PyBytes_FromStringAndSize(NULL, dview.len)
            dst = <unsigned char*>PyBytes_AS_STRING(out)
            with nogil:
                c_apply_mask(<const unsigned char*>dview.buf, dst, dview.len,
                             <const unsigned char*>mview.buf, 0)
        finally:
            PyBuffer_Release(&dview)
    finally:
        PyBuffer_Release(&mview)
    return out


# ---------------------------------------------------------------------------------------------- UTF-8

cdef inline bint _utf8_scan(const unsigned char* p, Py_ssize_t n, int* state) noexcept nogil:
    """Advance the UTF-8 state over ``n`` bytes; False at the first byte no valid UTF-8 could have.

    ``state`` is (continuation bytes still needed, lowest and highest allowed value of the next one).
    Narrowing the range of the first continuation byte after E0, ED, F0 and F4 rejects overlongs,
    surrogates and code points above U+10FFFF at the earliest byte (Unicode Table 3-7), which is what
    makes the check fail fast across fragments.
    """
    cdef int need = state[0]
    cdef int lo = state[1]
    cdef int hi = state[2]
    cdef Py_ssize_t i = 0
    cdef uint64_t w
    cdef unsigned char c
    while i < n:
        if need == 0:
            while i + 8 <= n:
                memcpy(&w, p + i, 8)
                if w & _HIGH_BITS:
                    break
                i += 8
            if i >= n:
                break
            c = p[i]
            i += 1
            if c < 0x80:
                continue
            if c < 0xC2:
                return False  # a stray continuation byte, or C0/C1 (always overlong)
            if c < 0xE0:
                need = 1
                lo = 0x80
                hi = 0xBF
            elif c < 0xF0:
                need = 2
                lo = 0xA0 if c == 0xE0 else 0x80
                hi = 0x9F if c == 0xED else 0xBF
            elif c < 0xF5:
                need = 3
                lo = 0x90 if c == 0xF0 else 0x80
                hi = 0x8F if c == 0xF4 else 0xBF
            else:
                return False
        else:
            c = p[i]
            if c < lo or c > hi:
                return False
            i += 1
            need -= 1
            lo = 0x80
            hi = 0xBF
    state[0] = need
    state[1] = lo
    state[2] = hi
    return True


def validate_utf8(data):
    """Return True if ``data`` is strictly valid UTF-8.

    Strict means what RFC 3629 allows: no overlong forms, no surrogates (U+D800-U+DFFF), nothing above
    U+10FFFF. ASCII runs are checked 8 bytes at a time.

    Args:
        data: bytes, bytearray, memoryview or any contiguous buffer.
    """
    cdef Py_buffer view
    cdef int state[3]
    cdef bint ok
    state[0] = 0
    state[1] = 0x80
    state[2] = 0xBF
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        with nogil:
            ok = _utf8_scan(<const unsigned char*>view.buf, view.len, state)
    finally:
        PyBuffer_Release(&view)
    return ok and state[0] == 0


cdef class Utf8Validator:
    """Incremental strict UTF-8 check of one message arriving in pieces (WebSocket fragments).

    :meth:`feed` answers False as soon as the bytes seen so far cannot be the beginning of valid UTF-8, so
    the connection can be failed with 1007 before the rest of the message arrives (RFC 6455 8.1). Call
    :meth:`reset` before the next message (not needed after a successful ``final`` feed).
    """

    def __cinit__(self):
        self._need = 0
        self._lo = 0x80
        self._hi = 0xBF
        self._failed = False

    cdef bint c_feed(self, const unsigned char* data, Py_ssize_t n, bint final) noexcept:
        cdef int state[3]
        cdef bint ok
        if self._failed:
            return False
        state[0] = self._need
        state[1] = self._lo
        state[2] = self._hi
        with nogil:
            ok = _utf8_scan(data, n, state)
        if not ok or (final and state[0] != 0):
            self._failed = True
            return False
        self._need = state[0]
        self._lo = state[1]
        self._hi = state[2]
        return True

    def feed(self, data, bint final=False):
        """Check the next piece of the message; return False once it can no longer be valid UTF-8.

        Args:
            data: the next bytes of the message (any contiguous buffer).
            final: True for the last piece; then a code point cut short at the end is invalid too.

        Returns:
            True while the message so far is valid (complete, if ``final``). Once False, it stays False
            until :meth:`reset`.
        """
        cdef Py_buffer view
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            return self.c_feed(<const unsigned char*>view.buf, view.len, final)
        finally:
            PyBuffer_Release(&view)

    def reset(self):
        """Forget the current message; the next :meth:`feed` starts a new one."""
        self._need = 0
        self._lo = 0x80
        self._hi = 0xBF
        self._failed = False

    @property
    def pending(self):
        """Continuation bytes the last code point still needs (0 on a code point boundary)."""
        return self._need


# ----------------------------------------------------------------------------------------------- parsing

cdef class WebSocketFrameParser:
    """Incremental parser of the frames a WebSocket peer sends (RFC 6455 5.2).

    Feed it bytes as they arrive with :meth:`feed`, then call :meth:`next_frame` until it returns None.
    Bytes live in one growing buffer that is consumed from the front and compacted only when that is
    cheap (amortised O(1) per byte): many small frames in one read and one big frame in many reads both
    cost linear time. Each payload is unmasked straight from the buffer into its own bytes object.

    Once a call raised, the parser is dead: every later call raises the same error.

    Args:
        max_frame_bytes: the largest payload one frame may declare; a longer one raises
            ``MessageTooBig`` as soon as its header arrives, before any payload is buffered.
        require_mask: True on a server (client frames must be masked), False on a client (server frames
            must not be).
    """

    def __cinit__(self, max_frame_bytes, bint require_mask=True):
        self._buf = NULL
        self._start = 0
        self._end = 0
        self._cap = 0
        if max_frame_bytes < 0:
            raise ValueError("max_frame_bytes must be >= 0")
        self._max_frame_bytes = max_frame_bytes
        self._require_mask = require_mask
        self._error = None

    def __dealloc__(self):
        if self._buf is not NULL:
            PyMem_Free(self._buf)
            self._buf = NULL

    @property
    def buffered(self):
        """Bytes received and not yet returned as frames (including partial headers)."""
        return self._end - self._start

    @property
    def max_frame_bytes(self):
        """The largest payload a frame may declare."""
        return self._max_frame_bytes

    cdef int _reserve(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t live = self._end - self._start
        cdef Py_ssize_t new_cap
        cdef unsigned char* new_buf
        if self._end + extra <= self._cap:
            return 0
        if live + extra <= self._cap // 2:
            # Slide the live bytes to the front: at least half the buffer is then free, so the next
            # slide is at least cap/2 appended bytes away.
            memmove(self._buf, self._buf + self._start, <size_t>live)
        else:
            new_cap = self._cap * 2
            if new_cap < live + extra:
                new_cap = live + extra
            if new_cap < _MIN_BUFFER_BYTES:
                new_cap = _MIN_BUFFER_BYTES
            new_buf = <unsigned char*>PyMem_Malloc(<size_t>new_cap)
            if new_buf is NULL:
                raise MemoryError()
            if live:
                memcpy(new_buf, self._buf + self._start, <size_t>live)
            PyMem_Free(self._buf)
            self._buf = new_buf
            self._cap = new_cap
        self._start = 0
        self._end = live
        return 0

    cdef int _append(self, const unsigned char* data, Py_ssize_t n) except -1:
        if n == 0:
            return 0
        if self._start == self._end:
            self._start = 0
            self._end = 0
        self._reserve(n)
        memcpy(self._buf + self._end, data, <size_t>n)
        self._end += n
        return 0

    def feed(self, data):
        """Append received bytes (any contiguous buffer); then call :meth:`next_frame`.

        Raises:
            ProtocolError: the parser already failed.
        """
        if self._error is not None:
            raise self._error
        cdef Py_buffer view
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            self._append(<const unsigned char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    cdef object _fail(self, object error):
        self._error = error
        raise error

    cdef Py_ssize_t _parse_header(self, bint* fin, int* rsv, int* opcode, uint64_t* length,
                                  bint* masked) except -2:
        """Parse the header at the front of the buffer; return its size, or 0 when it is incomplete.

        Every rule that the header alone decides is checked as soon as the bytes carrying it are here.
        """
        cdef Py_ssize_t avail = self._end - self._start
        cdef const unsigned char* p
        cdef int b0, b1, i
        cdef Py_ssize_t hlen
        cdef uint64_t n
        if avail < 2:
            return 0
        p = self._buf + self._start
        b0 = p[0]
        b1 = p[1]
        fin[0] = (b0 & 0x80) != 0
        rsv[0] = (b0 >> 4) & 0x07
        opcode[0] = b0 & 0x0F
        masked[0] = (b1 & 0x80) != 0
        n = b1 & 0x7F
        if not ((1 << opcode[0]) & _KNOWN_OPCODES):
            self._fail(FrameError(f"reserved opcode {opcode[0]}"))
        if opcode[0] >= 8:
            if not fin[0]:
                self._fail(FrameError("fragmented control frame"))
            if n > _MAX_CONTROL_PAYLOAD:
                self._fail(FrameError("control frame payload over 125 bytes"))
        if masked[0] != self._require_mask:
            self._fail(FrameError("unmasked client frame" if self._require_mask else "masked server frame"))
        hlen = 2
        if n == 126:
            if avail < 4:
                return 0
            n = (<uint64_t>p[2] << 8) | p[3]
            hlen = 4
        elif n == 127:
            if avail < 10:
                return 0
            n = 0
            for i in range(8):
                n = (n << 8) | p[2 + i]
            if n >> 63:
                self._fail(FrameError("64-bit payload length with the most significant bit set"))
            hlen = 10
        if n > self._max_frame_bytes:
            self._fail(MessageTooBig(f"frame of {n} bytes exceeds the limit of {self._max_frame_bytes}"))
        if masked[0]:
            hlen += 4
            if avail < hlen:
                return 0
        length[0] = n
        return hlen

    def next_frame(self):
        """Return the next complete frame as ``(fin, rsv_bits, opcode, payload)``, or None for more bytes.

        ``payload`` is unmasked; ``rsv_bits`` is the three RSV bits as an integer (RSV1 = 4). The caller
        decides what non-zero RSV bits mean (without extensions: fail with 1002).

        Raises:
            FrameError: (close code 1002) a reserved opcode, a fragmented control frame or one over 125
                bytes, an unmasked frame when masks are required (or a masked one when they are not),
                a 64-bit length with its top bit set.
            MessageTooBig: (1009) a frame declares more than ``max_frame_bytes``.
        """
        if self._error is not None:
            raise self._error
        cdef bint fin, masked
        cdef int rsv, opcode
        cdef uint64_t length
        cdef Py_ssize_t hlen = self._parse_header(&fin, &rsv, &opcode, &length, &masked)
        if hlen == 0 or <uint64_t>(self._end - self._start - hlen) < length:
            return None
        cdef Py_ssize_t n = <Py_ssize_t>length
        cdef unsigned char* p = self._buf + self._start
        cdef bytes payload = PyBytes_FromStringAndSize(NULL, n)
        if masked:
            c_apply_mask(p + hlen, <unsigned char*>PyBytes_AS_STRING(payload), n, p + hlen - 4, 0)
        elif n:
            memcpy(PyBytes_AS_STRING(payload), p + hlen, <size_t>n)
        self._start += hlen + n
        if self._start == self._end:
            self._start = 0
            self._end = 0
            if self._cap > _KEEP_BUFFER_BYTES:
                PyMem_Free(self._buf)
                self._buf = NULL
                self._cap = 0
        return (True if fin else False, rsv, opcode, payload)

    def pending_frame(self):
        """Describe the incomplete frame at the front of the buffer, or return None.

        Returns:
            ``(fin, rsv_bits, opcode, payload_len, payload_buffered)`` when the frame's header is complete
            but its payload is not (so its checks have passed), else None. Use it to act on a long frame
            before it is complete (UTF-8 fail-fast), with :meth:`pending_payload`.

        Raises:
            FrameError, MessageTooBig: as :meth:`next_frame`.
        """
        if self._error is not None:
            raise self._error
        cdef bint fin, masked
        cdef int rsv, opcode
        cdef uint64_t length
        cdef Py_ssize_t hlen = self._parse_header(&fin, &rsv, &opcode, &length, &masked)
        if hlen == 0:
            return None
        cdef Py_ssize_t have = self._end - self._start - hlen
        if <uint64_t>have >= length:
            return None
        return (True if fin else False, rsv, opcode, length, have)

    def pending_payload(self, Py_ssize_t offset=0):
        """Return the unmasked bytes ``[offset:]`` of the incomplete frame's payload received so far.

        Args:
            offset: where to start in the payload (bytes before it were already looked at).

        Returns:
            The bytes (possibly empty); empty too when no incomplete frame is pending.
        """
        info = self.pending_frame()
        if info is None:
            return b""
        cdef bint fin, masked
        cdef int rsv, opcode
        cdef uint64_t length
        cdef Py_ssize_t hlen = self._parse_header(&fin, &rsv, &opcode, &length, &masked)
        cdef Py_ssize_t have = self._end - self._start - hlen
        if offset < 0:
            raise ValueError("offset must be >= 0")
        if offset >= have:
            return b""
        cdef unsigned char* p = self._buf + self._start + hlen
        cdef bytes out = PyBytes_FromStringAndSize(NULL, have - offset)
        if masked:
            c_apply_mask(p + offset, <unsigned char*>PyBytes_AS_STRING(out), have - offset, p - 4, offset & 3)
        else:
            memcpy(PyBytes_AS_STRING(out), p + offset, <size_t>(have - offset))
        return out

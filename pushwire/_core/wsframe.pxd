# cython: language_level=3
"""C-level declarations of pushwire._core.wsframe, for other Cython modules (``cimport``)."""

from libc.stdint cimport uint64_t

cdef enum:
    WS_OP_CONT = 0
    WS_OP_TEXT = 1
    WS_OP_BINARY = 2
    WS_OP_CLOSE = 8
    WS_OP_PING = 9
    WS_OP_PONG = 10

# Header + payload of one unmasked (server) frame in a single new bytes object: the broadcast hot path.
cdef bytes c_encode_ws_frame(const unsigned char* data, Py_ssize_t length, int opcode, bint fin)

cpdef bytes build_ws_header(Py_ssize_t payload_len, int opcode, bint fin=*)
cpdef bytes encode_ws_frame(bytes payload, int opcode=*, bint fin=*)

# XOR ``n`` bytes of ``src`` into ``dst`` with ``mask``; ``phase`` is the payload offset of src[0] (mod 4).
cdef void c_apply_mask(const unsigned char* src, unsigned char* dst, Py_ssize_t n,
                       const unsigned char* mask, Py_ssize_t phase) noexcept nogil


cdef class Utf8Validator:
    cdef int _need
    cdef int _lo
    cdef int _hi
    cdef bint _failed

    cdef bint c_feed(self, const unsigned char* data, Py_ssize_t n, bint final) noexcept


cdef class WebSocketFrameParser:
    cdef unsigned char* _buf
    cdef Py_ssize_t _start
    cdef Py_ssize_t _end
    cdef Py_ssize_t _cap
    cdef uint64_t _max_frame_bytes
    cdef bint _require_mask
    cdef object _error

    cdef int _append(self, const unsigned char* data, Py_ssize_t n) except -1
    cdef int _reserve(self, Py_ssize_t extra) except -1
    cdef Py_ssize_t _parse_header(self, bint* fin, int* rsv, int* opcode, uint64_t* length,
                                  bint* masked) except -2
    cdef object _fail(self, object error)

# cython: language_level=3
"""C-level face of ``pushwire._core.codec`` for other Cython modules (``cimport``).

The ``c_*`` functions are the cores behind the Python functions of the same name without the prefix; they
skip the Python argument checks that their C types make unnecessary (ranges of ``uint8_t``/``uint32_t``), but
still validate strings and raise the same exceptions.
"""

from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef enum:
    RP_HEADER_LEN = 9
    RP_VERSION = 1
    RP_FLAG_COMPRESSED = 0x01
    RP_FLAG_FRAGMENTED = 0x02
    RP_FLAG_ACK_REQUIRED = 0x04
    RP_FLAGS_KNOWN = 0x07


cdef bytes c_encode_json_frame(object channel, bint has_cursor, uint64_t cursor, object payload_json,
                               object client_id, object topic)
# Build a JSON frame; ``has_cursor=False`` writes ``"cursor":null``. ``channel`` is a str, ``client_id`` and
# ``topic`` a str or None, ``payload_json`` a non-empty bytes-like object holding one serialised JSON value.

cdef bytes c_encode_binary_frame(uint8_t wire_id, uint32_t sequence, const uint8_t* payload,
                                 Py_ssize_t payload_len, uint8_t flags)
# Build an ``RP`` frame; reserved flag bits are written as 0.

cdef bytes c_encode_sse_event(const uint8_t* data, Py_ssize_t data_len, object event, object event_id,
                              long long retry_ms)
# Build one SSE event; ``event``/``event_id`` are str or None, ``retry_ms < 0`` means no ``retry:`` field.

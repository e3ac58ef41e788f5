# cython: language_level=3, embedsignature=True
"""Frame codec of pushwire (layer 1): JSON frame envelope, binary ``RP`` frame and SSE event bytes.

The server encodes each published frame once and hands the same bytes to every subscriber, so the encoders
here write straight into a freshly allocated ``bytes`` object without building intermediate Python objects.
The JSON encoder wraps an already-serialised payload (orjson output) without parsing it again. Decoders
validate what comes from the network and raise the exceptions of :mod:`pushwire.errors`.

Wire formats: ``docs/protocol.md`` ("JSON frame", "Binary RP frame", SSE).
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_Check,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.bool cimport PyBool_Check
from cpython.bytearray cimport PyByteArray_Check
from cpython.dict cimport PyDict_CheckExact, PyDict_GetItemWithError
from cpython.long cimport (
    PyLong_AsLongLongAndOverflow,
    PyLong_AsUnsignedLongLong,
    PyLong_Check,
    PyLong_CheckExact,
)
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_Check
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memchr, memcpy

from pushwire._core._common cimport load_u32_be, store_u32_be

import orjson

from pushwire.errors import (
    BadJson,
    FrameError,
    FrameTooShort,
    InvalidMagic,
    UnknownChannel,
    UnsupportedVersion,
)

cdef extern from "Python.h":
    int PyMemoryView_Check(object o)


__all__ = [
    "FLAGS_KNOWN",
    "FLAG_ACK_REQUIRED",
    "FLAG_COMPRESSED",
    "FLAG_FRAGMENTED",
    "HEADER_LEN",
    "MAGIC",
    "VERSION",
    "decode_binary_frame",
    "decode_json_frame",
    "encode_binary_frame",
    "encode_json_frame",
    "encode_sse_comment",
    "encode_sse_event",
    "make_wire_table",
]

MAGIC = b"RP"
VERSION = RP_VERSION
HEADER_LEN = RP_HEADER_LEN
FLAG_COMPRESSED = RP_FLAG_COMPRESSED
FLAG_FRAGMENTED = RP_FLAG_FRAGMENTED
FLAG_ACK_REQUIRED = RP_FLAG_ACK_REQUIRED
FLAGS_KNOWN = RP_FLAGS_KNOWN

# Bound once: a module-global lookup per call is measurable at these message rates.
cdef object _orjson_loads = orjson.loads
cdef object _orjson_dumps = orjson.dumps
cdef object _JSONDecodeError = orjson.JSONDecodeError

# ProtocolError.reason must fit in a close frame (123 bytes of UTF-8).
cdef Py_ssize_t _MAX_REASON_BYTES = 123

# ---------------------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------------------

cdef str _clip_reason(str reason):
    """Cut ``reason`` to at most 123 bytes of UTF-8 (whole characters only)."""
    cdef bytes raw = reason.encode("utf-8", "replace")
    if PyBytes_GET_SIZE(raw) <= _MAX_REASON_BYTES:
        return reason
    return raw[:_MAX_REASON_BYTES].decode("utf-8", "ignore")


cdef int _as_uint(object value, uint64_t max_value, str name, uint64_t* out) except -1:
    """Convert a Python int (not bool) in ``0..max_value`` to C, else TypeError / ValueError naming it."""
    cdef int overflow = 0
    cdef long long small
    if not PyLong_Check(value) or PyBool_Check(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    small = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow == 0:
        if small < 0:
            raise ValueError(f"{name} must be in 0..{max_value}, got {value!r}")
        out[0] = <uint64_t>small
    elif overflow < 0:
        raise ValueError(f"{name} must be in 0..{max_value}, got {value!r}")
    else:
        try:
            out[0] = PyLong_AsUnsignedLongLong(value)
        except OverflowError:
            raise ValueError(f"{name} must be in 0..{max_value}, got {value!r}") from None
    if out[0] > max_value:
        raise ValueError(f"{name} must be in 0..{max_value}, got {value!r}")
    return 0


cdef inline Py_ssize_t _u64_digits(uint64_t v) noexcept nogil:
    cdef Py_ssize_t n = 1
    while v >= 10:
        v //= 10
        n += 1
    return n


cdef inline char* _put_u64(char* w, uint64_t v, Py_ssize_t ndigits) noexcept nogil:
    """Write ``v`` in decimal (exactly ``ndigits`` digits) at ``w``; return the end."""
    cdef char* end = w + ndigits
    cdef char* p = end
    while True:
        p -= 1
        p[0] = <char>(48 + v % 10)
        v //= 10
        if v == 0:
            break
    return end


cdef inline char* _put(char* w, const char* src, Py_ssize_t n) noexcept nogil:
    memcpy(w, src, <size_t>n)
    return w + n


# ---------------------------------------------------------------------------------------------------------
# JSON frame
# ---------------------------------------------------------------------------------------------------------

# A JSON string ready to copy: ``ptr[0:n]`` are the bytes, with the quotes when ``quoted`` is true.
cdef struct _JsonStr:
    const char* ptr
    Py_ssize_t n
    bint quoted


cdef object _json_str(object s, str name, _JsonStr* out):
    """Point ``out`` at the JSON form of ``s``; return an object the caller must keep alive meanwhile.

    Fast path: the string's cached UTF-8 form (for ASCII strings, the string's own buffer) has nothing to
    escape, so it is copied as is between quotes. Otherwise orjson writes the escaped string.
    """
    cdef Py_ssize_t n = 0
    cdef Py_ssize_t i
    cdef const unsigned char* p
    cdef unsigned char c
    cdef bytes escaped
    if not PyUnicode_Check(s):
        raise TypeError(f"{name} must be a str, got {type(s).__name__}")
    try:
        p = <const unsigned char*>PyUnicode_AsUTF8AndSize(s, &n)
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not encodable as UTF-8 (lone surrogate)") from None
    for i in range(n):
        c = p[i]
        if c < 0x20 or c == 0x22 or c == 0x5C:
            break
    else:
        out.ptr = <const char*>p
        out.n = n
        out.quoted = False
        return s
    escaped = _orjson_dumps(s)
    out.ptr = PyBytes_AS_STRING(escaped)
    out.n = PyBytes_GET_SIZE(escaped)
    out.quoted = True
    return escaped


cdef inline Py_ssize_t _json_str_len(const _JsonStr* s) noexcept nogil:
    return s.n if s.quoted else s.n + 2


cdef inline char* _put_json_str(char* w, const _JsonStr* s) noexcept nogil:
    if s.quoted:
        return _put(w, s.ptr, s.n)
    w[0] = b'"'
    w = _put(w + 1, s.ptr, s.n)
    w[0] = b'"'
    return w + 1


cdef bytes c_encode_json_frame(object channel, bint has_cursor, uint64_t cursor, object payload_json,
                               object client_id, object topic):
    cdef _JsonStr ch, tp, cid
    cdef object keep_ch, keep_tp = None, keep_cid = None
    cdef const char* payload
    cdef Py_ssize_t payload_len
    cdef Py_ssize_t total, ndigits = 0
    cdef Py_buffer view
    cdef bint have_view = False
    cdef bytes out
    cdef char* w

    keep_ch = _json_str(channel, "channel", &ch)
    if topic is not None:
        keep_tp = _json_str(topic, "topic", &tp)
    if client_id is not None:
        keep_cid = _json_str(client_id, "client_id", &cid)

    if PyBytes_CheckExact(payload_json):
        payload = PyBytes_AS_STRING(payload_json)
        payload_len = PyBytes_GET_SIZE(payload_json)
    elif PyUnicode_Check(payload_json):
        raise TypeError("payload_json must be bytes (serialised JSON), got str")
    else:
        PyObject_GetBuffer(payload_json, &view, PyBUF_SIMPLE)
        have_view = True
        payload = <const char*>view.buf
        payload_len = view.len
    try:
        if payload_len == 0:
            raise ValueError("payload_json is empty; serialise None as b'null'")
        # {"channel":  ,"topic":  ,"cursor":  ,"client_id":  ,"payload":  }
        total = 11 + _json_str_len(&ch) + 10 + 13 + 11 + payload_len + 1
        if topic is not None:
            total += 9 + _json_str_len(&tp)
        if has_cursor:
            ndigits = _u64_digits(cursor)
            total += ndigits
        else:
            total += 4
        total += _json_str_len(&cid) if client_id is not None else 4

        out = PyBytes_FromStringAndSize(NULL, total)
        w = PyBytes_AS_STRING(out)
        w = _put(w, b'{"channel":', 11)
        w = _put_json_str(w, &ch)
        if topic is not None:
            w = _put(w, b',"topic":', 9)
            w = _put_json_str(w, &tp)
        w = _put(w, b',"cursor":', 10)
        w = _put_u64(w, cursor, ndigits) if has_cursor else _put(w, b"null", 4)
        w = _put(w, b',"client_id":', 13)
        w = _put_json_str(w, &cid) if client_id is not None else _put(w, b"null", 4)
        w = _put(w, b',"payload":', 11)
        w = _put(w, payload, payload_len)
        w[0] = b'}'
        return out
    finally:
        if have_view:
            PyBuffer_Release(&view)


def encode_json_frame(channel, cursor, payload_json, client_id=None, topic=None):
    """Build the JSON frame around an already-serialised payload, without parsing the payload.

    Output (compact, this key order; ``"topic"`` only when ``topic`` is given)::

        {"channel":"chat","topic":"room42","cursor":41,"client_id":null,"payload":<payload_json>}

    Args:
        channel: channel name.
        cursor: offset of the frame in its stream, ``0 <= cursor < 2**64``, or None (written ``null``).
        payload_json: the payload as serialised JSON (e.g. ``orjson.dumps(payload)``), copied verbatim.
        client_id: sender's client id, or None (written ``null``).
        topic: topic of the stream, or None (no ``"topic"`` key).

    Returns:
        The frame as UTF-8 JSON bytes: a WebSocket text message or an SSE ``data:`` value.

    Raises:
        TypeError: a string argument is not a str, ``cursor`` not an int, ``payload_json`` not bytes-like.
        ValueError: ``cursor`` out of range, ``payload_json`` empty, a string not encodable as UTF-8.
    """
    cdef uint64_t c = 0
    if cursor is not None:
        _as_uint(cursor, 0xFFFFFFFFFFFFFFFFULL, "cursor", &c)
    return c_encode_json_frame(channel, cursor is not None, c, payload_json, client_id, topic)


def decode_json_frame(data):
    """Parse one inbound JSON text message into a frame, or a bare system op.

    A JSON object with a ``"channel"`` key is a frame; one without it is a bare system op, returned whole as
    the payload with every other field None. Unknown keys are ignored.

    Args:
        data: the message (UTF-8 bytes-like or str).

    Returns:
        ``(channel, topic, cursor, client_id, payload)``; ``payload`` is None when missing.

    Raises:
        BadJson: ``data`` is not JSON, or not a JSON object.
        FrameError: a field has the wrong type (the message names it), or a bare op has no string
            ``"type"``/``"op"``.
        TypeError: ``data`` is not bytes, bytearray, memoryview or str.
    """
    cdef object obj
    cdef dict d
    cdef PyObject* p
    cdef object channel, topic = None, cursor = None, client_id = None, payload = None

    if not (PyBytes_CheckExact(data) or PyUnicode_Check(data) or PyByteArray_Check(data)
            or PyMemoryView_Check(data) or PyBytes_Check(data)):
        raise TypeError(f"data must be bytes, bytearray, memoryview or str, got {type(data).__name__}")
    try:
        obj = _orjson_loads(data)
    except _JSONDecodeError as exc:
        raise BadJson(_clip_reason(f"invalid JSON: {exc}")) from None
    if not PyDict_CheckExact(obj):
        raise BadJson(f"a message must be a JSON object, got {_json_type_name(obj)}")
    d = <dict>obj

    p = PyDict_GetItemWithError(d, "channel")
    if p is NULL:
        p = PyDict_GetItemWithError(d, "type")
        if p is NULL or not PyUnicode_Check(<object>p):
            p = PyDict_GetItemWithError(d, "op")
            if p is NULL or not PyUnicode_Check(<object>p):
                raise FrameError("a message without 'channel' is a bare op and needs a string 'type' or 'op'")
        return (None, None, None, None, d)
    channel = <object>p
    if not PyUnicode_Check(channel):
        raise FrameError(f"frame field 'channel' must be a string, got {_json_type_name(channel)}")

    p = PyDict_GetItemWithError(d, "topic")
    if p is not NULL and <object>p is not None:
        topic = <object>p
        if not PyUnicode_Check(topic):
            raise FrameError(f"frame field 'topic' must be a string or null, got {_json_type_name(topic)}")

    p = PyDict_GetItemWithError(d, "cursor")
    if p is not NULL and <object>p is not None:
        cursor = <object>p
        # orjson yields int only for integers that fit in i64 or u64 (larger ones become float), and bool
        # is its own type, so an exact int that is not negative is a valid u64.
        if not PyLong_CheckExact(cursor) or cursor < 0:
            raise FrameError(
                f"frame field 'cursor' must be an integer in 0..2**64-1 or null, got {_json_repr(cursor)}")

    p = PyDict_GetItemWithError(d, "client_id")
    if p is not NULL and <object>p is not None:
        client_id = <object>p
        if not PyUnicode_Check(client_id):
            raise FrameError(
                f"frame field 'client_id' must be a string or null, got {_json_type_name(client_id)}")

    p = PyDict_GetItemWithError(d, "payload")
    if p is not NULL:
        payload = <object>p
    return (channel, topic, cursor, client_id, payload)


cdef str _json_type_name(object v):
    """Name of the JSON type of a value orjson produced (for error messages)."""
    if v is None:
        return "null"
    if PyBool_Check(v):
        return "boolean"
    if PyLong_Check(v) or isinstance(v, float):
        return "number"
    if PyUnicode_Check(v):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


cdef str _json_repr(object v):
    if PyLong_Check(v) and not PyBool_Check(v):
        return _clip_reason(str(v))
    return _json_type_name(v)


# ---------------------------------------------------------------------------------------------------------
# binary RP frame
# ---------------------------------------------------------------------------------------------------------

cdef bytes c_encode_binary_frame(uint8_t wire_id, uint32_t sequence, const uint8_t* payload,
                                 Py_ssize_t payload_len, uint8_t flags):
    cdef bytes out = PyBytes_FromStringAndSize(NULL, RP_HEADER_LEN + payload_len)
    cdef uint8_t* w = <uint8_t*>PyBytes_AS_STRING(out)
    w[0] = 0x52
    w[1] = 0x50
    w[2] = RP_VERSION
    w[3] = flags & RP_FLAGS_KNOWN  # reserved bits are written as 0 (docs/protocol.md)
    w[4] = wire_id
    store_u32_be(w + 5, sequence)
    if payload_len:
        memcpy(w + RP_HEADER_LEN, payload, <size_t>payload_len)
    return out


def encode_binary_frame(wire_id, sequence, payload, flags=0):
    """Build a binary ``RP`` frame: ``b"RP"``, version 1, flags, wire id, u32 BE sequence, payload.

    Args:
        wire_id: the channel's wire id, 0..255.
        sequence: the frame's cursor mod 2**32 (0 for system frames), 0..2**32-1.
        payload: the encoded payload (MessagePack or CBOR, maybe zstd-compressed or a fragment shard).
        flags: 0..255, a combination of ``FLAG_*``; reserved bits 3-7 are written as 0.

    Returns:
        The 9-byte header followed by ``payload``: a WebSocket binary message.

    Raises:
        TypeError: a number is not an int, or ``payload`` is not bytes-like.
        ValueError: a number is out of range.
    """
    cdef uint64_t w_id, seq, fl
    cdef Py_buffer view
    _as_uint(wire_id, 0xFF, "wire_id", &w_id)
    _as_uint(sequence, 0xFFFFFFFF, "sequence", &seq)
    _as_uint(flags, 0xFF, "flags", &fl)
    if PyBytes_CheckExact(payload):
        return c_encode_binary_frame(<uint8_t>w_id, <uint32_t>seq, <const uint8_t*>PyBytes_AS_STRING(payload),
                                     PyBytes_GET_SIZE(payload), <uint8_t>fl)
    if PyUnicode_Check(payload):
        raise TypeError("payload must be bytes-like, got str")
    PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
    try:
        return c_encode_binary_frame(<uint8_t>w_id, <uint32_t>seq, <const uint8_t*>view.buf, view.len,
                                     <uint8_t>fl)
    finally:
        PyBuffer_Release(&view)


cdef tuple _decode_binary(const uint8_t* p, Py_ssize_t n, const uint8_t* table):
    cdef uint8_t wire_id
    if n < RP_HEADER_LEN:
        raise FrameTooShort(f"RP frame is {n} bytes, shorter than its 9-byte header")
    if p[0] != 0x52 or p[1] != 0x50:
        magic = PyBytes_FromStringAndSize(<const char*>p, 2)
        raise InvalidMagic(f"RP frame magic is {magic!r}, expected b'RP'")
    if p[2] != RP_VERSION:
        raise UnsupportedVersion(p[2])
    wire_id = p[4]
    if table is not NULL and table[wire_id] == 0:
        raise UnknownChannel(wire_id)
    return (wire_id, p[3] & RP_FLAGS_KNOWN, load_u32_be(p + 5),
            PyBytes_FromStringAndSize(<const char*>p + RP_HEADER_LEN, n - RP_HEADER_LEN))


def decode_binary_frame(data, known_wire_ids=None):
    """Parse a binary ``RP`` frame.

    Args:
        data: one WebSocket binary message.
        known_wire_ids: a 256-byte table (see :func:`make_wire_table`), nonzero at each known wire id; None
            accepts every wire id.

    Returns:
        ``(wire_id, flags, sequence, payload)``; ``flags`` keeps only the known bits (``FLAGS_KNOWN``),
        ``payload`` is a copy of the bytes after the header.

    Raises:
        FrameTooShort: fewer than 9 bytes.
        InvalidMagic: the first two bytes are not ``b"RP"``.
        UnsupportedVersion: the version byte is not 1.
        UnknownChannel: ``known_wire_ids`` marks the wire id unknown.
        TypeError: ``data`` or ``known_wire_ids`` is not bytes-like.
        ValueError: ``known_wire_ids`` is not 256 bytes long.
    """
    cdef Py_buffer view, table_view
    cdef bint have_view = False, have_table_view = False
    cdef const uint8_t* p
    cdef Py_ssize_t n
    cdef const uint8_t* table = NULL
    if PyUnicode_Check(data) or PyUnicode_Check(known_wire_ids):
        raise TypeError("RP frames and wire tables are bytes-like, not str")
    try:
        if known_wire_ids is not None:
            if PyBytes_CheckExact(known_wire_ids):
                table = <const uint8_t*>PyBytes_AS_STRING(known_wire_ids)
                n = PyBytes_GET_SIZE(known_wire_ids)
            else:
                PyObject_GetBuffer(known_wire_ids, &table_view, PyBUF_SIMPLE)
                have_table_view = True
                table = <const uint8_t*>table_view.buf
                n = table_view.len
            if n != 256:
                raise ValueError(f"known_wire_ids must be 256 bytes (make_wire_table), got {n}")
        if PyBytes_CheckExact(data):
            p = <const uint8_t*>PyBytes_AS_STRING(data)
            n = PyBytes_GET_SIZE(data)
        else:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            have_view = True
            p = <const uint8_t*>view.buf
            n = view.len
        return _decode_binary(p, n, table)
    finally:
        if have_view:
            PyBuffer_Release(&view)
        if have_table_view:
            PyBuffer_Release(&table_view)


def make_wire_table(wire_ids):
    """Build the ``known_wire_ids`` table of :func:`decode_binary_frame`.

    Args:
        wire_ids: the known wire ids, each 0..255 (duplicates are fine).

    Returns:
        256 bytes, 1 at each index in ``wire_ids`` and 0 elsewhere.

    Raises:
        TypeError: an id is not an int.
        ValueError: an id is out of range.
    """
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 256)
    cdef uint8_t* w = <uint8_t*>PyBytes_AS_STRING(out)
    cdef uint64_t wid
    cdef int i
    for i in range(256):
        w[i] = 0
    for value in wire_ids:
        _as_uint(value, 0xFF, "wire id", &wid)
        w[wid] = 1
    return out


# ---------------------------------------------------------------------------------------------------------
# Server-Sent Events
# ---------------------------------------------------------------------------------------------------------

cdef const char* _sse_field(object value, str name, bint forbid_nul, Py_ssize_t* n) except NULL:
    """UTF-8 bytes of an ``id``/``event`` value; ValueError if it holds a line break (or NUL)."""
    cdef const char* p
    if not PyUnicode_Check(value):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    p = PyUnicode_AsUTF8AndSize(value, n)
    if memchr(p, b'\n', <size_t>n[0]) is not NULL or memchr(p, b'\r', <size_t>n[0]) is not NULL:
        raise ValueError(f"SSE {name} must not contain CR or LF")
    if forbid_nul and memchr(p, 0, <size_t>n[0]) is not NULL:
        raise ValueError(f"SSE {name} must not contain NUL")
    return p


cdef bytes c_encode_sse_event(const uint8_t* data, Py_ssize_t data_len, object event, object event_id,
                              long long retry_ms):
    cdef const char* ev = NULL
    cdef const char* eid = NULL
    cdef Py_ssize_t ev_len = 0, eid_len = 0, retry_digits = 0
    cdef Py_ssize_t nlines = 1, sep_bytes = 0, total, i, start
    cdef bint multiline
    cdef bytes out
    cdef char* w
    cdef uint8_t c

    if event_id is not None:
        eid = _sse_field(event_id, "id", True, &eid_len)
    if event is not None:
        ev = _sse_field(event, "event", False, &ev_len)

    # orjson output never holds a raw CR or LF, so JSON frames take the single-line path.
    multiline = (data_len > 0 and (memchr(data, b'\n', <size_t>data_len) is not NULL
                                   or memchr(data, b'\r', <size_t>data_len) is not NULL))
    if multiline:
        i = 0
        while i < data_len:
            c = data[i]
            if c == 0x0A or c == 0x0D:
                nlines += 1
                if c == 0x0D and i + 1 < data_len and data[i + 1] == 0x0A:
                    sep_bytes += 2
                    i += 2
                    continue
                sep_bytes += 1
            i += 1

    # "data: " + line + "\n" per line, then the blank line ending the event
    total = data_len - sep_bytes + 7 * nlines + 1
    if retry_ms >= 0:
        retry_digits = _u64_digits(<uint64_t>retry_ms)
        total += 7 + retry_digits + 1
    if eid is not NULL:
        total += 4 + eid_len + 1
    if ev is not NULL:
        total += 7 + ev_len + 1

    out = PyBytes_FromStringAndSize(NULL, total)
    w = PyBytes_AS_STRING(out)
    if retry_ms >= 0:
        w = _put(w, b"retry: ", 7)
        w = _put_u64(w, <uint64_t>retry_ms, retry_digits)
        w[0] = b'\n'
        w += 1
    if eid is not NULL:
        w = _put(w, b"id: ", 4)
        w = _put(w, eid, eid_len)
        w[0] = b'\n'
        w += 1
    if ev is not NULL:
        w = _put(w, b"event: ", 7)
        w = _put(w, ev, ev_len)
        w[0] = b'\n'
        w += 1
    w = _put(w, b"data: ", 6)
    if not multiline:
        w = _put(w, <const char*>data, data_len)
    else:
        i = 0
        start = 0
        while i < data_len:
            c = data[i]
            if c == 0x0A or c == 0x0D:
                w = _put(w, <const char*>data + start, i - start)
                w = _put(w, b"\ndata: ", 7)
                if c == 0x0D and i + 1 < data_len and data[i + 1] == 0x0A:
                    i += 1
                start = i + 1
            i += 1
        w = _put(w, <const char*>data + start, data_len - start)
    w[0] = b'\n'
    w[1] = b'\n'
    return out


def encode_sse_event(data, *, event=None, id=None, retry_ms=None):
    """Build one Server-Sent Events event.

    Fields in this order: ``retry: N``, ``id: <id>``, ``event: <event>``, then ``data: <line>`` for every line
    of ``data`` (split on CRLF, CR and LF; empty data gives one empty ``data:`` line), then a blank line.

    Args:
        data: the event data, usually one JSON frame (which never holds a line break).
        event: the event type (pushwire writes the channel name), or None.
        id: the event id (pushwire writes the position vector), or None.
        retry_ms: the client's reconnection delay in milliseconds, or None.

    Returns:
        The event bytes, ready to write to the ``text/event-stream`` response.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: ``id``/``event`` holds CR or LF (``id`` also NUL), or ``retry_ms`` is negative or
            2**63 or more.
    """
    cdef uint64_t retry = 0
    cdef long long retry_c = -1
    cdef Py_buffer view
    if retry_ms is not None:
        _as_uint(retry_ms, 0x7FFFFFFFFFFFFFFF, "retry_ms", &retry)
        retry_c = <long long>retry
    if PyBytes_CheckExact(data):
        return c_encode_sse_event(<const uint8_t*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data),
                                  event, id, retry_c)
    if PyUnicode_Check(data):
        raise TypeError("data must be bytes-like, got str")
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        return c_encode_sse_event(<const uint8_t*>view.buf, view.len, event, id, retry_c)
    finally:
        PyBuffer_Release(&view)


def encode_sse_comment(text=""):
    """Build an SSE comment ``: <text>\\n\\n`` (a heartbeat is ``encode_sse_comment("hb")``).

    Raises:
        TypeError: ``text`` is not a str.
        ValueError: ``text`` holds CR or LF (it would end the comment and inject fields).
    """
    cdef Py_ssize_t n
    cdef const char* p = _sse_field(text, "comment", False, &n)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n + 4)
    cdef char* w = PyBytes_AS_STRING(out)
    w[0] = b':'
    w[1] = b' '
    w = _put(w + 2, p, n)
    w[0] = b'\n'
    w[1] = b'\n'
    return out

# cython: language_level=3, embedsignature=True
"""Asset chunker: streaming SHA-256 and binary fragments (layer 1, pure computation).

- :class:`Sha256Stream` hashes an asset chunk by chunk (OpenSSL through :mod:`hashlib`), for content addresses
  (``/rps/assets/<sha256>``) and the client's check of a received asset.
- A large binary payload travels as several ``RP`` frames with the fragmented flag (0x02); each frame's
  payload is a shard ``[fragment_id 16 bytes][total u16 BE][index u16 BE][chunk]`` (docs/protocol.md,
  "Fragments").
  :func:`split_fragments` cuts a payload into shards, :class:`FragmentAssembler` puts them back together,
  bounded in ids, bytes, message size and time.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_DelItem, PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from libc.stdint cimport uint8_t
from libc.string cimport memcpy

from pushwire._core._common cimport load_u16_be, monotonic_s, store_u16_be

import hashlib

from pushwire.errors import (
    ConfigError,
    DuplicateFragment,
    FragmentLimitExceeded,
    FragmentTotalMismatch,
    InvalidFragment,
)

cdef extern from "Python.h":
    PyObject *PyList_GET_ITEM(object lst, Py_ssize_t i)
    void PyList_SET_ITEM(object lst, Py_ssize_t i, PyObject *item)
    object PyList_New(Py_ssize_t n)

__all__ = [
    "FRAGMENT_HEADER_LEN",
    "MAX_FRAGMENTS",
    "FragmentAssembler",
    "Sha256Stream",
    "decode_shard",
    "encode_shard",
    "sha256_hex",
    "split_fragments",
]

#: Bytes before a shard's chunk: fragment id (16), total (u16 BE), index (u16 BE).
FRAGMENT_HEADER_LEN = SHARD_HEADER_LEN
#: Most shards one message can be split into (the u16 ``total``).
MAX_FRAGMENTS = SHARD_MAX_TOTAL

cdef object _sha256 = hashlib.sha256
cdef bytes _EMPTY = b""


@cython.final
cdef class Sha256Stream:
    """SHA-256 fed chunk by chunk: call :meth:`update` per chunk, then :meth:`digest` or :meth:`hexdigest`."""

    def __cinit__(self):
        self._hash = _sha256()
        # Bound once: update() is called per chunk.
        self._update = self._hash.update
        self._nbytes = 0

    cpdef void update(self, object chunk):
        """Feed the next chunk (any contiguous bytes-like object)."""
        cdef Py_buffer view
        self._update(chunk)
        if PyBytes_CheckExact(chunk):
            self._nbytes += <unsigned long long>PyBytes_GET_SIZE(chunk)
        else:
            PyObject_GetBuffer(chunk, &view, PyBUF_SIMPLE)
            self._nbytes += <unsigned long long>view.len
            PyBuffer_Release(&view)

    cpdef bytes digest(self):
        """Return the 32-byte digest of everything fed so far (feeding may continue)."""
        return self._hash.digest()

    cpdef str hexdigest(self):
        """Return the digest as 64 lowercase hex digits (the form used in asset URLs and payloads)."""
        return self._hash.hexdigest()

    @property
    def nbytes(self) -> int:
        """Total bytes fed so far."""
        return self._nbytes

    def __repr__(self) -> str:
        return f"<Sha256Stream nbytes={self._nbytes}>"


cpdef str sha256_hex(object data):
    """Return the SHA-256 of ``data`` (a bytes-like object) as 64 lowercase hex digits."""
    return _sha256(data).hexdigest()


cdef inline bytes _make_shard(const uint8_t *fid, Py_ssize_t total, Py_ssize_t index,
                              const uint8_t *chunk, Py_ssize_t clen):
    cdef bytes out = PyBytes_FromStringAndSize(NULL, SHARD_HEADER_LEN + clen)
    cdef uint8_t *p = <uint8_t *>PyBytes_AS_STRING(out)
    memcpy(p, fid, SHARD_ID_LEN)
    store_u16_be(p + 16, <unsigned int>total)
    store_u16_be(p + 18, <unsigned int>index)
    if clen:
        memcpy(p + SHARD_HEADER_LEN, chunk, clen)
    return out


cpdef bytes encode_shard(object fragment_id, Py_ssize_t total, Py_ssize_t index, object chunk):
    """Build one shard: ``[fragment_id 16][total u16 BE][index u16 BE][chunk]``.

    Raises:
        InvalidFragment: ``fragment_id`` is not 16 bytes, ``total`` is not in 1..65535 or ``index`` not in
            0..total-1.
    """
    if total < 1 or total > SHARD_MAX_TOTAL:
        raise InvalidFragment(f"fragment total must be in 1..{SHARD_MAX_TOTAL}, got {total}")
    if index < 0 or index >= total:
        raise InvalidFragment(f"fragment index {index} out of range for total {total}")
    cdef Py_buffer fid, data
    PyObject_GetBuffer(fragment_id, &fid, PyBUF_SIMPLE)
    try:
        if fid.len != SHARD_ID_LEN:
            raise InvalidFragment(f"fragment id must be {SHARD_ID_LEN} bytes, got {fid.len}")
        PyObject_GetBuffer(chunk, &data, PyBUF_SIMPLE)
        try:
            return _make_shard(<const uint8_t *>fid.buf, total, index, <const uint8_t *>data.buf, data.len)
        finally:
            PyBuffer_Release(&data)
    finally:
        PyBuffer_Release(&fid)


cdef inline int _parse_header(const uint8_t *p, Py_ssize_t n, Py_ssize_t *total, Py_ssize_t *index) except -1:
    if n < SHARD_HEADER_LEN:
        raise InvalidFragment(
            f"fragment shard of {n} bytes is shorter than its {SHARD_HEADER_LEN}-byte header")
    total[0] = load_u16_be(p + 16)
    index[0] = load_u16_be(p + 18)
    if total[0] == 0:
        raise InvalidFragment("fragment total is 0")
    if index[0] >= total[0]:
        raise InvalidFragment(f"fragment index {index[0]} out of range for total {total[0]}")
    return 0


cpdef tuple decode_shard(object data):
    """Split a shard into ``(fragment_id, total, index, chunk)``.

    Raises:
        InvalidFragment: shorter than 20 bytes, ``total == 0`` or ``index >= total``.
    """
    cdef Py_buffer view
    cdef Py_ssize_t total, index
    cdef const char *p
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        p = <const char *>view.buf
        _parse_header(<const uint8_t *>p, view.len, &total, &index)
        return (PyBytes_FromStringAndSize(p, SHARD_ID_LEN), total, index,
                PyBytes_FromStringAndSize(p + SHARD_HEADER_LEN, view.len - SHARD_HEADER_LEN))
    finally:
        PyBuffer_Release(&view)


cpdef list split_fragments(object payload, object fragment_id, Py_ssize_t max_chunk):
    """Cut ``payload`` into shards of at most ``max_chunk`` chunk bytes, in index order.

    An empty payload gives one shard with an empty chunk. Send each shard as the payload of an ``RP`` frame
    with the fragmented flag.

    Raises:
        ValueError: ``max_chunk < 1``.
        InvalidFragment: ``fragment_id`` is not 16 bytes.
        FragmentLimitExceeded: more than 65535 shards would be needed.
    """
    if max_chunk < 1:
        raise ValueError(f"max_chunk must be >= 1, got {max_chunk}")
    cdef Py_buffer fid, data
    cdef Py_ssize_t total, index, start, clen
    cdef object out
    cdef bytes shard
    PyObject_GetBuffer(fragment_id, &fid, PyBUF_SIMPLE)
    try:
        if fid.len != SHARD_ID_LEN:
            raise InvalidFragment(f"fragment id must be {SHARD_ID_LEN} bytes, got {fid.len}")
        PyObject_GetBuffer(payload, &data, PyBUF_SIMPLE)
        try:
            total = (data.len + max_chunk - 1) // max_chunk if data.len else 1
            if total > SHARD_MAX_TOTAL:
                raise FragmentLimitExceeded(
                    f"{data.len} bytes in chunks of {max_chunk} need {total} fragments "
                    f"(max {SHARD_MAX_TOTAL})")
            out = PyList_New(total)
            start = 0
            for index in range(total):
                clen = data.len - start
                if clen > max_chunk:
                    clen = max_chunk
                shard = _make_shard(<const uint8_t *>fid.buf, total, index,
                                    <const uint8_t *>data.buf + start, clen)
                # PyList_SET_ITEM steals a reference: hand it the one `shard` holds, plus one for the list.
                Py_INCREF(shard)
                PyList_SET_ITEM(out, index, <PyObject *>shard)
                start += clen
            return <list>out
        finally:
            PyBuffer_Release(&data)
    finally:
        PyBuffer_Release(&fid)


@cython.final
cdef class _Pending:
    """One message being reassembled (internal to :class:`FragmentAssembler`)."""

    def __cinit__(self):
        self.older = NULL
        self.newer = NULL


@cython.final
cdef class FragmentAssembler:
    """Reassembles fragmented messages from their shards, in any order, within fixed bounds.

    Args:
        max_inflight: most incomplete messages kept; past it the oldest is evicted.
        max_inflight_bytes: most chunk bytes kept over all incomplete messages; past it the oldest are
            evicted.
        max_message_bytes: largest reassembled message; a message growing past it is dropped with
            :class:`~pushwire.errors.FragmentLimitExceeded`.
        ttl_s: :meth:`expire` drops incomplete messages whose first shard is older than this (0 disables).

    Raises:
        ConfigError: a bound is < 1 or ``ttl_s < 0``.

    Feed every shard to :meth:`push`; it returns the whole payload when the last missing shard arrives. Call
    :meth:`expire` periodically.
    """

    def __cinit__(self):
        self._oldest = NULL
        self._newest = NULL

    def __init__(self, Py_ssize_t max_inflight=1024, Py_ssize_t max_inflight_bytes=64 * 1024 * 1024,
                 Py_ssize_t max_message_bytes=64 * 1024 * 1024, double ttl_s=30.0):
        if max_inflight < 1:
            raise ConfigError(f"max_inflight must be >= 1, got {max_inflight}")
        if max_inflight_bytes < 1:
            raise ConfigError(f"max_inflight_bytes must be >= 1, got {max_inflight_bytes}")
        if max_message_bytes < 1:
            raise ConfigError(f"max_message_bytes must be >= 1, got {max_message_bytes}")
        if not ttl_s >= 0.0:
            raise ConfigError(f"ttl_s must be >= 0, got {ttl_s}")
        self._pending = {}
        self._max_inflight = max_inflight
        self._max_inflight_bytes = max_inflight_bytes
        self._max_message_bytes = max_message_bytes
        self._ttl_s = ttl_s

    cdef void _link(self, _Pending entry):
        """Append ``entry`` as the newest in FIFO order."""
        entry.older = self._newest
        entry.newer = NULL
        if self._newest != NULL:
            (<_Pending>self._newest).newer = <PyObject *>entry
        else:
            self._oldest = <PyObject *>entry
        self._newest = <PyObject *>entry

    cdef int _forget(self, _Pending entry) except -1:
        """Unlink ``entry`` and drop it from the index (a caller that still needs it holds a reference)."""
        if entry.older != NULL:
            (<_Pending>entry.older).newer = entry.newer
        else:
            self._oldest = entry.newer
        if entry.newer != NULL:
            (<_Pending>entry.newer).older = entry.older
        else:
            self._newest = entry.older
        entry.older = NULL
        entry.newer = NULL
        self._inflight_bytes -= entry.nbytes
        PyDict_DelItem(self._pending, entry.fragment_id)
        return 0

    cpdef object push(self, object shard, double now=-1.0):
        """Accept one shard; return the whole payload when it completes its message, else None.

        Args:
            shard: one shard as produced by :func:`split_fragments` (any bytes-like object).
            now: arrival time in monotonic seconds; negative (the default) reads ``CLOCK_MONOTONIC``.

        Returns:
            The reassembled payload (chunks in index order) when this shard was the last missing one; the
            message is then forgotten. None otherwise (also when limits evicted the message).

        Raises:
            InvalidFragment: the shard is malformed.
            DuplicateFragment: this index of this fragment id was already received.
            FragmentTotalMismatch: the total differs from earlier shards of the same id.
            FragmentLimitExceeded: the message would pass ``max_message_bytes``; it is dropped.
        """
        cdef Py_buffer view
        cdef Py_ssize_t total, index, clen
        cdef const char *p
        cdef bytes fid, chunk
        cdef PyObject *found
        cdef _Pending entry
        PyObject_GetBuffer(shard, &view, PyBUF_SIMPLE)
        try:
            p = <const char *>view.buf
            _parse_header(<const uint8_t *>p, view.len, &total, &index)
            clen = view.len - SHARD_HEADER_LEN
            fid = PyBytes_FromStringAndSize(p, SHARD_ID_LEN)
            found = PyDict_GetItem(self._pending, fid)
            if found == NULL:
                if clen > self._max_message_bytes:
                    raise FragmentLimitExceeded(
                        f"fragment of {clen} bytes exceeds the {self._max_message_bytes}-byte message limit")
                chunk = PyBytes_FromStringAndSize(p + SHARD_HEADER_LEN, clen)
                if total == 1:
                    return chunk
                if now < 0.0:
                    now = monotonic_s()
                entry = _Pending.__new__(_Pending)
                entry.fragment_id = fid
                entry.chunks = [None] * total
                entry.total = total
                entry.first_time = now
                PyDict_SetItem(self._pending, fid, entry)
                self._link(entry)
            else:
                entry = <_Pending>found
                if entry.total != total:
                    raise FragmentTotalMismatch(
                        f"fragment total {total} differs from {entry.total} of earlier shards")
                if PyList_GET_ITEM(entry.chunks, index) != <PyObject *>None:
                    raise DuplicateFragment(index, total)
                if entry.nbytes + clen > self._max_message_bytes:
                    self._forget(entry)
                    raise FragmentLimitExceeded(
                        f"fragmented message exceeds the {self._max_message_bytes}-byte message limit")
                chunk = PyBytes_FromStringAndSize(p + SHARD_HEADER_LEN, clen)
        finally:
            PyBuffer_Release(&view)
        entry.chunks[index] = chunk
        entry.received += 1
        entry.nbytes += clen
        self._inflight_bytes += clen
        if entry.received == entry.total:
            self._forget(entry)
            return _EMPTY.join(entry.chunks)
        while self._oldest != NULL and (
                len(self._pending) > self._max_inflight or self._inflight_bytes > self._max_inflight_bytes):
            self._forget(<_Pending>self._oldest)
            self._evicted += 1
        return None

    cpdef Py_ssize_t expire(self, double now=-1.0) except -1:
        """Drop incomplete messages whose first shard is more than ``ttl_s`` old; return how many.

        Messages are checked oldest first and the scan stops at the first one still young, so ``now`` values
        are expected to come from one monotonic clock.
        """
        if self._ttl_s <= 0.0 or self._oldest == NULL:
            return 0
        if now < 0.0:
            now = monotonic_s()
        cdef Py_ssize_t dropped = 0
        while self._oldest != NULL and now - (<_Pending>self._oldest).first_time > self._ttl_s:
            self._forget(<_Pending>self._oldest)
            dropped += 1
        self._expired += dropped
        return dropped

    @property
    def inflight(self) -> int:
        """Incomplete messages being kept."""
        return len(self._pending)

    @property
    def inflight_bytes(self) -> int:
        """Chunk bytes kept for incomplete messages."""
        return self._inflight_bytes

    @property
    def evicted(self) -> int:
        """Incomplete messages evicted so far to respect ``max_inflight`` / ``max_inflight_bytes``."""
        return self._evicted

    @property
    def expired(self) -> int:
        """Incomplete messages dropped so far by :meth:`expire`."""
        return self._expired

    @property
    def max_inflight(self) -> int:
        """Most incomplete messages kept."""
        return self._max_inflight

    @property
    def max_inflight_bytes(self) -> int:
        """Most chunk bytes kept over all incomplete messages."""
        return self._max_inflight_bytes

    @property
    def max_message_bytes(self) -> int:
        """Largest reassembled message."""
        return self._max_message_bytes

    @property
    def ttl_s(self) -> float:
        """Age in seconds past which :meth:`expire` drops an incomplete message (0: never)."""
        return self._ttl_s

    def __repr__(self) -> str:
        return f"<FragmentAssembler inflight={len(self._pending)} bytes={self._inflight_bytes}>"

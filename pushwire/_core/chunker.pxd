# cython: language_level=3
"""C-level declarations of pushwire._core.chunker, for other Cython modules (``cimport``)."""

cimport cython
from cpython.object cimport PyObject

cdef enum:
    # [fragment_id 16][total u16 BE][index u16 BE]
    SHARD_ID_LEN = 16
    SHARD_HEADER_LEN = 20
    SHARD_MAX_TOTAL = 65535


@cython.final
cdef class Sha256Stream:
    cdef object _hash
    cdef object _update
    cdef unsigned long long _nbytes

    cpdef void update(self, object chunk)
    cpdef bytes digest(self)
    cpdef str hexdigest(self)


cpdef str sha256_hex(object data)
cpdef bytes encode_shard(object fragment_id, Py_ssize_t total, Py_ssize_t index, object chunk)
cpdef tuple decode_shard(object data)
cpdef list split_fragments(object payload, object fragment_id, Py_ssize_t max_chunk)


@cython.final
cdef class _Pending:
    cdef bytes fragment_id
    cdef list chunks
    cdef Py_ssize_t total
    cdef Py_ssize_t received
    cdef Py_ssize_t nbytes
    cdef double first_time
    # FIFO links by first-shard arrival; borrowed (the assembler's dict owns every linked entry).
    cdef PyObject *older
    cdef PyObject *newer


@cython.final
cdef class FragmentAssembler:
    cdef dict _pending
    cdef PyObject *_oldest
    cdef PyObject *_newest
    cdef Py_ssize_t _max_inflight
    cdef Py_ssize_t _max_inflight_bytes
    cdef Py_ssize_t _max_message_bytes
    cdef double _ttl_s
    cdef Py_ssize_t _inflight_bytes
    cdef Py_ssize_t _evicted
    cdef Py_ssize_t _expired

    cdef void _link(self, _Pending entry)
    cdef int _forget(self, _Pending entry) except -1

    cpdef object push(self, object shard, double now=*)
    cpdef Py_ssize_t expire(self, double now=*) except -1

# cython: language_level=3
"""C-level declarations of pushwire._core.fanout, for other Cython modules (``cimport``)."""

cimport cython
from libc.stdint cimport uint64_t

from .lanes cimport PriorityLanes


cpdef enum:
    OUT_WS = 0
    OUT_SSE = 1


@cython.final
cdef class Publication:
    cdef readonly str stream
    cdef readonly uint64_t offset
    cdef readonly str epoch
    cdef readonly int lane
    cdef readonly bytes json
    cdef readonly bytes ws_frame
    cdef readonly str event
    cdef bytes _sse_body
    cdef bytes _sse_id_line


cdef class Outbox
cdef class StreamFanout


cdef class Sink:
    cdef int put(self, object data) except -1


@cython.final
cdef class CallbackSink(Sink):
    cdef readonly object target


@cython.final
cdef class Flusher:
    cdef list _dirty
    cdef list _overflowed
    cdef object _schedule
    cdef bint _scheduled
    cdef object _on_error
    cdef public object counters
    cdef public object sse_id_line
    cdef readonly Py_ssize_t passes

    cdef inline void mark(self, Outbox outbox)
    cdef void overflowed(self, Outbox outbox)
    cdef void _call(self, Outbox outbox, str method)
    cdef void _failed(self, Outbox outbox, exc)
    cpdef void run(self)


@cython.final
cdef class Outbox:
    cdef readonly PriorityLanes lanes
    cdef readonly int kind
    cdef public object owner
    # where flushed batches go: ``write`` set to a Sink is used as it is, a callable is wrapped in one
    cdef Sink _sink
    cdef object _write
    cdef public bint paused
    cdef public bint closed
    cdef public bint scheduled
    cdef public bint warn_pending
    cdef readonly Flusher flusher
    cdef object _backlog
    cdef set _catching_up
    cdef Py_ssize_t _backlog_limit
    cdef Py_ssize_t _backlog_live
    cdef Py_ssize_t _refill_count
    cdef Py_ssize_t _refill_bytes
    cdef Py_ssize_t _max_flush_bytes
    cdef Py_ssize_t _warn_high_count
    cdef Py_ssize_t _warn_high_bytes
    cdef Py_ssize_t _warn_normal_count
    cdef Py_ssize_t _warn_normal_bytes
    cdef bint _warned
    cdef readonly Py_ssize_t low_drops
    cdef readonly Py_ssize_t overflows
    # the stream whose batch of this loop turn the outbox takes whole (shared bytes), and from which position
    cdef StreamFanout _shared
    cdef Py_ssize_t _shared_start
    # the most frames and bytes a shared batch may grow to for this outbox: what its lanes would hold
    cdef Py_ssize_t _share_count
    cdef Py_ssize_t _share_bytes
    # an SSE connection whose position vector is this one stream alone may share that stream's batches
    cdef public object sse_single
    # for SSE, where a shared batch goes; its last publication is left in ``sse_last`` for the connection to
    # take into its position vector
    cdef public Sink write_shared
    cdef public object sse_last

    cdef inline Py_ssize_t _accounted(self, Publication publication)
    cdef int c_deliver(self, Publication publication) except -2
    cdef int _push(self, object item, Py_ssize_t nbytes, Py_ssize_t lane, bint live=*) except -2
    cdef int _to_backlog(self, Publication publication, bint live) except -2
    cdef int _refill(self) except -1
    cpdef int deliver(self, Publication publication) except -2
    cpdef int push_system(self, object item, Py_ssize_t nbytes) except -2
    cpdef int flush(self) except -1
    cpdef void stop(self)
    cdef int _demote(self) except -1


@cython.final
cdef class StreamFanout:
    cdef list _outboxes
    cdef dict _index
    cdef list _pass
    cdef Py_ssize_t _pass_bytes
    cdef Py_ssize_t _shared_pending
    cdef Py_ssize_t _limit_count
    cdef Py_ssize_t _limit_bytes
    cdef dict _joined
    cdef dict _joined_sse

    cdef void _demote_all(self) except *

    cdef bytes _joined_from(self, Py_ssize_t start)
    cdef bytes _joined_sse_from(self, Py_ssize_t start, object id_line)
    cdef void _release(self)

    cpdef Py_ssize_t publish(self, Publication publication) except -1

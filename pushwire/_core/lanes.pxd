# cython: language_level=3
"""C-level declarations of pushwire._core.lanes, for other Cython modules (``cimport``)."""

cimport cython

# C-level twins of the module's Python constants, so Cython callers compare against ints without lookups.
cdef enum:
    LANE_SIGNAL = 0
    LANE_DROP_OLDEST = 1
    LANE_PUSH_OK = 0
    LANE_PUSH_DROPPED_OLDEST = 1
    LANE_PUSH_OVERFLOW = -1


@cython.final
cdef class _Ring:
    """One bounded FIFO lane: a Python list used as a ring of references plus a C array of byte sizes."""
    cdef list items
    cdef Py_ssize_t *sizes
    cdef Py_ssize_t cap
    cdef Py_ssize_t head
    cdef Py_ssize_t count
    cdef Py_ssize_t nbytes
    cdef Py_ssize_t max_count
    cdef Py_ssize_t max_bytes
    cdef int policy
    cdef Py_ssize_t dropped
    cdef Py_ssize_t overflows

    cdef int grow(self) except -1
    cdef int append(self, object item, Py_ssize_t nbytes) except -1
    cdef object popleft(self, Py_ssize_t *nbytes)
    cdef void drop_oldest(self)
    cdef void clear(self)
    cdef void release(self)


@cython.final
cdef class PriorityLanes:
    cdef _Ring _high
    cdef _Ring _normal
    cdef _Ring _low

    cpdef int push(self, object item, Py_ssize_t nbytes, Py_ssize_t priority) except -2
    cpdef Py_ssize_t drain_into(self, list out, Py_ssize_t max_bytes=*) except -1
    cpdef void compact(self)
    cpdef void clear(self)

# cython: language_level=3
"""C-level declarations of pushwire._core.replay, for other Cython modules (``cimport``)."""

cimport cython


@cython.final
cdef class ReplayIndex:
    # Ring of entries: a Python list (so the cyclic GC sees them) growing by doubling up to _max_count.
    cdef list _entries
    # Append time of each entry (monotonic seconds), parallel to _entries.
    cdef double *_times
    cdef Py_ssize_t _cap
    cdef Py_ssize_t _head
    cdef Py_ssize_t _count
    cdef Py_ssize_t _max_count
    cdef double _max_age_s
    # Offset of the oldest kept entry (== _next when empty) and the offset the next append gets.
    cdef unsigned long long _first
    cdef unsigned long long _next
    cdef str _epoch

    cdef int _alloc(self, Py_ssize_t cap) except -1
    cdef int _grow(self) except -1
    cdef void _drop_oldest(self)
    cdef list _slice(self, unsigned long long start, Py_ssize_t n)

    cpdef unsigned long long append(self, object entry, double now=*) except 0
    cpdef object get(self, unsigned long long offset)
    cpdef list after(self, unsigned long long cursor)
    cpdef list after_available(self, unsigned long long cursor, Py_ssize_t limit=*)
    cpdef Py_ssize_t trim(self, double now=*) except -1
    cpdef Py_ssize_t trim_through(self, unsigned long long offset) except -1
    cpdef void reset(self, str epoch, unsigned long long start_offset=*)

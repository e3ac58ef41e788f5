# cython: language_level=3
"""C-level declarations of pushwire._core.bucket, for other Cython modules (``cimport``)."""

cimport cython


@cython.final
cdef class TokenBucket:
    cdef double _rate
    cdef double _burst
    cdef double _tokens
    # Time of the last refill (monotonic seconds); negative until the first call sets it.
    cdef double _last
    cdef double _taken

    cdef void _refill(self, double now) noexcept
    cpdef bint try_take(self, double n, double now=*) except -1
    cpdef double time_until(self, double n, double now=*) except -1.0
    cpdef double tokens(self, double now=*) noexcept

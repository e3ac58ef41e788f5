# cython: language_level=3
"""Inline C helpers shared by the modules of ``pushwire._core`` (``cimport``, never ``include``).

Layer 1 may read no clock other than ``CLOCK_MONOTONIC``; ``monotonic_s`` and ``monotonic_ns`` are the only
clocks the core uses, so that token buckets and history ages agree with each other.
"""

from libc.stdint cimport int64_t, uint8_t, uint32_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec


cdef inline double monotonic_s() noexcept nogil:
    """Seconds on the monotonic clock (arbitrary origin), as a C double."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + <double>ts.tv_nsec * 1e-9


cdef inline int64_t monotonic_ns() noexcept nogil:
    """Nanoseconds on the monotonic clock (arbitrary origin), as a C int64."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + <int64_t>ts.tv_nsec


cdef inline uint32_t load_u32_be(const uint8_t* p) noexcept nogil:
    """Read a big-endian u32 from ``p`` (4 readable bytes)."""
    return ((<uint32_t>p[0]) << 24) | ((<uint32_t>p[1]) << 16) | ((<uint32_t>p[2]) << 8) | (<uint32_t>p[3])


cdef inline void store_u32_be(uint8_t* p, uint32_t v) noexcept nogil:
    """Write ``v`` as a big-endian u32 at ``p`` (4 writable bytes)."""
    p[0] = <uint8_t>(v >> 24)
    p[1] = <uint8_t>(v >> 16)
    p[2] = <uint8_t>(v >> 8)
    p[3] = <uint8_t>v


cdef inline unsigned int load_u16_be(const uint8_t* p) noexcept nogil:
    """Read a big-endian u16 from ``p`` (2 readable bytes)."""
    return ((<unsigned int>p[0]) << 8) | (<unsigned int>p[1])


cdef inline void store_u16_be(uint8_t* p, unsigned int v) noexcept nogil:
    """Write the low 16 bits of ``v`` big-endian at ``p`` (2 writable bytes)."""
    p[0] = <uint8_t>(v >> 8)
    p[1] = <uint8_t>v

# cython: language_level=3, embedsignature=True
"""Replay index: one stream's history ring (layer 1, pure computation).

A stream's frames get consecutive offsets (``start_offset``, ``start_offset + 1``, ...); a frame's offset is
the ``cursor`` clients see. :class:`ReplayIndex` keeps the most recent ones, bounded by count and by age, and
answers "everything after cursor N" as one list, which the hub hands to a resuming connection's lanes.

An offset maps to its ring slot by arithmetic, so ``get`` is O(1) and ``after`` copies only the references it
returns. The ``epoch`` names one continuous history: when history is lost (process restart, ``reset``) the
epoch changes and old cursors mean nothing (docs/protocol.md, "Streams" and "Resume").

Cursor rules, with ``first`` the oldest kept offset and ``last`` the latest assigned one:

- ``after(c)`` for ``first - 1 <= c <= last`` returns entries ``c+1 .. last`` (possibly none);
- ``c < first - 1`` raises :class:`~pushwire.errors.CursorTooOld`: entries ``c+1 .. first-1`` are gone;
- ``c > last`` raises :class:`~pushwire.errors.CursorAhead`: the cursor comes from another history.

When the ring is empty, ``first == next_offset``; this is so whether nothing was ever appended or everything
was trimmed, and in the second case ``after(c)`` for ``c < last`` raises ``CursorTooOld``.
"""

cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF

from pushwire._core._common cimport monotonic_s

from pushwire.errors import ConfigError, CursorAhead, CursorTooOld

cdef extern from "Python.h":
    PyObject *PyList_GET_ITEM(object lst, Py_ssize_t i)
    void PyList_SET_ITEM(object lst, Py_ssize_t i, PyObject *item)
    object PyList_New(Py_ssize_t n)

cdef extern from "limits.h":
    const unsigned long long ULLONG_MAX

__all__ = ["ReplayIndex"]

# Slots a ring starts with; it doubles on demand up to max_count (many personal streams stay tiny).
cdef Py_ssize_t _INITIAL_CAP = 8


@cython.final
cdef class ReplayIndex:
    """One stream's history: entries at consecutive offsets, bounded by count and age.

    Args:
        max_count: most entries kept; appending to a full index drops the oldest.
        max_age_s: entries older than this many seconds are dropped by :meth:`trim`; 0 keeps them until
            ``max_count`` pushes them out.
        epoch: the opaque id of this history (see :meth:`reset`).
        start_offset: the offset the first entry gets (>= 1; cursor 0 means "nothing seen").

    Raises:
        ConfigError: ``max_count < 1``, ``max_age_s < 0`` or ``start_offset < 1``.

    Store each published frame with :meth:`append`; call :meth:`trim` periodically; answer resumes with
    :meth:`after` (strict) or :meth:`after_available` (best effort).
    """

    def __cinit__(self):
        self._times = NULL

    def __init__(self, Py_ssize_t max_count, double max_age_s=0.0, *, str epoch not None="",
                 unsigned long long start_offset=1):
        if max_count < 1:
            raise ConfigError(f"max_count must be >= 1, got {max_count}")
        if not max_age_s >= 0.0:
            raise ConfigError(f"max_age_s must be >= 0, got {max_age_s}")
        if start_offset < 1:
            raise ConfigError("start_offset must be >= 1")
        self._max_count = max_count
        self._max_age_s = max_age_s
        self._alloc(max_count if max_count < _INITIAL_CAP else _INITIAL_CAP)
        self._epoch = epoch
        self._first = start_offset
        self._next = start_offset

    def __dealloc__(self):
        PyMem_Free(self._times)

    cdef int _alloc(self, Py_ssize_t cap) except -1:
        cdef double *times = <double *>PyMem_Malloc(cap * sizeof(double))
        if times == NULL:
            raise MemoryError()
        PyMem_Free(self._times)
        self._times = times
        self._entries = [None] * cap
        self._cap = cap
        self._head = 0
        self._count = 0
        return 0

    cdef int _grow(self) except -1:
        """Double the slots (up to max_count), unwrapping the ring so the oldest entry sits at slot 0."""
        cdef Py_ssize_t new_cap = self._cap * 2
        cdef Py_ssize_t i, j
        if new_cap > self._max_count:
            new_cap = self._max_count
        cdef double *new_times = <double *>PyMem_Malloc(new_cap * sizeof(double))
        if new_times == NULL:
            raise MemoryError()
        cdef list old = self._entries
        cdef list new_entries = [None] * new_cap
        cdef PyObject *p
        for i in range(self._count):
            j = self._head + i
            if j >= self._cap:
                j -= self._cap
            # Move the old list's reference into the new list; the old slot gets None.
            p = PyList_GET_ITEM(old, j)
            Py_INCREF(None)
            PyList_SET_ITEM(old, j, <PyObject *>None)
            Py_DECREF(<object>PyList_GET_ITEM(new_entries, i))
            PyList_SET_ITEM(new_entries, i, p)
            new_times[i] = self._times[j]
        PyMem_Free(self._times)
        self._times = new_times
        self._entries = new_entries
        self._cap = new_cap
        self._head = 0
        return 0

    cdef void _drop_oldest(self):
        """Forget the oldest entry (the ring must not be empty)."""
        cdef Py_ssize_t slot = self._head
        cdef PyObject *p = PyList_GET_ITEM(self._entries, slot)
        Py_INCREF(None)
        PyList_SET_ITEM(self._entries, slot, <PyObject *>None)
        self._head = slot + 1
        if self._head == self._cap:
            self._head = 0
        self._count -= 1
        self._first += 1
        # Last: the entry's destructor may run arbitrary code, so the ring must be consistent first.
        Py_DECREF(<object>p)

    cdef list _slice(self, unsigned long long start, Py_ssize_t n):
        """New list of the ``n`` entries from offset ``start`` on (all kept; the caller checked)."""
        cdef object out = PyList_New(n)
        cdef Py_ssize_t slot = self._head + <Py_ssize_t>(start - self._first)
        cdef Py_ssize_t i
        cdef PyObject *p
        if slot >= self._cap:
            slot -= self._cap
        for i in range(n):
            p = PyList_GET_ITEM(self._entries, slot)
            Py_INCREF(<object>p)
            PyList_SET_ITEM(out, i, p)
            slot += 1
            if slot == self._cap:
                slot = 0
        return <list>out

    cpdef unsigned long long append(self, object entry, double now=-1.0) except 0:
        """Store ``entry`` as the stream's next offset and return that offset.

        Args:
            entry: what to keep (usually the frame's encoded bytes, or a tuple of them).
            now: the append time in monotonic seconds; negative (the default) reads ``CLOCK_MONOTONIC``.

        Returns:
            The offset assigned to ``entry`` (the new ``last_offset``).

        Raises:
            OverflowError: the offsets have reached 2**64 - 1.
        """
        cdef Py_ssize_t slot
        cdef unsigned long long offset = self._next
        if offset == ULLONG_MAX:
            raise OverflowError("replay offsets exhausted")
        if now < 0.0:
            now = monotonic_s()
        if self._count == self._max_count:
            self._drop_oldest()
        elif self._count == self._cap:
            self._grow()
        slot = self._head + self._count
        if slot >= self._cap:
            slot -= self._cap
        cdef PyObject *old = PyList_GET_ITEM(self._entries, slot)
        Py_INCREF(entry)
        PyList_SET_ITEM(self._entries, slot, <PyObject *>entry)
        Py_DECREF(<object>old)
        self._times[slot] = now
        self._count += 1
        self._next = offset + 1
        return offset

    cpdef object get(self, unsigned long long offset):
        """Return the entry at ``offset``, or None when it is not kept (trimmed, or not assigned yet)."""
        if offset < self._first or offset >= self._next:
            return None
        cdef Py_ssize_t slot = self._head + <Py_ssize_t>(offset - self._first)
        if slot >= self._cap:
            slot -= self._cap
        return <object>PyList_GET_ITEM(self._entries, slot)

    cpdef list after(self, unsigned long long cursor):
        """Return every entry with an offset greater than ``cursor``, oldest first.

        Raises:
            CursorTooOld: entries between ``cursor`` and the oldest kept one were dropped
                (``cursor < first_offset - 1``); resume from ``first_offset - 1`` and tell the client.
            CursorAhead: ``cursor > last_offset``: the cursor belongs to another history (epoch).
        """
        cdef unsigned long long last = self._next - 1
        if cursor > last:
            raise CursorAhead(cursor, last)
        if cursor + 1 < self._first:
            raise CursorTooOld(cursor, self._first)
        return self._slice(cursor + 1, <Py_ssize_t>(last - cursor))

    cpdef list after_available(self, unsigned long long cursor, Py_ssize_t limit=-1):
        """Return the kept entries after ``cursor``, the oldest ``limit`` when ``limit >= 0``; never raise.

        Entries dropped from history are skipped: the list starts at ``max(cursor + 1, first_offset)``.
        A cursor beyond ``last_offset`` gets an empty list.
        """
        cdef unsigned long long last = self._next - 1
        if cursor >= last:
            return []
        cdef unsigned long long start = cursor + 1
        if start < self._first:
            start = self._first
        cdef Py_ssize_t n = <Py_ssize_t>(self._next - start)
        if limit >= 0 and n > limit:
            n = limit
        return self._slice(start, n)

    cpdef Py_ssize_t trim(self, double now=-1.0) except -1:
        """Drop entries older than ``max_age_s`` (when it is > 0) and return how many were dropped.

        Args:
            now: the current time in monotonic seconds; negative (the default) reads ``CLOCK_MONOTONIC``.
        """
        if self._max_age_s <= 0.0 or self._count == 0:
            return 0
        if now < 0.0:
            now = monotonic_s()
        cdef Py_ssize_t dropped = 0
        while self._count > 0 and now - self._times[self._head] > self._max_age_s:
            self._drop_oldest()
            dropped += 1
        return dropped

    cpdef Py_ssize_t trim_through(self, unsigned long long offset) except -1:
        """Drop entries with offsets up to and including ``offset`` (an ack); return how many were dropped."""
        cdef Py_ssize_t dropped = 0
        while self._count > 0 and self._first <= offset:
            self._drop_oldest()
            dropped += 1
        return dropped

    cpdef void reset(self, str epoch, unsigned long long start_offset=1):
        """Forget all history; start epoch ``epoch`` whose first offset is ``start_offset`` (>= 1)."""
        if epoch is None:
            raise TypeError("epoch must be a str")
        if start_offset < 1:
            raise ConfigError("start_offset must be >= 1")
        cdef list old = self._entries
        self._alloc(self._max_count if self._max_count < _INITIAL_CAP else _INITIAL_CAP)
        self._epoch = epoch
        self._first = start_offset
        self._next = start_offset
        # The old entries are released when `old` goes away, after the index is consistent again.
        del old

    @property
    def epoch(self) -> str:
        """The opaque id of this history; changed only by :meth:`reset`."""
        return self._epoch

    @property
    def first_offset(self) -> int:
        """Offset of the oldest kept entry; equals ``next_offset`` when nothing is kept."""
        return self._first

    @property
    def last_offset(self) -> int:
        """Offset of the latest appended entry (``start_offset - 1`` before the first append)."""
        return self._next - 1

    @property
    def next_offset(self) -> int:
        """Offset the next :meth:`append` assigns."""
        return self._next

    @property
    def max_count(self) -> int:
        """Most entries kept."""
        return self._max_count

    @property
    def max_age_s(self) -> float:
        """Age in seconds past which :meth:`trim` drops entries (0: no age limit)."""
        return self._max_age_s

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return (f"<ReplayIndex epoch={self._epoch!r} first={self._first} last={self._next - 1} "
                f"count={self._count}/{self._max_count}>")

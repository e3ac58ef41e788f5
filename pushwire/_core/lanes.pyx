# cython: language_level=3, embedsignature=True
"""Priority lanes: one connection's outbound queue (layer 1, pure computation).

A :class:`PriorityLanes` holds three bounded FIFO lanes (high, normal, low) of references to already-encoded
frames, with byte accounting. The hub pushes the same ``bytes`` object into every subscriber's lanes
(``push``); the connection drains them in strict priority order once per loop turn (``drain_into``) and writes
the batch with one ``writelines``.

Each lane is bounded by a count and a byte size, and has a policy for when a push would pass either bound:

- ``SIGNAL``: refuse the item and return ``PUSH_OVERFLOW``; the caller closes the connection with
  ``CloseCode.SLOW_CONSUMER`` so the client resumes through replay (lossless lanes).
- ``DROP_OLDEST``: drop the oldest items until the new one fits, and return ``PUSH_DROPPED_OLDEST``
  (lossy lane; the client sees the cursor gap).

An empty lane accepts any item, whatever its size, so that one message larger than the byte bound can pass.

Storage: each lane is a Python list used as a ring (so the cyclic GC sees the references) that grows by
doubling up to the count bound, plus a C array of the items' byte sizes. Idle connections therefore cost a few
slots per lane, not the full bound.
"""

cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from libc.string cimport memcpy

from pushwire.errors import ConfigError

cdef extern from "Python.h":
    PyObject *PyList_GET_ITEM(object lst, Py_ssize_t i)
    void PyList_SET_ITEM(object lst, Py_ssize_t i, PyObject *item)
    int PyList_Append(object lst, object item) except -1

__all__ = [
    "DROP_OLDEST",
    "PUSH_DROPPED_OLDEST",
    "PUSH_OK",
    "PUSH_OVERFLOW",
    "SIGNAL",
    "PriorityLanes",
]

#: Lane policy: refuse an item that does not fit and report ``PUSH_OVERFLOW``.
SIGNAL = LANE_SIGNAL
#: Lane policy: drop the oldest items until the new one fits and report ``PUSH_DROPPED_OLDEST``.
DROP_OLDEST = LANE_DROP_OLDEST
#: ``push`` result: queued, nothing dropped.
PUSH_OK = LANE_PUSH_OK
#: ``push`` result: queued after dropping one or more older items of a ``DROP_OLDEST`` lane.
PUSH_DROPPED_OLDEST = LANE_PUSH_DROPPED_OLDEST
#: ``push`` result: refused by a full ``SIGNAL`` lane; nothing was queued.
PUSH_OVERFLOW = LANE_PUSH_OVERFLOW

# Slots a lane starts with; it doubles on demand up to its count bound.
cdef Py_ssize_t _INITIAL_CAP = 8


@cython.final
cdef class _Ring:
    """One bounded FIFO lane (internal to :class:`PriorityLanes`)."""

    def __cinit__(self, Py_ssize_t max_count, Py_ssize_t max_bytes, int policy):
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.policy = policy
        # no storage until the first item: most connections are idle most of the time
        self.cap = 0
        self.items = []
        self.sizes = NULL

    def __dealloc__(self):
        PyMem_Free(self.sizes)

    cdef int grow(self) except -1:
        """Double the ring's slots (up to ``max_count``), unwrapping it so the oldest item sits at slot 0."""
        cdef Py_ssize_t new_cap = self.cap * 2 if self.cap else _INITIAL_CAP
        cdef Py_ssize_t i, j
        if new_cap > self.max_count:
            new_cap = self.max_count
        cdef Py_ssize_t *new_sizes = <Py_ssize_t *>PyMem_Malloc(new_cap * sizeof(Py_ssize_t))
        if new_sizes == NULL:
            raise MemoryError()
        cdef list new_items = [None] * new_cap
        cdef PyObject *p
        for i in range(self.count):
            j = (self.head + i) % self.cap
            # Move the list's reference: the old slot gets None, the new slot takes over the reference.
            p = PyList_GET_ITEM(self.items, j)
            Py_INCREF(None)
            PyList_SET_ITEM(self.items, j, <PyObject *>None)
            Py_DECREF(<object>PyList_GET_ITEM(new_items, i))
            PyList_SET_ITEM(new_items, i, p)
            new_sizes[i] = self.sizes[j]
        PyMem_Free(self.sizes)
        self.sizes = new_sizes
        self.items = new_items
        self.cap = new_cap
        self.head = 0
        return 0

    @cython.cdivision(True)
    cdef inline int append(self, object item, Py_ssize_t nbytes) except -1:
        cdef Py_ssize_t slot
        if self.count == self.cap:
            self.grow()
        slot = self.head + self.count
        if slot >= self.cap:
            slot -= self.cap
        cdef PyObject *old = PyList_GET_ITEM(self.items, slot)
        Py_INCREF(item)
        PyList_SET_ITEM(self.items, slot, <PyObject *>item)
        Py_DECREF(<object>old)
        self.sizes[slot] = nbytes
        self.count += 1
        self.nbytes += nbytes
        return 0

    cdef inline object popleft(self, Py_ssize_t *nbytes):
        """Remove and return the oldest item (the lane must not be empty); store its size in ``nbytes[0]``."""
        cdef Py_ssize_t slot = self.head
        cdef PyObject *p = PyList_GET_ITEM(self.items, slot)
        # Take over the list's reference to the item: `<object>p` adds one, so drop the list's one.
        cdef object item = <object>p
        Py_DECREF(item)
        Py_INCREF(None)
        PyList_SET_ITEM(self.items, slot, <PyObject *>None)
        nbytes[0] = self.sizes[slot]
        self.nbytes -= self.sizes[slot]
        self.count -= 1
        self.head = slot + 1
        if self.head == self.cap:
            self.head = 0
        return item

    cdef inline void drop_oldest(self):
        cdef Py_ssize_t slot = self.head
        cdef PyObject *p = PyList_GET_ITEM(self.items, slot)
        Py_INCREF(None)
        PyList_SET_ITEM(self.items, slot, <PyObject *>None)
        self.nbytes -= self.sizes[slot]
        self.count -= 1
        self.dropped += 1
        self.head = slot + 1
        if self.head == self.cap:
            self.head = 0
        # Last: the item's destructor may run arbitrary code, so the ring must be consistent first.
        Py_DECREF(<object>p)

    cdef void clear(self):
        cdef list old = self.items
        self.release()
        # `old` (and the references it holds) goes away when this function returns, after the state is reset.
        del old

    cdef void release(self):
        """Forget every item and give the storage back (the next append allocates again)."""
        PyMem_Free(self.sizes)
        self.sizes = NULL
        self.cap = 0
        self.items = []
        self.head = 0
        self.count = 0
        self.nbytes = 0


cdef int _check_policy(str lane, int policy) except -1:
    if policy != LANE_SIGNAL and policy != LANE_DROP_OLDEST:
        raise ConfigError(f"{lane}_policy must be SIGNAL (0) or DROP_OLDEST (1), got {policy}")
    return 0


cdef _Ring _make_ring(str name, Py_ssize_t max_count, Py_ssize_t max_bytes, int policy):
    if max_count < 1:
        raise ConfigError(f"{name}_count must be >= 1, got {max_count}")
    if max_bytes < 1:
        raise ConfigError(f"{name}_bytes must be >= 1, got {max_bytes}")
    _check_policy(name, policy)  # the message is formatted only on failure: every connection makes three
    return _Ring(max_count, max_bytes, policy)


@cython.final
cdef class PriorityLanes:
    """One connection's outbound queue: three bounded FIFO lanes drained in strict priority order.

    Args:
        high_count: most items the high lane (priority 0) holds.
        high_bytes: most bytes the high lane holds (an empty lane still takes one larger item).
        normal_count: most items the normal lane (priority 1) holds.
        normal_bytes: most bytes the normal lane holds.
        low_count: most items the low lane (priority >= 2) holds.
        low_bytes: most bytes the low lane holds.
        high_policy: ``SIGNAL`` or ``DROP_OLDEST`` for the high lane.
        normal_policy: ``SIGNAL`` or ``DROP_OLDEST`` for the normal lane.
        low_policy: ``SIGNAL`` or ``DROP_OLDEST`` for the low lane.

    Raises:
        ConfigError: a bound is < 1 or a policy is unknown.

    Queue with :meth:`push`; when the socket can take data, call :meth:`drain_into` and write what it moved.
    """

    def __init__(self, Py_ssize_t high_count, Py_ssize_t high_bytes, Py_ssize_t normal_count,
                 Py_ssize_t normal_bytes, Py_ssize_t low_count, Py_ssize_t low_bytes, *,
                 int high_policy=LANE_SIGNAL, int normal_policy=LANE_SIGNAL,
                 int low_policy=LANE_DROP_OLDEST):
        self._high = _make_ring("high", high_count, high_bytes, high_policy)
        self._normal = _make_ring("normal", normal_count, normal_bytes, normal_policy)
        self._low = _make_ring("low", low_count, low_bytes, low_policy)

    cpdef int push(self, object item, Py_ssize_t nbytes, Py_ssize_t priority) except -2:
        """Queue ``item`` (``nbytes`` long) on the lane of ``priority``: 0 high, 1 normal, >= 2 low.

        Args:
            item: the reference to queue (usually shared, already-encoded ``bytes``).
            nbytes: the item's size, counted against the lane's byte bound.
            priority: 0 for the high lane, 1 for normal, 2 or more for low.

        Returns:
            ``PUSH_OK``; ``PUSH_DROPPED_OLDEST`` when older items of a ``DROP_OLDEST`` lane were dropped to
            make room; ``PUSH_OVERFLOW`` when a full ``SIGNAL`` lane refused the item (it is not queued;
            close the connection as a slow consumer).

        Raises:
            ValueError: ``priority`` or ``nbytes`` is negative.
        """
        cdef _Ring lane
        if priority == 0:
            lane = self._high
        elif priority == 1:
            lane = self._normal
        elif priority > 1:
            lane = self._low
        else:
            raise ValueError(f"priority must be >= 0, got {priority}")
        if nbytes < 0:
            raise ValueError(f"nbytes must be >= 0, got {nbytes}")
        if lane.count == 0 or (lane.count < lane.max_count and lane.nbytes + nbytes <= lane.max_bytes):
            lane.append(item, nbytes)
            return LANE_PUSH_OK
        if lane.policy == LANE_SIGNAL:
            lane.overflows += 1
            return LANE_PUSH_OVERFLOW
        while lane.count > 0 and (lane.count >= lane.max_count or lane.nbytes + nbytes > lane.max_bytes):
            lane.drop_oldest()
        lane.append(item, nbytes)
        return LANE_PUSH_DROPPED_OLDEST

    cpdef Py_ssize_t drain_into(self, list out, Py_ssize_t max_bytes=-1) except -1:
        """Move queued items into ``out``: all high, then normal, then low, oldest first within a lane.

        Args:
            out: the list to append to (typically reused across flushes, then handed to ``writelines``).
            max_bytes: stop before the item that would take the drained total over this; at least one item is
                always drained when any is queued. Negative (the default, -1) means no limit.

        Returns:
            The number of bytes moved into ``out`` (0 when nothing was queued).
        """
        if out is None:
            raise TypeError("out must be a list, not None")
        cdef Py_ssize_t total = 0
        cdef Py_ssize_t size = 0
        cdef Py_ssize_t moved = 0
        cdef _Ring lane
        cdef int which
        cdef object item
        for which in range(3):
            lane = self._high if which == 0 else (self._normal if which == 1 else self._low)
            while lane.count > 0:
                if max_bytes >= 0 and moved > 0 and total + lane.sizes[lane.head] > max_bytes:
                    return total
                item = lane.popleft(&size)
                PyList_Append(out, item)
                total += size
                moved += 1
        return total

    cpdef void compact(self):
        """Give back the storage of empty lanes (for idle connections; queued items are kept)."""
        if self._high.count == 0 and self._high.cap:
            self._high.release()
        if self._normal.count == 0 and self._normal.cap:
            self._normal.release()
        if self._low.count == 0 and self._low.cap:
            self._low.release()

    cpdef void clear(self):
        """Drop every queued item (counters of drops and overflows are kept)."""
        self._high.clear()
        self._normal.clear()
        self._low.clear()

    @property
    def count(self) -> int:
        """Items queued in all lanes."""
        return self._high.count + self._normal.count + self._low.count

    @property
    def nbytes(self) -> int:
        """Bytes queued in all lanes."""
        return self._high.nbytes + self._normal.nbytes + self._low.nbytes

    @property
    def high_count(self) -> int:
        """Items queued in the high lane."""
        return self._high.count

    @property
    def normal_count(self) -> int:
        """Items queued in the normal lane."""
        return self._normal.count

    @property
    def low_count(self) -> int:
        """Items queued in the low lane."""
        return self._low.count

    @property
    def high_bytes(self) -> int:
        """Bytes queued in the high lane."""
        return self._high.nbytes

    @property
    def normal_bytes(self) -> int:
        """Bytes queued in the normal lane."""
        return self._normal.nbytes

    @property
    def low_bytes(self) -> int:
        """Bytes queued in the low lane."""
        return self._low.nbytes

    @property
    def dropped(self) -> int:
        """Items dropped so far by ``DROP_OLDEST`` lanes (all lanes)."""
        return self._high.dropped + self._normal.dropped + self._low.dropped

    @property
    def dropped_low(self) -> int:
        """Items dropped so far by the low lane."""
        return self._low.dropped

    @property
    def overflows(self) -> int:
        """Pushes refused so far with ``PUSH_OVERFLOW`` (all lanes)."""
        return self._high.overflows + self._normal.overflows + self._low.overflows

    def __len__(self) -> int:
        return self._high.count + self._normal.count + self._low.count

    def __bool__(self) -> bool:
        return (self._high.count + self._normal.count + self._low.count) > 0

    def __repr__(self) -> str:
        return (f"<PriorityLanes high={self._high.count}/{self._high.nbytes}B "
                f"normal={self._normal.count}/{self._normal.nbytes}B "
                f"low={self._low.count}/{self._low.nbytes}B>")

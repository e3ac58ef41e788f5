# cython: language_level=3, embedsignature=True
"""Fan-out: one publication to every subscriber's lanes, and one write per connection per loop turn.

This is the hot path of every publish, so it is C from the hub's loop down to ``PriorityLanes.push``:

- :class:`Publication` is one published frame, encoded once and shared by every subscriber and by history.
- :class:`Outbox` is one connection's outbound state: its lanes, its catch-up backlog, its flow-control flags.
- :class:`StreamFanout` is one stream's set of outboxes; ``publish`` pushes a reference into each.
- :class:`Flusher` collects the outboxes that became non-empty and flushes them all in one callback per
  event-loop turn: everything published while the loop was busy is joined into one write per connection.

No asyncio and no sockets here: the flusher is handed a ``schedule(callback)`` function (``loop.call_soon``) and
each outbox a :class:`Sink` (or a plain ``write(batch)`` callable) by the I/O layer.
"""

from collections import deque

from cpython.bytes cimport PyBytes_GET_SIZE
from libc.stdint cimport uint64_t

from .lanes cimport LANE_PUSH_DROPPED_OLDEST, LANE_PUSH_OVERFLOW, PriorityLanes

__all__ = ["Flusher", "OUT_SSE", "OUT_WS", "Outbox", "Publication", "CallbackSink", "Sink", "StreamFanout", "sse_parts"]

cdef enum:
    # bytes an SSE event adds around the JSON frame (``id:``/``event:`` lines), for lane accounting
    SSE_OVERHEAD = 64


cdef class Publication:
    """One published frame, encoded once, shared by every subscriber and by history.

    Attributes:
        stream: stream name (``chat`` or ``chat:room42``).
        offset: the frame's cursor in its stream.
        epoch: the stream's epoch when it was published.
        lane: 0 high, 1 normal, 2 low (from the channel's priority).
        json: the JSON frame (a WebSocket text message, an SSE ``data:``).
        ws_frame: the complete unmasked WebSocket text frame (header + ``json``).
        event: the SSE ``event:`` name (the channel's wire name).
    """

    def __init__(self, str stream, uint64_t offset, str epoch, int lane, bytes json, bytes ws_frame, str event):
        self.stream = stream
        self.offset = offset
        self.epoch = epoch
        self.lane = lane
        self.json = json
        self.ws_frame = ws_frame
        self.event = event

    @property
    def sse_body(self):
        """``event:`` and ``data:`` lines and the blank line, built on first use and then shared.

        The ``id:`` line is not part of it: SSE connections write their own position vector.
        """
        if self._sse_body is None:
            # JSON from orjson never contains a raw newline: the frame is exactly one data line
            self._sse_body = b"event: " + self.event.encode() + b"\ndata: " + self.json + b"\n\n"
        return self._sse_body

    @property
    def sse_id_line(self):
        """A cache for the ``id:`` line of a connection whose position vector is this stream alone."""
        return self._sse_id_line

    @sse_id_line.setter
    def sse_id_line(self, bytes value):
        self._sse_id_line = value

    def __repr__(self):
        return f"<Publication {self.stream}@{self.offset} epoch={self.epoch} {len(self.json)}B>"


cdef class Flusher:
    """Flushes every dirty outbox once per event-loop turn.

    Args:
        schedule: ``schedule(callback)``, e.g. ``loop.call_soon``.
        counters: a mapping of counters (``collections.Counter``) for drops and slow-consumer cuts.
        on_error: ``on_error(outbox, exception)`` when writing to one connection failed.
        sse_id_line: ``sse_id_line(publication)`` -> the SSE ``id:`` line of a single-stream connection
            (the position vector's format belongs to the protocol layer); None: SSE outboxes never share.
    """

    def __init__(self, schedule, counters, on_error=None, sse_id_line=None):
        self._dirty = []
        self._overflowed = []
        self._schedule = schedule
        self._scheduled = False
        self.counters = counters
        self._on_error = on_error
        #: ``sse_id_line(publication)`` -> the ``id:`` line of a connection positioned on that stream alone
        self.sse_id_line = sse_id_line

    cdef inline void mark(self, Outbox outbox):
        self._dirty.append(outbox)
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self.run)

    cdef void overflowed(self, Outbox outbox):
        self._overflowed.append(outbox)
        self.counters["slow_consumer_closes"] += 1
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self.run)

    cpdef void run(self):
        """Flush every dirty outbox (one write each); cut the ones that overflowed."""
        cdef Outbox outbox
        cdef list dirty = self._dirty
        self._dirty = []
        self._scheduled = False
        self.passes += 1
        if self._overflowed:
            overflowed, self._overflowed = self._overflowed, []
            for outbox in overflowed:
                self._call(outbox, "on_overflow")
        for outbox in dirty:
            if outbox.warn_pending:
                outbox.warn_pending = False
                self._call(outbox, "warn_slow")
            try:
                more = outbox.flush()
            except Exception as exc:
                outbox.scheduled = False
                self._failed(outbox, exc)
                continue
            if more:
                self.mark(outbox)  # over one flush budget: continue next turn, other connections first
            else:
                outbox.scheduled = False

    cdef void _call(self, Outbox outbox, str method):
        try:
            getattr(outbox.owner, method)()
        except Exception as exc:
            self._failed(outbox, exc)

    cdef void _failed(self, Outbox outbox, exc):
        if self._on_error is not None:
            self._on_error(outbox, exc)

    @property
    def pending(self):
        """How many outboxes wait for the next pass."""
        return len(self._dirty)


cdef class Sink:
    """Where an outbox's batches go: ``put`` is called from C, once per batch.

    The I/O layer subclasses it to write to the socket itself (``pushwire.server.sockwrite``): on a fan-out
    that is one call per connection per publication, so the cost of the call is paid a thousand times over.
    """

    cdef int put(self, object data) except -1:
        raise NotImplementedError(f"{type(self).__name__} does not implement put()")


cdef class CallbackSink(Sink):
    """A sink that hands each batch to ``target``, any callable (tests, wrappers, the SSE framing)."""

    def __init__(self, target):
        self.target = target

    cdef int put(self, object data) except -1:
        self.target(data)
        return 0


cdef class Outbox:
    """One connection's outbound queue: priority lanes, catch-up backlog, flow-control flags.

    Args:
        lanes: the connection's lanes.
        kind: ``OUT_WS`` (lanes hold each publication's ``ws_frame``) or ``OUT_SSE`` (the publication itself).
        flusher: the server's flusher.
        owner: the connection; the flusher calls its ``on_overflow()`` and ``warn_slow()``.
        max_flush_bytes: budget of one write.
        backlog_limit: most publications waiting in the catch-up backlog before the connection is cut.
        refill_count, refill_bytes: how full the lanes get from the backlog before waiting for the socket.
        warn_high_count, warn_high_bytes, warn_normal_count, warn_normal_bytes: where ``slow`` is due.

    ``write`` (set by the connection) receives each batch in priority order: for ``OUT_WS`` the frames joined
    into one ``bytes`` (``transport.write``), for ``OUT_SSE`` the list of items (the connection adds ids).
    """

    def __init__(self, PriorityLanes lanes, int kind, Flusher flusher, owner, *, Py_ssize_t max_flush_bytes,
                 Py_ssize_t backlog_limit, Py_ssize_t refill_count, Py_ssize_t refill_bytes,
                 Py_ssize_t warn_high_count, Py_ssize_t warn_high_bytes, Py_ssize_t warn_normal_count,
                 Py_ssize_t warn_normal_bytes):
        if kind != OUT_WS and kind != OUT_SSE:
            raise ValueError(f"unknown outbox kind {kind}")
        self.lanes = lanes
        self.kind = kind
        self.flusher = flusher
        self.owner = owner
        self.write = None  # set by the connection (a Sink, or any callable)
        self._max_flush_bytes = max_flush_bytes
        self._backlog_limit = backlog_limit
        self._refill_count = max(1, refill_count)
        self._refill_bytes = max(1, refill_bytes)
        self._warn_high_count = warn_high_count
        self._warn_high_bytes = warn_high_bytes
        self._warn_normal_count = warn_normal_count
        self._warn_normal_bytes = warn_normal_bytes
        # a shared batch stays below every point where the lanes would act: the ``slow`` warning of the
        # lossless lanes, the low lane's bounds (drop oldest), one flush's byte budget
        self._share_count = min(warn_high_count, warn_normal_count, lanes._low.max_count)
        self._share_bytes = min(warn_high_bytes, warn_normal_bytes, lanes._low.max_bytes, max_flush_bytes)

    @property
    def write(self):
        """Where flushed batches go: a :class:`Sink`, or a callable (wrapped in one)."""
        return self._write

    @write.setter
    def write(self, value):
        self._write = value
        self._sink = value if isinstance(value, Sink) else CallbackSink(value)

    # -- input ------------------------------------------------------------------------------------------

    cdef inline Py_ssize_t _accounted(self, Publication publication):
        """The bytes a publication takes in this outbox's lanes."""
        if self.kind == OUT_WS:
            return PyBytes_GET_SIZE(publication.ws_frame)
        return PyBytes_GET_SIZE(publication.json) + SSE_OVERHEAD

    cdef int c_deliver(self, Publication publication) except -2:
        if self.closed:
            return 0
        if self._shared is not None:
            self._demote()
        if self._catching_up is not None and publication.stream in self._catching_up:
            return self._to_backlog(publication, True)
        if self.kind == OUT_WS:
            return self._push(publication.ws_frame, PyBytes_GET_SIZE(publication.ws_frame), publication.lane)
        return self._push(publication, self._accounted(publication), publication.lane)

    cpdef int deliver(self, Publication publication) except -2:
        """Queue a live publication; 0, or -1 when the connection overflowed (it will be cut)."""
        return self.c_deliver(publication)

    cpdef int push_system(self, object item, Py_ssize_t nbytes) except -2:
        """Queue a system message (high lane)."""
        if self.closed:
            return 0
        if self._shared is not None:
            self._demote()
        return self._push(item, nbytes, 0)

    def deliver_replay(self, str stream, list publications):
        """Queue a stream's replay; the stream's live publications queue behind it until it is written."""
        cdef Publication publication
        cdef Py_ssize_t total = 0
        if self.closed or not publications:
            return
        if self._shared is not None:
            self._demote()
        if self._backlog is None and len(publications) + self.lanes._high.count + self.lanes._normal.count \
                + self.lanes._low.count <= self._refill_count:
            # sized as the lanes account them, on top of what is queued: a shortcut must not overflow a lane
            for publication in publications:
                total += self._accounted(publication)
            if total + self.lanes._high.nbytes + self.lanes._normal.nbytes + self.lanes._low.nbytes \
                    <= self._refill_bytes:
                for publication in publications:  # a small replay goes straight into the lanes
                    if self.c_deliver(publication) < 0:
                        return
                return
        if self._backlog is None:
            self._backlog = deque()
            self._catching_up = set()
        self._catching_up.add(stream)
        for publication in publications:
            if self._to_backlog(publication, False) < 0:
                return
        if not self.scheduled and not self.paused:
            self.scheduled = True
            self.flusher.mark(self)

    cdef int _push(self, object item, Py_ssize_t nbytes, Py_ssize_t lane, bint live=True) except -2:
        cdef Py_ssize_t dropped_before = self.lanes._low.dropped
        cdef int result = self.lanes.push(item, nbytes, lane)
        if result == LANE_PUSH_OVERFLOW:
            self.overflows += 1
            self.stop()
            self.flusher.overflowed(self)
            return -1
        if result == LANE_PUSH_DROPPED_OLDEST:
            # one push may evict several smaller frames: count frames, not pushes
            dropped = self.lanes._low.dropped - dropped_before
            self.low_drops += dropped
            self.flusher.counters["low_lane_drops"] += dropped
        # only live frames count toward ``slow``: a refill from the backlog fills the lanes on purpose
        if live and lane < 2 and not self._warned:
            if (self.lanes._normal.count >= self._warn_normal_count
                    or self.lanes._normal.nbytes >= self._warn_normal_bytes
                    or self.lanes._high.count >= self._warn_high_count
                    or self.lanes._high.nbytes >= self._warn_high_bytes):
                self._warned = True
                self.warn_pending = True
        if not self.scheduled and not self.paused:
            self.scheduled = True
            self.flusher.mark(self)
        return 0

    cdef int _to_backlog(self, Publication publication, bint live) except -2:
        # Replay is bounded by history (max_replay per stream) and already held there: only the live frames
        # waiting behind a catch-up count toward the limit, i.e. how far the client falls behind meanwhile.
        # They are queued wrapped in a 1-tuple so that the refill knows which ones leave the count.
        if live:
            if self._backlog_live >= self._backlog_limit:
                self.overflows += 1
                self.stop()
                self.flusher.overflowed(self)
                return -1
            self._backlog_live += 1
            self._backlog.append((publication,))
            return 0
        self._backlog.append(publication)
        return 0

    # -- output -----------------------------------------------------------------------------------------

    cdef int _refill(self) except -1:
        cdef Publication publication
        backlog = self._backlog
        lanes = self.lanes
        while backlog and (lanes._high.count + lanes._normal.count + lanes._low.count) < self._refill_count \
                and (lanes._high.nbytes + lanes._normal.nbytes + lanes._low.nbytes) < self._refill_bytes:
            entry = backlog.popleft()
            if type(entry) is tuple:
                publication = (<tuple>entry)[0]
                self._backlog_live -= 1
            else:
                publication = <Publication>entry
            item = publication.ws_frame if self.kind == OUT_WS else publication
            if self._push(item, self._accounted(publication), publication.lane, False) < 0:
                return 0
        if not backlog:
            self._backlog = None
            self._catching_up = None
            self._backlog_live = 0
        return 0

    cpdef int flush(self) except -1:
        """Write one batch; return 1 when more is waiting (the flusher comes back next turn)."""
        cdef list batch
        cdef StreamFanout shared
        if self._shared is not None:
            if self.paused:
                self._demote()  # the socket fell behind: the frames wait in the lanes, within their bounds
                return 0
            shared, self._shared = self._shared, None
            if self.kind == OUT_WS:
                data = shared._joined_from(self._shared_start)
                shared._release()
                self._sink.put(data)  # the same bytes object for every connection that took the whole batch
            else:
                data = shared._joined_sse_from(self._shared_start, self.flusher.sse_id_line)
                last = shared._pass[len(shared._pass) - 1]
                shared._release()
                if self.write_shared is None:
                    raise TypeError("an SSE outbox shares batches only once write_shared is set")
                # no Python per connection: the connection reads ``sse_last`` when it needs its positions
                self.write_shared.put(data)
                self.sse_last = last
            return 0
        if self.paused or self.closed:
            return 0
        if self._backlog is not None:
            self._refill()
        if self.lanes._high.count + self.lanes._normal.count + self.lanes._low.count == 0:
            return 0
        batch = []
        self.lanes.drain_into(batch, self._max_flush_bytes)
        if self.kind == OUT_WS:
            # one contiguous buffer: cheaper for the transport than many small ones (one iovec, one copy)
            self._sink.put(batch[0] if len(batch) == 1 else b"".join(batch))
        else:
            self._sink.put(batch)
        if self.closed or self.paused:
            return 0
        if self._backlog is not None or self.lanes._high.count + self.lanes._normal.count \
                + self.lanes._low.count:
            return 1
        return 0

    cdef int _demote(self) except -1:
        """Leave the shared batch: its frames from this outbox's position go into the lanes, as if pushed."""
        cdef StreamFanout shared = self._shared
        cdef Publication publication
        self._shared = None
        pending = shared._pass[self._shared_start:]
        shared._release()
        for publication in pending:
            item = publication.ws_frame if self.kind == OUT_WS else publication
            if self._push(item, self._accounted(publication), publication.lane) < 0:
                return 0
        return 0

    cpdef void stop(self):
        """Drop everything queued; nothing more is accepted or written."""
        if self._shared is not None:
            self._shared, shared = None, self._shared
            (<StreamFanout>shared)._release()
        self.closed = True
        self.lanes.clear()
        self._backlog = None
        self._catching_up = None
        self._backlog_live = 0

    def resume(self):
        """The transport drained below its low-water mark: flush again if anything waits."""
        self.paused = False
        if self.closed or self.scheduled:
            return
        if self._backlog is not None or len(self.lanes):
            self.scheduled = True
            self.flusher.mark(self)

    def compact(self):
        """Give back lane storage while nothing is queued (called for idle connections)."""
        if self._backlog is None:
            self.lanes.compact()

    @property
    def backlog_size(self):
        """Publications waiting in the catch-up backlog."""
        return 0 if self._backlog is None else len(self._backlog)

    @property
    def queued_lossless(self):
        """Frames waiting in the high and normal lanes."""
        return self.lanes._high.count + self.lanes._normal.count


cdef class StreamFanout:
    """The outboxes subscribed to one stream; ``publish`` hands each a reference."""

    def __init__(self):
        self._outboxes = []
        self._index = {}
        self._pass = []
        self._joined = None
        self._joined_sse = None

    def add(self, Outbox outbox):
        """Subscribe an outbox (idempotent)."""
        if outbox in self._index:
            return
        self._index[outbox] = len(self._outboxes)
        self._outboxes.append(outbox)

    def discard(self, Outbox outbox):
        """Unsubscribe an outbox; return whether it was subscribed. O(1): the last one takes its place."""
        index = self._index.pop(outbox, None)
        if index is None:
            return False
        if outbox._shared is self:
            outbox._shared = None
            self._release()
        last = self._outboxes.pop()
        if last is not outbox:
            self._outboxes[index] = last
            self._index[last] = index
        return True

    cpdef Py_ssize_t publish(self, Publication publication) except -1:
        """Queue the publication for every subscriber; return how many there are.

        A WebSocket subscriber with nothing queued does not get a reference in its lanes: it *shares* the
        stream's batch of this loop turn, and the flush writes it the same joined bytes as every other such
        subscriber (one join per batch, not one per connection). Anything else for that connection (another
        stream, a system op, a pause of its socket) first moves the shared frames into its lanes, in order.
        """
        cdef Outbox outbox
        cdef PriorityLanes lanes
        cdef Py_ssize_t size = PyBytes_GET_SIZE(publication.ws_frame)
        if self._shared_pending and (len(self._pass) >= self._limit_count
                                     or self._pass_bytes + size > self._limit_bytes):
            # the batch would outgrow what the lanes may hold: its takers go back to their bounded lanes
            # (a reader that lags is then bounded, dropped or cut exactly as without sharing)
            self._demote_all()
        for outbox in self._outboxes:
            if outbox._shared is self:
                continue
            lanes = outbox.lanes
            if (outbox._shared is None and not outbox.closed and not outbox.paused and outbox._backlog is None
                    and lanes._high.count + lanes._normal.count + lanes._low.count == 0
                    and (outbox.kind == OUT_WS
                         or (outbox.sse_single == publication.stream and outbox.flusher.sse_id_line is not None))):
                if not self._shared_pending:
                    self._limit_count = outbox._share_count
                    self._limit_bytes = outbox._share_bytes
                outbox._shared = self
                outbox._shared_start = len(self._pass)
                self._shared_pending += 1
                if not outbox.scheduled:
                    outbox.scheduled = True
                    outbox.flusher.mark(outbox)
                continue
            outbox.c_deliver(publication)
        if self._shared_pending:
            self._pass.append(publication)
            self._pass_bytes += size
        return len(self._outboxes)

    cdef void _demote_all(self) except *:
        cdef Outbox outbox
        for outbox in list(self._outboxes):
            if outbox._shared is self:
                outbox._demote()

    cdef bytes _joined_from(self, Py_ssize_t start):
        """The WebSocket frames of this turn's batch from ``start``, joined once and shared."""
        cdef Py_ssize_t n = len(self._pass)
        if self._joined is None:
            self._joined = {}
        key = (start, n)  # the batch may still grow during the turn: a longer batch is another buffer
        data = self._joined.get(key)
        if data is None:
            if n - start == 1:
                data = (<Publication>self._pass[start]).ws_frame
            else:
                data = b"".join([(<Publication>p).ws_frame for p in self._pass[start:]])
            self._joined[key] = data
        return data

    cdef bytes _joined_sse_from(self, Py_ssize_t start, object id_line):
        """The SSE events of this turn's batch from ``start`` for single-stream connections, joined once."""
        cdef Publication publication
        if self._joined_sse is None:
            self._joined_sse = {}
        key = (start, len(self._pass))
        data = self._joined_sse.get(key)
        if data is None:
            parts = []
            for publication in self._pass[start:]:
                if publication._sse_id_line is None:
                    publication._sse_id_line = id_line(publication)
                parts.append(publication._sse_id_line)
                if publication._sse_body is None:
                    publication._sse_body = (b"event: " + publication.event.encode() + b"\ndata: "
                                             + publication.json + b"\n\n")
                parts.append(publication._sse_body)
            data = b"".join(parts)
            self._joined_sse[key] = data
        return data

    cdef void _release(self):
        """One sharing outbox is done with the batch; the last one clears it."""
        self._shared_pending -= 1
        if self._shared_pending == 0:
            self._pass = []
            self._pass_bytes = 0
            self._joined = None
            self._joined_sse = None

    def __len__(self):
        return len(self._outboxes)

    def __contains__(self, outbox):
        return outbox in self._index

    def __iter__(self):
        return iter(list(self._outboxes))


def sse_parts(list batch, dict positions, object streams, object room_for, object vector, object system_part):
    """Turn one SSE connection's drained batch into the byte strings to write, updating its positions.

    Args:
        batch: drained items: publications, and system events (anything else).
        positions: stream -> the last publication written (or a ``(cursor, epoch)`` start point); updated.
        streams: the streams the connection is subscribed to (a stream outside it is written but not tracked).
        room_for: ``room_for(stream)`` -> whether the position vector can take one more stream.
        vector: ``vector()`` -> the position vector of ``positions``, as bytes.
        system_part: ``system_part(item)`` -> the bytes of a system event (with the current vector).

    A connection on one stream (the common case) shares each publication's ``id:`` line with every other
    such connection: it is built once per publication, so the per-delivery work is a few C operations.
    """
    cdef list parts = []
    cdef Publication publication
    cdef bytes line
    for item in batch:
        if type(item) is not Publication:
            parts.append(system_part(item))
            continue
        publication = <Publication>item
        stream = publication.stream
        if stream in positions or (stream in streams and room_for(stream)):
            positions[stream] = publication
        if len(positions) == 1 and stream in positions:
            line = publication._sse_id_line
            if line is None:
                line = publication._sse_id_line = b"id: " + vector() + b"\n"
        else:
            line = b"id: " + vector() + b"\n"
        parts.append(line)
        if publication._sse_body is None:
            publication._sse_body = (b"event: " + publication.event.encode() + b"\ndata: " + publication.json
                                     + b"\n\n")
        parts.append(publication._sse_body)
    return parts

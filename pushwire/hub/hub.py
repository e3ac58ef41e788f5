"""The hub (layer 3): streams, subscriptions, publish and resume.

A publish: :meth:`Hub.publish` -> the broker assigns the offset and keeps the publication -> the broker calls
:meth:`Hub.handle_publication` -> every subscriber of the stream gets a reference (``deliver``). Nothing here
touches a socket: subscribers are objects with a ``client_id`` and a synchronous ``deliver`` method, provided by
the I/O layer.

Subscribing is two-phase so that no frame is lost or doubled between replay and live delivery, even with a
broker whose history read suspends: :meth:`Hub.prepare` registers the subscriber as *pending* (live publications
are buffered for it), reads history and decides the resume outcome; the caller then tells the client (``auth_ok``
or ``subscribed``) and calls :meth:`Hub.activate`, which delivers the replay, then the buffered publications
newer than the replay, and makes the subscription live.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import orjson

from .._core.codec import encode_json_frame
from .._core.fanout import Outbox, Publication, StreamFanout
from .._core.wsframe import OP_TEXT, encode_ws_frame
from ..config import HistoryConfig
from ..metrics import Metrics
from ..protocol.channels import ChannelKind
from ..protocol.resume import ResumeDecision, decide_resume
from ..protocol.streams import StreamRef, normalize_uuid, parse_stream, personal_owner
from .broker.base import Broker, HistoryRead, StreamState
from .broker.memory import MemoryBroker

__all__ = ["Hub", "PreparedStream", "Subscriber"]


class Subscriber(Protocol):
    """What the hub needs of a connection: who it is, its streams, and its outbox."""

    client_id: str
    #: names of the streams the connection is subscribed to (the hub adds personal streams it creates)
    streams: set[str]
    #: where publications are queued (never blocks, never awaits)
    outbox: Outbox


class _Stream:
    """Local subscribers of one stream; ``pending`` buffers live publications for subscribers being prepared."""

    __slots__ = ("name", "fanout", "pending")

    def __init__(self, name: str) -> None:
        self.name = name
        self.fanout = StreamFanout()
        self.pending: dict[Subscriber, list[Publication]] = {}


@dataclass(slots=True)
class PreparedStream:
    """One stream of a subscribe in progress: the resume decision and what to replay."""

    ref: StreamRef
    state: StreamState
    decision: ResumeDecision
    replay: list[Publication] = field(default_factory=list)
    #: the subscriber was already live on the stream: this is a replay request (gap filling), not a subscribe
    already_live: bool = False

    @property
    def name(self) -> str:
        return self.ref.name


class _HistoryNeeded(NamedTuple):
    """A stream being prepared that has frames to replay: the history read comes next."""

    ref: StreamRef
    cursor: int | None
    epoch: str | None
    decision: ResumeDecision


class Hub:
    """Streams and subscriptions of one process, in front of a :class:`Broker`.

    Args:
        channels: the application's channel enum.
        broker: offsets and history; a :class:`MemoryBroker` when omitted.
        history: limits used for resume (``max_replay``) and by the default broker.
        metrics: counters.
    """

    def __init__(self, channels: type[ChannelKind], broker: Broker | None = None, *,
                 history: HistoryConfig | None = None, metrics: Metrics | None = None) -> None:
        self.channels = channels
        self.history = history or HistoryConfig()
        self.broker = broker if broker is not None else MemoryBroker(self.history)
        self.broker.bind(self)
        self.metrics = metrics if metrics is not None else Metrics()
        self._streams: dict[str, _Stream] = {}
        #: personal stream names that exist, per client id (so a returning client is subscribed to them)
        self._personal: dict[str, set[str]] = {}
        #: personal stream -> offset its owner acknowledged (the default resume point of that stream)
        self._acked: dict[str, int] = {}
        #: connected clients by id, so a personal stream created while its owner is connected reaches it
        self._owners: dict[str, Subscriber] = {}

    # -- publish -------------------------------------------------------------------------------------------

    async def publish(self, ref: StreamRef, payload_json: bytes, *, client_id: str | None = None) -> Publication:
        """Publish an already-serialised JSON payload to a stream; return the publication (with its offset).

        Args:
            ref: the target stream (a personal stream when ``ref.is_personal``).
            payload_json: the payload, already JSON; it is embedded as-is, never re-serialised.
            client_id: the frame's ``client_id`` field (e.g. the sender of a chat message), or None.
        """
        if ref.is_personal:
            self._note_personal(ref)
        publication = await self.broker.publish(ref.name, _encoder(ref, payload_json, client_id))
        self.metrics.counters["publications"] += 1
        return publication

    def publish_now(self, ref: StreamRef, payload_json: bytes, *, client_id: str | None = None) -> Publication:
        """:meth:`publish` without waiting, for a broker with ``synchronous = True`` (the memory broker)."""
        if ref.is_personal:
            self._note_personal(ref)
        publication = self.broker.publish_now(ref.name, _encoder(ref, payload_json, client_id))
        self.metrics.counters["publications"] += 1
        return publication

    def handle_publication(self, publication: Publication) -> None:
        """Fan a publication out to the stream's local subscribers (called by the broker)."""
        stream = self._streams.get(publication.stream)
        if stream is None:
            return
        delivered = stream.fanout.publish(publication)
        if stream.pending:
            for buffered in stream.pending.values():
                buffered.append(publication)
        self.metrics.counters["deliveries"] += delivered

    def _note_personal(self, ref: StreamRef) -> None:
        owner = ref.owner
        assert owner is not None
        names = self._personal.setdefault(owner, set())
        if ref.name in names:
            return
        names.add(ref.name)
        subscriber = self._owners.get(owner)
        if subscriber is not None and ref.name not in subscriber.streams:
            # a new personal stream of a connected client: it receives it live from its first frame
            stream = self._streams.get(ref.name)
            if stream is None:
                stream = self._streams[ref.name] = _Stream(ref.name)
            stream.fanout.add(subscriber.outbox)
            subscriber.streams.add(ref.name)

    def attach_client(self, client_id: str, subscriber: Subscriber) -> None:
        """Record the client's current connection (personal streams created from now on reach it live)."""
        self._owners[client_id] = subscriber

    def detach_client(self, client_id: str, subscriber: Subscriber) -> None:
        """Forget the client's connection, if it is still the current one."""
        if self._owners.get(client_id) is subscriber:
            del self._owners[client_id]

    def personal_streams(self, client_id: str) -> list[StreamRef]:
        """Return the personal streams that exist for a client."""
        names = self._personal.get(client_id)  # ids are normalised already, as a rule
        if names is None and not client_id.islower():
            names = self._personal.get(normalize_uuid(client_id))
        return [parse_stream(name, self.channels) for name in sorted(names)] if names else []

    # -- subscribe -----------------------------------------------------------------------------------------

    async def prepare(self, subscriber: Subscriber, refs: Iterable[StreamRef],
                      cursors: dict[str, int], epochs: dict[str, str]) -> list[PreparedStream]:
        """Start subscribing: buffer live publications, decide each stream's resume outcome, read history.

        Args:
            subscriber: the connection.
            refs: streams to subscribe (already authorised).
            cursors: resume cursors by stream name (absent: no resume for that stream).
            epochs: resume epochs by stream name (absent: the stream's current epoch is assumed).

        Returns:
            One :class:`PreparedStream` per stream, in order. Call :meth:`activate` next (or :meth:`abandon`).
        """
        prepared: list[PreparedStream] = []
        try:
            if self.broker.synchronous_reads:  # the memory broker: the same steps, without a coroutine per stream
                for ref in refs:
                    prepared.append(self._prepare_stream_now(subscriber, ref, cursors, epochs))
            else:
                for ref in refs:
                    prepared.append(await self._prepare_stream(subscriber, ref, cursors, epochs))
        except BaseException:
            # the broker failed or the step was cancelled: nothing stays pending for this subscriber
            self._drop_pending(subscriber, [ref.name for ref in refs])
            raise
        return prepared

    async def _prepare_stream(self, subscriber: Subscriber, ref: StreamRef, cursors: dict[str, int],
                              epochs: dict[str, str]) -> PreparedStream:
        cursor, epoch, already_live = self._begin_prepare(subscriber, ref, cursors, epochs)
        item = self._decided(ref, cursor, epoch)
        if isinstance(item, _HistoryNeeded):
            read = await self.broker.read_history(ref.name, item.decision.replay_after, self.history.max_replay)
            item = self._replayed(item, read)
        item.already_live = already_live
        return item

    def _prepare_stream_now(self, subscriber: Subscriber, ref: StreamRef, cursors: dict[str, int],
                            epochs: dict[str, str]) -> PreparedStream:
        """:meth:`_prepare_stream` for a broker with ``synchronous_reads``."""
        cursor, epoch, already_live = self._begin_prepare(subscriber, ref, cursors, epochs)
        item = self._decided(ref, cursor, epoch)
        if isinstance(item, _HistoryNeeded):
            read = self.broker.read_history_now(ref.name, item.decision.replay_after, self.history.max_replay)
            item = self._replayed(item, read)
        item.already_live = already_live
        return item

    def _begin_prepare(self, subscriber: Subscriber, ref: StreamRef, cursors: dict[str, int],
                       epochs: dict[str, str]) -> tuple[int | None, str | None, bool]:
        """Start buffering the stream's live publications for the subscriber; its cursor, epoch, liveness."""
        stream = self._streams.get(ref.name)
        if stream is None:
            stream = self._streams[ref.name] = _Stream(ref.name)
        already_live = subscriber.outbox in stream.fanout
        if not already_live:
            stream.pending.setdefault(subscriber, [])
        cursor = cursors.get(ref.name)
        if cursor is None and ref.is_personal:
            cursor = self._acked.get(ref.name)  # acked frames were received: not lost, not replayed
        return cursor, epochs.get(ref.name), already_live

    def _decided(self, ref: StreamRef, cursor: int | None, epoch: str | None) -> PreparedStream | _HistoryNeeded:
        """The stream prepared, or, when it has frames to replay, what to read from history first."""
        state = self.broker.state(ref.name)
        decision = self._decide(ref, cursor, epoch, state)
        if decision.replay_after >= state.last_offset:
            return PreparedStream(ref, state, decision)
        return _HistoryNeeded(ref, cursor, epoch, decision)

    def _replayed(self, need: _HistoryNeeded, read: HistoryRead) -> PreparedStream:
        """The stream prepared with the history read for it."""
        ref, decision = need.ref, need.decision
        replay = read.publications
        if replay and replay[0].offset != decision.replay_after + 1:
            # History moved between the state and the read (trimmed meanwhile): decide again on what was read.
            decision = self._decide(ref, need.cursor, need.epoch, read.state)
            replay = [p for p in replay if p.offset > decision.replay_after]
        return PreparedStream(ref, read.state, decision, replay)

    def _decide(self, ref: StreamRef, cursor: int | None, epoch: str | None, state: StreamState) -> ResumeDecision:
        return decide_resume(cursor, epoch, epoch=state.epoch, first_offset=state.first_offset,
                             last_offset=state.last_offset, personal=ref.is_personal,
                             max_replay=self.history.max_replay)

    def activate(self, subscriber: Subscriber, prepared: Iterable[PreparedStream]) -> None:
        """Deliver each prepared stream's replay, then what was buffered meanwhile, then go live."""
        for item in prepared:
            stream = self._streams.get(item.name)
            if stream is None:  # unsubscribed while being prepared
                continue
            self.metrics.inc("replayed", len(item.replay))
            if item.already_live:
                # a replay request (gap filling): live frames keep flowing meanwhile
                subscriber.outbox.deliver_replay(item.name, item.replay)
                continue
            buffered = stream.pending.pop(subscriber, [])
            last = item.replay[-1].offset if item.replay else item.decision.replay_after
            catch_up = item.replay + [p for p in buffered if p.offset > last]
            stream.fanout.add(subscriber.outbox)
            subscriber.outbox.deliver_replay(item.name, catch_up)

    def abandon(self, subscriber: Subscriber, prepared: Iterable[PreparedStream]) -> None:
        """Cancel a prepared subscribe (the connection went away before activation)."""
        self._drop_pending(subscriber, [item.name for item in prepared])

    def _drop_pending(self, subscriber: Subscriber, names: Iterable[str]) -> None:
        for name in names:
            stream = self._streams.get(name)
            if stream is not None:
                stream.pending.pop(subscriber, None)
                self._forget_if_empty(stream)

    def unsubscribe(self, subscriber: Subscriber, names: Iterable[str]) -> list[str]:
        """Remove the subscriber from the named streams; return the names it was actually subscribed to."""
        removed = []
        for name in names:
            stream = self._streams.get(name)
            if stream is None:
                continue
            was_live = stream.fanout.discard(subscriber.outbox)
            was_pending = stream.pending.pop(subscriber, None) is not None
            if was_live or was_pending:
                removed.append(name)
            self._forget_if_empty(stream)
        return removed

    def _forget_if_empty(self, stream: _Stream) -> None:
        if not stream.fanout and not stream.pending:
            self._streams.pop(stream.name, None)
            # a stream nobody subscribes to and nobody ever published on holds nothing to resume: the broker
            # may drop it now rather than keep it for its idle TTL (subscribe/unsubscribe churn of random
            # topics would otherwise grow memory)
            self.broker.discard_unused(stream.name)

    def is_subscribed(self, subscriber: Subscriber, name: str) -> bool:
        """Whether the subscriber is live on the stream."""
        stream = self._streams.get(name)
        return stream is not None and subscriber.outbox in stream.fanout

    def subscriber_count(self, name: str) -> int:
        """How many local subscribers a stream has."""
        stream = self._streams.get(name)
        return 0 if stream is None else len(stream.fanout)

    # -- acks and housekeeping -----------------------------------------------------------------------------

    def ack(self, ref: StreamRef, cursor: int) -> None:
        """Record an ack: a personal stream's history is trimmed through it; shared streams keep theirs."""
        self.metrics.inc("acks")
        if ref.is_personal:
            if cursor > self.broker.state(ref.name).last_offset:
                return  # acking frames that do not exist yet would hide future ones
            self._acked[ref.name] = max(cursor, self._acked.get(ref.name, 0))
            self.broker.trim_through(ref.name, cursor)

    def state(self, ref: StreamRef) -> StreamState:
        """The stream's epoch and kept offsets."""
        return self.broker.state(ref.name)

    def sweep(self) -> int:
        """Trim history by age; forget idle streams nobody is subscribed to (and what the hub kept of them)."""
        dropped, forgotten = self.broker.sweep(self._streams)
        if dropped:
            self.metrics.inc("history_trimmed", dropped)
        for name in forgotten:
            self._acked.pop(name, None)
            _, _, topic = name.partition(":")
            owner = personal_owner(topic or None)
            names = self._personal.get(owner) if owner else None
            if names is not None:
                names.discard(name)
                if not names:
                    del self._personal[owner]
        return dropped


def _encoder(ref: StreamRef, payload_json: bytes, client_id: str | None):
    """Return the broker's encode callback: the JSON frame and the WebSocket frame, built once."""
    channel = ref.channel
    name = channel.wire_name
    stream = ref.name
    topic = ref.topic
    lane = channel.lane

    def encode(offset: int, epoch: str) -> Publication:
        json = encode_json_frame(name, offset, payload_json, client_id, topic)
        return Publication(stream, offset, epoch, lane, json, encode_ws_frame(json, OP_TEXT), name)

    return encode


def dumps(payload: object) -> bytes:
    """Serialise an application payload to JSON (orjson; non-str dict keys and numpy types allowed)."""
    return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)

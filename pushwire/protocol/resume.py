"""The resume rule: where a (re)connecting client continues in one stream (layer 2, pure).

Given what the client says it has seen (a cursor and, optionally, the epoch it belongs to) and what the
stream keeps (its epoch and the offsets ``first_offset..last_offset``), :func:`decide_resume` says which
frames are replayed and which are reported lost. Every frame after the client's position is either replayed or
inside the reported lost range: nothing is ever skipped silently. See docs/protocol.md, "auth_ok".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["ResumeDecision", "ResumeOutcome", "decide_resume"]


class ResumeOutcome(enum.StrEnum):
    """The per-stream ``outcome`` of ``auth_ok`` / ``subscribed``."""

    #: no resume cursor: live from the top, nothing replayed
    NEW = "new"
    #: every frame after the client's cursor is replayed
    RECOVERED = "recovered"
    #: some frames after the client's cursor are gone (older than history, or over the replay limit)
    GAP = "gap"
    #: the client's epoch differs, or its cursor is beyond the top: its cursor means nothing now
    EPOCH_CHANGED = "epoch_changed"


@dataclass(frozen=True, slots=True)
class ResumeDecision:
    """What to do for one stream of a resuming client.

    Attributes:
        outcome: see :class:`ResumeOutcome`.
        replay_after: replay the kept frames with offset > this (then go live); also the ``cursor`` reported
            in the stream's status.
        lost_from: first offset (of the current epoch) the client will never get, or None.
        lost_to: last such offset, or None. ``lost_from..lost_to`` is exactly what is neither replayed nor
            already seen by the client.
        recovered: True only for ``recovered``.
    """

    outcome: ResumeOutcome
    replay_after: int
    lost_from: int | None = None
    lost_to: int | None = None
    recovered: bool = False

    @property
    def cursor(self) -> int:
        """The position the server resumes from (the ``cursor`` of the stream's status)."""
        return self.replay_after

    @property
    def resume_required(self) -> bool:
        """True when a ``resume_required`` op must follow (``gap`` and ``epoch_changed``)."""
        return self.outcome in (ResumeOutcome.GAP, ResumeOutcome.EPOCH_CHANGED)

    def replay_count(self, last_offset: int) -> int:
        """How many frames are replayed, given the stream's latest offset."""
        return max(0, last_offset - self.replay_after)


def _check(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def decide_resume(requested: int | None, requested_epoch: str | None, *, epoch: str, first_offset: int,
                  last_offset: int, personal: bool, max_replay: int) -> ResumeDecision:
    """Decide how a client resumes one stream.

    Args:
        requested: the client's cursor in this stream (the last offset it has), or None when it sent none.
            Cursor 0 means "nothing seen" and matches every epoch.
        requested_epoch: the epoch that cursor belongs to, or None to take it against the current epoch.
        epoch: the stream's current epoch.
        first_offset: the oldest offset still kept; ``last_offset + 1`` when nothing is kept.
        last_offset: the stream's latest offset (its ``top``); 0 for a stream that never had a frame.
        personal: the stream is the client's personal stream, where a missing cursor means 0.
        max_replay: at most this many frames are replayed; older ones are reported lost (``gap``).

    Returns:
        The decision; replay the kept frames with offset > ``replay_after``.

    Raises:
        ValueError: inconsistent history bounds or a negative cursor (a caller bug, not client input:
            message decoding already rejects negative cursors).
    """
    _check("last_offset", last_offset, 0)
    _check("first_offset", first_offset, 1)
    _check("max_replay", max_replay, 0)
    if first_offset > last_offset + 1:
        raise ValueError(f"first_offset {first_offset} > last_offset + 1 ({last_offset + 1})")
    if requested is None:
        if not personal:
            return ResumeDecision(ResumeOutcome.NEW, last_offset)
        # everything on a personal stream was addressed to this client: replay all that is kept
        requested, requested_epoch = 0, None
    _check("requested", requested, 0)
    # oldest position the replay can start from: everything kept, but no more than max_replay frames
    floor = max(first_offset - 1, last_offset - max_replay)
    same_epoch = requested == 0 or requested_epoch is None or requested_epoch == epoch
    if not same_epoch or requested > last_offset:
        # the client's cursor means nothing in this epoch; what precedes the replay is lost to it
        lost = (1, floor) if floor >= 1 else (None, None)
        return ResumeDecision(ResumeOutcome.EPOCH_CHANGED, floor, *lost)
    if requested >= floor:
        return ResumeDecision(ResumeOutcome.RECOVERED, requested, recovered=True)
    return ResumeDecision(ResumeOutcome.GAP, floor, requested + 1, floor)

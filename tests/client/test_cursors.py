"""CursorTracker: the delivery truth table, holes, sync with the server's positions, resume cursors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pushwire.client.cursors import CursorResult, CursorTracker

SEQ, GAP, FILL, DUP = CursorResult.SEQUENTIAL, CursorResult.GAP, CursorResult.FILL, CursorResult.DUPLICATE


def results(tracker: CursorTracker, stream: str, cursors: list[int]) -> list[CursorResult]:
    return [tracker.advance(stream, c).result for c in cursors]


def test_truth_table_from_zero() -> None:
    t = CursorTracker()
    t.sync("chat", cursor=0, epoch="e1")
    assert results(t, "chat", [1, 2, 2, 1, 5, 3, 3, 4, 4, 6, 0]) == [
        SEQ, SEQ, DUP, DUP, GAP, FILL, DUP, FILL, DUP, SEQ, DUP]
    assert t.holes("chat") == []
    assert t.cursors() == {"chat": 6}


def test_gap_reports_missing_range() -> None:
    t = CursorTracker()
    t.sync("chat", cursor=10, epoch="e1")
    adv = t.advance("chat", 14)
    assert adv.result is GAP and adv.deliver
    assert (adv.missing_from, adv.missing_to) == (11, 13)
    assert t.holes("chat") == [(11, 13)]
    assert t.resume_cursor("chat") == 10
    assert t.cursors()["chat"] == 14


def test_gap_before_first_frame_is_detected() -> None:
    # Upstream accepts any first cursor; here the start comes from auth_ok.
    t = CursorTracker()
    t.sync("chat", cursor=41, epoch="e1")
    adv = t.advance("chat", 43)
    assert adv.result is GAP and (adv.missing_from, adv.missing_to) == (42, 42)


def test_first_frame_after_sync_is_sequential() -> None:
    t = CursorTracker()
    t.sync("chat", cursor=41, epoch="e1")
    assert t.advance("chat", 42).result is SEQ
    assert t.advance("chat", 41).result is DUP


def test_untracked_stream_starts_at_zero() -> None:
    t = CursorTracker()
    assert t.advance("chat:@abc", 1).result is SEQ
    t2 = CursorTracker()
    adv = t2.advance("chat:@abc", 3)
    assert adv.result is GAP and (adv.missing_from, adv.missing_to) == (1, 2)


def test_fill_splits_hole() -> None:
    t = CursorTracker()
    t.sync("s", cursor=0, epoch=None)
    t.advance("s", 10)
    assert t.holes("s") == [(1, 9)]
    assert t.advance("s", 5).result is FILL
    assert t.holes("s") == [(1, 4), (6, 9)]
    assert t.advance("s", 1).result is FILL
    assert t.advance("s", 9).result is FILL
    assert t.holes("s") == [(2, 4), (6, 8)]
    assert t.resume_cursor("s") == 1
    assert t.advance("s", 5).result is DUP


def test_streams_are_independent() -> None:
    t = CursorTracker()
    t.sync("a", cursor=0, epoch="x")
    t.sync("b", cursor=7, epoch="y")
    assert t.advance("a", 1).result is SEQ
    assert t.advance("b", 1).result is DUP
    assert t.advance("b", 8).result is SEQ
    assert t.cursors() == {"a": 1, "b": 8}
    assert t.epochs() == {"a": "x", "b": "y"}


def test_sync_same_epoch_behind_keeps_state() -> None:
    # A gap-fill request: the server replays from 11 while the client already has 14.
    t = CursorTracker()
    t.sync("chat", cursor=10, epoch="e1")
    t.advance("chat", 14)
    assert t.sync("chat", cursor=10, epoch="e1") == []
    assert results(t, "chat", [11, 12, 13, 14, 15]) == [FILL, FILL, FILL, DUP, SEQ]


def test_sync_ahead_gives_up_holes_and_jumps() -> None:
    t = CursorTracker()
    t.sync("chat", cursor=0, epoch="e1")
    t.advance("chat", 1)
    t.advance("chat", 5)  # hole 2..4
    lost = t.sync("chat", cursor=8, epoch="e1")  # outcome gap: the server resumes after 8
    assert lost == [(2, 4), (6, 8)]
    assert t.lost == 6
    assert t.holes("chat") == []
    assert t.advance("chat", 9).result is SEQ


def test_sync_partial_hole() -> None:
    t = CursorTracker()
    t.sync("chat", cursor=0, epoch="e1")
    t.advance("chat", 10)  # hole 1..9
    assert t.sync("chat", cursor=4, epoch="e1") == [(1, 4)]
    assert t.holes("chat") == [(5, 9)]
    assert t.resume_cursor("chat") == 4


def test_sync_epoch_change_resets() -> None:
    t = CursorTracker()
    t.sync("chat", cursor=0, epoch="old")
    t.advance("chat", 1)
    t.advance("chat", 50)
    assert t.sync("chat", cursor=0, epoch="new") == []
    assert t.holes("chat") == [] and t.cursors()["chat"] == 0 and t.epochs()["chat"] == "new"
    assert t.advance("chat", 1).result is SEQ


def test_sync_reset_flag() -> None:
    t = CursorTracker()
    t.sync("chat", cursor=0, epoch="e")
    t.advance("chat", 30)
    t.sync("chat", cursor=3, epoch="e", reset=True)
    assert t.cursors()["chat"] == 3 and t.holes("chat") == []


def test_sync_unknown_epoch_adopts() -> None:
    t = CursorTracker()
    t.advance("chat:@me", 2)  # hole 1..1, epoch unknown
    t.sync("chat:@me", cursor=0, epoch="p1")
    assert t.epochs() == {"chat:@me": "p1"}
    assert t.advance("chat:@me", 1).result is FILL


def test_give_up() -> None:
    t = CursorTracker()
    t.sync("s", cursor=0, epoch=None)
    t.advance("s", 20)  # hole 1..19
    t.give_up("s", 5, 9)
    assert t.holes("s") == [(1, 4), (10, 19)]
    assert t.lost == 5
    t.give_up("s", 1, 100)
    assert t.holes("s") == []
    assert t.lost == 19
    assert t.advance("s", 3).result is DUP


def test_hole_limit_evicts_oldest() -> None:
    t = CursorTracker(max_holes=3)
    t.sync("s", cursor=0, epoch=None)
    for c in (2, 4, 6, 8, 10):
        assert t.advance("s", c).result is GAP
    assert t.holes("s") == [(5, 5), (7, 7), (9, 9)]
    assert t.lost == 2


def test_forget_and_resume_cursors() -> None:
    t = CursorTracker()
    t.sync("a", cursor=3, epoch="x")
    t.sync("b", cursor=0, epoch="y")
    t.advance("b", 4)
    assert t.resume_cursors() == {"a": 3, "b": 0}
    t.forget("a")
    assert "a" not in t and t.streams() == ["b"]
    assert t.resume_cursor("a") == 0


@settings(max_examples=200)
@given(order=st.permutations(list(range(1, 25))), dups=st.lists(st.integers(1, 24), max_size=20))
def test_any_arrival_order_delivers_each_cursor_once(order: list[int], dups: list[int]) -> None:
    t = CursorTracker()
    t.sync("s", cursor=0, epoch="e")
    delivered: list[int] = []
    for c in order + dups:
        if t.advance("s", c).deliver:
            delivered.append(c)
    assert sorted(delivered) == list(range(1, 25))
    assert t.holes("s") == []
    assert t.resume_cursor("s") == 24


@settings(max_examples=200)
@given(received=st.sets(st.integers(1, 40)))
def test_resume_cursor_is_contiguous_prefix(received: set[int]) -> None:
    t = CursorTracker()
    t.sync("s", cursor=0, epoch="e")
    for c in sorted(received):
        t.advance("s", c)
    prefix = 0
    while prefix + 1 in received:
        prefix += 1
    assert t.resume_cursor("s") == prefix
    missing = set(range(1, max(received, default=0) + 1)) - received
    assert {c for lo, hi in t.holes("s") for c in range(lo, hi + 1)} == missing

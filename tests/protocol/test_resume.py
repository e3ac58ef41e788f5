"""decide_resume: the outcome table of wire.md's auth_ok section, and the no-silent-loss invariant."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushwire.protocol.resume import ResumeDecision, ResumeOutcome, decide_resume

E = "k3x9a2b1"


def decide(requested: int | None, requested_epoch: str | None = None, *, first: int = 1, last: int = 10,
           personal: bool = False, max_replay: int = 1024) -> ResumeDecision:
    return decide_resume(requested, requested_epoch, epoch=E, first_offset=first, last_offset=last,
                         personal=personal, max_replay=max_replay)


def test_new_without_cursor() -> None:
    d = decide(None, first=5, last=45)
    assert d == ResumeDecision(ResumeOutcome.NEW, 45, None, None, False)
    assert d.cursor == 45
    assert not d.resume_required
    assert d.replay_count(45) == 0


def test_new_ignores_epoch_without_cursor() -> None:
    assert decide(None, "other", first=5, last=45).outcome is ResumeOutcome.NEW


def test_recovered() -> None:
    d = decide(41, E, first=5, last=45)
    assert d == ResumeDecision(ResumeOutcome.RECOVERED, 41, None, None, True)
    assert d.replay_count(45) == 4
    assert not d.resume_required


def test_recovered_without_epoch() -> None:
    assert decide(41, None, first=5, last=45).outcome is ResumeOutcome.RECOVERED


def test_recovered_at_top_and_at_oldest_edge() -> None:
    assert decide(45, E, first=5, last=45) == ResumeDecision(ResumeOutcome.RECOVERED, 45, recovered=True)
    # cursor 4 with oldest kept 5: frame 5 onward is all there
    assert decide(4, E, first=5, last=45) == ResumeDecision(ResumeOutcome.RECOVERED, 4, recovered=True)


def test_gap_older_than_history() -> None:
    d = decide(3, E, first=10, last=20)
    assert d == ResumeDecision(ResumeOutcome.GAP, 9, 4, 9, False)
    assert d.resume_required


def test_gap_over_max_replay() -> None:
    d = decide(10, E, first=1, last=100, max_replay=30)
    assert d == ResumeDecision(ResumeOutcome.GAP, 70, 11, 70, False)
    assert d.replay_count(100) == 30


def test_gap_with_empty_history() -> None:
    # offsets 1..10 were all trimmed (first = last + 1)
    assert decide(3, E, first=11, last=10) == ResumeDecision(ResumeOutcome.GAP, 10, 4, 10)


def test_epoch_changed() -> None:
    d = decide(41, "oldepoch", first=1, last=5)
    assert d == ResumeDecision(ResumeOutcome.EPOCH_CHANGED, 0, None, None, False)
    assert d.resume_required


def test_epoch_changed_with_trimmed_history_reports_the_trimmed_part() -> None:
    assert decide(41, "oldepoch", first=8, last=12) == ResumeDecision(ResumeOutcome.EPOCH_CHANGED, 7, 1, 7)


def test_cursor_beyond_top_is_epoch_changed() -> None:
    assert decide(50, E, first=1, last=45).outcome is ResumeOutcome.EPOCH_CHANGED
    assert decide(50, None, first=1, last=45).outcome is ResumeOutcome.EPOCH_CHANGED
    assert decide(1, None, first=1, last=0) == ResumeDecision(ResumeOutcome.EPOCH_CHANGED, 0)


def test_epoch_changed_respects_max_replay() -> None:
    assert decide(3, "old", first=1, last=100, max_replay=10) == ResumeDecision(
        ResumeOutcome.EPOCH_CHANGED, 90, 1, 90)


def test_cursor_zero_matches_any_epoch() -> None:
    assert decide(0, "old", first=1, last=5) == ResumeDecision(ResumeOutcome.RECOVERED, 0, recovered=True)


def test_personal_without_cursor_resumes_from_zero() -> None:
    assert decide(None, personal=True, first=1, last=5) == ResumeDecision(
        ResumeOutcome.RECOVERED, 0, recovered=True)
    assert decide(None, "old", personal=True, first=4, last=5) == ResumeDecision(ResumeOutcome.GAP, 3, 1, 3)


def test_personal_with_cursor_is_like_any_stream() -> None:
    assert decide(3, E, personal=True, first=1, last=5) == decide(3, E, first=1, last=5)


def test_empty_new_stream() -> None:
    assert decide(None, first=1, last=0) == ResumeDecision(ResumeOutcome.NEW, 0)
    assert decide(0, E, first=1, last=0) == ResumeDecision(ResumeOutcome.RECOVERED, 0, recovered=True)


def test_outcome_values_are_wire_strings() -> None:
    assert [o.value for o in ResumeOutcome] == ["new", "recovered", "gap", "epoch_changed"]
    assert ResumeOutcome.GAP == "gap"


@pytest.mark.parametrize("kwargs", [
    {"first": 0}, {"first": 12, "last": 10}, {"last": -1, "first": 1}, {"max_replay": -1},
])
def test_bad_bounds(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        decide(1, **kwargs)


def test_negative_cursor() -> None:
    with pytest.raises(ValueError):
        decide(-1)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple:
    last = draw(st.integers(0, 300))
    first = draw(st.integers(1, last + 1))
    requested = draw(st.none() | st.integers(0, 400))
    requested_epoch = draw(st.sampled_from([None, E, "other"]))
    personal = draw(st.booleans())
    max_replay = draw(st.integers(0, 350))
    return requested, requested_epoch, first, last, personal, max_replay


@settings(max_examples=300)
@given(scenarios())
def test_nothing_is_skipped_silently(scenario: tuple) -> None:
    requested, requested_epoch, first, last, personal, max_replay = scenario
    d = decide(requested, requested_epoch, first=first, last=last, personal=personal, max_replay=max_replay)
    replayed = set(range(d.replay_after + 1, last + 1))
    kept = set(range(first, last + 1))
    lost = set() if d.lost_from is None else set(range(d.lost_from, d.lost_to + 1))
    assert (d.lost_from is None) == (d.lost_to is None)
    assert replayed <= kept, "only kept frames can be replayed"
    assert len(replayed) <= max_replay
    assert not replayed & lost
    assert d.recovered == (d.outcome is ResumeOutcome.RECOVERED)
    if d.outcome is ResumeOutcome.NEW:
        assert requested is None and not personal
        assert not replayed and not lost
        return
    cursor = 0 if requested is None else requested
    if d.outcome is ResumeOutcome.EPOCH_CHANGED:
        # the client's cursor is void: every frame of the current epoch is replayed or reported lost
        assert replayed | lost == set(range(1, last + 1))
        assert cursor > last or (requested_epoch not in (None, E) and cursor > 0)
        return
    # same epoch: exactly the frames after the client's cursor are replayed or reported lost
    assert replayed | lost == set(range(cursor + 1, last + 1))
    if d.outcome is ResumeOutcome.RECOVERED:
        assert not lost
    else:
        assert d.outcome is ResumeOutcome.GAP and lost
        assert d.lost_from == cursor + 1

"""A ticket's SLA status (worker/core/status.py): states, deadlines, counted time, warnings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.core.events import (
    InputEvent,
    TicketCreated,
    TicketPaused,
    TicketReopened,
    TicketResolved,
    TicketResponded,
    TicketResumed,
    TicketUpdated,
)
from worker.core.policy import Policy
from worker.core.policy_parse import parse_policy
from worker.core.status import TargetStatus, TicketStatus, status_of
from worker.core.ticket_state import TicketState
from worker.core.tracker import Tracker

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
M = timedelta(minutes=1)

POLICY_DATA: dict[str, object] = {
    "version": 1,
    "name": "status-test",
    "priorities": ["P1", "P2", "P3"],
    "calendars": {"utc-business": {"timezone": "UTC", "weekly": {"mon-fri": ["09:00-17:00"]}}},
    "warnings": ["50%", "75%"],
    "tiers": {
        "gold": {
            "commitment": "sla",
            "objective": 0.99,
            "targets": {
                "first_response": {"P1": "1h", "P2": "4h"},
                "resolution": {"P1": {"within": "4h", "pausable": True}, "P2": "8h"},
            },
        },
        "silver": {
            "commitment": "slo",
            "objective": 0.9,
            "calendar": "utc-business",
            "targets": {"first_response": {"P1": "8h"}},
        },
        "free": {"commitment": "none"},
    },
}

MakeEvent = Callable[..., InputEvent]


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy(POLICY_DATA, source="test", sha256="ab" * 32)


@pytest.fixture(scope="module")
def tracker(policy: Policy) -> Tracker:
    return Tracker(policy)


def fold(tracker: Tracker, events: list[InputEvent], clock: datetime) -> TicketState | None:
    """Apply ``events`` one by one, each at its own instant, then advance to ``clock``."""
    state: TicketState | None = None
    for event in events:
        state, _ = tracker.apply(state, event, event.occurred_at)
    assert state is not None
    advanced, _ = tracker.advance(state, clock)
    return advanced


def status(tracker: Tracker, events: list[InputEvent], clock: datetime) -> TicketStatus:
    state = fold(tracker, events, clock)
    assert state is not None
    got = status_of(tracker, state, clock)
    assert got is not None
    return got


def by_target(status: TicketStatus) -> dict[str, TargetStatus]:
    return {f"{t.target}:{t.cycle}": t for t in status.targets}


def created(make_event: MakeEvent, **fields: Any) -> InputEvent:
    return make_event(TicketCreated, T0, **{"tier": "gold", "priority": "P1", **fields})


def test_created_ticket_runs_both_targets_with_deadlines_and_time_left(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """A new ticket's targets run, with their deadlines, counted time used and time left."""
    got = status(tracker, [created(make_event, customer_id="acme")], T0 + 10 * M)
    assert (got.ticket_id, got.customer_id, got.tier, got.priority) == ("T1", "acme", "gold", "P1")
    assert (got.policy, got.policy_sha256, got.as_of) == ("status-test", "ab" * 32, T0 + 10 * M)
    first, resolution = by_target(got)["first_response:1"], by_target(got)["resolution:1"]
    assert (first.state, first.deadline, first.started_at) == ("running", T0 + H, T0)
    assert (first.elapsed_seconds, first.remaining_seconds) == (600.0, 3000.0)
    assert (first.commitment, first.target_seconds, first.warnings) == ("sla", 3600, ())
    assert (resolution.state, resolution.deadline) == ("running", T0 + 4 * H)
    assert first.counting


def test_warnings_fired_are_listed(tracker: Tracker, make_event: MakeEvent) -> None:
    """The thresholds fired appear under their cycle, sorted."""
    got = status(tracker, [created(make_event)], T0 + 50 * M)
    assert by_target(got)["first_response:1"].warnings == ("50%", "75%")
    assert by_target(got)["resolution:1"].warnings == ()


def test_paused_ticket_has_no_deadline_and_a_fixed_time_left(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """A pause stops a pausable target: no deadline, time left fixed at the pause."""
    events = [created(make_event), make_event(TicketPaused, T0 + H)]
    got = status(tracker, events, T0 + 3 * H)
    resolution = by_target(got)["resolution:1"]
    assert (resolution.state, resolution.deadline) == ("paused", None)
    assert (resolution.elapsed_seconds, resolution.remaining_seconds) == (3600.0, 3 * 3600.0)
    assert not resolution.counting
    assert by_target(got)["first_response:1"].state == "breached"  # not pausable


def test_resumed_ticket_runs_with_its_deadline_pushed(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """A resumption runs the target again, its deadline later by the pause."""
    events = [
        created(make_event),
        make_event(TicketPaused, T0 + H),
        make_event(TicketResumed, T0 + 2 * H),
    ]
    got = status(tracker, events, T0 + 2 * H)
    resolution = by_target(got)["resolution:1"]
    assert (resolution.state, resolution.deadline) == ("running", T0 + 5 * H)
    assert resolution.elapsed_seconds == 3600.0


def test_priority_change_reevaluates_deadlines(tracker: Tracker, make_event: MakeEvent) -> None:
    """A priority change gives the running targets the new priority's deadlines."""
    events = [created(make_event), make_event(TicketUpdated, T0 + 10 * M, priority="P2")]
    got = status(tracker, events, T0 + 10 * M)
    assert got.priority == "P2"
    assert by_target(got)["first_response:1"].deadline == T0 + 4 * H
    assert by_target(got)["resolution:1"].deadline == T0 + 8 * H


def test_resolved_ticket_is_met_with_its_counted_time(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """A resolution meets both targets; their counted time stops at the fulfilment."""
    events = [created(make_event), make_event(TicketResolved, T0 + 30 * M)]
    got = status(tracker, events, T0 + 3 * H)
    for name in ("first_response:1", "resolution:1"):
        target = by_target(got)[name]
        assert (target.state, target.fulfilled_at) == ("met", T0 + 30 * M)
        assert target.elapsed_seconds == 1800.0
        assert not target.counting


def test_breached_target_stays_breached_after_its_fulfilment(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """A breach is final: a later response leaves the target breached, time left negative."""
    events = [created(make_event), make_event(TicketResponded, T0 + 2 * H)]
    got = status(tracker, events, T0 + 2 * H)
    first = by_target(got)["first_response:1"]
    assert (first.state, first.fulfilled_at) == ("breached", T0 + 2 * H)
    assert first.remaining_seconds == -3600.0


def test_reopened_ticket_has_a_second_resolution_cycle(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """A reopening adds resolution cycle 2, counted from the reopening."""
    events = [
        created(make_event),
        make_event(TicketResolved, T0 + 10 * M),
        make_event(TicketReopened, T0 + H),
    ]
    got = status(tracker, events, T0 + H)
    assert by_target(got)["resolution:2"].state == "running"
    assert by_target(got)["resolution:2"].started_at == T0 + H
    assert by_target(got)["resolution:1"].state == "met"


def test_tier_without_commitment_is_not_tracked(tracker: Tracker, make_event: MakeEvent) -> None:
    """A tier without commitment: not tracked, no deadline, no target time, time counted."""
    got = status(tracker, [created(make_event, tier="free")], T0 + H)
    for target in got.targets:
        assert (target.state, target.deadline, target.remaining_seconds) == (
            "not_tracked",
            None,
            None,
        )
        assert target.elapsed_seconds == 3600.0


def test_priority_without_target_is_not_tracked(tracker: Tracker, make_event: MakeEvent) -> None:
    """A priority the tier sets no target for is not tracked."""
    got = status(tracker, [created(make_event, priority="P3")], T0 + H)
    assert {target.state for target in got.targets} == {"not_tracked"}


def test_business_calendar_counts_open_hours_only(tracker: Tracker, make_event: MakeEvent) -> None:
    """On a business calendar the counted time is open hours only."""
    events = [make_event(TicketCreated, T0 + 6 * H, tier="silver", priority="P1")]
    got = status(tracker, events, T0 + 8 * H)  # 16:00 to 18:00: one open hour
    first = by_target(got)["first_response:1"]
    assert (first.elapsed_seconds, first.remaining_seconds) == (3600.0, 7 * 3600.0)
    assert first.commitment == "slo"


def test_status_at_an_instant_before_the_start_counts_nothing(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """A status asked before the ticket's creation (an event stamped ahead) counts zero."""
    state, _ = tracker.apply(None, created(make_event), T0 - H)
    assert state is not None
    got = status_of(tracker, state, T0 - H)
    assert got is not None
    assert {target.elapsed_seconds for target in got.targets} == {0.0}


def test_orphan_has_no_status(tracker: Tracker, make_event: MakeEvent) -> None:
    """A ticket without its creation yet has no status."""
    state, _ = tracker.apply(None, make_event(TicketResponded, T0), T0)
    assert state is not None
    assert status_of(tracker, state, T0) is None


def test_same_as_ignores_what_moves_with_as_of_alone(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """Two statuses of one state at two instants are the same unless something else changed."""
    events = [created(make_event)]
    early = status(tracker, events, T0 + M)
    later = status(tracker, events, T0 + 2 * M)
    assert later.same_as(early)
    assert not later.same_as(None)
    warned = status(tracker, events, T0 + 31 * M)  # the 50% warning fired
    assert not warned.same_as(later)
    paused = status(tracker, [*events, make_event(TicketPaused, T0 + 2 * M)], T0 + 2 * M)
    assert not paused.same_as(later)


# --- the fold that made a state, read again ---------------------------------------------------

_KINDS = st.sampled_from(
    [TicketResponded, TicketUpdated, TicketPaused, TicketResumed, TicketResolved, TicketReopened]
)


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[InputEvent, datetime]]:
    """A ticket's events, each with the clock it is applied at (business hours included)."""
    tier = draw(st.sampled_from(["gold", "silver", "free"]))
    events: list[tuple[InputEvent, datetime]] = [
        (TicketCreated(event_id="c", ticket_id="T1", occurred_at=T0, tier=tier, priority="P1"), T0)
    ]
    for i in range(draw(st.integers(0, 8))):
        kind = draw(_KINDS)
        at = T0 + timedelta(seconds=draw(st.integers(-600, 30 * 3600)))
        fields: dict[str, str] = {}
        if kind is TicketUpdated:
            fields["priority"] = draw(st.sampled_from(["P1", "P2", "P3"]))
        event = kind(event_id=f"x{i}", ticket_id="T1", occurred_at=at, **fields)  # type: ignore[arg-type]
        events.append((event, at + timedelta(seconds=draw(st.integers(0, 6 * 3600)))))
    return events


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), ticks=st.lists(st.integers(0, 40 * 3600), max_size=4))
def test_a_status_read_from_the_settling_fold_equals_a_fold_anew(
    tracker: Tracker, history: list[tuple[InputEvent, datetime]], ticks: list[int]
) -> None:
    """After every apply and advance, the status read from ``Tracker.last_fold`` equals the
    status of the same state folded again at the same clock (the worker publishes the former)."""
    state: TicketState | None = None
    steps: list[tuple[InputEvent | None, datetime]] = [*history]
    steps += [(None, T0 + timedelta(seconds=s)) for s in sorted(ticks)]
    for event, clock in steps:
        if event is not None:
            new, _ = tracker.apply(state, event, clock)
        elif state is not None:
            new, _ = tracker.advance(state, clock)
        else:
            continue
        if new is None:
            break
        if new is not state:
            settled = tracker.last_fold
            assert settled is not None
            assert status_of(tracker, new, clock, settled=settled) == status_of(tracker, new, clock)
        state = new

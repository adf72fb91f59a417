"""The tracker's bounds: the per-ticket event cap never drops a decision; open retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.events import (
    InputEvent,
    OutputEvent,
    SlaOutcome,
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
from worker.core.ticket_state import TicketState
from worker.core.tracker import MAX_EVENTS_PER_TICKET, Tracker

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
S = timedelta(seconds=1)
M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)

POLICY: Policy = parse_policy(
    {
        "version": 1,
        "name": "bounds",
        "priorities": ["P1", "P2"],
        "tiers": {
            "gold": {
                "commitment": "sla",
                "objective": 0.99,
                "targets": {
                    "first_response": {"P1": "1h", "P2": "2h"},
                    "resolution": {"P1": {"within": "4h", "pausable": True}, "P2": "8h"},
                },
            },
            "free": {"commitment": "none"},
        },
    },
    source="test",
)


def created(tier: str = "gold", at: datetime = T0) -> TicketCreated:
    return TicketCreated(event_id="c", ticket_id="T", occurred_at=at, tier=tier, priority="P1")


def feed(
    tracker: Tracker, events: list[InputEvent]
) -> tuple[TicketState | None, list[OutputEvent]]:
    """Apply ``events`` in order, each at its own instant; return the state and all outputs."""
    state: TicketState | None = None
    outputs: list[OutputEvent] = []
    for event in events:
        state, emitted = tracker.apply(state, event, event.occurred_at)
        outputs += emitted
    return state, outputs


def outcomes(outputs: list[OutputEvent]) -> dict[str, str]:
    return {o.target: o.outcome for o in outputs if isinstance(o, SlaOutcome)}


def test_a_resolution_after_600_responses_is_kept() -> None:
    """600 responses fill the cap; ticket.resolved still counts: resolution met, not breached."""
    responses = [
        TicketResponded(event_id=f"r{i}", ticket_id="T", occurred_at=T0 + (i + 1) * S)
        for i in range(600)
    ]
    resolved = TicketResolved(event_id="z", ticket_id="T", occurred_at=T0 + 3 * H)
    tracker = Tracker(POLICY)
    state, outputs = feed(tracker, [created(), *responses, resolved])
    assert state is not None
    assert len(state.events) == MAX_EVENTS_PER_TICKET
    assert state.events[-1] == resolved
    assert state.running == ()  # finished: it will be forgotten, not kept forever
    assert outcomes(outputs) == {"first_response": "met", "resolution": "met"}
    # Past resolution's deadline nothing breaches.
    later, more = tracker.advance(state, T0 + 5 * H)
    assert [o for o in more if isinstance(o, SlaOutcome)] == []
    assert later is state


def test_decisions_past_the_cap_are_never_dropped() -> None:
    """At the cap, pauses, resumptions, updates and reopenings are kept; responses make room."""
    tracker = Tracker(POLICY, max_events=4)
    first = TicketResponded(event_id="r0", ticket_id="T", occurred_at=T0 + M)
    extra = [
        TicketResponded(event_id=f"r{i}", ticket_id="T", occurred_at=T0 + (i + 1) * M)
        for i in range(1, 3)
    ]
    pause = TicketPaused(event_id="p", ticket_id="T", occurred_at=T0 + 10 * M)
    resume = TicketResumed(event_id="u", ticket_id="T", occurred_at=T0 + 20 * M)
    update = TicketUpdated(
        event_id="t", ticket_id="T", occurred_at=T0 + 30 * M, tier=None, priority="P2"
    )
    state, _ = feed(tracker, [created(), first, *extra, pause, resume, update])
    assert state is not None
    assert state.events == (created(), first, pause, resume, update)  # over the cap: decisions
    ignored, outputs = tracker.apply(
        state, TicketResponded(event_id="r9", ticket_id="T", occurred_at=T0 + H), T0 + H
    )
    assert (ignored, outputs) == (state, [])  # a later response: no decision needs it


def test_an_earlier_response_replaces_a_later_one_at_the_cap() -> None:
    """A response earlier than the kept one is a decision: it stays and the later one goes."""
    tracker = Tracker(POLICY, max_events=2)
    late = TicketResponded(event_id="late", ticket_id="T", occurred_at=T0 + 50 * M)
    early = TicketResponded(event_id="early", ticket_id="T", occurred_at=T0 + 30 * M)
    state, _ = tracker.apply(None, created(), T0)
    assert state is not None
    state, _ = tracker.apply(state, late, T0 + 20 * M)  # stamped ahead of the clock
    assert state is not None
    state, outputs = tracker.apply(state, early, T0 + 40 * M)
    assert state is not None
    assert state.events == (created(), early)
    assert outcomes(outputs) == {"first_response": "met"}
    (fulfilled,) = [o for o in outputs if isinstance(o, SlaOutcome)]
    assert fulfilled.fulfilled_at == early.occurred_at


_LATER = st.sampled_from(
    [TicketResponded, TicketPaused, TicketResumed, TicketResolved, TicketReopened, TicketCreated]
)


@settings(max_examples=300, deadline=None)
@given(
    kinds=st.lists(_LATER, max_size=14),
    offsets=st.lists(st.integers(1, 12 * 60), min_size=14, max_size=14),
    cap=st.integers(2, 6),
)
def test_the_cap_changes_no_output(kinds: list[type], offsets: list[int], cap: int) -> None:
    """Whatever the cap, a ticket earns the outputs it earns without one (same ids)."""
    events: list[InputEvent] = [created()]
    for number, (kind, minutes) in enumerate(zip(kinds, offsets, strict=False)):
        at = T0 + minutes * M
        if kind is TicketCreated:
            events.append(
                TicketCreated(
                    event_id=f"e{number}", ticket_id="T", occurred_at=at, tier="gold", priority="P2"
                )
            )
        else:
            events.append(kind(event_id=f"e{number}", ticket_id="T", occurred_at=at))
    capped, uncapped = Tracker(POLICY, max_events=cap), Tracker(POLICY, max_events=10_000)
    results = []
    for tracker in (capped, uncapped):
        # As the worker runs it: a clock that never goes back, and a tick after each event.
        state: TicketState | None = None
        outputs: list[OutputEvent] = []
        clock = T0
        for event in events:
            clock = max(clock, event.occurred_at)
            state, emitted = tracker.apply(state, event, clock)
            outputs += emitted
            if state is not None:
                state, emitted = tracker.advance(state, clock)
                outputs += emitted
        if state is not None:
            state, emitted = tracker.advance(state, T0 + 2 * D)
            outputs += emitted
        results.append(sorted(o.id for o in outputs))
    assert results[0] == results[1]


def test_an_open_ticket_is_forgotten_after_open_retention() -> None:
    """An open ticket with no event for open_retention is forgotten, and says it expired."""
    tracker = Tracker(POLICY, open_retention=30 * D)
    state, _ = tracker.apply(None, created("free"), T0)
    assert state is not None
    assert state.due_at == T0 + 30 * D
    kept, _ = tracker.advance(state, T0 + 30 * D - S)
    assert kept is state
    gone, outputs = tracker.advance(state, T0 + 30 * D)
    assert (gone, outputs) == (None, [])
    assert Tracker.expired(state, gone)


def test_open_retention_counts_from_the_last_event_and_breaches_come_first() -> None:
    """Breaches fire at their deadlines; an open ticket goes open_retention after its last event."""
    tracker = Tracker(POLICY, open_retention=10 * D)
    state, _ = tracker.apply(None, created(), T0)
    assert state is not None
    assert state.due_at is not None
    assert state.due_at <= T0 + H + S  # the first breach (no warnings here), not the expiry
    response = TicketResponded(event_id="r", ticket_id="T", occurred_at=T0 + 2 * D)
    state, outputs = tracker.apply(state, response, T0 + 2 * D)
    assert outcomes(outputs) == {"first_response": "breached", "resolution": "breached"}
    assert state is not None
    assert state.due_at == T0 + 12 * D  # ten days after the response, not after the creation
    assert tracker.advance(state, T0 + 12 * D - S) == (state, [])
    assert tracker.advance(state, T0 + 12 * D) == (None, [])


def test_a_finished_ticket_is_forgotten_but_not_expired() -> None:
    """Forgetting a finished ticket (retention) is not an expiry of an open one."""
    tracker = Tracker(POLICY)
    state, _ = feed(
        tracker, [created(), TicketResolved(event_id="z", ticket_id="T", occurred_at=T0 + M)]
    )
    assert state is not None
    assert state.running == ()
    gone, _ = tracker.advance(state, T0 + 30 * D)
    assert gone is None
    assert not Tracker.expired(state, gone)
    assert not Tracker.expired(None, None)


@pytest.mark.parametrize("cap", [1, 2])
def test_an_orphan_keeps_its_first_response_at_the_cap(cap: int) -> None:
    """Responses held before their creation arrives are compacted like any others."""
    tracker = Tracker(POLICY, max_events=cap)
    held = [
        TicketResponded(event_id=f"r{i}", ticket_id="T", occurred_at=T0 + (i + 1) * M)
        for i in range(5)
    ]
    state, _ = feed(tracker, held)
    assert state is not None
    assert state.events == tuple(held[:cap])  # the first, and the oldest until the cap

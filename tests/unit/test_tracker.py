"""The per-ticket SLA state machine: transitions, seed scenarios and properties."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.core.events import (
    InputEvent,
    OutputEvent,
    SlaBreached,
    SlaOutcome,
    SlaWarning,
    TargetFulfilled,
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
from worker.core.ticket_state import RunningTarget, TicketState, event_order
from worker.core.tracker import Tracker
from worker.edge.policy_file import load_policy
from worker.simulate import Simulation

POLICIES = Path(__file__).resolve().parents[2] / "deploy" / "policies"

# Monday 23 November 2026, 10:00 UTC.
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)

POLICY_DATA: dict[str, object] = {
    "version": 1,
    "name": "test",
    "priorities": ["P1", "P2", "P3", "P4"],
    "calendars": {
        "utc-business": {
            "timezone": "UTC",
            "weekly": {"mon-fri": ["09:00-17:00"]},
            "holidays": ["2026-11-26"],
        }
    },
    "warnings": ["50%", "75%", "90%", "15m"],
    "tiers": {
        "enterprise": {
            "commitment": "sla",
            "objective": 0.99,
            "calendar": "24x7",
            "targets": {
                "first_response": {"P1": "2h", "P2": "4h", "P3": "48h"},
                "resolution": {
                    "P1": "4h",
                    "P2": "8h",
                    "P3": {"within": "16h", "calendar": "utc-business"},
                },
            },
        },
        "business": {
            "commitment": "slo",
            "objective": 0.95,
            "calendar": "utc-business",
            "warnings": ["75%"],
            "targets": {"first_response": {"P1": "8h", "P2": "12h", "P3": "72h", "P4": "72h"}},
        },
        "elite": {
            "commitment": "sla",
            "objective": 0.999,
            "targets": {"first_response": {"P1": {"within": "10m", "pausable": True}}},
        },
        "pro": {"commitment": "none"},
    },
}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return parse_policy(POLICY_DATA, source="test")


@pytest.fixture(scope="module")
def tracker(policy: Policy) -> Tracker:
    return Tracker(policy)


Created = Callable[..., TicketCreated]
MakeEvent = Callable[..., InputEvent]


@pytest.fixture(scope="module")
def created(make_event: MakeEvent) -> Created:
    """Creations by the shared event factory: ticket T1, enterprise P1, at T0 by default."""

    def create(
        at: datetime = T0, *, tier: str = "enterprise", priority: str = "P1", ticket: str = "T1"
    ) -> TicketCreated:
        return make_event(TicketCreated, at, ticket, tier=tier, priority=priority)

    return create


def simulate(tracker: Tracker, events: list[InputEvent], until: datetime) -> list[OutputEvent]:
    return list(Simulation(tracker).run(events, until=until))


def summary(outputs: list[OutputEvent]) -> list[tuple[str, ...]]:
    """What a reader of the output topics would see: type, id and the instant of interest."""
    rows: list[tuple[str, ...]] = []
    for out in outputs:
        if isinstance(out, SlaWarning):
            rows.append(("warning", out.id, out.detected_at.isoformat()))
        elif isinstance(out, SlaBreached):
            rows.append(("breached", out.id, out.deadline.isoformat() if out.deadline else "-"))
        elif isinstance(out, SlaOutcome):
            rows.append(("outcome", out.id, out.outcome))
        elif isinstance(out, TargetFulfilled):
            rows.append(("fulfilled", out.id, str(out.met)))
    return rows


def comparable(outputs: list[OutputEvent]) -> set[tuple[object, ...]]:
    """Outputs as a set, ignoring ``detected_at`` (the only field that depends on the clock)."""
    result = set()
    for out in outputs:
        if isinstance(out, (SlaWarning, SlaBreached)):
            out = replace(out, detected_at=T0)
        result.add((type(out).__name__, out.id, repr(out)))
    return result


# --- seed scenarios --------------------------------------------------------------------------


def test_answered_in_1h59m_is_met(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """A 2h P1 answered after 1h59m meets its target, after every warning has fired."""
    outputs = simulate(
        tracker, [created(), make_event(TicketResponded, T0 + 1 * H + 59 * M)], T0 + 3 * H
    )
    first = [o for o in outputs if o.target == "first_response"]
    assert summary(first) == [
        ("warning", "T1:first_response:1:50%", (T0 + 1 * H).isoformat()),
        ("warning", "T1:first_response:1:75%", (T0 + 1 * H + 30 * M).isoformat()),
        ("warning", "T1:first_response:1:15m", (T0 + 1 * H + 45 * M).isoformat()),
        ("warning", "T1:first_response:1:90%", (T0 + 1 * H + 48 * M).isoformat()),
        ("outcome", "T1:first_response:1", "met"),
        ("fulfilled", "T1:first_response:1", "True"),
    ]
    met = next(o for o in first if isinstance(o, SlaOutcome))
    assert met.elapsed_seconds == 7140
    assert met.deadline == T0 + 2 * H
    assert met.target_seconds == 7200


def test_answered_in_2h01m_is_breached(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """The same P1 answered after 2h01m breaches at the deadline, then is measured late."""
    outputs = simulate(
        tracker, [created(), make_event(TicketResponded, T0 + 2 * H + 1 * M)], T0 + 3 * H
    )
    first = [o for o in outputs if o.target == "first_response" and not isinstance(o, SlaWarning)]
    assert summary(first) == [
        ("breached", "T1:first_response:1", (T0 + 2 * H).isoformat()),
        ("outcome", "T1:first_response:1", "breached"),
        ("fulfilled", "T1:first_response:1", "False"),
    ]
    breach = first[0]
    assert isinstance(breach, SlaBreached)
    assert breach.detected_at > breach.deadline  # type: ignore[operator]
    outcome = first[1]
    assert isinstance(outcome, SlaOutcome)
    assert outcome.fulfilled_at is None
    assert outcome.elapsed_seconds == 7200
    late = first[2]
    assert isinstance(late, TargetFulfilled)
    assert late.elapsed_seconds == 7260


def test_response_exactly_at_deadline_is_met(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """A fulfilment at exactly the deadline is met (the breach is the clock passing it)."""
    outputs = simulate(tracker, [created(), make_event(TicketResponded, T0 + 2 * H)], T0 + 5 * H)
    kinds = {
        (type(o).__name__, getattr(o, "outcome", None))
        for o in outputs
        if o.target == "first_response"
    }
    assert ("SlaOutcome", "met") in kinds
    assert ("SlaBreached", None) not in kinds


def test_temporal_p0_opened_saturday_night_counts_24x7(created: Created) -> None:
    """A Temporal P0 opened late on a Saturday is due 30 minutes later, weekend or not."""
    temporal = Tracker(load_policy(POLICIES / "temporal-enterprise.yaml"))
    saturday_night = datetime(2026, 11, 28, 23, 50, tzinfo=UTC)
    tier = next(iter(temporal.policy.tiers))
    opened = created(saturday_night, tier=tier, priority="P0")
    outputs = simulate(temporal, [opened], saturday_night + 2 * H)
    breach = next(o for o in outputs if isinstance(o, SlaBreached) and o.target == "first_response")
    assert breach.deadline == saturday_night + 30 * M


def test_cloudflare_pro_never_breaches(created: Created, make_event: MakeEvent) -> None:
    """A Cloudflare Pro ticket is measured but never warned about or breached."""
    cloudflare = load_policy(POLICIES / "cloudflare.yaml")
    pro = next(name for name, tier in cloudflare.tiers.items() if tier.commitment == "none")
    tracker = Tracker(cloudflare)
    opened = created(tier=pro, priority=cloudflare.priorities[0])
    outputs = simulate(tracker, [opened], T0 + 60 * 24 * H)
    assert outputs == []
    outputs = simulate(
        tracker, [opened, make_event(TicketResponded, T0 + 30 * 24 * H)], T0 + 60 * 24 * H
    )
    assert [type(o) for o in outputs] == [TargetFulfilled]
    assert isinstance(outputs[0], TargetFulfilled)
    assert outputs[0].met is None
    assert outputs[0].elapsed_seconds == 30 * 24 * 3600


def test_business_calendar_counts_only_open_hours(tracker: Tracker, created: Created) -> None:
    """A business-tier 8h target opened Friday 16:00 is due Monday 16:00; 75% warns Monday 14:00."""
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    outputs = simulate(tracker, [created(friday, tier="business")], friday + 5 * 24 * H)
    assert summary([o for o in outputs if o.target == "first_response"]) == [
        (
            "warning",
            "T1:first_response:1:75%",
            datetime(2026, 11, 30, 14, 0, tzinfo=UTC).isoformat(),
        ),
        ("breached", "T1:first_response:1", datetime(2026, 11, 30, 16, 0, tzinfo=UTC).isoformat()),
        ("outcome", "T1:first_response:1", "breached"),
    ]


# --- transitions -------------------------------------------------------------------------------


def test_duplicate_event_changes_nothing(tracker: Tracker, created: Created) -> None:
    """Applying the same event_id twice is a no-op: same state, no outputs."""
    opened = created()
    state, _ = tracker.apply(None, opened, T0)
    again, outputs = tracker.apply(state, opened, T0 + H)
    assert again is state
    assert outputs == []


def test_response_before_creation_is_held(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """A response that arrives before its creation waits for it, then counts as in order."""
    state, outputs = tracker.apply(None, make_event(TicketResponded, T0 + 10 * M), T0 + 10 * M)
    assert outputs == []
    assert state is not None
    state, outputs = tracker.apply(state, created(), T0 + 10 * M)
    assert summary([o for o in outputs if o.target == "first_response"]) == [
        ("outcome", "T1:first_response:1", "met"),
        ("fulfilled", "T1:first_response:1", "True"),
    ]


def test_event_stamped_before_creation_counts_at_creation(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """A response stamped before the creation (clock skew) counts as immediate."""
    outputs = simulate(tracker, [created(), make_event(TicketResponded, T0 - 5 * M)], T0 + H)
    fulfilled = next(o for o in outputs if isinstance(o, TargetFulfilled))
    assert fulfilled.elapsed_seconds == 0


@pytest.mark.parametrize(
    ("new_priority", "update_after", "expected_deadline", "breached_at_once"),
    [
        # P3 (48h) becomes P1 (2h) after 3h: the new deadline is already past.
        ("P1", 3 * H, T0 + 2 * H, True),
        # P3 becomes P2 (4h) after 1h: the deadline moves to start + 4h.
        ("P2", 1 * H, T0 + 4 * H, False),
        # P3 becomes P1 exactly at the new deadline: not yet past, breaches just after.
        ("P1", 2 * H, T0 + 2 * H, False),
    ],
)
def test_priority_change_reevaluates_from_original_start(
    tracker: Tracker,
    new_priority: str,
    update_after: timedelta,
    expected_deadline: datetime,
    breached_at_once: bool,
    created: Created,
    make_event: MakeEvent,
) -> None:
    """A priority change re-evaluates the running target from its original start."""
    update = make_event(TicketUpdated, T0 + update_after, priority=new_priority)
    outputs = simulate(tracker, [created(priority="P3"), update], T0 + 10 * H)
    breach = next(o for o in outputs if isinstance(o, SlaBreached) and o.target == "first_response")
    assert breach.deadline == expected_deadline
    assert breach.priority == new_priority
    expected_detection = T0 + update_after if breached_at_once else expected_deadline
    assert breach.detected_at >= expected_detection
    if breached_at_once:
        assert breach.detected_at == T0 + update_after


def test_priority_change_to_slower_target_avoids_breach(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """Lowering the priority before the deadline pushes the deadline out; no breach at 2h."""
    update = make_event(TicketUpdated, T0 + 1 * H, priority="P2")
    respond = make_event(TicketResponded, T0 + 3 * H)
    outputs = simulate(tracker, [created(), update, respond], T0 + 10 * H)
    first = [o for o in outputs if o.target == "first_response"]
    assert not any(isinstance(o, SlaBreached) for o in first)
    outcome = next(o for o in first if isinstance(o, SlaOutcome))
    assert (outcome.outcome, outcome.priority, outcome.deadline) == ("met", "P2", T0 + 4 * H)


def test_warnings_fired_before_update_are_not_repeated(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """Each threshold fires at most once per cycle, even when a change moves its instant."""
    update = make_event(TicketUpdated, T0 + 70 * M, priority="P2")  # after 50% of 2h
    outputs = simulate(tracker, [created(), update], T0 + 10 * H)
    ids = [o.id for o in outputs if isinstance(o, SlaWarning) and o.target == "first_response"]
    assert len(ids) == len(set(ids)) == 4


def test_pause_stops_resolution_clock_not_first_response(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """A 1h pause pushes the pausable resolution deadline by 1h and leaves first response alone."""
    events = [
        created(),
        make_event(TicketPaused, T0 + 1 * H),
        make_event(TicketResumed, T0 + 2 * H),
    ]
    outputs = simulate(tracker, events, T0 + 10 * H)
    breaches = {o.target: o.deadline for o in outputs if isinstance(o, SlaBreached)}
    assert breaches == {"first_response": T0 + 2 * H, "resolution": T0 + 5 * H}


def test_resolve_while_paused_counts_until_the_pause(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """Resolving a paused ticket is met, with counted time stopping at the pause."""
    events = [
        created(),
        make_event(TicketPaused, T0 + 1 * H),
        make_event(TicketResolved, T0 + 9 * H),
    ]
    outputs = simulate(tracker, events, T0 + 10 * H)
    resolution = next(o for o in outputs if isinstance(o, SlaOutcome) and o.target == "resolution")
    assert (resolution.outcome, resolution.elapsed_seconds) == ("met", 3600)


def test_pause_and_resume_edge_cases_are_ignored(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """A resume without a pause, and a second pause, change nothing."""
    events = [
        created(),
        make_event(TicketResumed, T0 + 10 * M),
        make_event(TicketPaused, T0 + 1 * H),
        make_event(TicketPaused, T0 + 90 * M),
        make_event(TicketResumed, T0 + 2 * H),
    ]
    outputs = simulate(tracker, events, T0 + 10 * H)
    breach = next(o for o in outputs if isinstance(o, SlaBreached) and o.target == "resolution")
    assert breach.deadline == T0 + 5 * H


def test_reopen_starts_a_new_resolution_cycle(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """A reopened ticket gets a fresh resolution cycle, numbered 2, from the reopen instant."""
    events = [
        created(),
        make_event(TicketResolved, T0 + 1 * H),
        make_event(TicketReopened, T0 + 2 * H),
        make_event(TicketReopened, T0 + 3 * H),  # already open: no third cycle
    ]
    outputs = simulate(tracker, events, T0 + 10 * H)
    rows = summary([o for o in outputs if not isinstance(o, SlaWarning)])
    assert ("outcome", "T1:resolution:1", "met") in rows
    assert ("breached", "T1:resolution:2", (T0 + 6 * H).isoformat()) in rows
    assert not any("resolution:3" in row[1] for row in rows)
    # resolving fulfilled first_response too
    assert ("outcome", "T1:first_response:1", "met") in rows


def test_reopen_of_an_open_ticket_is_ignored(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """Reopening a ticket that was never resolved starts nothing."""
    outputs = simulate(tracker, [created(), make_event(TicketReopened, T0 + H)], T0 + 10 * H)
    assert {o.cycle for o in outputs} == {1}


def test_second_creation_and_second_response_change_nothing(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """Only the first creation and the first response count."""
    events = [
        created(),
        created(T0 + H, priority="P3"),
        make_event(TicketResponded, T0 + 30 * M),
        make_event(TicketResponded, T0 + 3 * H),
    ]
    outputs = simulate(tracker, events, T0 + 10 * H)
    first = [o for o in outputs if o.target == "first_response" and not isinstance(o, SlaWarning)]
    assert summary(first) == [
        ("outcome", "T1:first_response:1", "met"),
        ("fulfilled", "T1:first_response:1", "True"),
    ]


def test_tier_change_to_no_commitment_stops_deadlines(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """Moving a ticket to a tier without commitment removes its deadlines."""
    outputs = simulate(
        tracker, [created(), make_event(TicketUpdated, T0 + 10 * M, tier="pro")], T0 + 100 * H
    )
    assert all(isinstance(o, SlaWarning) is False for o in outputs)
    assert outputs == []


def test_unknown_tier_after_policy_change_is_measured_only(
    policy: Policy, created: Created, make_event: MakeEvent
) -> None:
    """A stored ticket whose tier the new policy lacks is measured, never breached."""
    tracker = Tracker(policy)
    outputs = simulate(
        tracker,
        [created(tier="gone"), make_event(TicketResponded, T0 + 100 * H)],
        T0 + 200 * H,
    )
    assert [type(o) for o in outputs] == [TargetFulfilled]


def test_future_event_waits_for_the_clock(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """Outputs of an event stamped after the clock are emitted once the clock reaches them."""
    state, outputs = tracker.apply(None, created(), T0)
    assert state is not None
    state, outputs = tracker.apply(state, make_event(TicketResponded, T0 + 3 * H), T0 + H)
    assert summary(outputs) == [("warning", "T1:first_response:1:50%", (T0 + H).isoformat())]
    assert state is not None
    assert state.due_at is not None
    assert state.due_at <= T0 + 2 * H + S
    state, outputs = tracker.advance(state, T0 + 10 * H)
    assert ("breached", "T1:first_response:1", (T0 + 2 * H).isoformat()) in summary(outputs)


def test_advance_before_due_is_a_no_op(tracker: Tracker, created: Created) -> None:
    """Advancing to a clock before the next due instant changes nothing."""
    state, _ = tracker.apply(None, created(), T0)
    assert state is not None
    again, outputs = tracker.advance(state, T0 + M)
    assert (again, outputs) == (state, [])


def test_finished_ticket_is_forgotten_after_retention(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """A resolved ticket is dropped 7 days after its last event, an orphan likewise."""
    state, _ = tracker.apply(None, created(), T0)
    state, _ = tracker.apply(state, make_event(TicketResolved, T0 + H), T0 + H)
    assert state is not None
    assert state.due_at == T0 + H + timedelta(days=7)
    kept, _ = tracker.advance(state, T0 + H + timedelta(days=6))
    assert kept is state
    gone, outputs = tracker.advance(state, T0 + H + timedelta(days=7))
    assert (gone, outputs) == (None, [])
    orphan, _ = tracker.apply(None, make_event(TicketResolved, T0, ticket="T9"), T0)
    assert orphan is not None
    assert orphan.due_at == T0 + timedelta(days=7)
    assert tracker.advance(orphan, T0 + timedelta(days=8)) == (None, [])


def test_open_ticket_without_deadline_is_kept(tracker: Tracker, created: Created) -> None:
    """An open ticket without a deadline stays until open retention (its outcome may come)."""
    state, _ = tracker.apply(None, created(tier="pro"), T0)
    assert state is not None
    assert state.due_at == T0 + timedelta(days=90)


def test_responses_past_the_cap_are_ignored(policy: Policy, make_event: MakeEvent) -> None:
    """A ticket keeps at most max_events events: later responses no decision needs are ignored."""
    tracker = Tracker(policy, max_events=3)
    state: TicketState | None = None
    for i in range(5):
        state, _ = tracker.apply(state, make_event(TicketResponded, T0 + i * M), T0 + i * M)
    assert state is not None
    assert len(state.events) == 3


# --- properties ------------------------------------------------------------------------------

_KINDS = st.sampled_from(
    [TicketResponded, TicketUpdated, TicketPaused, TicketResumed, TicketResolved, TicketReopened]
)


@st.composite
def histories(draw: st.DrawFn) -> list[InputEvent]:
    """One ticket's events: a creation and up to 8 later events within 12 hours."""
    tier = draw(st.sampled_from(["enterprise", "business", "pro"]))
    priority = draw(st.sampled_from(["P1", "P2", "P3", "P4"]))
    events: list[InputEvent] = [
        TicketCreated(event_id="c", ticket_id="T1", occurred_at=T0, tier=tier, priority=priority)
    ]
    for i in range(draw(st.integers(0, 8))):
        kind = draw(_KINDS)
        at = T0 + timedelta(seconds=draw(st.integers(-600, 12 * 3600)))
        fields: dict[str, str] = {}
        if kind is TicketUpdated:
            fields["priority"] = draw(st.sampled_from(["P1", "P2", "P3", "P4"]))
        events.append(kind(event_id=f"x{i}", ticket_id="T1", occurred_at=at, **fields))  # type: ignore[arg-type]
    return events


END = T0 + timedelta(days=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), data=st.data())
def test_any_permutation_and_duplication_gives_the_same_outputs(
    tracker: Tracker, history: list[InputEvent], data: st.DataObject
) -> None:
    """Events in any order, with duplicates, before the clock moves, give the same outputs."""
    delivered = data.draw(
        st.permutations(history + data.draw(st.lists(st.sampled_from(history), max_size=4)))
    )

    def run(order: list[InputEvent]) -> list[OutputEvent]:
        state: TicketState | None = None
        outputs: list[OutputEvent] = []
        for ev in order:
            state, out = tracker.apply(state, ev, T0 - H)
            outputs += out
        assert state is not None
        _, out = tracker.advance(state, END)
        return outputs + out

    in_order = run(sorted(history, key=lambda e: e.occurred_at))
    assert comparable(run(delivered)) == comparable(in_order)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories(), checks=st.lists(st.integers(0, 14 * 3600), max_size=6))
def test_any_clock_schedule_gives_the_perfect_clock_outputs(
    tracker: Tracker, history: list[InputEvent], checks: list[int]
) -> None:
    """Ticks at arbitrary instants emit what the perfect clock does, each output once."""
    perfect = simulate(tracker, history, END)
    state: TicketState | None = None
    outputs: list[OutputEvent] = []
    ticks = sorted(T0 + timedelta(seconds=s) for s in checks)
    for ev in sorted(history, key=event_order):
        while ticks and ticks[0] < ev.occurred_at and state is not None:
            state, out = tracker.advance(state, ticks.pop(0))
            outputs += out
        clock = max(ev.occurred_at, T0)
        state, out = tracker.apply(state, ev, clock)
        outputs += out
    while state is not None and state.due_at is not None and state.due_at <= END:
        state, out = tracker.advance(state, END)
        outputs += out
        if state is not None and state.due_at is not None and state.due_at <= END:
            break
    keys = [(type(o).__name__, o.id) for o in outputs]
    assert len(keys) == len(set(keys)), "an output was emitted twice"
    if not any(ev.occurred_at < T0 for ev in history):
        assert comparable(outputs) == comparable(perfect)


@settings(max_examples=200, deadline=None)
@given(
    tier=st.sampled_from(["enterprise", "business"]),
    priority=st.sampled_from(["P1", "P2", "P3"]),
    fraction=st.floats(0, 1),
)
def test_fulfilled_by_the_deadline_never_breaches(
    tracker: Tracker,
    tier: str,
    priority: str,
    fraction: float,
    created: Created,
    make_event: MakeEvent,
) -> None:
    """A first response at or before its deadline is met and never breached."""
    target = tracker.policy.target_for(tier, priority, "first_response")
    assert target is not None
    assert target.within_s is not None
    deadline = target.calendar.deadline(T0, timedelta(seconds=target.within_s))
    respond_at = T0 + (deadline - T0) * fraction
    outputs = simulate(
        tracker,
        [created(tier=tier, priority=priority), make_event(TicketResponded, respond_at)],
        END,
    )
    first = [o for o in outputs if o.target == "first_response"]
    assert not any(isinstance(o, SlaBreached) for o in first)
    assert [o.outcome for o in first if isinstance(o, SlaOutcome)] == ["met"]


@settings(max_examples=100, deadline=None)
@given(
    tier=st.sampled_from(["enterprise", "business"]),
    priority=st.sampled_from(["P1", "P2", "P3", "P4"]),
)
def test_never_fulfilled_breaches_exactly_once_per_cycle(
    tracker: Tracker, tier: str, priority: str, created: Created
) -> None:
    """A ticket never answered breaches once per target that has a deadline, and once only."""
    outputs = simulate(tracker, [created(tier=tier, priority=priority)], END)
    breaches = [o.id for o in outputs if isinstance(o, SlaBreached)]
    with_deadline = [
        name
        for name in ("first_response", "resolution")
        if (t := tracker.policy.target_for(tier, priority, name)) is not None
        and t.within_s is not None
    ]
    assert sorted(breaches) == sorted(f"T1:{name}:1" for name in with_deadline)


def test_pausable_first_response_and_short_budget(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """A pausable 10m first response answered during a pause counts until the pause; a 15m
    warning cannot fire on a 10m budget, the ratios do."""
    events = [
        created(tier="elite"),
        make_event(TicketPaused, T0 + 8 * M),
        make_event(TicketResponded, T0 + 30 * M),
    ]
    outputs = simulate(tracker, events, T0 + H)
    first = [o for o in outputs if o.target == "first_response"]
    assert [o.id for o in first if isinstance(o, SlaWarning)] == [
        "T1:first_response:1:50%",
        "T1:first_response:1:75%",
    ]
    outcome = next(o for o in first if isinstance(o, SlaOutcome))
    assert (outcome.outcome, outcome.elapsed_seconds) == ("met", 480)
    assert outcome.deadline == T0 + 32 * M  # 10m budget, pushed by the 22m of pause so far


def test_running_targets_describe_open_cycles(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """The state lists each open cycle: its deadline, paused flag, no deadline once breached."""
    state, _ = tracker.apply(None, created(), T0)
    assert state is not None
    assert state.running == (
        RunningTarget("enterprise", "P1", "first_response", T0 + 2 * H, False),
        RunningTarget("enterprise", "P1", "resolution", T0 + 4 * H, False),
    )
    state, _ = tracker.apply(state, make_event(TicketPaused, T0 + H), T0 + H)
    assert state is not None
    assert [(r.target, r.paused, r.deadline) for r in state.running] == [
        ("first_response", False, T0 + 2 * H),
        ("resolution", True, None),
    ]
    state, _ = tracker.advance(state, T0 + 3 * H)
    assert state is not None
    assert state.running[0].deadline is None  # breached, still open
    state, _ = tracker.apply(state, make_event(TicketResolved, T0 + 4 * H), T0 + 4 * H)
    assert state is not None
    assert state.running == ()


def test_emitted_outputs_are_rebuilt_identically(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """Outputs recorded as emitted can be rebuilt after a crash, same ids and content."""
    events = [created(), make_event(TicketResponded, T0 + 3 * H)]
    state: TicketState | None = None
    emitted: list[OutputEvent] = []
    for ev in events:
        state, out = tracker.apply(state, ev, ev.occurred_at)
        emitted += out
    assert state is not None
    rebuilt = tracker.emitted_outputs(state, detected_at=T0)
    public = [o for o in emitted if not isinstance(o, TargetFulfilled)]
    assert comparable(rebuilt) >= comparable(public)
    assert {o.id for o in rebuilt} == {o.id for o in emitted}


def test_only_the_outputs_recorded_as_emitted_are_rebuilt(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """Rebuilding republishes exactly the keys the state records, even an outcome alone."""
    state, outputs = tracker.apply(None, created(), T0)
    assert state is not None
    state, outputs = tracker.apply(state, make_event(TicketResponded, T0 + H), T0 + H)
    assert state is not None
    assert "first_response:1:fulfilled" in state.emitted
    partial = replace(state, emitted=("first_response:1:outcome",))
    rebuilt = tracker.emitted_outputs(partial, detected_at=T0)
    assert [(type(o).__name__, o.id) for o in rebuilt] == [("SlaOutcome", "T1:first_response:1")]
    assert rebuilt == [o for o in outputs if isinstance(o, SlaOutcome)]


def test_outputs_are_complete_dataclass_values(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """Outputs (built slot by slot, for speed) equal the same fields passed to the class."""
    events = [
        created(priority="P3"),
        make_event(TicketUpdated, T0 + 30 * M, priority="P1"),
        make_event(TicketPaused, T0 + H),
        make_event(TicketResumed, T0 + 2 * H),
        make_event(TicketResponded, T0 + 3 * H),
        make_event(TicketResolved, T0 + 9 * H),
    ]
    outputs = simulate(tracker, events, END)
    assert {type(o) for o in outputs} == {SlaWarning, SlaBreached, SlaOutcome, TargetFulfilled}
    for out in outputs:
        assert not hasattr(type(out), "__post_init__")  # nothing the fast build would skip
        values = {f.name: getattr(out, f.name) for f in fields(out)}
        assert type(out)(**values) == out
        assert repr(type(out)(**values)) == repr(out)


def test_every_output_carries_the_creations_customer_id(
    tracker: Tracker, created: Created, make_event: MakeEvent
) -> None:
    """The customer_id of the ticket's earliest creation is on every output, rebuilt ones too."""
    events = [
        make_event(TicketCreated, T0, tier="enterprise", priority="P1", customer_id="acme"),
        make_event(TicketCreated, T0 + M, tier="enterprise", priority="P1", customer_id="other"),
        make_event(TicketUpdated, T0 + 30 * M, priority="P2"),
        make_event(TicketResponded, T0 + 5 * H),
        make_event(TicketResolved, T0 + 6 * H),
    ]
    outputs = simulate(tracker, events, END)
    assert {type(o) for o in outputs} == {SlaWarning, SlaBreached, SlaOutcome, TargetFulfilled}
    assert {(o.customer_id, o.tier, o.priority) for o in outputs} == {("acme", "enterprise", "P2")}
    state: TicketState | None = None
    for event in events:
        state, _ = tracker.apply(state, event, event.occurred_at)
    assert state is not None
    assert comparable(tracker.emitted_outputs(state, detected_at=T0)) == comparable(outputs)
    plain = [created(ticket="T2"), make_event(TicketResponded, T0 + M, "T2")]
    assert {o.customer_id for o in simulate(tracker, plain, END)} == {None}

"""What of the tracker's outputs is published, and as what (``worker.core.events.published``).

The one decision the worker's agent and ``simulate`` share: warnings, breaches and outcomes
as they are, a fulfilment after a breach as an ``sla.late_fulfilment``, every other
fulfilment not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from worker.core.events import (
    InputEvent,
    SlaBreached,
    SlaLateFulfilment,
    SlaOutcome,
    SlaWarning,
    TargetFulfilled,
    TicketCreated,
    TicketPaused,
    TicketResolved,
    TicketResponded,
    TicketResumed,
    published,
)
from worker.core.policy import Policy
from worker.core.tracker import Tracker
from worker.simulate import Simulation

# Monday 23 November 2026, 10:00 UTC.
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)

MakeEvent = Callable[..., InputEvent]

FIELDS: dict[str, Any] = {
    "ticket_id": "T-1",
    "customer_id": "acme",
    "tier": "gold",
    "priority": "P1",
    "target": "first_response",
    "cycle": 1,
    "commitment": "sla",
    "started_at": T0,
    "deadline": T0 + H,
    "target_seconds": 3600,
    "policy": "test-support",
}


def fulfilled(met: bool | None, elapsed_s: float, **changes: Any) -> TargetFulfilled:
    return TargetFulfilled(
        **FIELDS | changes,
        fulfilled_at=T0 + timedelta(seconds=elapsed_s),
        elapsed_seconds=elapsed_s,
        met=met,
    )


@pytest.mark.parametrize(
    "output",
    [
        SlaWarning(**FIELDS, threshold="75%", detected_at=T0 + 45 * M, remaining_seconds=900),
        SlaBreached(**FIELDS, detected_at=T0 + H),
        SlaOutcome(**FIELDS, outcome="met", fulfilled_at=T0 + M, elapsed_seconds=60),
        SlaOutcome(**FIELDS, outcome="breached", fulfilled_at=None, elapsed_seconds=3600),
    ],
    ids=lambda o: o.type,
)
def test_warnings_breaches_and_outcomes_are_published_as_they_are(
    output: SlaWarning | SlaBreached | SlaOutcome,
) -> None:
    """A warning, a breach or an outcome is published unchanged (the same object)."""
    assert published(output) is output


@pytest.mark.parametrize(
    "output",
    [fulfilled(True, 600), fulfilled(None, 600, deadline=None, target_seconds=None)],
    ids=["met-on-time", "no-deadline"],
)
def test_fulfilments_on_time_or_without_deadline_stay_internal(output: TargetFulfilled) -> None:
    """A fulfilment met on time, or of a target without a deadline, is not published."""
    assert published(output) is None


def test_a_fulfilment_after_the_breach_is_published_as_a_late_fulfilment() -> None:
    """A late fulfilment keeps every common field and adds the counted seconds over the target."""
    late = published(fulfilled(False, 3600 + 125.5))
    assert late == SlaLateFulfilment(
        **FIELDS,
        fulfilled_at=T0 + timedelta(seconds=3725.5),
        elapsed_seconds=3725.5,
        over_seconds=125.5,
    )
    assert isinstance(late, SlaLateFulfilment)
    assert (late.type, late.id, late.outcome_id) == (
        "sla.late_fulfilment",
        "T-1:first_response:1:late",
        "T-1:first_response:1",
    )


def test_time_over_is_never_negative() -> None:
    """Counted time over the target is elapsed - target, and 0 rather than below."""
    late = published(fulfilled(False, 3000))
    assert isinstance(late, SlaLateFulfilment)
    assert late.over_seconds == 0


def test_a_replay_publishes_one_late_fulfilment_after_the_breached_outcome(
    make_policy: Callable[..., Policy], make_event: MakeEvent
) -> None:
    """Answered 25 min after a 1h deadline with a 10 min pause before it (a pausable target):
    the breach, the breached outcome, then the late fulfilment 25 counted minutes over."""
    pausable = {"P1": {"within": "1h", "pausable": True}}
    policy = make_policy(**{"tiers.gold.targets.first_response": pausable})
    events = [
        make_event(TicketCreated, T0, ticket="L"),
        make_event(TicketPaused, T0 + 20 * M, ticket="L"),
        make_event(TicketResumed, T0 + 30 * M, ticket="L"),
        make_event(TicketResponded, T0 + 95 * M, ticket="L"),
        make_event(TicketCreated, T0, ticket="O"),
        make_event(TicketResolved, T0 + 30 * M, ticket="O"),
    ]
    outputs = list(Simulation(Tracker(policy)).run(events, until=T0 + 3 * H))
    shown = [
        (o.type, o.id)
        for o in filter(None, map(published, outputs))
        if o.target == "first_response" and not isinstance(o, SlaWarning)
    ]
    assert shown == [
        ("sla.outcome", "O:first_response:1"),
        ("sla.breached", "L:first_response:1"),
        ("sla.outcome", "L:first_response:1"),
        ("sla.late_fulfilment", "L:first_response:1:late"),
    ]
    [late] = [o for o in map(published, outputs) if isinstance(o, SlaLateFulfilment)]
    assert (late.deadline, late.fulfilled_at) == (T0 + 70 * M, T0 + 95 * M)
    assert (late.elapsed_seconds, late.over_seconds) == (85 * 60, 25 * 60)

"""The load generator's plan: deterministic, faithful to the shares asked, valid on the wire.

Everything here runs without Kafka: the plan is a pure function of the profile, the policy
and the start, and `play` takes an injected clock, sleep and sink.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from worker.core.events import (
    InputEvent,
    SlaOutcome,
    TicketCreated,
    TicketResolved,
    TicketResponded,
    TicketUpdated,
)
from worker.core.policy import Policy
from worker.core.tracker import Tracker
from worker.edge.codec import Rejected, check_references, decode_event, encode_input
from worker.edge.policy_file import load_policy
from worker.loadgen import (
    LoadProfile,
    LoadStats,
    TicketPlan,
    generate_events,
    plan_tickets,
    play,
    timeline,
)
from worker.simulate import Simulation

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "policies" / "demo.yaml"
# A Monday morning in Los Angeles: the test policy's business calendar opens and closes
# (and the weekend passes) while these tickets live.
START = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
MANY = 4_000


def plans(policy: Policy, **profile: object) -> list[TicketPlan]:
    options: dict[str, object] = {"rate": 0.05, "tickets": 300, "seed": 1} | profile
    return list(plan_tickets(policy, LoadProfile(**options), START))  # type: ignore[arg-type]


def wire(events: list[InputEvent]) -> list[bytes]:
    return [encode_input(event) for event in events]


def first_response_deadline(policy: Policy, plan: TicketPlan) -> datetime | None:
    """The deadline in effect at the response, from the policy alone (not the generator)."""
    created = plan.events[0]
    assert isinstance(created, TicketCreated)
    priority = created.priority
    for event in plan.events:
        if isinstance(event, TicketUpdated) and event.priority is not None:
            priority = event.priority
    target = policy.target_for(created.tier, priority, "first_response")
    assert target is not None
    if target.within_s is None:
        return None
    return target.calendar.deadline(created.occurred_at, timedelta(seconds=target.within_s))


def test_same_seed_same_traffic_other_seed_other_traffic(make_policy: Callable[..., Policy]):
    """The plan is a pure function of seed and parameters: the wire bytes repeat exactly."""
    policy = make_policy()
    profile = LoadProfile(rate=3, tickets=200, seed=42)
    first = wire(list(generate_events(policy, profile, START)))
    again = wire(list(generate_events(policy, profile, START)))
    other = wire(list(generate_events(policy, LoadProfile(rate=3, tickets=200, seed=43), START)))
    assert first == again
    assert first != other


def test_a_longer_run_begins_with_the_shorter_one(make_policy: Callable[..., Policy]):
    """Asking for more tickets extends the traffic; the first tickets stay the same."""
    policy = make_policy()
    short = plans(policy, tickets=50)
    long = plans(policy, tickets=80)
    assert long[:50] == short


@pytest.mark.parametrize(("late", "never"), [(0.2, 0.05), (0.5, 0.0), (0.0, 0.3)])
def test_late_and_never_shares_are_roughly_as_asked(
    make_policy: Callable[..., Policy], late: float, never: float
):
    """Among tickets with a first-response deadline, late and never come at the asked rates."""
    policy = make_policy()
    drawn = [p for p in plans(policy, tickets=MANY, late=late, never=never) if p.deadline]
    fates = Counter(plan.fate for plan in drawn)
    assert len(drawn) > MANY // 3
    assert fates["late"] / len(drawn) == pytest.approx(late, abs=0.03)
    assert fates["never"] / len(drawn) == pytest.approx(never, abs=0.03)
    assert fates["unmeasured"] == 0


def test_tiers_and_priorities_follow_the_weights(make_policy: Callable[..., Policy]):
    """Weights set the mix; a zero weight leaves a tier out."""
    policy = make_policy()
    drawn = plans(
        policy,
        tickets=MANY,
        tier_weights={"gold": 3, "silver": 1, "free": 0},
        priority_weights={"P1": 1, "P4": 1},
    )
    tiers = Counter(plan.events[0].tier for plan in drawn)  # type: ignore[union-attr]
    assert set(tiers) == {"gold", "silver"}
    assert tiers["gold"] / MANY == pytest.approx(0.75, abs=0.03)
    first_priorities = {plan.events[0].priority for plan in drawn}  # type: ignore[union-attr]
    assert first_priorities == {"P1", "P4"}


def test_every_event_decodes_and_names_what_the_policy_knows(make_policy: Callable[..., Policy]):
    """Each generated event survives the codec unchanged and passes the policy check."""
    policy = make_policy()
    tiers, priorities = frozenset(policy.tiers), frozenset(policy.priorities)
    events = list(generate_events(policy, LoadProfile(rate=1, tickets=500, seed=5), START))
    for event in events:
        decoded = decode_event(encode_input(event))
        assert not isinstance(decoded, Rejected), decoded
        assert decoded == event
        assert check_references(decoded, tiers=tiers, priorities=priorities) is None
    assert len({event.event_id for event in events}) == len(events)
    assert {event.type for event in events} == {
        "ticket.created",
        "ticket.responded",
        "ticket.updated",
        "ticket.paused",
        "ticket.resumed",
        "ticket.resolved",
        "ticket.reopened",
    }


def test_responses_fall_on_the_side_of_the_deadline_their_fate_says(
    make_policy: Callable[..., Policy],
):
    """Late responses come after the calendar's deadline, on-time ones by it, never ones not."""
    policy = make_policy()  # silver counts on a business calendar with holidays
    drawn = plans(policy, tickets=1_500, late=0.3, never=0.1, updates=0.3)
    fates = Counter()
    for plan in drawn:
        deadline = first_response_deadline(policy, plan)
        assert plan.deadline == deadline
        responses = [e for e in plan.events if isinstance(e, TicketResponded)]
        fates[plan.fate] += 1
        if plan.fate == "never":
            assert not responses
            assert not any(isinstance(e, TicketResolved) for e in plan.events)
            continue
        assert deadline is not None or plan.fate == "unmeasured"
        responded_at = responses[0].occurred_at
        if plan.fate == "late":
            assert deadline is not None
            assert responded_at > deadline, plan.ticket_id
        elif plan.fate == "on_time":
            assert deadline is not None
            assert responded_at <= deadline, plan.ticket_id
    assert min(fates.values()) > 50, fates


def test_escalations_come_before_the_response(make_policy: Callable[..., Policy]):
    """A priority change lands after the creation and before the first response."""
    policy = make_policy()
    escalated = [p for p in plans(policy, tickets=1_000, updates=1.0) if p.fate != "never"]
    assert escalated
    for plan in escalated:
        kinds = [type(event) for event in plan.events]
        assert kinds.index(TicketUpdated) < kinds.index(TicketResponded)
        updated = plan.events[kinds.index(TicketUpdated)]
        assert updated.priority != plan.events[0].priority  # type: ignore[union-attr]
        assert updated.priority == plan.priority  # type: ignore[union-attr]


def test_no_event_comes_before_its_ticket_is_created(make_policy: Callable[..., Policy]):
    """Within a ticket events are in time order, starting with its creation."""
    policy = make_policy()
    for plan in plans(policy, tickets=1_000, pauses=0.5, reopens=0.5, updates=0.5):
        assert isinstance(plan.events[0], TicketCreated)
        times = [event.occurred_at for event in plan.events]
        assert times == sorted(times)
        assert all(at >= plan.created_at for at in times)
        assert plan.created_at > START


def test_timeline_merges_every_ticket_in_event_time_order(make_policy: Callable[..., Policy]):
    """The merged stream holds every planned event once, in non-decreasing time."""
    policy = make_policy()
    drawn = plans(policy, tickets=400, rate=0.5)
    merged = [event for event, _ in timeline(drawn)]
    assert sorted(e.event_id for e in merged) == sorted(
        e.event_id for plan in drawn for e in plan.events
    )
    times = [event.occurred_at for event in merged]
    assert times == sorted(times)


def test_duration_bounds_the_creations(make_policy: Callable[..., Policy]):
    """With a duration, tickets are created within it (at about the rate); followups may not."""
    policy = make_policy()
    drawn = list(plan_tickets(policy, LoadProfile(rate=2, duration_s=600, seed=3), START))
    assert all(plan.created_at < START + timedelta(seconds=600) for plan in drawn)
    assert len(drawn) == pytest.approx(1_200, rel=0.1)


def test_ticket_ids_carry_the_seed_unless_a_prefix_is_given(make_policy: Callable[..., Policy]):
    """Default ids are T-<seed>-NNNNN, so two seeds never share a ticket id."""
    policy = make_policy()
    assert plans(policy, tickets=2, seed=77)[1].ticket_id == "T-77-00002"
    assert plans(policy, tickets=1, prefix="load-")[0].ticket_id == "load-00001"


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({"late": 0.7, "never": 0.4}, "late and never together"),
        ({"rate": 0}, "rate must be a positive"),
        ({"pauses": 1.5}, "pauses must be a share"),
        ({"tier_weights": {"platinum": 1}}, "unknown tier 'platinum'"),
        ({"priority_weights": {"P1": 0}}, "priority weights are all zero"),
    ],
)
def test_impossible_profiles_are_refused_by_name(
    make_policy: Callable[..., Policy], profile: dict[str, object], message: str
):
    """A bad parameter is a ValueError that names it."""
    with pytest.raises(ValueError, match=message):
        plans(make_policy(), **profile)


def test_the_tracker_breaches_exactly_the_late_and_never_tickets():
    """Replayed through the real tracker, first-response breaches are the late and never ones."""
    policy = load_policy(DEMO)
    drawn = list(plan_tickets(policy, LoadProfile(rate=1, tickets=1_500, seed=9), START))
    expected = {
        plan.ticket_id
        for plan in drawn
        if plan.fate in ("late", "never")
        and plan.deadline is not None
        and policy.tiers[plan.tier].commitment != "none"
    }
    simulation = Simulation(Tracker(policy))
    events = [event for plan in drawn for event in plan.events]
    breached = {
        output.ticket_id
        for output in simulation.run(events, until=START + timedelta(days=2))
        if isinstance(output, SlaOutcome)
        and output.target == "first_response"
        and output.outcome == "breached"
    }
    assert breached == expected
    assert len(expected) > 200


# --- play: sending when due ----------------------------------------------------------------


class FakeClock:
    """A clock that moves only when slept on."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += timedelta(seconds=seconds)


async def test_play_sends_each_event_when_its_time_comes(make_policy: Callable[..., Policy]):
    """Past events go at once; later ones only once the clock reaches them."""
    policy = make_policy()
    drawn = plans(policy, tickets=30, rate=1)
    clock = FakeClock(drawn[10].created_at)  # the first ten tickets are history
    sent: list[tuple[datetime, InputEvent]] = []

    async def sink(event: InputEvent) -> None:
        sent.append((clock.now(), event))

    stats = await play(timeline(drawn), sink, now=clock.now, sleep=clock.sleep, stats=LoadStats())
    assert len(sent) == sum(len(plan.events) for plan in drawn)
    assert all(sent_at >= event.occurred_at for sent_at, event in sent)
    history = [event for sent_at, event in sent if sent_at == drawn[10].created_at]
    assert sum(isinstance(event, TicketCreated) for event in history) >= 10
    assert stats.tickets == 30
    assert stats.unsent == 0
    assert sum(stats.fates.values()) == 30
    assert stats.sent["ticket.created"] == 30


async def test_play_stopped_early_reports_what_was_not_sent(make_policy: Callable[..., Policy]):
    """Cancelling the run leaves the stats of what was sent, and counts the rest."""
    policy = make_policy()
    drawn = plans(policy, tickets=20, rate=1)
    stats = LoadStats()
    clock = FakeClock(START)

    async def sink(event: InputEvent) -> None:
        if stats.tickets == 5 and isinstance(event, TicketCreated):
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await play(timeline(drawn), sink, now=clock.now, sleep=clock.sleep, stats=stats)
    assert stats.tickets == 5
    assert stats.unsent == sum(len(plan.events) for plan in drawn[:5]) - stats.events

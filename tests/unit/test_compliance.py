"""Compliance figures over outcomes (``sla-worker report``): groups, percentiles, worst breaches.

Table-driven over hand-made outcomes, then against ``simulate``: a report over the outcomes
a replay publishes (through the wire codec) has the figures the replay computes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness import late_fulfilment

from worker.core.compliance import (
    ComplianceTally,
    GroupFigures,
    compliance_report,
    decided_at,
    decided_within,
    percentile,
)
from worker.core.events import (
    OutputEvent,
    SlaLateFulfilment,
    SlaOutcome,
    TargetFulfilled,
    published,
)
from worker.core.policy import Policy
from worker.core.tracker import Tracker
from worker.edge.codec import Unreadable, encode_output, outcome_lines
from worker.loadgen import LoadProfile, plan_tickets
from worker.simulate import Simulation, TargetStats

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
S = timedelta(seconds=1)

_ids = iter(range(1_000_000))


def outcome(
    met: bool = True,
    elapsed_s: float = 600.0,
    *,
    ticket: str | None = None,
    customer: str | None = None,
    tier: str = "gold",
    priority: str = "P1",
    target: str = "first_response",
    deadline: datetime | None = T0 + H,
    target_s: int | None = 3600,
) -> SlaOutcome:
    """An outcome of a fresh ticket (gold P1 first response, 1h from T0 by default)."""
    return SlaOutcome(
        ticket_id=ticket or f"T{next(_ids)}",
        customer_id=customer,
        tier=tier,
        priority=priority,
        target=target,
        cycle=1,
        commitment="sla",
        started_at=T0,
        deadline=deadline,
        target_seconds=target_s,
        policy="test-support",
        outcome="met" if met else "breached",
        fulfilled_at=T0 + timedelta(seconds=elapsed_s) if met else None,
        elapsed_seconds=elapsed_s,
    )


@pytest.fixture(scope="module")
def policy(make_policy: Callable[..., Policy]) -> Policy:
    """The default unit-test policy: gold sla 0.99, silver slo 0.95, free none; P1..P4."""
    return make_policy()


def rows(figures: tuple[GroupFigures, ...]) -> list[tuple[Any, ...]]:
    return [
        (g.customer_id, g.tier, g.priority, g.target, g.met, g.breached, g.verdict) for g in figures
    ]


# --- percentiles -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [
        pytest.param([], None, None, id="none"),
        pytest.param([42.0], 42.0, 42.0, id="one-value-is-every-percentile"),
        pytest.param([10.0, 20.0], 15.0, 19.0, id="two-values-interpolated"),
        pytest.param([30.0, 10.0, 20.0], 20.0, 28.0, id="three-unsorted"),
        pytest.param([10.0, 20.0, 30.0, 40.0], 25.0, 37.0, id="even-count-middle-mean"),
        pytest.param([5.0, 5.0, 5.0, 9.0], 5.0, 7.8, id="ties-in-the-middle"),
        pytest.param([7.0, 7.0], 7.0, 7.0, id="all-tied"),
    ],
)
def test_percentiles_are_simulates(values: list[float], median: float, p90: float) -> None:
    """Median and p90 by the inclusive method, as simulate's TargetStats computes them."""
    assert percentile(values, 50) == pytest.approx(median)
    assert percentile(values, 90) == pytest.approx(p90)
    stats = TargetStats(response_s=list(values))
    assert (percentile(values, 50), percentile(values, 90)) == (
        stats.percentile(50),
        stats.percentile(90),
    )


# --- groups ----------------------------------------------------------------------------------


def test_an_empty_period_has_no_groups(policy: Policy) -> None:
    """No outcomes: no groups, no worst breaches, zero counts."""
    report = compliance_report([], policy)
    assert (report.groups, report.worst, report.outcomes, report.duplicates) == ((), (), 0, 0)
    assert not report.by_customer


def test_one_tier_counts_compliance_objective_and_met_times(policy: Policy) -> None:
    """Met and breached per group; compliance against the tier's objective; times of the met."""
    outcomes = [
        outcome(elapsed_s=600),
        outcome(elapsed_s=1200),
        outcome(elapsed_s=1800),
        outcome(met=False, elapsed_s=3600),
    ]
    (group,) = compliance_report(outcomes, policy).groups
    assert (group.tier, group.priority, group.target) == ("gold", "P1", "first_response")
    assert (group.met, group.breached, group.total) == (3, 1, 4)
    assert group.compliance == 0.75
    assert (group.objective, group.verdict) == (0.99, "missed")
    # the breached outcome's elapsed (its time at the breach) is no time to fulfil
    assert (group.median_s, group.p90_s) == (1200.0, 1680.0)


@pytest.mark.parametrize(
    ("met", "breached", "objective", "verdict"),
    [
        pytest.param(99, 1, 0.99, "met", id="exactly-the-objective"),
        pytest.param(98, 1, 0.99, "missed", id="just-below"),
        pytest.param(1, 0, 0.99, "met", id="all-met"),
        pytest.param(0, 3, 0.95, "missed", id="all-breached"),
        pytest.param(19, 1, 0.95, "met", id="slo-tier"),
    ],
)
def test_verdict_against_the_objective(
    policy: Policy, met: int, breached: int, objective: float, verdict: str
) -> None:
    """A group meets its objective when compliance reaches it, exactly included."""
    tier = "gold" if objective == 0.99 else "silver"
    outcomes = [outcome(tier=tier) for _ in range(met)]
    outcomes += [outcome(False, 3600, tier=tier) for _ in range(breached)]
    (group,) = compliance_report(outcomes, policy).groups
    assert (group.objective, group.verdict) == (objective, verdict)
    if not met:
        assert (group.median_s, group.p90_s) == (None, None)


def test_groups_come_in_policy_order_unknown_names_last(policy: Policy) -> None:
    """Tiers, priorities and targets in the policy's order; names it lacks after, by name."""
    outcomes = [
        outcome(tier="zinc", priority="P1"),
        outcome(tier="silver", priority="P2", target="first_response"),
        outcome(tier="gold", priority="P9"),
        outcome(tier="gold", priority="P2", target="resolution"),
        outcome(tier="gold", priority="P2", target="first_response"),
        outcome(tier="gold", priority="P1", target="triage"),
        outcome(tier="gold", priority="P1", target="resolution"),
        outcome(tier="amber", priority="P1"),
    ]
    report = compliance_report(outcomes, policy)
    assert [(g.tier, g.priority, g.target) for g in report.groups] == [
        ("gold", "P1", "resolution"),
        ("gold", "P1", "triage"),
        ("gold", "P2", "first_response"),
        ("gold", "P2", "resolution"),
        ("gold", "P9", "first_response"),
        ("silver", "P2", "first_response"),
        ("amber", "P1", "first_response"),
        ("zinc", "P1", "first_response"),
    ]
    unknown = [g for g in report.groups if g.tier in ("amber", "zinc")]
    assert [(g.objective, g.verdict) for g in unknown] == [(None, None), (None, None)]


def test_repeated_ids_count_once(policy: Policy) -> None:
    """At-least-once delivery repeats outcomes: the first of an id counts, repeats apart."""
    first = outcome(ticket="T-dup")
    again = outcome(False, 3600, ticket="T-dup")  # same id: first_response cycle 1 of T-dup
    tally = ComplianceTally(policy)
    assert tally.add(first)
    assert not tally.add(first)
    assert not tally.add(again)
    report = tally.report()
    assert (report.outcomes, report.duplicates) == (1, 2)
    assert rows(report.groups) == [(None, "gold", "P1", "first_response", 1, 0, "met")]


def test_by_customer_groups_missing_ids_together_last(policy: Policy) -> None:
    """--by customer: a group per customer, then tier, priority, target; no customer last."""
    outcomes = [
        outcome(customer=None),
        outcome(customer="globex", tier="silver"),
        outcome(False, customer="acme"),
        outcome(customer=None, priority="P2"),
        outcome(customer="acme"),
        outcome(False, customer=None),
    ]
    report = compliance_report(outcomes, policy, by_customer=True)
    assert report.by_customer
    assert rows(report.groups) == [
        ("acme", "gold", "P1", "first_response", 1, 1, "missed"),
        ("globex", "silver", "P1", "first_response", 1, 0, "met"),
        (None, "gold", "P1", "first_response", 1, 1, "missed"),
        (None, "gold", "P2", "first_response", 1, 0, "met"),
    ]
    plain = compliance_report(outcomes, policy)
    assert [g.customer_id for g in plain.groups] == [None, None, None]


# --- worst breaches --------------------------------------------------------------------------


def test_worst_breaches_not_fulfilled_first_then_most_time_over(policy: Policy) -> None:
    """Worst: the breaches without a late fulfilment by oldest deadline, then those fulfilled
    late by counted time over the target (ties by deadline), the id last."""
    later = outcome(False, 3600, ticket="B", deadline=T0 + 2 * H)
    older = outcome(False, 3600, ticket="C", deadline=T0 + H)
    same_b = outcome(False, 3600, ticket="A", deadline=T0 + H)
    little = outcome(False, 3600, ticket="D", deadline=T0 + 3 * H)
    much = outcome(False, 3600, ticket="E", deadline=T0 + 4 * H)
    much_older = outcome(False, 3600, ticket="G", deadline=T0 + H)
    met = outcome(True, 3000, ticket="F")
    elsewhere = outcome(False, 3600, ticket="X")  # its outcome is not in what was read
    read = [
        later,
        late_fulfilment(little, 90),
        older,
        met,
        late_fulfilment(much, 900),
        same_b,
        little,
        much,
    ]
    read += [much_older, late_fulfilment(much_older, 900), late_fulfilment(elsewhere, 5000)]
    report = compliance_report(read, policy, worst=10)
    assert [(w.outcome.ticket_id, w.over_s) for w in report.worst] == [
        ("A", None),
        ("C", None),
        ("B", None),
        ("G", 900.0),
        ("E", 900.0),
        ("D", 90.0),
    ]
    assert [w.late for w in report.worst[:3]] == [None, None, None]
    assert report.worst[3].late == late_fulfilment(much_older, 900)
    assert (report.outcomes, report.late_fulfilments, report.duplicates) == (7, 4, 0)
    assert rows(report.groups) == [(None, "gold", "P1", "first_response", 1, 6, "missed")]
    top = compliance_report(read, policy).worst  # 5 by default
    assert [w.outcome.ticket_id for w in top] == ["A", "C", "B", "G", "E"]
    assert compliance_report(read, policy, worst=0).worst == ()


def test_late_fulfilments_repeated_count_once_and_never_as_outcomes(policy: Policy) -> None:
    """A late fulfilment read twice is one repeat; it is matched to its outcome by id, before
    or after it, and adds nothing to met, breached or the times of a group."""
    breach = outcome(False, 3600, ticket="L")
    fulfilment = late_fulfilment(breach, 120.5)
    tally = ComplianceTally(policy)
    assert tally.add(fulfilment)
    assert not tally.add(fulfilment)
    assert tally.add(breach)
    assert not tally.add(breach)
    assert not tally.add(late_fulfilment(breach, 7))  # same id, other content: the first one counts
    report = tally.report()
    assert (report.outcomes, report.late_fulfilments, report.duplicates) == (1, 1, 3)
    [worst] = report.worst
    assert (worst.outcome, worst.late, worst.over_s) == (breach, fulfilment, 120.5)
    [group] = report.groups
    assert (group.met, group.breached, group.median_s) == (0, 1, None)


def test_without_late_fulfilments_every_breach_is_not_fulfilled(policy: Policy) -> None:
    """Outcomes alone (an older file): every breach is listed as not fulfilled, by deadline;
    a breach without a deadline (none is written so) comes last."""
    bare = outcome(False, 3600, ticket="A", deadline=None)
    dated = outcome(False, 3600 + 90, ticket="B")  # re-evaluated: decided after its deadline
    other_bare = outcome(False, 3600, ticket="C", deadline=None)
    report = compliance_report([bare, dated, other_bare], policy)
    assert [(w.outcome.ticket_id, w.over_s) for w in report.worst] == [
        ("B", None),
        ("A", None),
        ("C", None),
    ]
    assert report.late_fulfilments == 0


# --- the period of a file --------------------------------------------------------------------


def test_decided_at_is_the_fulfilment_or_the_deadline() -> None:
    """A met outcome was decided at its fulfilment, a breach at its deadline."""
    assert decided_at(outcome(True, 60)) == T0 + 60 * S
    assert decided_at(outcome(False, 3600)) == T0 + H
    assert decided_at(outcome(False, 3600, deadline=None)) is None


@pytest.mark.parametrize(
    ("start", "end", "within"),
    [
        pytest.param(None, None, True, id="unbounded"),
        pytest.param(T0 + H, None, True, id="start-included"),
        pytest.param(T0 + H + S, None, False, id="before-start"),
        pytest.param(None, T0 + H, False, id="end-excluded"),
        pytest.param(None, T0 + H + S, True, id="before-end"),
        pytest.param(T0, T0 + 2 * H, True, id="inside"),
    ],
)
def test_decided_within_a_period(
    start: datetime | None, end: datetime | None, within: bool
) -> None:
    """Periods are [start, end): the start included, the end excluded, None unbounded."""
    assert decided_within(outcome(False, 3600), start, end) is within


def test_an_outcome_without_a_decision_instant_is_in_every_period() -> None:
    """A breach without a deadline (which no worker writes) is never filtered out."""
    assert decided_within(outcome(False, deadline=None), T0, T0 + S)


# --- against simulate ------------------------------------------------------------------------


def replay(policy: Policy, profile: LoadProfile) -> tuple[Simulation, list[OutputEvent]]:
    """Replay loadgen's tickets for ``profile`` until every deadline has passed."""
    events = [event for plan in plan_tickets(policy, profile, T0) for event in plan.events]
    simulation = Simulation(Tracker(policy))
    until = max(event.occurred_at for event in events) + 40 * H
    return simulation, list(simulation.run(events, until=until))


def through_the_wire(outputs: list[OutputEvent]) -> list[SlaOutcome | SlaLateFulfilment]:
    """The outcomes and late fulfilments a replay publishes: encoded, then read back."""
    lines = [encode_output(p) + b"\n" for p in map(published, outputs) if p is not None]
    read = list(outcome_lines(lines))
    assert not [item for item in read if isinstance(item, Unreadable)]
    return [item for item in read if not isinstance(item, Unreadable)]


def test_a_report_over_a_replayed_log_has_simulates_figures(
    make_policy: Callable[..., Policy],
) -> None:
    """Per tier and target, a report over a replay's outcomes has the replay's met, breached,
    median and p90, for a log whose targets are met or never fulfilled (one priority)."""
    # Only first_response has a deadline (resolution is measured only), and tickets are
    # answered in time or never: the times simulate counts are then those of the targets met.
    policy = make_policy(**{"tiers.gold.targets.resolution": {}})
    profile = LoadProfile(
        rate=0.01, tickets=400, seed=16, late=0.0, never=0.15, updates=0.0,
        tier_weights={"gold": 1, "silver": 1}, priority_weights={"P1": 1},
    )  # fmt: skip
    simulation, outputs = replay(policy, profile)
    late = [o for o in outputs if isinstance(o, TargetFulfilled) and o.met is False]
    assert late == []  # the premise: no target fulfilled after its breach
    report = compliance_report(through_the_wire(outputs), policy)
    figures = {(g.tier, g.target): g for g in report.groups}
    decided = {key: stats for key, stats in simulation.stats.items() if stats.met + stats.breached}
    assert (
        set(figures) == set(decided) == {("gold", "first_response"), ("silver", "first_response")}
    )
    for key, stats in decided.items():
        group = figures[key]
        assert (group.met, group.breached) == (stats.met, stats.breached)
        assert group.breached > 0
        assert (group.median_s, group.p90_s) == (stats.percentile(50), stats.percentile(90))


def test_any_replay_report_counts_as_simulate_and_times_the_targets_met(policy: Policy) -> None:
    """For any log (late answers, escalations, pauses, reopenings): met and breached per tier
    and target are simulate's, and each group's times are those of its on-time fulfilments."""
    profile = LoadProfile(rate=0.02, tickets=500, seed=3)
    simulation, outputs = replay(policy, profile)
    report = compliance_report(through_the_wire(outputs), policy)
    counted: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for group in report.groups:
        counted[group.tier, group.target][0] += group.met
        counted[group.tier, group.target][1] += group.breached
    decided = {k: [s.met, s.breached] for k, s in simulation.stats.items() if s.met + s.breached}
    assert dict(counted) == decided
    on_time: dict[tuple[str, str, str], TargetStats] = defaultdict(TargetStats)
    for output in outputs:
        if isinstance(output, TargetFulfilled) and output.met:
            on_time[output.tier, output.priority, output.target].response_s.append(
                output.elapsed_seconds
            )
    for group in report.groups:
        stats = on_time[group.tier, group.priority, group.target]
        assert (group.median_s, group.p90_s) == (stats.percentile(50), stats.percentile(90))
    assert sum(g.breached for g in report.groups) > 0
    assert any(isinstance(o, TargetFulfilled) and o.met is False for o in outputs)


def test_worst_breaches_of_a_replay_show_the_time_over_the_tracker_counted(
    policy: Policy,
) -> None:
    """Over what a replay publishes, each breach fulfilled later shows the counted seconds over
    its target that the tracker measured at the fulfilment; the others are not fulfilled, and
    come first."""
    profile = LoadProfile(rate=0.02, tickets=500, seed=3)
    _, outputs = replay(policy, profile)
    read = through_the_wire(outputs)
    breaches = sum(isinstance(o, SlaOutcome) and o.outcome == "breached" for o in read)
    report = compliance_report(read, policy, worst=breaches)
    assert len(report.worst) == breaches
    measured = {
        o.id: o.elapsed_seconds - (o.target_seconds or 0)
        for o in outputs
        if isinstance(o, TargetFulfilled) and o.met is False
    }
    assert 0 < len(measured) < breaches  # the premise: some breaches fulfilled late, not all
    fulfilled = {w.outcome.id: w.over_s for w in report.worst if w.late is not None}
    assert fulfilled == pytest.approx(measured, abs=1e-6)
    not_fulfilled = breaches - len(fulfilled)
    assert all(w.late is None for w in report.worst[:not_fulfilled])
    overs = [w.over_s for w in report.worst[not_fulfilled:]]
    assert overs == sorted(overs, reverse=True)
    assert report.late_fulfilments == len(measured)

"""The offline replay (``sla-worker simulate``): reading a log, the perfect clock, its figures.

The tracker's own behaviour is pinned in ``test_tracker.py`` (which uses the replay as its
driver); here, what the replay adds: decoding a JSON-lines log, firing what is due in time
order, the compliance figures, its queue and the garbage collector.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from worker.core.events import (
    InputEvent,
    OutputEvent,
    SlaBreached,
    TicketCreated,
    TicketResponded,
    TicketUpdated,
)
from worker.core.policy import Policy
from worker.core.tracker import Tracker
from worker.edge.codec import InvalidLine, encode_input
from worker.simulate import Simulation, TargetStats, read_events

# Monday 23 November 2026, 10:00 UTC.
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
END = T0 + timedelta(days=30)

MakeEvent = Callable[..., InputEvent]


@pytest.fixture(scope="module")
def policy(make_policy: Callable[..., Policy]) -> Policy:
    """The default unit-test policy: gold P1 first response 1h, P2 2h, P3 24h."""
    return make_policy()


@pytest.fixture(scope="module")
def tracker(policy: Policy) -> Tracker:
    return Tracker(policy)


def replay(tracker: Tracker, events: list[InputEvent], until: datetime) -> list[OutputEvent]:
    return list(Simulation(tracker).run(events, until=until))


# --- reading a log ---------------------------------------------------------------------------


def test_read_events_skips_blank_lines_and_reports_invalid_ones_by_number(
    policy: Policy, make_event: MakeEvent
) -> None:
    """Valid lines become events in file order; blank lines are skipped; a line that is not
    an event, or names a tier or priority the policy lacks, is reported with its number."""
    created = make_event(TicketCreated, T0, "A")
    responded = make_event(TicketResponded, T0 + M, "A")
    lines = [
        encode_input(created) + b"\n",
        b"\n",
        b"   \r\n",
        b"not json\n",
        encode_input(make_event(TicketCreated, T0, "B", tier="platinum")) + b"\n",
        encode_input(make_event(TicketCreated, T0, "C", priority="P9")) + b"\n",
        encode_input(responded) + b"\r\n",
    ]
    events, invalid = read_events(lines, policy)
    assert events == [created, responded]
    assert [(line.line, line.reason) for line in invalid] == [
        (4, "invalid_json"),
        (5, "unknown_tier"),
        (6, "unknown_priority"),
    ]
    assert all(isinstance(line, InvalidLine) and line.error for line in invalid)
    assert gc.isenabled()


# --- the perfect clock -----------------------------------------------------------------------


def test_without_until_the_clock_stops_at_the_newest_event(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """Replayed history ends at its newest event: a deadline after it is not yet breached."""
    events = [make_event(TicketCreated, T0, "A"), make_event(TicketCreated, T0 + 30 * M, "B")]
    simulation = Simulation(tracker)
    outputs = list(simulation.run(events))
    assert not [o for o in outputs if isinstance(o, SlaBreached)]
    assert simulation.clock == T0 + 30 * M


def test_with_until_time_runs_on_and_later_events_are_not_applied(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """With ``until``, what falls due by then fires (at its own instant) and events after it
    are left out."""
    events = [make_event(TicketCreated, T0, "A"), make_event(TicketCreated, T0 + 3 * H, "B")]
    simulation = Simulation(tracker)
    outputs = list(simulation.run(events, until=T0 + 2 * H))
    breaches = [o for o in outputs if isinstance(o, SlaBreached)]
    # Detected at the first instant past the deadline (the clock must pass it).
    assert [(o.id, o.deadline, o.detected_at) for o in breaches] == [
        ("A:first_response:1", T0 + H, T0 + H + timedelta(microseconds=1))
    ]
    assert set(simulation.states) == {"A"}
    assert simulation.clock == T0 + 2 * H


def test_outputs_come_in_time_order_across_tickets(tracker: Tracker, make_event: MakeEvent) -> None:
    """Due outputs of different tickets fire earliest first, before any later event applies."""
    events = [
        make_event(TicketCreated, T0, "late", priority="P2"),
        make_event(TicketCreated, T0 + 10 * M, "early"),
        make_event(TicketResponded, T0 + 3 * H, "late"),
    ]
    outputs = replay(tracker, events, END)
    breaches = [
        o.ticket_id for o in outputs if isinstance(o, SlaBreached) and o.target == "first_response"
    ]
    assert breaches == ["early", "late"]  # P1 1h from 10:10 before P2 2h from 10:00
    kinds = [(type(o).__name__, o.ticket_id, o.target) for o in outputs]
    fulfilled = kinds.index(("TargetFulfilled", "late", "first_response"))
    assert fulfilled > kinds.index(("SlaBreached", "late", "first_response"))


# --- the figures -----------------------------------------------------------------------------


def test_stats_count_outcomes_and_response_times_per_tier_and_target(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """Each tier and target counts its met and breached cycles and the counted response
    times of its fulfilments."""
    events = [
        make_event(TicketCreated, T0, "A"),
        make_event(TicketResponded, T0 + 30 * M, "A"),
        make_event(TicketCreated, T0, "B"),
        make_event(TicketResponded, T0 + 2 * H, "B"),
    ]
    simulation = Simulation(tracker)
    list(simulation.run(events, until=T0 + 3 * H))
    stats = simulation.stats[("gold", "first_response")]
    assert (stats.met, stats.breached) == (1, 1)
    assert sorted(stats.response_s) == [1800.0, 7200.0]
    assert stats.compliance == 0.5


def test_target_stats_compliance_and_percentiles() -> None:
    """Compliance is met / (met + breached), None before any outcome; percentiles are
    inclusive, the one value with a single response, None without any."""
    assert TargetStats().compliance is None
    assert TargetStats(met=3, breached=1).compliance == 0.75
    assert TargetStats().percentile(50) is None
    assert TargetStats(response_s=[42.0]).percentile(90) == 42.0
    spread = TargetStats(response_s=[float(n) for n in range(1, 101)])
    assert spread.percentile(50) == pytest.approx(50.5)
    assert spread.percentile(90) == pytest.approx(90.1)


# --- the queue and the garbage collector -----------------------------------------------------


def test_replay_pauses_the_garbage_collector_and_restores_it(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """The collector is off while a replay runs, back on after it ends or is closed."""
    events = [make_event(TicketCreated, T0), make_event(TicketResponded, T0 + H)]
    assert gc.isenabled()
    seen = [gc.isenabled() for _ in Simulation(tracker).run(events, until=END)]
    assert seen
    assert not any(seen)
    assert gc.isenabled()
    running = Simulation(tracker).run(events)
    next(running)
    assert not gc.isenabled()
    running.close()
    assert gc.isenabled()
    gc.disable()
    try:
        list(Simulation(tracker).run(events))
        assert not gc.isenabled()  # left as it was
    finally:
        gc.enable()


def test_replay_leaves_its_objects_to_the_oldest_generation(
    tracker: Tracker, make_event: MakeEvent
) -> None:
    """What a replay allocated does not wait in the youngest generation, where the first
    allocation after it would start a collection traversing it all; and it is moved to the
    oldest generation, not frozen for good."""
    events = [make_event(TicketCreated, T0, f"T-{n}") for n in range(3000)]
    simulation = Simulation(tracker)
    collections: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.collect()
    gc.callbacks.append(record)
    try:
        outputs = list(simulation.run(events, until=T0 + 2 * H))
        assert collections == []  # none started by the allocations right after the replay
    finally:
        gc.callbacks.remove(record)
    assert outputs
    assert len(simulation.states) == 3000
    assert gc.get_freeze_count() == 0


def test_replay_queue_stays_bounded_and_exact(tracker: Tracker, make_event: MakeEvent) -> None:
    """Tickets whose due instant keeps moving leave stale queue entries; they are dropped,
    and the outputs are those of each ticket replayed alone."""
    histories: list[list[InputEvent]] = []
    for n in range(60):
        ticket = f"T{n}"
        history = [make_event(TicketCreated, T0, ticket, priority="P3")]
        for i in range(1, 31):
            priority = "P2" if i % 2 else "P3"
            history.append(make_event(TicketUpdated, T0 + i * M, ticket, priority=priority))
        history.append(make_event(TicketResponded, T0 + 40 * M, ticket))
        histories.append(history)
    until = T0 + 40 * M
    simulation = Simulation(tracker)
    together = list(simulation.run([e for history in histories for e in history], until=until))
    assert len(simulation.queue) <= 2 * len(simulation.states) + 1024
    alone = [o for history in histories for o in replay(tracker, history, until)]
    assert sorted(map(repr, together)) == sorted(map(repr, alone))

"""The metrics contract (docs/metrics.md) and the arithmetic behind each metric."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Sample

from worker.core.events import (
    INPUT_TYPES,
    InputEvent,
    OutputEvent,
    SlaBreached,
    SlaOutcome,
    SlaWarning,
    TargetFulfilled,
    TicketCreated,
    TicketPaused,
    TicketResolved,
    TicketResponded,
)
from worker.core.policy import TARGETS, Policy
from worker.core.ticket_state import RunningTarget, TicketState
from worker.core.tracker import Tracker
from worker.edge.metrics import (
    BUDGET_USED_BUCKETS,
    DEAD_LETTER_REASONS,
    TIME_TO_BREACH_BUCKETS_S,
    Metrics,
    bucket_label,
    observe_many,
    response_buckets,
)
from worker.simulate import Simulation

MakeRunning = Callable[..., RunningTarget]

# Monday 23 November 2026, 10:00 UTC.
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)


@pytest.fixture
def policy(make_policy: Callable[..., Policy]) -> Policy:
    """The default unit-test policy (tests/unit/conftest.py): gold, silver and free, P1..P4."""
    return make_policy()


TARGET_LABELS = {"tier", "priority", "target"}

# The contract: family name -> (OpenMetrics type, label names).
CONTRACT: dict[str, tuple[str, set[str]]] = {
    "sla_outcomes": ("counter", TARGET_LABELS | {"outcome"}),
    "sla_response_seconds": ("histogram", TARGET_LABELS),
    "sla_budget_used_ratio": ("histogram", TARGET_LABELS),
    "sla_warnings": ("counter", TARGET_LABELS | {"threshold"}),
    "sla_running_targets": ("gauge", TARGET_LABELS | {"state"}),
    "sla_time_to_breach_seconds": ("gaugehistogram", TARGET_LABELS),
    "sla_next_deadline_timestamp_seconds": ("gauge", TARGET_LABELS),
    "sla_target_seconds": ("gauge", TARGET_LABELS),
    "sla_objective_ratio": ("gauge", {"tier"}),
    "sla_events": ("counter", {"type", "result"}),
    "sla_dead_letters": ("counter", {"reason"}),
    "sla_tickets_expired": ("counter", {"tier"}),
    "sla_event_lag_seconds": ("histogram", set()),
    "sla_breach_detection_delay_seconds": ("histogram", set()),
    "sla_partition_caught_up": ("gauge", {"partition"}),
    "sla_policy": ("info", {"name", "sha256"}),
    # Beyond the contract list: watched by the SlaDeadlineTimerStalled alert.
    "sla_deadline_timer_last_run_timestamp_seconds": ("gauge", set()),
}


def openmetrics(metrics: Metrics, now: datetime = T0) -> dict[str, tuple[str, list[Sample]]]:
    body, _ = metrics.render("application/openmetrics-text; version=1.0.0", now)
    families = parse_openmetrics(body.decode())  # type: ignore[no-untyped-call]
    return {f.name: (f.type, f.samples) for f in families}


Labels = frozenset[tuple[str, str]]


def samples(metrics: Metrics, now: datetime = T0) -> dict[tuple[str, Labels], float]:
    """Every sample of the Prometheus text exposition, by name and labels."""
    body, _ = metrics.render(None, now)
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in parse_text(body.decode())
        for s in family.samples
    }


def total(got: dict[tuple[str, Labels], float], series: str, **labels: str) -> float:
    """Sum the samples of ``series`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (name, have), v in got.items() if name == series and wanted <= have)


def value(metrics: Metrics, series: str, now: datetime = T0, /, **labels: str) -> float:
    """Return one sample's value by series name and labels, rendered at ``now``."""
    return samples(metrics, now)[(series, frozenset(labels.items()))]


def target_labels(label_set: tuple[str, str, str]) -> dict[str, str]:
    return dict(zip(("tier", "priority", "target"), label_set, strict=True))


def common(**overrides: Any) -> dict[str, Any]:
    """Return the fields every SLA output carries: gold P1 first response, 1h, started at T0."""
    fields: dict[str, Any] = {
        "ticket_id": "T1",
        "tier": "gold",
        "priority": "P1",
        "target": "first_response",
        "cycle": 1,
        "commitment": "sla",
        "started_at": T0,
        "deadline": T0 + H,
        "target_seconds": 3600,
        "policy": "test-support",  # the default policy's name
    }
    fields.update(overrides)
    return fields


# --- the contract ------------------------------------------------------------------------


def test_every_contract_metric_has_its_name_type_and_labels(policy: Policy) -> None:
    """Names, types and label names are exactly those of docs/metrics.md."""
    families = openmetrics(Metrics(policy))
    assert set(families) == set(CONTRACT)
    for name, (kind, labels) in CONTRACT.items():
        family_kind, family_samples = families[name]
        assert family_kind == kind, name
        for sample in family_samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample)


def test_text_exposition_series_names(policy: Policy) -> None:
    """The text format exposes the series names rules and dashboards query."""
    names = {name for name, _ in samples(Metrics(policy))}
    for expected in (
        "sla_outcomes_total",
        "sla_warnings_total",
        "sla_events_total",
        "sla_dead_letters_total",
        "sla_policy_info",
        "sla_response_seconds_bucket",
        "sla_budget_used_ratio_count",
        "sla_time_to_breach_seconds_bucket",
        "sla_event_lag_seconds_bucket",
        "sla_breach_detection_delay_seconds_bucket",
    ):
        assert expected in names


def test_no_created_series(policy: Policy) -> None:
    """`_created` series are switched off (they double the series count for nothing)."""
    body, _ = Metrics(policy).render(None, T0)
    assert b"_created" not in body
    body, _ = Metrics(policy).render("application/openmetrics-text", T0)
    assert b"_created" not in body


def test_every_label_combination_exists_at_zero_from_start_up(policy: Policy) -> None:
    """Every tier x priority x target (and threshold, outcome, reason...) is there, at 0."""
    metrics = Metrics(policy)
    got = samples(metrics)
    label_sets = [
        (tier, priority, target)
        for tier in policy.tiers
        for priority in policy.priorities
        for target in TARGETS
    ]
    for label_set in label_sets:
        labels = target_labels(label_set)
        tier = policy.tiers[labels["tier"]]
        for outcome in ("met", "breached"):
            assert (
                got[("sla_outcomes_total", frozenset({**labels, "outcome": outcome}.items()))] == 0
            )
        for name in ("sla_response_seconds_count", "sla_budget_used_ratio_count"):
            assert got[(name, frozenset(labels.items()))] == 0
        for state in ("running", "paused"):
            key = ("sla_running_targets", frozenset({**labels, "state": state}.items()))
            assert got[key] == 0
        for bound in [*TIME_TO_BREACH_BUCKETS_S, float("inf")]:
            le = "+Inf" if bound == float("inf") else bucket_label(bound)
            key = ("sla_time_to_breach_seconds_bucket", frozenset({**labels, "le": le}.items()))
            assert got[key] == 0
        assert got[("sla_next_deadline_timestamp_seconds", frozenset(labels.items()))] == 0
        for threshold in tier.warnings:
            key = ("sla_warnings_total", frozenset({**labels, "threshold": threshold.text}.items()))
            assert got[key] == 0
    for event_type in INPUT_TYPES:
        for result in ("ok", "duplicate", "dead_letter"):
            key = ("sla_events_total", frozenset({"type": event_type, "result": result}.items()))
            assert got[key] == 0
    for reason in DEAD_LETTER_REASONS:
        assert got[("sla_dead_letters_total", frozenset({"reason": reason}.items()))] == 0
    for tier_name in policy.tiers:
        assert got[("sla_tickets_expired_total", frozenset({"tier": tier_name}.items()))] == 0


def test_warning_series_follow_each_tiers_thresholds(policy: Policy) -> None:
    """silver has its own warnings (75%, 30m); free (commitment none) has none."""
    thresholds: dict[str, set[str]] = {}
    for name, labels in samples(Metrics(policy)):
        if name == "sla_warnings_total":
            as_dict = dict(labels)
            thresholds.setdefault(as_dict["tier"], set()).add(as_dict["threshold"])
    assert thresholds == {"gold": {"50%", "75%", "90%", "15m"}, "silver": {"75%", "30m"}}


def test_policy_gauges_come_from_the_policy(policy: Policy) -> None:
    """Targets with a deadline, objectives of sla/slo tiers, and the policy's name and sha256."""
    metrics = Metrics(policy)
    got = samples(metrics)
    targets = {labels: v for (name, labels), v in got.items() if name == "sla_target_seconds"}
    assert len(targets) == 4 + 1 + 2  # gold first_response x4 + resolution P1, silver x2
    assert (
        value(metrics, "sla_target_seconds", tier="gold", priority="P2", target="first_response")
        == 7200
    )
    assert (
        value(metrics, "sla_target_seconds", tier="gold", priority="P1", target="resolution")
        == 8 * 3600
    )
    assert value(metrics, "sla_objective_ratio", tier="gold") == 0.99
    assert value(metrics, "sla_objective_ratio", tier="silver") == 0.95
    assert ("sla_objective_ratio", frozenset({"tier": "free"}.items())) not in got
    assert value(metrics, "sla_policy_info", name="test-support", sha256="") == 1


def test_response_buckets_are_the_configured_targets(policy: Policy) -> None:
    """Every configured target duration is a bucket bound, so "within 4h?" is exact."""
    assert response_buckets(policy) == (3600.0, 7200.0, 14400.0, 28800.0, 86400.0)
    body, _ = Metrics(policy).render(None, T0)
    les = {
        s.labels["le"]
        for f in parse_text(body.decode())
        for s in f.samples
        if s.name == "sla_response_seconds_bucket"
    }
    assert les == {"3600.0", "7200.0", "14400.0", "28800.0", "86400.0", "+Inf"}


def test_budget_used_buckets_are_the_contracts() -> None:
    assert BUDGET_USED_BUCKETS == (0.25, 0.5, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)


def test_policy_without_any_target_gets_default_response_buckets(
    make_policy: Callable[..., Policy],
) -> None:
    """A policy of only `commitment: none` tiers still has a usable response histogram."""
    policy = make_policy(tiers={"free": {"commitment": "none"}})
    assert len(response_buckets(policy)) > 1
    Metrics(policy).render(None, T0)


# --- registry and exposition ---------------------------------------------------------------


def test_each_metrics_has_its_own_registry(policy: Policy) -> None:
    """Two Metrics never share a registry (no duplicate-name error, no global state)."""
    first, second = Metrics(policy), Metrics(policy)
    assert first.registry is not second.registry
    first.observe_event("ticket.created", "ok")
    assert value(second, "sla_events_total", type="ticket.created", result="ok") == 0


def test_expired_tickets_are_counted_by_tier(policy: Policy) -> None:
    """Each open ticket forgotten by open-ticket retention counts once for its tier."""
    metrics = Metrics(policy)
    metrics.observe_expired("gold")
    metrics.observe_expired("gold")
    assert value(metrics, "sla_tickets_expired_total", tier="gold") == 2
    assert value(metrics, "sla_tickets_expired_total", tier="free") == 0


def test_injected_registry_is_used(policy: Policy) -> None:
    registry = CollectorRegistry()
    metrics = Metrics(policy, registry=registry)
    metrics.observe_dead_letter("too_large")
    assert b'sla_dead_letters_total{reason="too_large"} 1.0' in generate_latest(registry)


@pytest.mark.parametrize(
    ("accept", "content_type", "ends_with"),
    [
        (None, "text/plain; version=0.0.4; charset=utf-8", b"\n"),
        ("text/plain", "text/plain; version=0.0.4; charset=utf-8", b"\n"),
        (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
            "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            b"# EOF\n",
        ),
    ],
)
def test_content_negotiation(
    policy: Policy, accept: str | None, content_type: str, ends_with: bytes
) -> None:
    """OpenMetrics when the Accept header asks for it (Prometheus does), text otherwise."""
    body, got = Metrics(policy).render(accept, T0)
    assert got.startswith(content_type)
    assert body.endswith(ends_with)


def test_naive_now_is_refused(policy: Policy) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Metrics(policy).render(None, datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        Metrics(policy).timer_ran(datetime(2026, 1, 1))  # noqa: DTZ001


# --- events, dead letters, partitions, timer -----------------------------------------------


def test_observe_event_counts_by_type_and_result_and_observes_lag(policy: Policy) -> None:
    metrics = Metrics(policy)
    metrics.observe_event("ticket.created", "ok", lag_s=0.2)
    metrics.observe_event("ticket.created", "duplicate", lag_s=3.0)
    metrics.observe_event("no.such.type", "dead_letter")
    assert value(metrics, "sla_events_total", type="ticket.created", result="ok") == 1
    assert value(metrics, "sla_events_total", type="ticket.created", result="duplicate") == 1
    assert value(metrics, "sla_events_total", type="unknown", result="dead_letter") == 1
    assert value(metrics, "sla_event_lag_seconds_count") == 2
    assert value(metrics, "sla_event_lag_seconds_bucket", le="0.25") == 1
    assert value(metrics, "sla_event_lag_seconds_sum") == pytest.approx(3.2)
    with pytest.raises(ValueError, match="unknown event result"):
        metrics.observe_event("ticket.created", "exploded")


def test_observe_dead_letter_counts_known_reasons_only(policy: Policy) -> None:
    metrics = Metrics(policy)
    metrics.observe_dead_letter("invalid_json")
    metrics.observe_dead_letter("invalid_json")
    assert value(metrics, "sla_dead_letters_total", reason="invalid_json") == 2
    with pytest.raises(ValueError, match="unknown dead-letter reason"):
        metrics.observe_dead_letter("ticket T-42 was weird")


def test_partitions_caught_up_and_cleared_on_revocation(policy: Policy) -> None:
    metrics = Metrics(policy)
    metrics.set_partition_caught_up(0, True)
    metrics.set_partition_caught_up(3, False)
    assert value(metrics, "sla_partition_caught_up", partition="0") == 1
    assert value(metrics, "sla_partition_caught_up", partition="3") == 0
    metrics.clear_partitions()
    assert not [k for k in samples(metrics) if k[0] == "sla_partition_caught_up"]


def test_timer_ran_sets_the_last_run_timestamp(policy: Policy) -> None:
    metrics = Metrics(policy)
    assert value(metrics, "sla_deadline_timer_last_run_timestamp_seconds") == 0
    metrics.timer_ran(T0)
    assert value(metrics, "sla_deadline_timer_last_run_timestamp_seconds") == T0.timestamp()


# --- outputs -------------------------------------------------------------------------------


def test_outputs_feed_outcomes_warnings_response_budget_and_detection_delay(policy: Policy) -> None:
    metrics = Metrics(policy)
    metrics.observe_outputs(
        [
            SlaWarning(**common(), threshold="75%", detected_at=T0 + 45 * M, remaining_seconds=900),
            SlaOutcome(**common(), outcome="met", fulfilled_at=T0 + 50 * M, elapsed_seconds=3000),
            TargetFulfilled(**common(), fulfilled_at=T0 + 50 * M, elapsed_seconds=3000, met=True),
            SlaBreached(**common(ticket_id="T2"), detected_at=T0 + H + timedelta(seconds=1.5)),
            SlaOutcome(
                **common(ticket_id="T2"),
                outcome="breached",
                fulfilled_at=None,
                elapsed_seconds=3600,
            ),
            TargetFulfilled(
                **common(ticket_id="T2"), fulfilled_at=T0 + 2 * H, elapsed_seconds=7200, met=False
            ),
        ]
    )
    labels = {"tier": "gold", "priority": "P1", "target": "first_response"}
    assert value(metrics, "sla_outcomes_total", **labels, outcome="met") == 1
    assert value(metrics, "sla_outcomes_total", **labels, outcome="breached") == 1
    assert value(metrics, "sla_warnings_total", **labels, threshold="75%") == 1
    assert value(metrics, "sla_warnings_total", **labels, threshold="50%") == 0
    assert value(metrics, "sla_response_seconds_count", **labels) == 2
    assert value(metrics, "sla_response_seconds_bucket", **labels, le="3600.0") == 1
    assert value(metrics, "sla_response_seconds_sum", **labels) == 10200
    assert value(metrics, "sla_budget_used_ratio_bucket", **labels, le="0.9") == 1  # 3000/3600
    assert value(metrics, "sla_budget_used_ratio_bucket", **labels, le="1.0") == 1
    assert value(metrics, "sla_budget_used_ratio_bucket", **labels, le="2.0") == 2  # 7200/3600
    assert value(metrics, "sla_breach_detection_delay_seconds_count") == 1
    assert value(metrics, "sla_breach_detection_delay_seconds_sum") == pytest.approx(1.5)
    assert value(metrics, "sla_breach_detection_delay_seconds_bucket", le="1.0") == 0
    assert value(metrics, "sla_breach_detection_delay_seconds_bucket", le="2.0") == 1


def test_fulfilment_without_deadline_is_measured_without_budget(policy: Policy) -> None:
    """commitment none: response time observed, no budget ratio (there is no budget)."""
    metrics = Metrics(policy)
    fields = common(tier="free", commitment="none", deadline=None, target_seconds=None)
    metrics.observe_outputs(
        [TargetFulfilled(**fields, fulfilled_at=T0 + H, elapsed_seconds=3600, met=None)]
    )
    labels = {"tier": "free", "priority": "P1", "target": "first_response"}
    assert value(metrics, "sla_response_seconds_count", **labels) == 1
    assert value(metrics, "sla_budget_used_ratio_count", **labels) == 0


def test_outputs_with_labels_the_policy_does_not_name_are_not_exported(policy: Policy) -> None:
    """A ticket stored under an older policy never adds a label value the policy lacks."""
    metrics = Metrics(policy)
    before = set(samples(metrics))
    metrics.observe_outputs(
        [
            SlaOutcome(
                **common(tier="platinum"), outcome="met", fulfilled_at=T0, elapsed_seconds=1
            ),
            SlaWarning(**common(), threshold="99%", detected_at=T0, remaining_seconds=1),
        ]
    )
    assert set(samples(metrics)) == before
    metrics.update_running([], [RunningTarget("platinum", "P1", "first_response", T0, False)])
    assert set(samples(metrics)) == before


# --- running targets -----------------------------------------------------------------------


def test_time_to_breach_buckets_and_next_deadline_at_now(
    policy: Policy, make_running: MakeRunning
) -> None:
    """Buckets count deadline - now <= le (overdue in le=0); next deadline is after now."""
    now = T0
    offsets_s = [-10, 100, 600, 1000, 5000, 100_000]
    metrics = Metrics(policy)
    metrics.reset_running([make_running(now + s * S) for s in offsets_s] + [make_running(None)])
    labels = {"tier": "gold", "priority": "P1", "target": "first_response"}
    expected = {
        "0.0": 1,
        "300.0": 2,
        "900.0": 3,
        "1800.0": 4,
        "3600.0": 4,
        "14400.0": 5,
        "86400.0": 5,
        "+Inf": 6,
    }
    families = openmetrics(metrics, now)
    kind, family = families["sla_time_to_breach_seconds"]
    assert kind == "gaugehistogram"
    got = {
        s.labels["le"]: s.value
        for s in family
        if s.name.endswith("_bucket") and {k: s.labels[k] for k in labels} == labels
    }
    assert got == expected
    gsum = next(s.value for s in family if s.name.endswith("_gsum") and dict(s.labels) == labels)
    assert gsum == pytest.approx(sum(offsets_s))
    assert (
        value(metrics, "sla_next_deadline_timestamp_seconds", now, **labels)
        == (now + 100 * S).timestamp()
    )
    assert value(metrics, "sla_running_targets", now, **labels, state="running") == 7
    # An hour later three more are overdue and the next deadline moved on.
    later = now + H
    assert value(metrics, "sla_time_to_breach_seconds_bucket", later, **labels, le="0.0") == 4
    assert (
        value(metrics, "sla_next_deadline_timestamp_seconds", later, **labels)
        == (now + 5000 * S).timestamp()
    )
    # Once every deadline is past, no next deadline: 0.
    assert value(metrics, "sla_next_deadline_timestamp_seconds", now + 30 * H, **labels) == 0


def test_running_and_paused_counts(policy: Policy, make_running: MakeRunning) -> None:
    metrics = Metrics(policy)
    metrics.update_running(
        [],
        [
            make_running(T0 + H),
            make_running(None, target="resolution", paused=True),
            make_running(None, tier="free"),
        ],
    )
    assert (
        value(
            metrics,
            "sla_running_targets",
            tier="gold",
            priority="P1",
            target="first_response",
            state="running",
        )
        == 1
    )
    assert (
        value(
            metrics,
            "sla_running_targets",
            tier="gold",
            priority="P1",
            target="resolution",
            state="paused",
        )
        == 1
    )
    assert (
        value(
            metrics,
            "sla_running_targets",
            tier="free",
            priority="P1",
            target="first_response",
            state="running",
        )
        == 1
    )
    metrics.update_running([make_running(T0 + H)], [])
    assert (
        value(
            metrics,
            "sla_running_targets",
            tier="gold",
            priority="P1",
            target="first_response",
            state="running",
        )
        == 0
    )
    assert (
        value(
            metrics,
            "sla_time_to_breach_seconds_bucket",
            tier="gold",
            priority="P1",
            target="first_response",
            le="+Inf",
        )
        == 0
    )


def test_reset_replaces_everything(policy: Policy, make_running: MakeRunning) -> None:
    metrics = Metrics(policy)
    metrics.update_running([], [make_running(T0 + H), make_running(T0 + 2 * H, priority="P2")])
    metrics.reset_running([make_running(T0 + 3 * H)])
    expected = Metrics(policy)
    expected.update_running([], [make_running(T0 + 3 * H)])
    assert metrics.render(None, T0) == expected.render(None, T0)


# --- driven by the tracker, as the worker shell drives it ----------------------------------


def events(make_event: Callable[..., InputEvent]) -> list[InputEvent]:
    """A few tickets of each kind of fate, built with the shared event factory."""
    return [
        # gold P1 (1h): answered in 30m (met), answered in 2h (breached), never answered.
        make_event(TicketCreated, T0, "A"),
        make_event(TicketResponded, T0 + 30 * M, "A"),
        make_event(TicketCreated, T0, "B"),
        make_event(TicketResponded, T0 + 2 * H, "B"),
        make_event(TicketCreated, T0 + 10 * M, "C"),
        # gold P2 (2h): resolved in 1h: first response met too.
        make_event(TicketCreated, T0, "D", priority="P2"),
        make_event(TicketResolved, T0 + H, "D"),
        # silver P1 (4h on us-business) paused: resolution has no target, first response runs.
        make_event(TicketCreated, T0, "E", tier="silver"),
        make_event(TicketPaused, T0 + M, "E"),
        # free: measured only.
        make_event(TicketCreated, T0, "F", tier="free"),
        make_event(TicketResponded, T0 + 5 * H, "F"),
    ]


def drive(
    policy: Policy, events: Iterable[InputEvent], clock_end: datetime
) -> tuple[Metrics, dict[str, TicketState]]:
    """Apply events one by one (event time as the clock), then advance to ``clock_end``."""
    tracker = Tracker(policy)
    metrics = Metrics(policy)
    states: dict[str, TicketState] = {}

    def store(ticket: str, new: TicketState | None, outputs: list[OutputEvent]) -> None:
        old = states.get(ticket)
        metrics.update_running(old.running if old else (), new.running if new else ())
        metrics.observe_outputs(outputs)
        if new is None:
            states.pop(ticket, None)
        else:
            states[ticket] = new

    for item in sorted(events, key=lambda e: e.occurred_at):
        for ticket, state in list(states.items()):
            store(ticket, *tracker.advance(state, item.occurred_at))
        store(item.ticket_id, *tracker.apply(states.get(item.ticket_id), item, item.occurred_at))
    for ticket, state in list(states.items()):
        store(ticket, *tracker.advance(state, clock_end))
    return metrics, states


def running_lines(metrics: Metrics, now: datetime) -> list[bytes]:
    """Return the exposition lines of the running-target metrics."""
    names = (b"sla_running_targets", b"sla_time_to_breach_seconds", b"sla_next_deadline")
    return [line for line in metrics.render(None, now)[0].splitlines() if line.startswith(names)]


def test_metrics_driven_by_the_tracker_agree_with_the_simulation(
    policy: Policy, make_event: Callable[..., InputEvent]
) -> None:
    """Outcomes and response counts equal what `simulate` reports for the same events."""
    end = T0 + 6 * H
    history = events(make_event)
    metrics, states = drive(policy, history, end)
    simulation = Simulation(Tracker(policy))
    list(simulation.run(history, until=end))
    got = samples(metrics, end)
    for (tier, target), stats in simulation.stats.items():
        met = total(got, "sla_outcomes_total", tier=tier, target=target, outcome="met")
        breached = total(got, "sla_outcomes_total", tier=tier, target=target, outcome="breached")
        responses = total(got, "sla_response_seconds_count", tier=tier, target=target)
        assert (met, breached, responses) == (stats.met, stats.breached, len(stats.response_s))
    gold_p1 = {"tier": "gold", "priority": "P1", "target": "first_response"}
    assert got[("sla_outcomes_total", frozenset({**gold_p1, "outcome": "met"}.items()))] == 1
    # B breached at 1h; C (created 10m later, never answered) breached at 1h10m.
    assert got[("sla_outcomes_total", frozenset({**gold_p1, "outcome": "breached"}.items()))] == 2
    # The incremental running metrics equal a rebuild from the stored states.
    rebuilt = Metrics(policy)
    rebuilt.reset_running(itertools.chain.from_iterable(s.running for s in states.values()))
    assert running_lines(metrics, end) == running_lines(rebuilt, end)
    # E (silver, paused) keeps its first response running (not pausable) with a deadline.
    silver = {"tier": "silver", "priority": "P1", "target": "first_response"}
    assert got[("sla_running_targets", frozenset({**silver, "state": "running"}.items()))] == 1
    assert (
        got[("sla_time_to_breach_seconds_bucket", frozenset({**silver, "le": "+Inf"}.items()))] == 1
    )


@given(
    values=st.lists(
        st.one_of(
            st.floats(min_value=-1e9, max_value=1e12, allow_nan=False),
            st.sampled_from([0.0, 1.0, 5.0, 60.0, 300.0, 3600.0]),  # bucket bounds exactly
        ),
        max_size=50,
    )
)
def test_observe_many_counts_as_observe_does_value_by_value(values: list[float]) -> None:
    """observe_many gives every bucket the count observe() gives it for the same values (a
    value on a bound in that bucket), and the same sum (up to float rounding)."""
    registry = CollectorRegistry()
    bounds = (0.0, 1.0, 5.0, 60.0, 300.0, 3600.0)
    one = Histogram("one_by_one", "", ["k"], buckets=bounds, registry=registry)
    many = Histogram("all_at_once", "", ["k"], buckets=bounds, registry=registry)
    child = one.labels("a")
    for value in values:
        child.observe(value)
    observe_many(many.labels("a"), values)

    def figures(name: str) -> dict[str, float]:
        return {
            sample.name.removeprefix(name) + sample.labels.get("le", ""): sample.value
            for metric in registry.collect()
            if metric.name == name
            for sample in metric.samples
            if not sample.name.endswith("_created")
        }

    expected, got = figures("one_by_one"), figures("all_at_once")
    assert {k: v for k, v in got.items() if k != "_sum"} == {
        k: v for k, v in expected.items() if k != "_sum"
    }
    assert math.isclose(got["_sum"], expected["_sum"], rel_tol=1e-9, abs_tol=1e-6)

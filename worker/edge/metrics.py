"""Every Prometheus metric of the worker (docs/metrics.md), against an injected registry.

Edge module: imports ``prometheus_client``, never faust or aiokafka.
The worker shell feeds :class:`Metrics` what the core produced (outputs, running targets,
event results) and serves :meth:`Metrics.render` on ``/metrics``; tests build a fresh one per
test.

Decisions that users of the metrics rely on:

- Label values come only from the policy: every tier x priority x target combination (each
  warning threshold of the tier, each outcome, each dead-letter reason, each input event type
  and result) is created at zero from start-up, so a ratio or ``increase()`` over a series
  that has not moved yet is 0, not absent. Outputs or running targets whose tier, priority,
  target or threshold the policy does not name (a ticket stored under an older policy) are
  not counted; an input event type that is not a known type counts as ``unknown``.
- ``_created`` series are switched off with ``prometheus_client.disable_created_metrics()``
  when a :class:`Metrics` is constructed. That switch is process-wide (it is a
  prometheus_client module setting): nothing in this process exports ``_created`` series.
- ``sla_running_targets``, ``sla_time_to_breach_seconds`` (a gauge histogram: how many
  running targets have ``deadline - now <= le``; overdue ones count in ``le="0.0"``) and
  ``sla_next_deadline_timestamp_seconds`` are computed at scrape time, at the ``now`` given
  to :meth:`Metrics.render`, from the deadline timestamps of each label set, kept sorted and
  up to date incrementally (``worker/edge/deadline_gauges.py``): a scrape costs O(label sets
  x log n), not O(open tickets), and an open deadline costs one float in one array (8 bytes).
- ``sla_next_deadline_timestamp_seconds`` is the earliest deadline after ``now`` (Unix
  seconds), and 0 when the label set has none (0 is the conventional "none": a timestamp of
  1970 can never be a future deadline). Deadlines already past but not yet detected as
  breaches count in the time-to-breach histogram, not here.
- ``sla_response_seconds`` has one bucket bound per configured target duration of the
  policy (sorted, unique): "was it within 4h?" is then an exact bucket, never an estimate.
- ``sla_deadline_timer_last_run_timestamp_seconds`` (beyond the contract list) is when the
  worker's deadline timer last ran (:meth:`Metrics.timer_ran`); 0 until it first runs. The
  ``SlaDeadlineTimerStalled`` alert watches it.

Not thread-safe: call every method from the event loop that serves ``/metrics``.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from worker.core.events import (
    DEAD_LETTER_REASONS,
    INPUT_TYPES,
    OutputEvent,
    SlaBreached,
    SlaOutcome,
    SlaWarning,
    TargetFulfilled,
)
from worker.core.policy import TARGETS, Policy
from worker.core.ticket_state import RunningTarget
from worker.edge.deadline_gauges import LabelSet, RunningEntry, RunningRebuild, RunningTargets

__all__ = [
    "BREACH_DETECTION_DELAY_BUCKETS_S",
    "BUDGET_USED_BUCKETS",
    "DEAD_LETTER_REASONS",
    "DEFAULT_RESPONSE_BUCKETS_S",
    "EVENT_LAG_BUCKETS_S",
    "EVENT_RESULTS",
    "NO_DEADLINE",
    "OUTCOMES",
    "RUNNING_STATES",
    "TIME_TO_BREACH_BUCKETS_S",
    "UNKNOWN_EVENT_TYPE",
    "Metrics",
    "bucket_label",
    "observe_many",
    "response_buckets",
]

# The contract's buckets (docs/metrics.md). Time to breach: overdue, then 5 and 15
# minutes (the imminent-breach page), half an hour, 1 and 4 hours, a day.
TIME_TO_BREACH_BUCKETS_S: Final = (0.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0)
# Share of the budget used at fulfilment: under 1 is met; above 1 says how late.
BUDGET_USED_BUCKETS: Final = (0.25, 0.5, 0.75, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)
# Processing time minus occurred_at. Live events arrive within tens of milliseconds to a few
# seconds (sub-second buckets resolve the live path); a restart or a backlog replays minutes
# to hours, and a replay of history days (the long buckets say how far behind it is).
EVENT_LAG_BUCKETS_S: Final = (
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    21600.0,
    86400.0,
)
# Detection minus deadline. The deadline tick runs about once a second (plus SLA_GRACE), so a
# live breach lands 1-2 s late: fine buckets up to 10 s resolve that; the long ones show a
# worker that was down, lagging, or replaying.
BREACH_DETECTION_DELAY_BUCKETS_S: Final = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    3600.0,
)
# sla_response_seconds of a policy that configures no target at all (every tier is
# commitment none): 1 minute to 3 days, typical support response times.
DEFAULT_RESPONSE_BUCKETS_S: Final = (60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0, 259200.0)

OUTCOMES: Final = ("met", "breached")
EVENT_RESULTS: Final = ("ok", "duplicate", "dead_letter")
UNKNOWN_EVENT_TYPE: Final = "unknown"
RUNNING_STATES: Final = ("running", "paused")
NO_DEADLINE: Final = 0.0
"""Value of ``sla_next_deadline_timestamp_seconds`` when a label set has no future deadline."""

_TARGET_LABELS: Final = ("tier", "priority", "target")


def bucket_label(bound: float) -> str:
    """Return the ``le`` label value prometheus_client gives ``bound`` (``900`` -> ``"900.0"``)."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


def response_buckets(policy: Policy) -> tuple[float, ...]:
    """Return the ``sla_response_seconds`` bucket bounds: every configured target duration.

    Sorted and unique; :data:`DEFAULT_RESPONSE_BUCKETS_S` when the policy configures none.
    """
    seconds = {
        float(target.within_s)
        for tier in policy.tiers.values()
        for per_priority in tier.targets.values()
        for target in per_priority.values()
        if target.within_s is not None
    }
    return tuple(sorted(seconds)) or DEFAULT_RESPONSE_BUCKETS_S


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """Observe every value of ``values`` (numbers, not NaN) in ``histogram`` or its child.

    The same counts as ``histogram.observe(v)`` for each value (a value on a bucket's
    bound falls in that bucket), but each bucket and the sum are incremented once: a batch
    of observations costs one update per bucket it touches instead of one per value.
    Reads the histogram's ``_upper_bounds``, ``_buckets`` and ``_sum`` (prometheus_client
    0.26, pinned; tests/unit/test_metrics.py compares the result with ``observe``).
    """
    if not values:
        return
    hist: Any = histogram
    bounds: list[float] = hist._upper_bounds
    counts: Tally[int] = Tally(bisect_left(bounds, value) for value in values)
    buckets = hist._buckets
    for index, n in counts.items():  # the last bound is +Inf: every number has a bucket
        buckets[index].inc(n)
    hist._sum.inc(math.fsum(values))


def _aware(at: datetime, name: str) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {at.isoformat()}")
    return at


class _ScrapeTimeCollector(Collector):
    """Computes the running-target metrics at scrape time from the :class:`RunningTargets`."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        """Return the families (without samples) so the registry can refuse duplicate names."""
        return self._families()

    def collect(self) -> Iterable[Metric]:
        """Return the running targets, time to breach and next deadline per label set."""
        now_s = self._metrics.scrape_time_s()
        running, time_to_breach, next_deadline = self._families()
        bounds = [(bucket_label(bound), bound) for bound in TIME_TO_BREACH_BUCKETS_S]
        for labels, entry in self._metrics.running_entries():
            running.add_metric([*labels, "running"], entry.running)
            running.add_metric([*labels, "paused"], entry.paused)
            deadlines = entry.deadlines
            count = len(deadlines)
            buckets = [(text, deadlines.bisect_right(now_s + bound)) for text, bound in bounds]
            buckets.append(("+Inf", count))
            gsum = entry.sum_us / 1_000_000 - count * now_s
            time_to_breach.add_metric(list(labels), buckets, gsum)
            upcoming = deadlines.bisect_right(now_s)
            next_deadline.add_metric(
                list(labels), deadlines[upcoming] if upcoming < count else NO_DEADLINE
            )
        return [running, time_to_breach, next_deadline]

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "sla_running_targets",
                "Target cycles waiting for their fulfilment, running or paused.",
                labels=[*_TARGET_LABELS, "state"],
            ),
            GaugeHistogramMetricFamily(
                "sla_time_to_breach_seconds",
                "Running targets with a deadline by time left until it (deadline - now <= le).",
                labels=list(_TARGET_LABELS),
            ),
            GaugeMetricFamily(
                "sla_next_deadline_timestamp_seconds",
                "Earliest deadline after now of the running targets (Unix seconds; 0: none).",
                labels=list(_TARGET_LABELS),
            ),
        )


class Metrics:
    """Every metric of the worker, for one policy, in its own registry.

    ``registry`` None creates a fresh :class:`~prometheus_client.CollectorRegistry` (never
    the process-global one). Constructing a Metrics disables ``_created`` series for the
    whole process (see the module docstring).
    """

    def __init__(self, policy: Policy, *, registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.policy = policy
        self.registry = CollectorRegistry() if registry is None else registry
        self._scrape_at_s: float | None = None
        self._label_sets: tuple[LabelSet, ...] = tuple(
            (tier, priority, target)
            for tier in policy.tiers
            for priority in policy.priorities
            for target in TARGETS
        )
        self._running = RunningTargets(self._label_sets)
        self._thresholds: dict[str, frozenset[str]] = {
            name: frozenset(w.text for w in tier.warnings) for name, tier in policy.tiers.items()
        }
        self._create(policy)
        self.registry.register(_ScrapeTimeCollector(self))

    def _create(self, policy: Policy) -> None:
        """Create every metric and every label combination the policy names, at zero."""
        registry = self.registry
        self.outcomes = Counter(
            "sla_outcomes",
            "Outcomes of target cycles: met at fulfilment, breached once the deadline passed.",
            [*_TARGET_LABELS, "outcome"],
            registry=registry,
        )
        self.response = Histogram(
            "sla_response_seconds",
            "Counted time from the start of a target cycle to its fulfilment.",
            list(_TARGET_LABELS),
            buckets=response_buckets(policy),
            registry=registry,
        )
        self.budget_used = Histogram(
            "sla_budget_used_ratio",
            "Share of the target's budget used at fulfilment (above 1: late).",
            list(_TARGET_LABELS),
            buckets=BUDGET_USED_BUCKETS,
            registry=registry,
        )
        self.warnings = Counter(
            "sla_warnings",
            "Impending-breach warnings sent, by threshold as written in the policy.",
            [*_TARGET_LABELS, "threshold"],
            registry=registry,
        )
        self.target_seconds = Gauge(
            "sla_target_seconds",
            "Configured target duration (counted seconds), from the policy.",
            list(_TARGET_LABELS),
            registry=registry,
        )
        self.objective = Gauge(
            "sla_objective_ratio",
            "Share of targets the tier must meet, from the policy.",
            ["tier"],
            registry=registry,
        )
        self.events = Counter(
            "sla_events",
            "Input events processed, by type and result.",
            ["type", "result"],
            registry=registry,
        )
        self.dead_letters = Counter(
            "sla_dead_letters",
            "Input messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.tickets_expired = Counter(
            "sla_tickets_expired",
            "Open tickets forgotten after SLA_OPEN_RETENTION without an event, by tier.",
            ["tier"],
            registry=registry,
        )
        self.event_lag = Histogram(
            "sla_event_lag_seconds",
            "Processing time minus the event's occurred_at.",
            buckets=EVENT_LAG_BUCKETS_S,
            registry=registry,
        )
        self.breach_detection_delay = Histogram(
            "sla_breach_detection_delay_seconds",
            "Time from a deadline to the detection of its breach.",
            buckets=BREACH_DETECTION_DELAY_BUCKETS_S,
            registry=registry,
        )
        self.partition_caught_up = Gauge(
            "sla_partition_caught_up",
            "1 when the worker has processed everything in the partition, else 0.",
            ["partition"],
            registry=registry,
        )
        self.policy_info = Info(
            "sla_policy", "The policy the worker runs: its name and file sha256.", registry=registry
        )
        self.timer_last_run = Gauge(
            "sla_deadline_timer_last_run_timestamp_seconds",
            "When the deadline timer last ran (Unix seconds; 0: not yet).",
            registry=registry,
        )
        self.policy_info.info({"name": policy.name, "sha256": policy.sha256})
        for tier, priority, target in self._label_sets:
            for outcome in OUTCOMES:
                self.outcomes.labels(tier, priority, target, outcome)
            self.response.labels(tier, priority, target)
            self.budget_used.labels(tier, priority, target)
            for threshold in policy.tiers[tier].warnings:
                self.warnings.labels(tier, priority, target, threshold.text)
            configured = policy.tiers[tier].targets[target].get(priority)
            if configured is not None and configured.within_s is not None:
                self.target_seconds.labels(tier, priority, target).set(configured.within_s)
        for name, tier_spec in policy.tiers.items():
            if tier_spec.objective is not None:
                self.objective.labels(name).set(tier_spec.objective)
        for event_type in INPUT_TYPES:
            for result in EVENT_RESULTS:
                self.events.labels(event_type, result)
        self.events.labels(UNKNOWN_EVENT_TYPE, "dead_letter")
        for reason in DEAD_LETTER_REASONS:
            self.dead_letters.labels(reason)
        for name in policy.tiers:
            self.tickets_expired.labels(name)

    # --- what the worker shell calls ------------------------------------------------------

    def observe_event(self, event_type: str, result: str, lag_s: float | None = None) -> None:
        """Count one input event by type and result; observe its lag when given.

        ``result`` is ``ok``, ``duplicate`` or ``dead_letter``; a type that is not a known
        input type (an invalid message) counts as ``unknown``. ``lag_s`` is the processing
        time minus the event's ``occurred_at``.
        """
        if result not in EVENT_RESULTS:
            raise ValueError(f"unknown event result {result!r} (expected one of {EVENT_RESULTS})")
        known = event_type if event_type in INPUT_TYPES else UNKNOWN_EVENT_TYPE
        self.events.labels(known, result).inc()
        if lag_s is not None:
            self.event_lag.observe(lag_s)

    def observe_dead_letter(self, reason: str) -> None:
        """Count one message sent to the dead-letter topic for ``reason``."""
        if reason not in DEAD_LETTER_REASONS:
            raise ValueError(
                f"unknown dead-letter reason {reason!r} (expected one of {DEAD_LETTER_REASONS})"
            )
        self.dead_letters.labels(reason).inc()

    def observe_expired(self, tier: str) -> None:
        """Count one open ticket of ``tier`` forgotten by open-ticket retention."""
        self.tickets_expired.labels(tier).inc()

    def observe_outputs(self, outputs: Iterable[OutputEvent]) -> None:
        """Count the outputs the tracker earned (each once: not republished ones).

        Outcomes count in ``sla_outcomes_total``, warnings in ``sla_warnings_total``;
        fulfilments observe ``sla_response_seconds`` and, for targets with a non-zero
        budget, ``sla_budget_used_ratio``; breaches observe the detection delay. Tallied
        first, then each series updated once (a batch's outputs at once).
        """
        outcomes: Tally[tuple[str, str, str, str]] = Tally()
        warnings: Tally[tuple[str, str, str, str]] = Tally()
        responses: dict[LabelSet, list[float]] = {}
        budgets: dict[LabelSet, list[float]] = {}
        delays: list[float] = []
        running = self._running
        for output in outputs:
            labels = (output.tier, output.priority, output.target)
            if labels not in running:
                continue  # not a label set of this policy: never export foreign values
            if isinstance(output, SlaOutcome):
                outcomes[(*labels, output.outcome)] += 1
            elif isinstance(output, SlaWarning):
                if output.threshold in self._thresholds[output.tier]:
                    warnings[(*labels, output.threshold)] += 1
            elif isinstance(output, TargetFulfilled):
                responses.setdefault(labels, []).append(output.elapsed_seconds)
                if output.target_seconds:
                    budgets.setdefault(labels, []).append(
                        output.elapsed_seconds / output.target_seconds
                    )
            elif isinstance(output, SlaBreached) and output.deadline is not None:
                delays.append((output.detected_at - output.deadline).total_seconds())
        for key, n in outcomes.items():
            self.outcomes.labels(*key).inc(n)
        for key, n in warnings.items():
            self.warnings.labels(*key).inc(n)
        for labels, values in responses.items():
            observe_many(self.response.labels(*labels), values)
        for labels, values in budgets.items():
            observe_many(self.budget_used.labels(*labels), values)
        if delays:
            observe_many(self.breach_detection_delay, delays)

    def update_running(
        self, before: Iterable[RunningTarget], after: Iterable[RunningTarget]
    ) -> None:
        """Replace one ticket's running target cycles ``before`` by ``after``.

        Pass ``TicketState.running`` of the old and the new state (``()`` for none). Entries
        present in both are left alone, so an unchanged ticket costs nothing.
        """
        self._running.update(before, after)

    def reset_running(self, running: Iterable[RunningTarget]) -> None:
        """Replace every running target by ``running`` (after a rebalance rebuilt the state)."""
        rebuild = self.rebuild_running()
        rebuild.add(running)
        rebuild.done()

    def rebuild_running(self) -> RunningRebuild:
        """Start replacing every running target: add them in parts, then call ``done()``.

        For a rebuild over a million stored tickets: each ticket's targets are tallied as
        they are read, rather than listed first.
        """
        return self._running.rebuild()

    def set_partition_caught_up(self, partition: int, caught_up: bool) -> None:
        """Set whether the worker has processed everything in ``partition``."""
        self.partition_caught_up.labels(str(partition)).set(1 if caught_up else 0)

    def clear_partitions(self) -> None:
        """Drop every ``sla_partition_caught_up`` series (the partitions were revoked)."""
        self.partition_caught_up.clear()

    def timer_ran(self, now: datetime) -> None:
        """Record that the deadline timer ran at ``now`` (each tick of it)."""
        self.timer_last_run.set(_aware(now, "now").timestamp())

    def render(self, accept: str | None, now: datetime) -> tuple[bytes, str]:
        """Return the exposition body and its content type for an ``Accept`` header.

        OpenMetrics when ``accept`` asks for it, the Prometheus text format otherwise. The
        running-target metrics are computed at ``now`` (pass the wall clock).
        """
        encoder, content_type = choose_encoder(accept or "")
        self._scrape_at_s = _aware(now, "now").timestamp()
        try:
            body = encoder(self.registry)
        finally:
            self._scrape_at_s = None
        return body, content_type

    # --- used by the scrape-time collector ------------------------------------------------

    def scrape_time_s(self) -> float:
        """Return the instant the running-target metrics are computed at (Unix seconds).

        The ``now`` of the :meth:`render` in progress; the wall clock when the registry is
        collected some other way (another exporter of the same registry).
        """
        return time.time() if self._scrape_at_s is None else self._scrape_at_s

    def running_entries(self) -> Iterator[tuple[LabelSet, RunningEntry]]:
        """Yield every label set and its running targets, in policy order."""
        yield from self._running.items()

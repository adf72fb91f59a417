"""Compliance figures over SLA outcomes: what ``sla-worker report`` computes for a period.

Core module: the standard library and ``worker.core`` only; no I/O, no clock reads, no
``os``, ``asyncio``, ``logging`` or third-party library. Reading the outcomes (a topic, a
file) is the shell's job, printing them ``worker/edge/report.py``'s; here, values in,
figures out.

Per group (tier x priority x target, and the customer first with ``by_customer``):

- ``met`` and ``breached`` outcomes, and compliance ``met / (met + breached)``, compared
  with the tier's ``objective`` from the policy (``met`` when compliance reaches it,
  ``missed`` otherwise; None for a tier the policy does not name);
- the median and p90 of the counted time to fulfil (``elapsed_seconds``) of the targets
  **met**: a breached outcome is decided when its deadline passes, before any fulfilment,
  so it carries no time to fulfil. Percentiles are computed as ``simulate`` computes them
  (``statistics.quantiles``, inclusive method; one value is its own percentile).

Besides outcomes, the tally takes the late fulfilments (``sla.late_fulfilment``) of the same
outcome topic: a breached cycle fulfilled after all, with its counted time over the target.
Outcomes and late fulfilments are deduplicated by ``id`` (at-least-once delivery, or a worker
publishing again after a crash, may repeat one; the first is kept).

The worst breaches are the breached outcomes, each with its late fulfilment when one was
read (matched by the outcome's id):

- first the breaches **not fulfilled** in what was read (open as far as the report knows:
  still open at the period's end, or fulfilled after it, or read from outputs that predate
  late fulfilments), the oldest deadline first: they are the ones to chase, and their time
  over cannot be counted here (it depends on the pauses and the calendar);
- then the breaches **fulfilled late**, the most counted time over the target first
  (``over_seconds`` of the late fulfilment), ties by deadline (the oldest first);
- the id last.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from worker.core.events import SlaLateFulfilment, SlaOutcome
from worker.core.policy import TARGETS, Policy

__all__ = [
    "DEFAULT_WORST",
    "ComplianceReport",
    "ComplianceTally",
    "GroupFigures",
    "Verdict",
    "WorstBreach",
    "compliance_report",
    "decided_at",
    "decided_within",
    "percentile",
]

# How many of the worst breaches a report lists by default: enough to name the incidents of a
# month in a review, few enough to read.
DEFAULT_WORST: Final = 5

Verdict = Literal["met", "missed"]


def percentile(values: list[float], q: int) -> float | None:
    """Return the q-th percentile (1..99) of ``values``, or None when there are none.

    The inclusive method of ``statistics.quantiles``, as ``simulate`` computes it: the median
    of an even count is the mean of the two middle values; one value is every percentile.
    """
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def decided_at(outcome: SlaOutcome | SlaLateFulfilment) -> datetime | None:
    """Return the event time an outcome was decided at: its fulfilment, or its deadline.

    A breach re-evaluated past its deadline was decided later than the deadline; the outcome
    does not say when, and the deadline is the instant it speaks of. A late fulfilment is
    decided at its fulfilment.
    """
    if isinstance(outcome, SlaLateFulfilment) or outcome.outcome == "met":
        return outcome.fulfilled_at
    return outcome.deadline


def decided_within(
    outcome: SlaOutcome | SlaLateFulfilment, start: datetime | None, end: datetime | None
) -> bool:
    """Whether ``outcome`` was decided in ``[start, end)`` (None: unbounded on that side).

    An outcome without a decision instant (a breach without a deadline, which no worker
    writes) is within every period.
    """
    at = decided_at(outcome)
    return at is None or ((start is None or at >= start) and (end is None or at < end))


@dataclass(frozen=True, slots=True)
class GroupFigures:
    """The figures of one group: tier x priority x target (and the customer, if grouped by it).

    ``customer_id`` is None when the report is not by customer, and for the outcomes without
    one when it is. ``median_s`` and ``p90_s`` are over the targets met (None without any).
    """

    customer_id: str | None
    tier: str
    priority: str
    target: str
    met: int
    breached: int
    objective: float | None
    median_s: float | None
    p90_s: float | None

    @property
    def total(self) -> int:
        """Outcomes in the group."""
        return self.met + self.breached

    @property
    def compliance(self) -> float:
        """``met / (met + breached)``; a group has at least one outcome."""
        return self.met / self.total

    @property
    def verdict(self) -> Verdict | None:
        """``met`` when compliance reaches the tier's objective, ``missed`` below it."""
        if self.objective is None:
            return None
        return "met" if self.compliance >= self.objective else "missed"


@dataclass(frozen=True, slots=True)
class WorstBreach:
    """A breached outcome and its late fulfilment, None when none was read (not fulfilled)."""

    outcome: SlaOutcome
    late: SlaLateFulfilment | None

    @property
    def over_s(self) -> float | None:
        """Counted seconds over the target when finally fulfilled; None when not fulfilled."""
        return None if self.late is None else self.late.over_seconds


@dataclass(frozen=True, slots=True)
class ComplianceReport:
    """The figures of a period: its groups in policy order, and the worst breaches first.

    ``outcomes`` counts the distinct outcomes, ``late_fulfilments`` the distinct late
    fulfilments read, ``duplicates`` the repeats of either dropped.
    """

    groups: tuple[GroupFigures, ...]
    worst: tuple[WorstBreach, ...]
    outcomes: int
    duplicates: int
    by_customer: bool
    late_fulfilments: int = 0


@dataclass(slots=True)
class _Group:
    met: int = 0
    breached: int = 0
    met_s: list[float] = field(default_factory=list)


_GroupKey = tuple[str | None, str, str, str]
_WorstKey = tuple[bool, float, bool, datetime | None, str]


def _worst_order(worst: WorstBreach) -> _WorstKey:
    """Return the sort key of a breach among the worst (module docstring): smallest first."""
    outcome = worst.outcome
    over_s = worst.over_s
    return (
        over_s is not None,  # not fulfilled first
        0.0 if over_s is None else -over_s,  # then the most time over
        outcome.deadline is None,  # (no worker writes a breach without a deadline)
        outcome.deadline,  # the oldest first
        outcome.id,
    )


class ComplianceTally:
    """Counts outcomes and late fulfilments one at a time (a period may hold millions).

    Keeps the ids seen (to drop repeats), a counter pair and the met times per group, the
    breached outcomes and the late fulfilments by outcome id (for the worst).
    """

    def __init__(
        self, policy: Policy, *, by_customer: bool = False, worst: int = DEFAULT_WORST
    ) -> None:
        self.policy = policy
        self.by_customer = by_customer
        self.worst = worst
        self.seen: set[str] = set()
        self.outcomes = 0
        self.duplicates = 0
        self.groups: dict[_GroupKey, _Group] = {}
        self.breaches: list[SlaOutcome] = []
        self.late: dict[str, SlaLateFulfilment] = {}

    def add(self, outcome: SlaOutcome | SlaLateFulfilment) -> bool:
        """Count ``outcome`` (or keep a late fulfilment); False for a repeat of an id seen."""
        key = outcome.id
        if key in self.seen:
            self.duplicates += 1
            return False
        self.seen.add(key)
        if isinstance(outcome, SlaLateFulfilment):
            self.late[outcome.outcome_id] = outcome
            return True
        self.outcomes += 1
        customer = outcome.customer_id if self.by_customer else None
        group_key = (customer, outcome.tier, outcome.priority, outcome.target)
        group = self.groups.get(group_key)
        if group is None:
            group = self.groups[group_key] = _Group()
        if outcome.outcome == "met":
            group.met += 1
            group.met_s.append(outcome.elapsed_seconds)
        else:
            group.breached += 1
            self.breaches.append(outcome)
        return True

    def report(self) -> ComplianceReport:
        """Return the figures of what was added."""
        tiers = {name: number for number, name in enumerate(self.policy.tiers)}
        priorities = {name: number for number, name in enumerate(self.policy.priorities)}
        targets = {name: number for number, name in enumerate(TARGETS)}
        last = len(tiers) + len(priorities) + len(targets)  # after every known name

        def order(key: _GroupKey) -> tuple[bool, str, int, str, int, str, int, str]:
            customer, tier, priority, target = key
            return (
                customer is None,  # the outcomes without a customer last
                customer or "",
                tiers.get(tier, last),
                tier,
                priorities.get(priority, last),
                priority,
                targets.get(target, last),
                target,
            )

        groups = []
        for key in sorted(self.groups, key=order):
            customer, tier, priority, target = key
            group = self.groups[key]
            known = self.policy.tiers.get(tier)
            groups.append(
                GroupFigures(
                    customer_id=customer,
                    tier=tier,
                    priority=priority,
                    target=target,
                    met=group.met,
                    breached=group.breached,
                    objective=None if known is None else known.objective,
                    median_s=percentile(group.met_s, 50),
                    p90_s=percentile(group.met_s, 90),
                )
            )
        late = self.late
        worst = heapq.nsmallest(
            self.worst,
            (WorstBreach(breach, late.get(breach.id)) for breach in self.breaches),
            key=_worst_order,
        )
        return ComplianceReport(
            groups=tuple(groups),
            worst=tuple(worst),
            outcomes=self.outcomes,
            duplicates=self.duplicates,
            by_customer=self.by_customer,
            late_fulfilments=len(late),
        )


def compliance_report(
    outcomes: Iterable[SlaOutcome | SlaLateFulfilment],
    policy: Policy,
    *,
    by_customer: bool = False,
    worst: int = DEFAULT_WORST,
) -> ComplianceReport:
    """Return the figures of ``outcomes`` and late fulfilments (see the module's docstring)."""
    tally = ComplianceTally(policy, by_customer=by_customer, worst=worst)
    for outcome in outcomes:
        tally.add(outcome)
    return tally.report()

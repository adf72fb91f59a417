"""How one deadline is counted: the explanation that ``sla-worker policy explain`` prints.

Core module: the standard library and ``worker.core`` only; no I/O, no clock reads (the
start and the pauses are arguments), no ``os``, ``asyncio``, ``logging`` or third-party
library. :func:`explain_deadline` answers, for one target of one ticket: when counting
starts and why (the calendar is open, the start is inside a pause, or the calendar is
closed), the counted spans up to the deadline with the running total, when the budget is
used up, and the deadline itself, or why there is none. Turning an :class:`Explanation`
into text or JSON is the job of ``worker/edge/report.py``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from worker.core.calendars import BusinessCalendar, ClosedDay, Pause
from worker.core.policy import Policy, Target

__all__ = ["CountedSpan", "CountingStart", "Explanation", "explain_deadline", "merge_pauses"]

CountingStart = Literal["open", "paused", "closed"]
"""Why counting starts when it does: at once (``open``), after a pause, or at opening time."""


@dataclass(frozen=True, slots=True)
class CountedSpan:
    """One counted ``[start_at, end_at)`` span, and the time counted from the start to its end."""

    start_at: datetime
    end_at: datetime
    total: timedelta


@dataclass(frozen=True, slots=True)
class Explanation:
    """How the deadline of one target of one ticket is counted.

    ``within_s`` is None for a target measured without a deadline; then ``spans`` is empty,
    ``budget_used_at`` and ``deadline_at`` are None and ``no_deadline_reason`` says why.
    Otherwise ``budget_used_at`` is when the last counted span ends: before ``deadline_at``
    when the budget runs out exactly as counting stops (closing time, a pause), since the
    deadline is then the instant counting resumes.
    """

    policy: str
    policy_sha256: str
    tier: str
    priority: str
    target: str
    commitment: str
    calendar: str
    timezone: tzinfo
    pausable: bool
    start_at: datetime
    pauses: tuple[Pause, ...]
    within_s: int | None
    counting_starts_at: datetime
    counting_starts: CountingStart
    spans: tuple[CountedSpan, ...]
    budget_used_at: datetime | None
    deadline_at: datetime | None
    no_deadline_reason: str | None
    holidays: tuple[ClosedDay, ...] = ()


def merge_pauses(pauses: Iterable[Pause]) -> tuple[Pause, ...]:
    """Return ``pauses`` sorted, with overlapping and touching ones merged into one."""
    merged: list[Pause] = []
    for begin, end in sorted(pauses):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return tuple(merged)


def explain_deadline(
    policy: Policy,
    tier: str,
    priority: str,
    target: Target,
    start_at: datetime,
    pauses: Iterable[Pause] = (),
) -> Explanation:
    """Return how ``target`` of a ``tier``/``priority`` ticket started at ``start_at`` is counted.

    ``tier`` is a tier of ``policy`` and ``target`` what ``policy.target_for(tier, priority,
    name)`` returns for it. ``pauses`` are ``(from, to)`` spans not counted, whatever the
    target's ``pausable`` (merged first). Instants are timezone-aware.
    """
    found = policy.tiers[tier]
    calendar = target.calendar
    zone: tzinfo = calendar.timezone if isinstance(calendar, BusinessCalendar) else UTC
    merged = merge_pauses(pauses)
    counting_at = calendar.next_open(start_at, merged)
    why: CountingStart
    if counting_at == start_at:
        why = "open"
    elif any(begin <= start_at < end for begin, end in merged):
        why = "paused"
    else:
        why = "closed"
    spans: list[CountedSpan] = []
    budget_used_at = deadline_at = None
    reason = None
    holidays: tuple[ClosedDay, ...] = ()
    if target.within_s is None:
        if found.commitment == "none":
            reason = f"tier {tier!r} has commitment none"
        else:
            reason = f"tier {tier!r} sets no {target.name} target for priority {priority!r}"
    else:
        deadline_at = calendar.deadline(start_at, timedelta(seconds=target.within_s), merged)
        total = timedelta()
        for begin, end in calendar.spans(start_at, deadline_at, merged):
            total += end - begin
            spans.append(CountedSpan(begin, end, total))
        budget_used_at = spans[-1].end_at if spans else counting_at
        holidays = calendar.named_holidays(start_at, deadline_at)
    return Explanation(
        policy=policy.name,
        policy_sha256=policy.sha256,
        tier=tier,
        priority=priority,
        target=target.name,
        commitment=found.commitment,
        calendar=calendar.name,
        timezone=zone,
        pausable=target.pausable,
        start_at=start_at,
        pauses=merged,
        within_s=target.within_s,
        counting_starts_at=counting_at,
        counting_starts=why,
        spans=tuple(spans),
        budget_used_at=budget_used_at,
        deadline_at=deadline_at,
        no_deadline_reason=reason,
        holidays=holidays,
    )

"""``worker.core.explain``: when counting starts, the counted spans, the deadline or its absence.

The default test policy (tests/unit/conftest.py): gold first_response 1h/2h on 24x7 and
resolution P1 8h on us-business; silver first_response P1 4h, P2 8h on us-business
(America/Los_Angeles, mon-fri 09:00-17:00, Thanksgiving 2026-11-26 a holiday), P3 and P4
measured only; free has commitment none.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from worker.core.calendars import TWENTY_FOUR_SEVEN, ClosedDay, Pause
from worker.core.explain import CountedSpan, Explanation, explain_deadline, merge_pauses
from worker.core.policy import Policy, Target

LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def at(text: str) -> datetime:
    """Return the instant of an RFC 3339 text with ``Z``."""
    return datetime.fromisoformat(text)


def hours(count: float) -> timedelta:
    return timedelta(hours=count)


@dataclass(frozen=True)
class Case:
    """One explanation: the ticket, then what counting must show."""

    tier: str
    priority: str
    start: str
    target: str = "first_response"
    pauses: tuple[tuple[str, str], ...] = ()
    counting_starts: str = "open"
    counting_starts_at: str | None = None  # None: the start
    spans: tuple[tuple[str, str, timedelta], ...] = ()
    budget_used_at: str | None = None  # None: the deadline
    deadline: str | None = None
    reason: str | None = None
    zone: object = field(default=UTC)


CASES = {
    "24x7, open at the start": Case(
        "gold", "P1", "2026-11-23T10:00:00Z",
        spans=(("2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z", hours(1)),),
        deadline="2026-11-23T11:00:00Z",
    ),
    "a pause splits the counted time": Case(
        "gold", "P2", "2026-11-23T10:00:00Z",
        pauses=(("2026-11-23T10:30:00Z", "2026-11-23T11:00:00Z"),),
        spans=(
            ("2026-11-23T10:00:00Z", "2026-11-23T10:30:00Z", hours(0.5)),
            ("2026-11-23T11:00:00Z", "2026-11-23T12:30:00Z", hours(2)),
        ),
        deadline="2026-11-23T12:30:00Z",
    ),
    "a start inside a pause waits for its end": Case(
        "gold", "P1", "2026-11-23T10:00:00Z",
        pauses=(("2026-11-23T09:00:00Z", "2026-11-23T10:15:00Z"),),
        counting_starts="paused",
        counting_starts_at="2026-11-23T10:15:00Z",
        spans=(("2026-11-23T10:15:00Z", "2026-11-23T11:15:00Z", hours(1)),),
        deadline="2026-11-23T11:15:00Z",
    ),
    "a Saturday start waits for Monday's opening": Case(
        "silver", "P1", "2026-11-28T18:00:00Z",
        counting_starts="closed",
        counting_starts_at="2026-11-30T17:00:00Z",
        spans=(("2026-11-30T17:00:00Z", "2026-11-30T21:00:00Z", hours(4)),),
        deadline="2026-11-30T21:00:00Z",
        zone=LOS_ANGELES,
    ),
    "business hours across a holiday": Case(
        "silver", "P1", "2026-11-25T23:00:00Z",
        spans=(
            ("2026-11-25T23:00:00Z", "2026-11-26T01:00:00Z", hours(2)),
            ("2026-11-27T17:00:00Z", "2026-11-27T19:00:00Z", hours(4)),
        ),
        deadline="2026-11-27T19:00:00Z",
        zone=LOS_ANGELES,
    ),
    "a budget used up at closing time: the deadline is the next opening": Case(
        "silver", "P1", "2026-11-25T21:00:00Z",
        spans=(("2026-11-25T21:00:00Z", "2026-11-26T01:00:00Z", hours(4)),),
        budget_used_at="2026-11-26T01:00:00Z",
        deadline="2026-11-27T17:00:00Z",
        zone=LOS_ANGELES,
    ),
    "a target on its own calendar": Case(
        "gold", "P1", "2026-11-23T17:00:00Z", target="resolution",
        spans=(("2026-11-23T17:00:00Z", "2026-11-24T01:00:00Z", hours(8)),),
        budget_used_at="2026-11-24T01:00:00Z",
        deadline="2026-11-24T17:00:00Z",
        zone=LOS_ANGELES,
    ),
    "commitment none: measured, no deadline": Case(
        "free", "P1", "2026-11-23T10:00:00Z",
        reason="tier 'free' has commitment none",
    ),
    "a priority without a target: measured, no deadline": Case(
        "silver", "P3", "2026-11-28T18:00:00Z",
        counting_starts="closed",
        counting_starts_at="2026-11-30T17:00:00Z",
        reason="tier 'silver' sets no first_response target for priority 'P3'",
        zone=LOS_ANGELES,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_explain_deadline(case: Case, make_policy: Callable[..., Policy]) -> None:
    """Counting start and why, spans with running totals, budget used up, deadline or reason."""
    policy = make_policy()
    target = policy.target_for(case.tier, case.priority, case.target)
    assert target is not None
    pauses = [(at(a), at(b)) for a, b in case.pauses]
    result = explain_deadline(policy, case.tier, case.priority, target, at(case.start), pauses)

    assert (result.tier, result.priority, result.target) == (case.tier, case.priority, case.target)
    assert result.start_at == at(case.start)
    assert result.pauses == tuple(pauses)
    assert result.timezone == case.zone
    assert result.counting_starts == case.counting_starts
    assert result.counting_starts_at == at(case.counting_starts_at or case.start)
    assert result.spans == tuple(CountedSpan(at(a), at(b), total) for a, b, total in case.spans)
    assert result.no_deadline_reason == case.reason
    if case.deadline is None:
        assert (result.within_s, result.deadline_at, result.budget_used_at) == (None, None, None)
    else:
        assert result.within_s == target.within_s
        assert result.deadline_at == at(case.deadline)
        assert result.budget_used_at == at(case.budget_used_at or case.deadline)


def test_explanation_names_the_policy_tier_and_calendar(make_policy: Callable[..., Policy]) -> None:
    """The explanation carries the policy's name and digest, the commitment and the calendar."""
    policy = make_policy()
    target = policy.target_for("silver", "P2", "first_response")
    assert target is not None
    result = explain_deadline(policy, "silver", "P2", target, at("2026-11-23T17:00:00Z"))
    assert isinstance(result, Explanation)
    assert (result.policy, result.policy_sha256) == (policy.name, policy.sha256)
    assert (result.commitment, result.calendar, result.pausable) == ("slo", "us-business", False)
    assert result.within_s == 8 * 3600


def test_explanation_names_the_holidays_a_deadline_skipped(
    make_policy: Callable[..., Policy],
) -> None:
    """The closed days that took open hours out of the counting are listed, with their names."""
    policy = make_policy()
    target = policy.target_for("silver", "P1", "first_response")
    assert target is not None
    result = explain_deadline(policy, "silver", "P1", target, at("2026-11-25T23:00:00Z"))
    assert result.holidays == (ClosedDay(date(2026, 11, 26), "listed holiday"),)
    assert str(result.holidays[0]) == "2026-11-26 listed holiday"
    on_24x7 = policy.target_for("gold", "P1", "first_response")
    assert on_24x7 is not None
    assert (
        explain_deadline(policy, "gold", "P1", on_24x7, at("2026-11-25T23:00:00Z")).holidays == ()
    )


@pytest.mark.parametrize(
    ("start", "counting_starts"),
    [("2026-11-23T10:00:00Z", "open"), ("2026-11-28T18:00:00Z", "closed")],
    ids=["open", "closed"],
)
def test_a_zero_budget_is_used_up_when_counting_starts(
    start: str, counting_starts: str, make_policy: Callable[..., Policy]
) -> None:
    """A zero target has no counted span: budget used up and deadline when counting starts."""
    policy = make_policy()
    calendar = policy.calendars["us-business" if counting_starts == "closed" else "24x7"]
    target = Target("first_response", 0, calendar, pausable=False)
    result = explain_deadline(policy, "gold", "P1", target, at(start))
    assert result.spans == ()
    assert result.counting_starts == counting_starts
    assert result.budget_used_at == result.deadline_at == result.counting_starts_at


def test_pauses_are_merged_before_counting(make_policy: Callable[..., Policy]) -> None:
    """Unsorted, overlapping pauses count once; the explanation lists them merged."""
    policy = make_policy()
    target = Target("first_response", 3600, TWENTY_FOUR_SEVEN, pausable=False)
    result = explain_deadline(
        policy, "gold", "P1", target, at("2026-11-23T10:00:00Z"),
        [
            (at("2026-11-23T10:40:00Z"), at("2026-11-23T11:00:00Z")),
            (at("2026-11-23T10:30:00Z"), at("2026-11-23T10:50:00Z")),
        ],
    )  # fmt: skip
    assert result.pauses == ((at("2026-11-23T10:30:00Z"), at("2026-11-23T11:00:00Z")),)
    assert result.deadline_at == at("2026-11-23T11:30:00Z")


def span(a: str, b: str) -> Pause:
    return (at(f"2026-11-23T{a}:00Z"), at(f"2026-11-23T{b}:00Z"))


MERGES = {
    "none": ([], ()),
    "one": ([span("10:00", "11:00")], (span("10:00", "11:00"),)),
    "disjoint, sorted": (
        [span("12:00", "13:00"), span("10:00", "11:00")],
        (span("10:00", "11:00"), span("12:00", "13:00")),
    ),
    "overlapping": (
        [span("10:00", "11:00"), span("10:30", "12:00")],
        (span("10:00", "12:00"),),
    ),
    "touching": ([span("10:00", "11:00"), span("11:00", "12:00")], (span("10:00", "12:00"),)),
    "contained": ([span("10:00", "12:00"), span("10:30", "11:00")], (span("10:00", "12:00"),)),
}


@pytest.mark.parametrize(("pauses", "merged"), MERGES.values(), ids=MERGES.keys())
def test_merge_pauses(pauses: list[Pause], merged: tuple[Pause, ...]) -> None:
    """Pauses come back sorted; overlapping, touching and contained ones become one."""
    assert merge_pauses(pauses) == merged

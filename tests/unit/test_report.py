"""``worker.edge.report``: the text and JSON forms of what the commands print."""

import dataclasses
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from worker.core.events import (
    PublishedOutput,
    SlaBreached,
    SlaLateFulfilment,
    SlaOutcome,
    SlaWarning,
)
from worker.core.explain import explain_deadline
from worker.core.policy import Policy
from worker.edge.codec import InvalidLine
from worker.edge.report import (
    SPANS_SHOWN,
    compliance_table,
    duration_text,
    event_counts,
    explanation_json,
    explanation_text,
    invalid_lines,
    loadgen_summary,
    local_text,
    output_line,
    policy_ok_line,
    progress_bar,
    rate_text,
    seconds_value,
    sent_summary,
    utc_text,
)

LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- instants and durations ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (at("2026-11-23T10:00:00Z"), "2026-11-23T10:00:00Z"),
        (at("2026-11-23T11:00:00+01:00"), "2026-11-23T10:00:00Z"),
        (at("2026-11-23T10:00:00.5Z"), "2026-11-23T10:00:00.500000Z"),
    ],
)
def test_utc_text(value: datetime, text: str) -> None:
    """Instants print in UTC with Z, microseconds only when present."""
    assert utc_text(value) == text


@pytest.mark.parametrize(
    ("value", "zone", "text"),
    [
        (at("2026-11-23T17:00:00Z"), LOS_ANGELES, "Mon 2026-11-23 09:00 PST"),
        (at("2026-07-01T16:00:30Z"), LOS_ANGELES, "Wed 2026-07-01 09:00:30 PDT"),
        (at("2026-11-23T10:00:00.25Z"), UTC, "Mon 2026-11-23 10:00:00 UTC"),
    ],
)
def test_local_text(value: datetime, zone: ZoneInfo, text: str) -> None:
    """Wall-clock time in the zone, with seconds only when the instant has them."""
    assert local_text(value, zone) == text


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(timedelta(hours=2), 7200), (timedelta(seconds=1799.5), 1799.5), (timedelta(), 0)],
)
def test_seconds_value(value: timedelta, seconds: float) -> None:
    """Whole seconds are an int (tidy JSON), fractions a float."""
    result = seconds_value(value)
    assert result == seconds
    assert type(result) is type(seconds)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(), "0s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=1, seconds=61), "1d1m1s"),
        (timedelta(seconds=9.5), "9.5s"),
        (timedelta(seconds=1799.5), "29m59.5s"),
        (timedelta(hours=1, minutes=59, seconds=50.5), "1h59m50.5s"),
    ],
)
def test_duration_text(value: timedelta, text: str) -> None:
    """Durations print as 1h30m; fractions of a second as 12.5s."""
    assert duration_text(value) == text


# --- policy --------------------------------------------------------------------------------


def test_policy_ok_line(make_policy: Callable[..., Policy]) -> None:
    """A valid file's line names the file, the policy, its tier count and digest."""
    policy = dataclasses.replace(make_policy(), sha256="0123456789abcdef" * 4)
    assert policy_ok_line("p.yaml", policy) == (
        "ok: p.yaml (test-support, 3 tiers, sha256 0123456789ab)"
    )
    one = dataclasses.replace(policy, tiers={"gold": policy.tiers["gold"]})
    assert policy_ok_line("p.yaml", one) == "ok: p.yaml (test-support, 1 tier, sha256 0123456789ab)"


def explain(
    policy: Policy,
    tier: str,
    priority: str,
    start: str,
    *,
    target: str = "first_response",
    pause: str | None = None,
) -> str:
    """Return the text explanation; ``pause`` is ``FROM/TO``."""
    found = policy.target_for(tier, priority, target)
    assert found is not None
    pauses = [] if pause is None else [(at(pause.split("/")[0]), at(pause.split("/")[1]))]
    return explanation_text(explain_deadline(policy, tier, priority, found, at(start), pauses))


def test_explanation_json_with_a_deadline(make_policy: Callable[..., Policy]) -> None:
    """Every field, instants as UTC text, local times in the calendar's zone, in this order."""
    policy = make_policy()
    target = policy.target_for("silver", "P1", "first_response")
    assert target is not None
    explanation = explain_deadline(
        policy, "silver", "P1", target, at("2026-11-25T21:00:00Z"),
        [(at("2026-11-27T18:00:00Z"), at("2026-11-27T18:30:00.5Z"))],
    )  # fmt: skip
    result = explanation_json(explanation)
    assert list(result) == [
        "policy", "policy_sha256", "tier", "priority", "target", "commitment", "calendar",
        "timezone", "pausable", "start", "pauses", "target_seconds", "counting_starts_at",
        "counting_starts", "spans", "budget_used_at", "deadline", "deadline_local",
        "no_deadline_reason", "holidays",
    ]  # fmt: skip
    assert result == {
        "policy": "test-support",
        "policy_sha256": policy.sha256,
        "tier": "silver",
        "priority": "P1",
        "target": "first_response",
        "commitment": "slo",
        "calendar": "us-business",
        "timezone": "America/Los_Angeles",
        "pausable": False,
        "start": "2026-11-25T21:00:00Z",
        "pauses": [{"from": "2026-11-27T18:00:00Z", "to": "2026-11-27T18:30:00.500000Z"}],
        "target_seconds": 14400,
        "counting_starts_at": "2026-11-25T21:00:00Z",
        "counting_starts": "open",
        "spans": [
            {
                "from": "2026-11-25T21:00:00Z",
                "to": "2026-11-26T01:00:00Z",
                "from_local": "2026-11-25T13:00:00-08:00",
                "to_local": "2026-11-25T17:00:00-08:00",
                "seconds": 14400,
                "total_seconds": 14400,
            }
        ],
        "budget_used_at": "2026-11-26T01:00:00Z",
        "deadline": "2026-11-27T17:00:00Z",
        "deadline_local": "2026-11-27T09:00:00-08:00",
        "no_deadline_reason": None,
        "holidays": [{"date": "2026-11-26", "name": "listed holiday"}],
    }


def test_explanation_json_without_a_deadline(make_policy: Callable[..., Policy]) -> None:
    """A measured-only target: no spans, null deadline, and the reason."""
    policy = make_policy()
    target = policy.target_for("free", "P1", "first_response")
    assert target is not None
    result = explanation_json(
        explain_deadline(policy, "free", "P1", target, at("2026-11-23T10:00:00.25Z"))
    )
    assert result["timezone"] == "UTC"
    assert result["start"] == "2026-11-23T10:00:00.250000Z"
    assert (result["target_seconds"], result["spans"], result["pauses"]) == (None, [], [])
    assert (result["budget_used_at"], result["deadline"], result["deadline_local"]) == (
        None,
        None,
        None,
    )
    assert result["no_deadline_reason"] == "tier 'free' has commitment none"


def test_explanation_text_24x7_with_a_fraction_and_a_pause(
    make_policy: Callable[..., Policy],
) -> None:
    """Header, target, start, pauses, counting, numbered spans with totals, deadline."""
    text = explain(
        make_policy(),
        "gold",
        "P1",
        "2026-11-23T10:00:00.5Z",
        pause="2026-11-23T10:00:10Z/2026-11-23T10:00:20Z",
    )
    assert text.splitlines() == [
        "test-support: tier gold, priority P1, first_response (commitment sla)",
        "target    1h of counted time (3600 s) on calendar 24x7 (UTC), not pausable",
        "start     2026-11-23T10:00:00.500000Z (Mon 2026-11-23 10:00:00 UTC)",
        "pause     2026-11-23T10:00:10Z -> 2026-11-23T10:00:20Z (not counted)",
        "counting  starts at once: 24x7 is open at the start",
        "spans     2 counted spans:",
        "    1  2026-11-23T10:00:00.500000Z -> 2026-11-23T10:00:10Z  "
        "(Mon 2026-11-23 10:00:00 UTC -> Mon 2026-11-23 10:00:10 UTC)  9.5s, total 9.5s",
        "    2  2026-11-23T10:00:20Z -> 2026-11-23T11:00:10.500000Z  "
        "(Mon 2026-11-23 10:00:20 UTC -> Mon 2026-11-23 11:00:10 UTC)  59m50.5s, total 1h",
        "deadline  2026-11-23T11:00:10.500000Z (Mon 2026-11-23 11:00:10 UTC)",
    ]


def test_explanation_text_a_start_inside_a_pause(make_policy: Callable[..., Policy]) -> None:
    """Counting starts when the pause ends, and the text says why."""
    text = explain(
        make_policy(),
        "gold",
        "P1",
        "2026-11-23T10:00:00Z",
        pause="2026-11-23T09:00:00Z/2026-11-23T10:15:00Z",
    )
    assert (
        "counting  starts at 2026-11-23T10:15:00Z (Mon 2026-11-23 10:15 UTC): "
        "the start is inside a pause"
    ) in text.splitlines()


def test_explanation_text_closed_at_the_start_and_used_up_at_closing(
    make_policy: Callable[..., Policy],
) -> None:
    """Outside open hours the text says so; a budget used up at closing gets a note."""
    text = explain(make_policy(), "gold", "P1", "2026-11-28T18:00:00Z", target="resolution")
    assert text.splitlines() == [
        "test-support: tier gold, priority P1, resolution (commitment sla)",
        "target    8h of counted time (28800 s) on calendar us-business (America/Los_Angeles), "
        "pausable",
        "start     2026-11-28T18:00:00Z (Sat 2026-11-28 10:00 PST)",
        "counting  starts at 2026-11-30T17:00:00Z (Mon 2026-11-30 09:00 PST): "
        "the start is outside us-business open hours",
        "spans     1 counted span:",
        "    1  2026-11-30T17:00:00Z -> 2026-12-01T01:00:00Z  "
        "(Mon 2026-11-30 09:00 PST -> Mon 2026-11-30 17:00 PST)  8h, total 8h",
        "note      the budget is used up at 2026-12-01T01:00:00Z (Mon 2026-11-30 17:00 PST), "
        "when counting stops; a response before counting resumes still meets the target",
        "deadline  2026-12-01T17:00:00Z (Tue 2026-12-01 09:00 PST)",
    ]


def test_explanation_text_without_a_deadline(make_policy: Callable[..., Policy]) -> None:
    """A measured-only target: the reason, no spans line, and 'deadline  none'."""
    text = explain(make_policy(), "silver", "P3", "2026-11-23T17:00:00Z")
    assert text.splitlines() == [
        "test-support: tier silver, priority P3, first_response (commitment slo)",
        "target    none: tier 'silver' sets no first_response target for priority 'P3'; "
        "measured, no deadline",
        "start     2026-11-23T17:00:00Z (Mon 2026-11-23 09:00 PST)",
        "counting  starts at once: us-business is open at the start",
        "deadline  none",
    ]


def test_explanation_text_lists_at_most_50_spans(make_policy: Callable[..., Policy]) -> None:
    """Past SPANS_SHOWN spans, the text says how many more the JSON lists."""
    policy = make_policy(**{"tiers.silver.targets.first_response.P1": "30d"})
    lines = explain(policy, "silver", "P1", "2026-11-23T17:00:00Z").splitlines()
    assert SPANS_SHOWN == 50
    more = lines.index("  ... and 40 more (--json lists every span)")
    assert lines[more - 1].startswith("   50  2027-02-02T17:00:00Z -> ")
    assert lines[more - 51] == "spans     90 counted spans:"
    assert lines[-1].startswith("deadline  ")


# --- simulate and produce ------------------------------------------------------------------


def bad(number: int) -> InvalidLine:
    return InvalidLine(line=number, reason="invalid_json", error="not JSON")


@pytest.mark.parametrize(
    ("count", "shown", "length", "last"),
    [
        (0, None, 0, None),
        (3, None, 3, "line 3: invalid_json: not JSON"),
        (3, 3, 3, "line 3: invalid_json: not JSON"),
        (1234, 2, 3, "... and 1,232 more invalid lines"),
    ],
)
def test_invalid_lines(count: int, shown: int | None, length: int, last: str | None) -> None:
    """One line per invalid line, numbered; past ``shown``, how many more."""
    lines = invalid_lines([bad(n) for n in range(1, count + 1)], shown=shown)
    assert len(lines) == length
    assert (lines[-1] if lines else None) == last
    assert lines[:1] == (["line 1: invalid_json: not JSON"] if count else [])


SLA = {
    "ticket_id": "T-1",
    "tier": "gold",
    "priority": "P1",
    "target": "first_response",
    "cycle": 1,
    "commitment": "sla",
    "started_at": at("2026-11-23T10:00:00Z"),
    "deadline": at("2026-11-23T11:00:00Z"),
    "target_seconds": 3600,
    "policy": "test-support",
}
OUTPUTS = {
    "warning": (
        SlaWarning(
            **SLA, threshold="75%", detected_at=at("2026-11-23T10:45:00Z"), remaining_seconds=900
        ),
        "2026-11-23T10:45:00Z  T-1  gold/P1  first_response#1  warning 75%  "
        "deadline 2026-11-23T11:00:00Z",
    ),
    "breach": (
        SlaBreached(**SLA, detected_at=at("2026-11-23T11:00:00Z")),
        "2026-11-23T11:00:00Z  T-1  gold/P1  first_response#1  BREACHED  "
        "deadline 2026-11-23T11:00:00Z",
    ),
    "outcome met": (
        SlaOutcome(
            **SLA, outcome="met", fulfilled_at=at("2026-11-23T10:30:00Z"), elapsed_seconds=1800.5
        ),
        "2026-11-23T10:30:00Z  T-1  gold/P1  first_response#1  outcome met (30m0.5s)  "
        "deadline 2026-11-23T11:00:00Z",
    ),
    "outcome breached, never fulfilled": (
        SlaOutcome(**SLA, outcome="breached", fulfilled_at=None, elapsed_seconds=3600),
        "2026-11-23T11:00:00Z  T-1  gold/P1  first_response#1  outcome breached (1h)  "
        "deadline 2026-11-23T11:00:00Z",
    ),
    "outcome without a deadline": (
        SlaOutcome(
            **{**SLA, "deadline": None, "target_seconds": None},
            outcome="met",
            fulfilled_at=None,
            elapsed_seconds=60,
        ),
        "-  T-1  gold/P1  first_response#1  outcome met (1m)  deadline -",
    ),
    "late fulfilment": (
        SlaLateFulfilment(
            **SLA,
            fulfilled_at=at("2026-11-23T12:00:30Z"),
            elapsed_seconds=7230,
            over_seconds=3630,
        ),
        "2026-11-23T12:00:30Z  T-1  gold/P1  first_response#1  fulfilled late (2h30s, 1h30s over)"
        "  deadline 2026-11-23T11:00:00Z",
    ),
}


@pytest.mark.parametrize(("output", "line"), OUTPUTS.values(), ids=OUTPUTS.keys())
def test_output_line(output: PublishedOutput, line: str) -> None:
    """One line per output: when, ticket, tier/priority, target#cycle, what, deadline."""
    assert output_line(output) == line


@dataclass
class Figures:
    met: int = 0
    breached: int = 0
    times: list[float] = field(default_factory=list)

    @property
    def compliance(self) -> float | None:
        total = self.met + self.breached
        return self.met / total if total else None

    def percentile(self, q: int) -> float | None:
        return self.times[0] * q / 50 if self.times else None


def test_compliance_table() -> None:
    """Aligned columns sorted by tier and target; '-' where nothing was measured."""
    stats = {
        ("silver", "first_response"): Figures(3, 1, [90.4]),
        ("free", "resolution"): Figures(),
        ("gold", "first_response"): Figures(199, 1, [3600.0]),
    }
    assert compliance_table(stats, 1000, 2).splitlines() == [
        "tier    target          targets  met  breached  compliance  p50    p90",
        "free    resolution      0        0    0         -           -      -",
        "gold    first_response  200      199  1         99.50%      1h     1h48m",
        "silver  first_response  4        3    1         75.00%      1m30s  2m43s",
        "1000 events replayed, 2 invalid lines skipped",
    ]


def test_event_counts_follow_the_input_types() -> None:
    """Counts in the order of the input types, thousands separated, zeros left out."""
    counts = Counter({"ticket.resolved": 2, "ticket.created": 1234, "ticket.paused": 0})
    assert event_counts(counts) == "ticket.created 1,234, ticket.resolved 2"
    assert event_counts({}) == ""


@pytest.mark.parametrize(
    ("count", "seconds", "text"), [(12345, 2.0, "6,172 events/s"), (10, 0.0, "-")]
)
def test_rate_text(count: int, seconds: float, text: str) -> None:
    """Events per second, or '-' when no time passed."""
    assert rate_text(count, seconds) == text


@pytest.mark.parametrize(("skipped", "tail"), [(0, ""), (1500, "; skipped 1,500 invalid lines")])
def test_sent_summary(skipped: int, tail: str) -> None:
    """What produce sent: totals, partitions, time and rate, then counts per type."""
    text = sent_summary(
        {"ticket.created": 3, "ticket.responded": 1},
        source="e.jsonl",
        topic="tickets",
        partitions=6,
        elapsed_s=2.04,
        skipped=skipped,
    )
    assert text.splitlines() == [
        f"sent 4 events from e.jsonl to tickets (6 partitions) in 2.0s (2 events/s){tail}",
        "  ticket.created 3, ticket.responded 1",
    ]


@dataclass
class Load:
    tickets: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    fates: Counter[str] = field(default_factory=Counter)
    planned: int = 0

    @property
    def events(self) -> int:
        return sum(self.sent.values())

    @property
    def unsent(self) -> int:
        return self.planned - self.events


def test_loadgen_summary_of_a_stopped_run() -> None:
    """Where, how fast, expected first responses, unsent follow-ups, seed and ids."""
    stats = Load(
        tickets=1200,
        sent=Counter({"ticket.created": 1200, "ticket.responded": 900}),
        fates=Counter({"on_time": 1000, "late": 150, "never": 50}),
        planned=3000,
    )
    text = loadgen_summary(
        stats,
        destinations=["tickets", "out.jsonl"],
        elapsed_s=10.0,
        stopped=True,
        policy="demo",
        seed=7,
        prefix="T-7-",
    )
    assert text.splitlines() == [
        "loadgen: 1,200 tickets, 2,100 events to tickets and out.jsonl in 10.0s "
        "(210 events/s), stopped",
        "  ticket.created 1,200, ticket.responded 900",
        "  expected first responses: 1,000 on time, 150 late (breach), 50 never (breach), "
        "0 without a deadline",
        "  900 follow-up events of these tickets not sent (not yet due)",
        "  policy demo, seed 7, ticket ids T-7-NNNNN",
    ]


def test_loadgen_summary_of_an_empty_run() -> None:
    """Nothing sent: 'no events', and no line about unsent follow-ups."""
    text = loadgen_summary(
        Load(),
        destinations=["-"],
        elapsed_s=0.0,
        stopped=False,
        policy="demo",
        seed=1,
        prefix="x-",
    )
    assert text.splitlines() == [
        "loadgen: 0 tickets, 0 events to - in 0.0s (-)",
        "  no events",
        "  expected first responses: 0 on time, 0 late (breach), 0 never (breach), "
        "0 without a deadline",
        "  policy demo, seed 1, ticket ids x-NNNNN",
    ]


def test_progress_bar_draws_on_stderr() -> None:
    """The produce progress bar goes to stderr, so stdout keeps only the summary."""
    bar = progress_bar()
    assert bar.console.file is sys.stderr

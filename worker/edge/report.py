"""What the commands print: the text (and JSON-ready) forms of explanations, outputs and runs.

Edge module: values in, text out. Imports the standard library and ``worker.core`` (the
codec and the policy only for their types, rich only inside :func:`progress_bar`); no I/O,
no network, no clock reads, so that ``sla-worker policy`` and ``simulate`` stay fast.
Instants print as RFC 3339 UTC with ``Z`` (:func:`utc_text`), durations as ``1h30m``
(:func:`duration_text`). The commands in ``worker/cli.py`` parse options, call the layers
and echo what these functions return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Protocol

from worker.core.durations import format_duration
from worker.core.events import INPUT_TYPES, SlaBreached, SlaOutcome, SlaWarning

if TYPE_CHECKING:
    from rich.progress import Progress

    from worker.core.explain import Explanation
    from worker.core.policy import Policy
    from worker.edge.codec import InvalidLine

__all__ = [
    "SPANS_SHOWN",
    "LoadFigures",
    "TargetFigures",
    "compliance_table",
    "duration_text",
    "event_counts",
    "explanation_json",
    "explanation_text",
    "invalid_lines",
    "loadgen_summary",
    "local_text",
    "output_line",
    "policy_ok_line",
    "progress_bar",
    "rate_text",
    "seconds_value",
    "sent_summary",
    "utc_text",
]

# The text form of `policy explain` lists this many counted spans, then says how many more
# there are: enough for a week of business days, short enough to read (--json lists all).
SPANS_SHOWN = 50


class TargetFigures(Protocol):
    """The compliance figures of one tier and target (``worker.simulate.TargetStats``)."""

    @property
    def met(self) -> int:
        """Targets met."""

    @property
    def breached(self) -> int:
        """Targets breached."""

    @property
    def compliance(self) -> float | None:
        """``met / (met + breached)``, or None before any outcome."""

    def percentile(self, q: int) -> float | None:
        """Return the q-th percentile of counted response time in seconds, or None."""


class LoadFigures(Protocol):
    """What a load generator run sent (``worker.loadgen.LoadStats``)."""

    @property
    def tickets(self) -> int:
        """Tickets created."""

    @property
    def events(self) -> int:
        """Events sent, all types together."""

    @property
    def sent(self) -> Mapping[str, int]:
        """Events sent per input type."""

    @property
    def fates(self) -> Mapping[str, int]:
        """Tickets per planned fate: on_time, late, never, unmeasured."""

    @property
    def unsent(self) -> int:
        """Events planned for the tickets created that were not sent."""


# --- instants and durations ----------------------------------------------------------------


def utc_text(value: datetime) -> str:
    """Return an instant as RFC 3339 UTC text with ``Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_text(value: datetime, zone: tzinfo) -> str:
    """Return an instant as readable wall-clock time in ``zone``: ``Mon 2026-11-23 09:00 PST``."""
    local = value.astimezone(zone)
    clock = "%H:%M:%S" if local.second or local.microsecond else "%H:%M"
    return local.strftime(f"%a %Y-%m-%d {clock} %Z")


def seconds_value(value: timedelta) -> int | float:
    """Return a duration in seconds: an int when whole, so JSON stays tidy."""
    seconds = value.total_seconds()
    return int(seconds) if seconds == int(seconds) else seconds


def duration_text(value: timedelta) -> str:
    """Return a duration as ``1h30m`` (fractions of a second as ``12.5s``)."""
    whole = int(value.total_seconds())
    rest = value - timedelta(seconds=whole)
    if not rest:
        return format_duration(whole)
    minutes = format_duration(whole - whole % 60) if whole >= 60 else ""
    return f"{minutes}{whole % 60 + rest.total_seconds():g}s"


# --- sla-worker policy ---------------------------------------------------------------------


def policy_ok_line(file: str, policy: Policy) -> str:
    """Return the line ``policy check`` prints for a valid file: name, tiers, digest."""
    count = len(policy.tiers)
    return (
        f"ok: {file} ({policy.name}, {count} tier{'s' if count != 1 else ''}, "
        f"sha256 {policy.sha256[:12]}"
        + (f", {policy.holiday_data}" if policy.holiday_data else "")
        + ")"
    )


def explanation_json(explanation: Explanation) -> dict[str, object]:
    """Return the JSON-ready form of an explanation (``policy explain --json``)."""
    zone = explanation.timezone
    return {
        "policy": explanation.policy,
        "policy_sha256": explanation.policy_sha256,
        "tier": explanation.tier,
        "priority": explanation.priority,
        "target": explanation.target,
        "commitment": explanation.commitment,
        "calendar": explanation.calendar,
        "timezone": str(zone),
        "pausable": explanation.pausable,
        "start": utc_text(explanation.start_at),
        "pauses": [{"from": utc_text(a), "to": utc_text(b)} for a, b in explanation.pauses],
        "target_seconds": explanation.within_s,
        "counting_starts_at": utc_text(explanation.counting_starts_at),
        "counting_starts": explanation.counting_starts,
        "spans": [
            {
                "from": utc_text(span.start_at),
                "to": utc_text(span.end_at),
                "from_local": span.start_at.astimezone(zone).isoformat(),
                "to_local": span.end_at.astimezone(zone).isoformat(),
                "seconds": seconds_value(span.end_at - span.start_at),
                "total_seconds": seconds_value(span.total),
            }
            for span in explanation.spans
        ],
        "budget_used_at": _optional_utc(explanation.budget_used_at),
        "deadline": _optional_utc(explanation.deadline_at),
        "deadline_local": (
            None
            if explanation.deadline_at is None
            else explanation.deadline_at.astimezone(zone).isoformat()
        ),
        "no_deadline_reason": explanation.no_deadline_reason,
        "holidays": [
            {"date": day.day.isoformat(), "name": day.name} for day in explanation.holidays
        ],
    }


def _optional_utc(value: datetime | None) -> str | None:
    return None if value is None else utc_text(value)


def explanation_text(explanation: Explanation) -> str:
    """Return the plain-text form of an explanation (``policy explain``)."""
    zone = explanation.timezone

    def at(value: datetime) -> str:
        return f"{utc_text(value)} ({local_text(value, zone)})"

    lines = [
        f"{explanation.policy}: tier {explanation.tier}, priority {explanation.priority}, "
        f"{explanation.target} (commitment {explanation.commitment})"
    ]
    calendar = explanation.calendar
    if explanation.within_s is None:
        lines.append(f"target    none: {explanation.no_deadline_reason}; measured, no deadline")
    else:
        pausable = "pausable" if explanation.pausable else "not pausable"
        lines.append(
            f"target    {duration_text(timedelta(seconds=explanation.within_s))} of counted "
            f"time ({explanation.within_s} s) on calendar {calendar} ({zone}), {pausable}"
        )
    lines.append(f"start     {at(explanation.start_at)}")
    for begin, end in explanation.pauses:
        lines.append(f"pause     {utc_text(begin)} -> {utc_text(end)} (not counted)")
    counting = explanation.counting_starts_at
    if explanation.counting_starts == "open":
        lines.append(f"counting  starts at once: {calendar} is open at the start")
    elif explanation.counting_starts == "paused":
        lines.append(f"counting  starts at {at(counting)}: the start is inside a pause")
    else:
        lines.append(
            f"counting  starts at {at(counting)}: the start is outside {calendar} open hours"
        )
    spans = explanation.spans
    if explanation.within_s is not None:
        lines.append(f"spans     {len(spans)} counted span{'s' if len(spans) != 1 else ''}:")
    for number, span in enumerate(spans[:SPANS_SHOWN], start=1):
        begin, end = span.start_at, span.end_at
        lines.append(
            f"  {number:>3}  {utc_text(begin)} -> {utc_text(end)}  "
            f"({local_text(begin, zone)} -> {local_text(end, zone)})  "
            f"{duration_text(end - begin)}, total {duration_text(span.total)}"
        )
    if len(spans) > SPANS_SHOWN:
        lines.append(f"  ... and {len(spans) - SPANS_SHOWN} more (--json lists every span)")
    for day in explanation.holidays:
        lines.append(f"holiday   {day}")
    deadline, used = explanation.deadline_at, explanation.budget_used_at
    if deadline is None:
        lines.append("deadline  none")
        return "\n".join(lines)
    if used is not None and used != deadline:
        lines.append(
            f"note      the budget is used up at {at(used)}, when counting stops; "
            f"a response before counting resumes still meets the target"
        )
    lines.append(f"deadline  {at(deadline)}")
    return "\n".join(lines)


# --- sla-worker simulate and produce -------------------------------------------------------


def invalid_lines(invalid: Sequence[InvalidLine], shown: int | None = None) -> list[str]:
    """Return one line per invalid line of a log; past ``shown`` of them, how many more."""
    chosen = invalid if shown is None else invalid[:shown]
    lines = [f"line {bad.line}: {bad.reason}: {bad.error}" for bad in chosen]
    if len(invalid) > len(chosen):
        lines.append(f"... and {len(invalid) - len(chosen):,} more invalid lines")
    return lines


def output_line(output: SlaWarning | SlaBreached | SlaOutcome) -> str:
    """Return one readable line for a warning, breach or outcome."""
    if isinstance(output, SlaWarning):
        at, detail = utc_text(output.detected_at), f"warning {output.threshold}"
    elif isinstance(output, SlaBreached):
        at, detail = utc_text(output.detected_at), "BREACHED"
    else:
        when = output.fulfilled_at or output.deadline
        at = utc_text(when) if when is not None else "-"
        elapsed = duration_text(timedelta(seconds=output.elapsed_seconds))
        detail = f"outcome {output.outcome} ({elapsed})"
    deadline = utc_text(output.deadline) if output.deadline is not None else "-"
    return (
        f"{at}  {output.ticket_id}  {output.tier}/{output.priority}  "
        f"{output.target}#{output.cycle}  {detail}  deadline {deadline}"
    )


def compliance_table(
    stats: Mapping[tuple[str, str], TargetFigures], valid: int, invalid: int
) -> str:
    """Return the per tier and target summary of a replay as aligned text."""
    header = ("tier", "target", "targets", "met", "breached", "compliance", "p50", "p90")
    rows = [header]
    for (tier, target), figures in sorted(stats.items()):
        compliance = figures.compliance
        p50, p90 = figures.percentile(50), figures.percentile(90)
        rows.append(
            (
                tier,
                target,
                str(figures.met + figures.breached),
                str(figures.met),
                str(figures.breached),
                "-" if compliance is None else f"{compliance:.2%}",
                "-" if p50 is None else duration_text(timedelta(seconds=round(p50))),
                "-" if p90 is None else duration_text(timedelta(seconds=round(p90))),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(f"{valid} events replayed, {invalid} invalid lines skipped")
    return "\n".join(line.rstrip() for line in lines)


def event_counts(counts: Mapping[str, int]) -> str:
    """Return ``ticket.created 3, ticket.responded 2`` in the order of the input types."""
    return ", ".join(f"{kind} {counts[kind]:,}" for kind in INPUT_TYPES if counts.get(kind, 0))


def rate_text(count: int, seconds: float) -> str:
    """Return ``1,234 events/s``, or ``-`` when no time passed."""
    return f"{count / seconds:,.0f} events/s" if seconds > 0 else "-"


def progress_bar() -> Progress:
    """Return a rich progress bar on stderr (rendered only on a terminal)."""
    from rich.console import Console  # imported here: only ``produce`` draws a bar
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def sent_summary(
    sent: Mapping[str, int],
    *,
    source: str,
    topic: str,
    partitions: int,
    elapsed_s: float,
    skipped: int,
) -> str:
    """Return what ``produce`` sent: totals, then the count per event type."""
    count = sum(sent.values())
    skip = f"; skipped {skipped:,} invalid lines" if skipped else ""
    return (
        f"sent {count:,} events from {source} to {topic} ({partitions} partitions) "
        f"in {elapsed_s:.1f}s ({rate_text(count, elapsed_s)}){skip}\n"
        f"  {event_counts(sent)}"
    )


def loadgen_summary(
    stats: LoadFigures,
    *,
    destinations: Sequence[str],
    elapsed_s: float,
    stopped: bool,
    policy: str,
    seed: int,
    prefix: str,
) -> str:
    """Return what ``loadgen`` sent, where, and what the tickets' first responses should show."""
    fates = stats.fates
    lines = [
        f"loadgen: {stats.tickets:,} tickets, {stats.events:,} events to "
        f"{' and '.join(destinations)} in {elapsed_s:.1f}s "
        f"({rate_text(stats.events, elapsed_s)})" + (", stopped" if stopped else ""),
        f"  {event_counts(stats.sent) or 'no events'}",
        f"  expected first responses: {fates.get('on_time', 0):,} on time, "
        f"{fates.get('late', 0):,} late (breach), {fates.get('never', 0):,} never (breach), "
        f"{fates.get('unmeasured', 0):,} without a deadline",
    ]
    if stats.unsent:
        lines.append(f"  {stats.unsent:,} follow-up events of these tickets not sent (not yet due)")
    lines.append(f"  policy {policy}, seed {seed}, ticket ids {prefix}NNNNN")
    return "\n".join(lines)

"""What the commands print: the text (and JSON-ready) forms of explanations, outputs and runs.

Edge module: values in, text out. Imports the standard library and ``worker.core`` (the
codec and the policy only for their types, rich only inside :func:`progress_bar` and
:func:`compliance_renderables`); no I/O, no network, no clock reads, so that
``sla-worker policy`` and ``simulate`` stay fast.
Instants print as RFC 3339 UTC with ``Z`` (:func:`utc_text`), durations as ``1h30m``
(:func:`duration_text`). The commands in ``worker/cli.py`` parse options, call the layers
and echo what these functions return.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Final, Protocol

from worker.core.durations import format_duration
from worker.core.events import (
    INPUT_TYPES,
    PublishedOutput,
    SlaBreached,
    SlaLateFulfilment,
    SlaWarning,
)

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.progress import Progress

    from worker.core.compliance import ComplianceReport, GroupFigures, WorstBreach
    from worker.core.explain import Explanation
    from worker.core.policy import Policy
    from worker.edge.codec import InvalidLine, Unreadable

__all__ = [
    "NO_CUSTOMER",
    "OPEN",
    "SPANS_SHOWN",
    "LoadFigures",
    "TargetFigures",
    "compliance_csv",
    "compliance_json",
    "compliance_renderables",
    "compliance_table",
    "duration_text",
    "event_counts",
    "explanation_json",
    "explanation_text",
    "invalid_lines",
    "loadgen_summary",
    "local_text",
    "output_line",
    "period_text",
    "policy_ok_line",
    "progress_bar",
    "rate_text",
    "seconds_value",
    "sent_summary",
    "unreadable_lines",
    "utc_text",
]

# The text form of `policy explain` lists this many counted spans, then says how many more
# there are: enough for a week of business days, short enough to read (--json lists all).
SPANS_SHOWN = 50
# How a report by customer names the outcomes without a customer id (JSON says null).
NO_CUSTOMER: Final = "(none)"
# The "over" of a worst breach not fulfilled in what was read (JSON says null).
OPEN: Final = "open"


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


def output_line(output: PublishedOutput) -> str:
    """Return one readable line for a warning, breach, outcome or late fulfilment."""
    if isinstance(output, SlaWarning):
        at, detail = utc_text(output.detected_at), f"warning {output.threshold}"
    elif isinstance(output, SlaBreached):
        at, detail = utc_text(output.detected_at), "BREACHED"
    elif isinstance(output, SlaLateFulfilment):
        at = utc_text(output.fulfilled_at)
        elapsed = duration_text(timedelta(seconds=output.elapsed_seconds))
        over = duration_text(timedelta(seconds=output.over_seconds))
        detail = f"fulfilled late ({elapsed}, {over} over)"
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


# --- sla-worker report ---------------------------------------------------------------------


def period_text(start: datetime | None, end: datetime | None) -> str:
    """Return ``between FROM and TO`` (``since FROM``, ``before TO``; empty: all time)."""
    if start is not None and end is not None:
        return f"between {utc_text(start)} and {utc_text(end)}"
    if start is not None:
        return f"since {utc_text(start)}"
    return "" if end is None else f"before {utc_text(end)}"


def unreadable_lines(unreadable: Sequence[Unreadable], shown: int) -> list[str]:
    """Return one line per message or line that is no output; past ``shown``, how many more."""
    lines = [f"{item.where}: {item.error}" for item in unreadable[:shown]]
    if len(unreadable) > shown:
        lines.append(f"... and {len(unreadable) - shown:,} more unreadable")
    return lines


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else duration_text(timedelta(seconds=round(seconds)))


def _wire_seconds(value: float | None) -> int | float | None:
    """Return seconds as the outputs write them: an int when whole, else to the microsecond."""
    if value is None:
        return None
    rounded = round(value, 6)
    return int(rounded) if rounded.is_integer() else rounded


def _group_json(group: GroupFigures, by_customer: bool) -> dict[str, object]:
    head: dict[str, object] = {"customer_id": group.customer_id} if by_customer else {}
    return head | {
        "tier": group.tier,
        "priority": group.priority,
        "target": group.target,
        "met": group.met,
        "breached": group.breached,
        "compliance": round(group.compliance, 6),
        "objective": group.objective,
        "verdict": group.verdict,
        "median_seconds": _wire_seconds(group.median_s),
        "p90_seconds": _wire_seconds(group.p90_s),
    }


def compliance_json(
    report: ComplianceReport, *, source: str, start: datetime | None, end: datetime | None
) -> dict[str, object]:
    """Return the JSON-ready form of a compliance report (``report --json``)."""
    return {
        "source": source,
        "from": None if start is None else utc_text(start),
        "to": None if end is None else utc_text(end),
        "by": "customer" if report.by_customer else "tier",
        "outcomes": report.outcomes,
        "late_fulfilments": report.late_fulfilments,
        "duplicates": report.duplicates,
        "groups": [_group_json(group, report.by_customer) for group in report.groups],
        "worst_breaches": [_worst_json(worst) for worst in report.worst],
    }


def _worst_json(worst: WorstBreach) -> dict[str, object]:
    """Return the JSON-ready form of one of the worst breaches.

    ``fulfilled_at``, ``elapsed_seconds`` and ``over_seconds`` come from its late fulfilment,
    and are null when it was not fulfilled (no late fulfilment read).
    """
    outcome, late = worst.outcome, worst.late
    return {
        "id": outcome.id,
        "ticket_id": outcome.ticket_id,
        "customer_id": outcome.customer_id,
        "tier": outcome.tier,
        "priority": outcome.priority,
        "target": outcome.target,
        "cycle": outcome.cycle,
        "deadline": _optional_utc(outcome.deadline),
        "target_seconds": outcome.target_seconds,
        "fulfilled_at": None if late is None else utc_text(late.fulfilled_at),
        "elapsed_seconds": None if late is None else _wire_seconds(late.elapsed_seconds),
        "over_seconds": _wire_seconds(worst.over_s),
    }


_GROUP_COLUMNS: Final = (
    "tier",
    "priority",
    "target",
    "met",
    "breached",
    "compliance",
    "objective",
    "verdict",
    "median_seconds",
    "p90_seconds",
)


def compliance_csv(report: ComplianceReport) -> str:
    """Return the groups of a compliance report as CSV with a header (``report --csv``).

    The columns of the JSON groups; a missing customer id is ``(none)``, a missing value
    empty.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = [*(["customer_id"] if report.by_customer else []), *_GROUP_COLUMNS]
    writer.writerow(header)
    for group in report.groups:
        row = _group_json(group, report.by_customer)
        if report.by_customer and row["customer_id"] is None:
            row["customer_id"] = NO_CUSTOMER
        writer.writerow(["" if row[name] is None else row[name] for name in header])
    return buffer.getvalue()


def compliance_renderables(report: ComplianceReport, title: str) -> list[RenderableType]:
    """Return the terminal form of a compliance report: its table, then the worst breaches.

    Names from the data (tiers, tickets, customers) are plain text, never rich markup.
    """
    from rich.table import Table  # imported here: only ``report`` draws tables
    from rich.text import Text

    table = Table(title=Text(title), title_justify="left")
    if report.by_customer:
        table.add_column("customer")
    for name in ("tier", "priority", "target"):
        table.add_column(name)
    for name in ("met", "breached", "compliance", "objective", "", "median", "p90"):
        table.add_column(name, justify="right")
    verdicts = {"met": Text("met", "green"), "missed": Text("MISSED", "bold red")}
    for group in report.groups:
        names = [group.tier, group.priority, group.target]
        if report.by_customer:
            names.insert(0, group.customer_id or NO_CUSTOMER)
        table.add_row(
            *map(Text, names),
            f"{group.met:,}",
            f"{group.breached:,}",
            _share(group.compliance),
            _share(group.objective),
            verdicts.get(group.verdict or "", Text("-")),
            _duration(group.median_s),
            _duration(group.p90_s),
        )
    shown: list[RenderableType] = [table]
    if report.worst:
        worst = Table(title="worst breaches", title_justify="left")
        columns = ("ticket", "customer", "tier/priority", "target", "deadline", "fulfilled", "over")
        for name in columns:
            worst.add_column(name, justify="right" if name == "over" else "left")
        for item in report.worst:
            outcome, late = item.outcome, item.late
            worst.add_row(
                Text(outcome.ticket_id),
                Text(outcome.customer_id or NO_CUSTOMER),
                Text(f"{outcome.tier}/{outcome.priority}"),
                f"{outcome.target}#{outcome.cycle}",
                _optional_utc(outcome.deadline) or "-",
                "-" if late is None else utc_text(late.fulfilled_at),
                OPEN if item.over_s is None else _duration(item.over_s),
            )
        shown.append(worst)
    counts = [f"{report.outcomes:,} outcomes"]
    if report.late_fulfilments or any(group.breached for group in report.groups):
        fulfilments = report.late_fulfilments
        counts.append(f"{fulfilments:,} late fulfilment{'' if fulfilments == 1 else 's'}")
    if report.duplicates:
        counts.append(f"{report.duplicates:,} repeats dropped")
    shown.append(", ".join(counts))
    return shown

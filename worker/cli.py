"""The ``sla-worker`` command line: the click group ``main`` and the ``policy`` commands.

Shell module. Each command imports what it needs inside its body, so that ``policy``,
``rules`` and ``simulate`` never import the streaming stack (faust, aiokafka) and answer in
well under a second; add a command as ``@main.command()`` (or ``@main.group()``) the same way.
Bad input is one line on stderr naming the problem, exit code 1 (invalid data, such as a
policy file) or 2 (invalid usage, such as a missing option), never a traceback.
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

import click
from click.exceptions import NoArgsIsHelpError

from worker import __version__
from worker.errors import PolicyError, SlaWorkerError

if TYPE_CHECKING:
    from worker.policy import Policy, Target

__all__ = ["main"]

# The text form of `policy explain` lists this many counted spans, then says how many more
# there are: enough for a week of business days, short enough to read (--json lists all).
_SPANS_SHOWN = 50
_TARGET_NAMES = ("first_response", "resolution")  # worker.policy.TARGETS, without importing it


def _error_text(error: SlaWorkerError) -> str:
    """Return an error's message; a file-level policy problem fits on one line."""
    if isinstance(error, PolicyError) and len(error.problems) == 1:
        place, message = error.problems[0]
        if place == "(file)":
            return f"{error.source}: {message}"
    return str(error)


def _one_line(error: click.UsageError) -> click.UsageError:
    """Return ``error`` as one line: the problem, then where to find the command's help."""
    hint = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
    short = click.UsageError(error.format_message() + hint)  # no ctx: no usage lines
    short.exit_code = error.exit_code
    return short


class _Group(click.Group):
    """The root group: expected errors of any subcommand become one-line messages."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Parse the root's own options, shortening usage errors."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except NoArgsIsHelpError:
            raise
        except click.UsageError as error:
            raise _one_line(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; usage errors and sla-worker errors become one line."""
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except click.UsageError as error:
            raise _one_line(error) from None
        except SlaWorkerError as error:
            raise click.ClickException(_error_text(error)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sla-worker")
def main() -> None:
    """Event-driven SLA monitoring of support tickets.

    Ticket events from Kafka in; impending-breach warnings, breaches, outcomes and
    Prometheus compliance metrics out.
    """


# --- sla-worker policy ---------------------------------------------------------------------


@main.group()
def policy() -> None:
    """Validate policy files and explain how a deadline is counted."""


@policy.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
def policy_check(files: tuple[str, ...]) -> None:
    """Validate each policy FILE; list every problem of an invalid one (exit code 1)."""
    from worker.policy_file import load_policy

    failed = False
    for file in files:
        try:
            loaded = load_policy(file)
        except PolicyError as error:
            failed = True
            click.echo(_error_text(error))
            continue
        count = len(loaded.tiers)
        click.echo(
            f"ok: {file} ({loaded.name}, {count} tier{'s' if count != 1 else ''}, "
            f"sha256 {loaded.sha256[:12]})"
        )
    if failed:
        raise click.exceptions.Exit(1)


def _instant(text: str) -> datetime:
    """Return the UTC instant of an RFC 3339 text; raise ValueError naming the problem."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an RFC 3339 timestamp such as 2026-11-23T10:00:00Z"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset: add one, such as 'Z' or '+01:00'")
    return value.astimezone(UTC)


def _start_option(ctx: click.Context, param: click.Parameter, value: str) -> datetime:
    try:
        return _instant(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def _pause_option(
    ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> list[tuple[datetime, datetime]]:
    """Return the ``--pause FROM/TO`` spans, sorted, overlapping ones merged."""
    pauses: list[tuple[datetime, datetime]] = []
    for text in values:
        parts = text.split("/")
        try:
            if len(parts) != 2:
                raise ValueError(f"{text!r} is not FROM/TO (two RFC 3339 timestamps and a '/')")
            begin, end = _instant(parts[0]), _instant(parts[1])
        except ValueError as error:
            raise click.BadParameter(str(error), ctx, param) from None
        if end <= begin:
            raise click.BadParameter(f"pause {text!r} ends before it starts", ctx, param)
        pauses.append((begin, end))
    merged: list[tuple[datetime, datetime]] = []
    for begin, end in sorted(pauses):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def _utc(value: datetime) -> str:
    """Return an instant as RFC 3339 UTC text with ``Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _local(value: datetime, zone: tzinfo) -> str:
    """Return an instant as readable wall-clock time in ``zone``: ``Mon 2026-11-23 09:00 PST``."""
    local = value.astimezone(zone)
    clock = "%H:%M:%S" if local.second or local.microsecond else "%H:%M"
    return local.strftime(f"%a %Y-%m-%d {clock} %Z")


def _seconds(value: timedelta) -> int | float:
    """Return a duration in seconds: an int when whole, so JSON stays tidy."""
    seconds = value.total_seconds()
    return int(seconds) if seconds == int(seconds) else seconds


def _human(value: timedelta) -> str:
    """Return a duration as ``1h30m`` (fractions of a second as ``12.5s``)."""
    from worker.durations import format_duration

    whole = int(value.total_seconds())
    rest = value - timedelta(seconds=whole)
    if not rest:
        return format_duration(whole)
    minutes = format_duration(whole - whole % 60) if whole >= 60 else ""
    return f"{minutes}{whole % 60 + rest.total_seconds():g}s"


def _explain(
    policy: "Policy",
    tier_name: str,
    priority: str,
    target: "Target",
    start: datetime,
    pauses: list[tuple[datetime, datetime]],
) -> tuple[dict[str, Any], tzinfo]:
    """Return the explanation of one deadline as a JSON-ready mapping, and the calendar's zone."""
    tier = policy.tiers[tier_name]
    calendar = target.calendar
    zone = getattr(calendar, "timezone", None)
    if not isinstance(zone, tzinfo):
        zone = UTC
    counting_at = calendar.next_open(start, pauses)
    if counting_at == start:
        why = "open"
    elif any(begin <= start < end for begin, end in pauses):
        why = "paused"
    else:
        why = "closed"
    result: dict[str, Any] = {
        "policy": policy.name,
        "policy_sha256": policy.sha256,
        "tier": tier_name,
        "priority": priority,
        "target": target.name,
        "commitment": tier.commitment,
        "calendar": calendar.name,
        "timezone": str(zone),
        "pausable": target.pausable,
        "start": _utc(start),
        "pauses": [{"from": _utc(begin), "to": _utc(end)} for begin, end in pauses],
        "target_seconds": target.within_s,
        "counting_starts_at": _utc(counting_at),
        "counting_starts": why,
        "spans": [],
        "budget_used_at": None,
        "deadline": None,
        "deadline_local": None,
        "no_deadline_reason": None,
    }
    if target.within_s is None:
        if tier.commitment == "none":
            reason = f"tier {tier_name!r} has commitment none"
        else:
            reason = f"tier {tier_name!r} sets no {target.name} target for priority {priority!r}"
        result["no_deadline_reason"] = reason
        return result, zone
    deadline = calendar.deadline(start, timedelta(seconds=target.within_s), pauses)
    total = timedelta()
    spans = []
    for begin, end in calendar.spans(start, deadline, pauses):
        total += end - begin
        spans.append(
            {
                "from": _utc(begin),
                "to": _utc(end),
                "from_local": begin.astimezone(zone).isoformat(),
                "to_local": end.astimezone(zone).isoformat(),
                "seconds": _seconds(end - begin),
                "total_seconds": _seconds(total),
            }
        )
    result["spans"] = spans
    result["budget_used_at"] = spans[-1]["to"] if spans else _utc(counting_at)
    result["deadline"] = _utc(deadline)
    result["deadline_local"] = deadline.astimezone(zone).isoformat()
    return result, zone


def _render(result: dict[str, Any], zone: tzinfo) -> str:
    """Return the plain-text form of an explanation from ``_explain``."""

    def at(text: str) -> str:
        instant = datetime.fromisoformat(text)
        return f"{text} ({_local(instant, zone)})"

    lines = [
        f"{result['policy']}: tier {result['tier']}, priority {result['priority']}, "
        f"{result['target']} (commitment {result['commitment']})"
    ]
    calendar = f"calendar {result['calendar']} ({result['timezone']})"
    pausable = "pausable" if result["pausable"] else "not pausable"
    if result["target_seconds"] is None:
        lines.append(f"target    none: {result['no_deadline_reason']}; measured, no deadline")
    else:
        within = timedelta(seconds=result["target_seconds"])
        lines.append(
            f"target    {_human(within)} of counted time ({result['target_seconds']} s) "
            f"on {calendar}, {pausable}"
        )
    lines.append(f"start     {at(result['start'])}")
    for pause in result["pauses"]:
        lines.append(f"pause     {pause['from']} -> {pause['to']} (not counted)")
    counting = result["counting_starts_at"]
    if result["counting_starts"] == "open":
        lines.append(f"counting  starts at once: {result['calendar']} is open at the start")
    elif result["counting_starts"] == "paused":
        lines.append(f"counting  starts at {at(counting)}: the start is inside a pause")
    else:
        lines.append(
            f"counting  starts at {at(counting)}: the start is outside "
            f"{result['calendar']} open hours"
        )
    spans = result["spans"]
    if result["target_seconds"] is not None:
        lines.append(f"spans     {len(spans)} counted span{'s' if len(spans) != 1 else ''}:")
    for number, span in enumerate(spans[:_SPANS_SHOWN], start=1):
        begin = datetime.fromisoformat(span["from"])
        end = datetime.fromisoformat(span["to"])
        lines.append(
            f"  {number:>3}  {span['from']} -> {span['to']}  "
            f"({_local(begin, zone)} -> {_local(end, zone)})  "
            f"{_human(end - begin)}, total {_human(timedelta(seconds=span['total_seconds']))}"
        )
    if len(spans) > _SPANS_SHOWN:
        lines.append(f"  ... and {len(spans) - _SPANS_SHOWN} more (--json lists every span)")
    if result["deadline"] is None:
        lines.append("deadline  none")
        return "\n".join(lines)
    if result["budget_used_at"] != result["deadline"]:
        lines.append(
            f"note      the budget is used up at {at(result['budget_used_at'])}, when "
            f"counting stops; a response before counting resumes still meets the target"
        )
    lines.append(f"deadline  {at(result['deadline'])}")
    return "\n".join(lines)


@policy.command("explain")
@click.argument("file")
@click.option("--tier", "tier_name", required=True, help="Tier of the ticket.")
@click.option("--priority", required=True, help="Priority of the ticket.")
@click.option(
    "--start",
    required=True,
    metavar="TS",
    callback=_start_option,
    help="When the target's clock starts: RFC 3339 with an offset, e.g. 2026-11-23T10:00:00Z.",
)
@click.option(
    "--target",
    "target_name",
    type=click.Choice(_TARGET_NAMES),
    default="first_response",
    show_default=True,
    help="Which target to explain.",
)
@click.option(
    "--pause",
    "pauses",
    multiple=True,
    metavar="FROM/TO",
    callback=_pause_option,
    help="A span not counted (whatever the target's pausable); may be repeated.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def policy_explain(
    file: str,
    tier_name: str,
    priority: str,
    start: datetime,
    target_name: str,
    pauses: list[tuple[datetime, datetime]],
    as_json: bool,
) -> None:
    """Show the deadline of one target in policy FILE, and how it was counted."""
    from worker.policy_file import load_policy

    loaded = load_policy(file)
    if tier_name not in loaded.tiers:
        raise click.BadParameter(
            f"unknown tier {tier_name!r} (tiers: {', '.join(loaded.tiers)})",
            param_hint="'--tier'",
        )
    target = loaded.target_for(tier_name, priority, target_name)
    if target is None:  # the tier and the target name are known, so the priority is not
        raise click.BadParameter(
            f"unknown priority {priority!r} (priorities: {', '.join(loaded.priorities)})",
            param_hint="'--priority'",
        )
    result, zone = _explain(loaded, tier_name, priority, target, start, pauses)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(_render(result, zone))


# --- sla-worker simulate -------------------------------------------------------------------


def _until_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    if value == "now":
        return datetime.now(UTC)
    try:
        return _instant(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


@main.command()
@click.option("--policy", "policy_file", required=True, metavar="FILE", help="The policy file.")
@click.argument("events", type=click.File("rb"), metavar="EVENTS.jsonl")
@click.option(
    "--until",
    metavar="TS",
    callback=_until_option,
    help="Let time run on to TS (RFC 3339, or 'now'); default: stop at the newest event.",
)
@click.option("--json", "as_json", is_flag=True, help="Print outputs as JSON lines.")
def simulate(policy_file: str, events: Any, until: datetime | None, as_json: bool) -> None:
    """Replay EVENTS.jsonl by event time: every warning, breach and outcome, then compliance.

    The same state machine as the worker with a perfect clock; with --json each output is
    the JSON the worker publishes (detected_at aside). Invalid lines are reported on stderr
    with their numbers and reasons, and skipped.
    """
    from worker.codec import output_to_dict
    from worker.events import TargetFulfilled
    from worker.policy_file import load_policy
    from worker.simulate import Simulation, read_events
    from worker.tracker import Tracker

    loaded = load_policy(policy_file)
    decoded, invalid = read_events(events, loaded)
    for bad in invalid:
        click.echo(f"line {bad.line}: {bad.reason}: {bad.error}", err=True)
    simulation = Simulation(Tracker(loaded))
    for output in simulation.run(decoded, until=until):
        if isinstance(output, TargetFulfilled):
            continue
        if as_json:
            click.echo(json.dumps(output_to_dict(output), separators=(",", ":")))
        else:
            click.echo(_describe_output(output))
    click.echo(_compliance_table(simulation, len(decoded), len(invalid)), err=as_json)


def _describe_output(output: Any) -> str:
    """Return one readable line for a warning, breach or outcome."""
    from worker.events import SlaBreached, SlaOutcome, SlaWarning

    at = ""
    detail = ""
    if isinstance(output, SlaWarning):
        at, detail = _utc(output.detected_at), f"warning {output.threshold}"
    elif isinstance(output, SlaBreached):
        at, detail = _utc(output.detected_at), "BREACHED"
    elif isinstance(output, SlaOutcome):
        when = output.fulfilled_at or output.deadline
        at = _utc(when) if when is not None else "-"
        detail = f"outcome {output.outcome} ({_human(timedelta(seconds=output.elapsed_seconds))})"
    deadline = _utc(output.deadline) if output.deadline is not None else "-"
    return (
        f"{at}  {output.ticket_id}  {output.tier}/{output.priority}  "
        f"{output.target}#{output.cycle}  {detail}  deadline {deadline}"
    )


def _compliance_table(simulation: Any, valid: int, invalid: int) -> str:
    """Return the per tier and target summary of a simulation as aligned text."""
    header = ("tier", "target", "targets", "met", "breached", "compliance", "p50", "p90")
    rows = [header]
    for (tier, target), stats in sorted(simulation.stats.items()):
        compliance = stats.compliance
        p50, p90 = stats.percentile(50), stats.percentile(90)
        rows.append(
            (
                tier,
                target,
                str(stats.met + stats.breached),
                str(stats.met),
                str(stats.breached),
                "-" if compliance is None else f"{compliance:.2%}",
                "-" if p50 is None else _human(timedelta(seconds=round(p50))),
                "-" if p90 is None else _human(timedelta(seconds=round(p90))),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.append(f"{valid} events replayed, {invalid} invalid lines skipped")
    return "\n".join(line.rstrip() for line in lines)


# --- sla-worker rules ----------------------------------------------------------------------


@main.command()
@click.argument("file", metavar="FILE")
def rules(file: str) -> None:
    """Print Prometheus recording and alerting rules generated from policy FILE."""
    from worker.policy_file import load_policy
    from worker.rules import render_rules

    click.echo(render_rules(load_policy(file)), nl=False)


# --- sla-worker run / topics ---------------------------------------------------------------


def _settings(**overrides: Any) -> Any:
    from worker.settings import Settings

    return Settings.from_env(**overrides)


_RUN_OPTIONS = [
    click.option("--broker", help="Kafka bootstrap, e.g. kafka://127.0.0.1:9092 [SLA_BROKER]."),
    click.option("--app-id", help="Consumer group and internal-topic prefix [SLA_APP_ID]."),
    click.option("--policy", "policy", metavar="FILE", help="Policy file [SLA_POLICY]."),
    click.option(
        "--input-topics",
        help="Comma-separated input topics [SLA_INPUT_TOPICS].",
    ),
    click.option("--partitions", type=int, help="Partitions of created topics [SLA_PARTITIONS]."),
]


def _kafka_options(fun: Any) -> Any:
    for option in reversed(_RUN_OPTIONS):
        fun = option(fun)
    return fun


def _split_topics(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


@main.command()
@_kafka_options
@click.option("--data-dir", help="Where the table's RocksDB files live [SLA_DATA_DIR].")
@click.option("--store", type=click.Choice(["rocksdb", "memory"]), help="[SLA_STORE]")
@click.option("--grace", help="Delay live breaches by this duration, e.g. 2s [SLA_GRACE].")
@click.option("--web-host", help="HTTP bind address [SLA_WEB_HOST].")
@click.option("--web-port", type=int, help="HTTP port [SLA_WEB_PORT].")
@click.option("--log-format", type=click.Choice(["json", "console"]), help="[SLA_LOG_FORMAT]")
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="[SLA_LOG_LEVEL]"
)
def run(
    broker: str | None,
    app_id: str | None,
    policy: str | None,
    input_topics: str | None,
    partitions: int | None,
    data_dir: str | None,
    store: str | None,
    grace: str | None,
    web_host: str | None,
    web_port: int | None,
    log_format: str | None,
    log_level: str | None,
) -> None:
    """Run the worker (settings from SLA_* environment variables; flags win)."""
    import asyncio
    from pathlib import Path

    from worker.durations import parse_duration
    from worker.errors import StartupError
    from worker.kafka_admin import check_topics
    from worker.logs import configure_logging
    from worker.policy_file import load_policy

    settings = _settings(
        broker=broker,
        app_id=app_id,
        policy=policy,
        input_topics=_split_topics(input_topics),
        partitions=partitions,
        data_dir=data_dir,
        store=store,
        grace_s=None if grace is None else parse_duration(grace),
        web_host=web_host,
        web_port=web_port,
        log_format=log_format,
        log_level=log_level,
    )
    configure_logging(settings.log_format, settings.log_level)
    loaded = load_policy(settings.policy)
    if settings.store == "rocksdb":
        try:
            Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StartupError(
                f"cannot create data directory {settings.data_dir}: {error.strerror}"
            ) from None
    topic_partitions = asyncio.run(check_topics(settings))
    from worker.app import run_worker

    run_worker(settings, loaded, topic_partitions)


@main.group()
def topics() -> None:
    """Manage the worker's Kafka topics."""


@topics.command("create")
@_kafka_options
def topics_create(
    broker: str | None,
    app_id: str | None,
    policy: str | None,
    input_topics: str | None,
    partitions: int | None,
) -> None:
    """Create the input, output, dead-letter and tick topics; idempotent."""
    import asyncio

    from worker.kafka_admin import create_topics

    settings = _settings(
        broker=broker,
        app_id=app_id,
        policy=policy,
        input_topics=_split_topics(input_topics),
        partitions=partitions,
    )
    for status in asyncio.run(create_topics(settings)):
        verb = "created" if status.created else "exists "
        click.echo(f"{verb}  {status.name}  ({status.partitions} partitions)")

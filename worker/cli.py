"""The ``sla-worker`` command line: the click group ``main`` and its commands.

Shell module. Commands parse options and call the layers: the core computes
(``worker/core``), the edge formats what is printed (``worker/edge/report.py``), the stream
layer talks to Kafka. Each command imports what it needs inside its body, so that ``--help``,
``policy``, ``rules`` and ``simulate`` never import faust or aiokafka and answer in well under
a second. Bad input is one line on stderr naming the problem, exit code 1 (invalid data, such
as a policy file) or 2 (invalid usage, such as a missing option), never a traceback.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click
from click.exceptions import NoArgsIsHelpError

from worker import __version__
from worker import cli_options as parsers
from worker.core.errors import PolicyError, SlaWorkerError

if TYPE_CHECKING:
    from worker.core.calendars import Pause
    from worker.edge.settings import Settings

__all__ = ["main"]

_TARGET_NAMES = ("first_response", "resolution")  # worker.core.policy.TARGETS, without importing it
_Command = TypeVar("_Command", bound=Callable[..., None])


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
    from worker.edge.policy_file import load_policy
    from worker.edge.report import policy_ok_line

    failed = False
    for file in files:
        try:
            loaded = load_policy(file)
        except PolicyError as error:
            failed = True
            click.echo(_error_text(error))
            continue
        click.echo(policy_ok_line(file, loaded))
    if failed:
        raise click.exceptions.Exit(1)


@policy.command("explain")
@click.argument("file")
@click.option("--tier", "tier_name", required=True, help="Tier of the ticket.")
@click.option("--priority", required=True, help="Priority of the ticket.")
@click.option(
    "--start",
    required=True,
    metavar="TS",
    callback=parsers.start_option,
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
    callback=parsers.pause_option,
    help="A span not counted (whatever the target's pausable); may be repeated.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def policy_explain(
    file: str,
    tier_name: str,
    priority: str,
    start: datetime,
    target_name: str,
    pauses: list["Pause"],
    as_json: bool,
) -> None:
    """Show the deadline of one target in policy FILE, and how it was counted."""
    from worker.core.explain import explain_deadline
    from worker.edge.policy_file import load_policy
    from worker.edge.report import explanation_json, explanation_text

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
    explanation = explain_deadline(loaded, tier_name, priority, target, start, pauses)
    if as_json:
        click.echo(json.dumps(explanation_json(explanation), indent=2))
    else:
        click.echo(explanation_text(explanation))


# --- sla-worker simulate -------------------------------------------------------------------


@main.command()
@click.option("--policy", "policy_file", required=True, metavar="FILE", help="The policy file.")
@click.argument("events", type=click.File("rb"), metavar="EVENTS.jsonl")
@click.option(
    "--until",
    metavar="TS",
    callback=parsers.until_option,
    help="Let time run on to TS (RFC 3339, or 'now'); default: stop at the newest event.",
)
@click.option("--json", "as_json", is_flag=True, help="Print outputs as JSON lines.")
@click.option(
    "--status",
    "as_status",
    is_flag=True,
    help="Print instead the final status of each ticket (sla.status JSON lines, by ticket id).",
)
def simulate(
    policy_file: str,
    events: IO[bytes],
    until: datetime | None,
    as_json: bool,
    as_status: bool,
) -> None:
    """Replay EVENTS.jsonl by event time: every output the worker publishes, then compliance.

    Warnings, breaches, outcomes and late fulfilments, from the same state machine as the
    worker with a perfect clock; with --json each output is the JSON the worker publishes
    (detected_at aside); with --status, the last status the worker publishes for each ticket
    it still holds (as_of aside). Invalid lines are reported on stderr with their numbers and
    reasons, and skipped.
    """
    from worker.core.events import published
    from worker.core.tracker import Tracker
    from worker.edge.codec import output_to_dict
    from worker.edge.policy_file import load_policy
    from worker.edge.report import compliance_table, invalid_lines, output_line
    from worker.simulate import Simulation, read_events

    loaded = load_policy(policy_file)
    decoded, invalid = read_events(events, loaded)
    for line in invalid_lines(invalid):
        click.echo(line, err=True)
    simulation = Simulation(Tracker(loaded))
    for earned in simulation.run(decoded, until=until):
        output = None if as_status else published(earned)  # what the worker would publish
        if output is None:
            continue
        if as_json:
            click.echo(json.dumps(output_to_dict(output), separators=(",", ":")))
        else:
            click.echo(output_line(output))
    if as_status:
        from worker.edge.codec import encode_status

        for status in simulation.statuses():
            click.echo(encode_status(status).decode())
    click.echo(
        compliance_table(simulation.stats, len(decoded), len(invalid)), err=as_json or as_status
    )


# --- sla-worker rules ----------------------------------------------------------------------


@main.command()
@click.argument("file", metavar="FILE")
@click.option(
    "--job",
    default="sla-worker",
    show_default=True,
    help="The Prometheus job that scrapes the workers (every selector matches it).",
)
def rules(file: str, job: str) -> None:
    """Print Prometheus recording and alerting rules generated from policy FILE."""
    from worker.edge.policy_file import load_policy
    from worker.edge.rules import render_rules

    click.echo(render_rules(load_policy(file), job=job), nl=False)


# --- sla-worker run / topics ---------------------------------------------------------------


def _settings(**flags: str | int | None) -> "Settings":
    """Return the settings from the environment, overridden by the flags given.

    ``input_topics`` is the flag's comma-separated text.
    """
    from worker.edge.settings import Settings

    overrides: dict[str, object] = dict(flags)
    topics = flags.get("input_topics")
    if isinstance(topics, str):
        overrides["input_topics"] = tuple(
            part.strip() for part in topics.split(",") if part.strip()
        )
    return Settings.from_env(None, **overrides)


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


def _kafka_options(fun: _Command) -> _Command:
    """Add the Kafka options every command that talks to the broker shares."""
    for option in reversed(_RUN_OPTIONS):
        fun = option(fun)
    return fun


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
def run(grace: str | None, **flags: str | int | None) -> None:
    """Run the worker (settings from SLA_* environment variables; flags win)."""
    import asyncio
    from pathlib import Path

    from worker.core.durations import parse_duration
    from worker.core.errors import StartupError
    from worker.edge.logs import configure_logging
    from worker.edge.policy_file import load_policy
    from worker.stream.kafka_admin import check_topics

    settings = _settings(grace_s=None if grace is None else parse_duration(grace), **flags)
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
    from worker.stream.app import run_worker

    run_worker(settings, loaded, topic_partitions)


@main.group()
def topics() -> None:
    """Manage the worker's Kafka topics."""


@topics.command("create")
@_kafka_options
def topics_create(**flags: str | int | None) -> None:
    """Create the input, output, dead-letter and tick topics; idempotent."""
    import asyncio

    from worker.stream.kafka_admin import create_topics

    settings = _settings(**flags)
    for status in asyncio.run(create_topics(settings)):
        verb = "created" if status.created else "exists "
        click.echo(f"{verb}  {status.name}  ({status.partitions} partitions)")


# --- sla-worker report ---------------------------------------------------------------------


@main.command()
@_kafka_options
@click.option(
    "--from",
    "start",
    metavar="DATE|TS",
    callback=parsers.period_option,
    help="Period start: a date (midnight UTC) or RFC 3339 [default: the beginning].",
)
@click.option(
    "--to",
    "end",
    metavar="DATE|TS",
    callback=parsers.period_option,
    help="Period end, excluded [default: now; a file: everything].",
)
@click.option(
    "--file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Read a JSON-lines file of outputs ('-': stdin) instead of the topic.",
)
@click.option("--topic", help="The outcome topic [SLA_OUTCOME_TOPIC].")
@click.option(
    "--by",
    type=click.Choice(["tier", "customer"]),
    default="tier",
    show_default=True,
    help="customer: a group per customer_id first ('(none)' for outcomes without).",
)
@click.option(
    "--worst",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    metavar="N",
    help="How many of the worst breaches to list.",
)
@click.option("--csv", "fmt", flag_value="csv", help="Print the groups as CSV.")
@click.option("--json", "fmt", flag_value="json", help="Print one JSON object.")
def report(start: datetime | None, end: datetime | None, **options: Any) -> None:
    """Compliance per tier, priority and target over a period of outcomes, for SLA reviews.

    Reads the outcome topic from offsets by time (--from/--to: when outcomes were published;
    dates are midnight UTC), or a JSON-lines file of outputs (--file: when they were decided).
    Prints met, breached, compliance against the tier's objective, the median and p90 counted
    time to fulfil of the targets met, and the worst breaches (--worst N): those not fulfilled
    (in what was read) first, oldest deadline first, then those fulfilled late, most counted
    time over the target first.
    """
    import asyncio
    import contextlib
    import sys

    from rich.console import Console

    from worker.core.compliance import ComplianceTally, decided_within
    from worker.edge import report as show
    from worker.edge.codec import Unreadable, outcome_lines
    from worker.edge.policy_file import load_policy

    if start is not None and end is not None and end <= start:
        raise click.UsageError("--to must be after --from")
    file, fmt, topic = options.pop("file"), options.pop("fmt"), options.pop("topic")
    by, worst = options.pop("by"), options.pop("worst")
    settings = _settings(**options)
    tally = ComplianceTally(load_policy(settings.policy), by_customer=by == "customer", worst=worst)
    unreadable: list[Unreadable] = []
    if file is not None:
        source = "stdin" if file == "-" else f"file {file}"
        with click.open_file(file, "rb") as lines:
            for item in outcome_lines(lines):
                if isinstance(item, Unreadable):
                    unreadable.append(item)
                elif decided_within(item, start, end):
                    tally.add(item)
    else:
        from worker.stream.outcomes_reader import read_outcome_period

        topic = topic or settings.outcome_topic
        source, end = f"topic {topic}", end or datetime.now(UTC)
        bar = show.progress_bar() if sys.stderr.isatty() else None
        with bar if bar is not None else contextlib.nullcontext():
            read = read_outcome_period(settings, topic, start, end, tally.add, progress=bar)
            unreadable = asyncio.run(read)
    for line in show.unreadable_lines(unreadable, _INVALID_SHOWN):
        click.echo(line, err=True)
    figures, period = tally.report(), show.period_text(start, end)
    if not figures.groups:
        click.echo(f"no outcomes {period} in {source}".replace("  ", " "), err=fmt is not None)
    if fmt == "json":
        document = show.compliance_json(figures, source=source, start=start, end=end)
        click.echo(json.dumps(document, indent=2))
    elif fmt == "csv":
        click.echo(show.compliance_csv(figures), nl=False)
    elif figures.groups:
        title = f"compliance {period} ({source})".replace("  ", " ")
        wide = None if sys.stdout.isatty() else 1_000  # piped: whole tables, never cut
        Console(width=wide).print(*show.compliance_renderables(figures, title))


# --- sla-worker produce --------------------------------------------------------------------

# A refused file lists at most this many bad lines, then says how many more there are:
# enough to see every kind of mistake, short enough not to bury the message.
_INVALID_SHOWN = 100


@main.command()
@_kafka_options
@click.argument(
    "events",
    type=click.Path(exists=True, dir_okay=False, readable=True),
    metavar="EVENTS.jsonl",
)
@click.option("--topic", help="Topic to publish to [default: the first input topic].")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Send the valid lines and skip the invalid ones, instead of refusing the file.",
)
def produce(
    broker: str | None,
    app_id: str | None,
    policy: str | None,
    input_topics: str | None,
    partitions: int | None,
    events: str,
    topic: str | None,
    skip_invalid: bool,
) -> None:
    """Publish EVENTS.jsonl to the input topic, keyed by ticket id, with a progress bar.

    Every line is checked first (the codec's rules, and with --policy the policy's tiers
    and priorities); a file with invalid lines is refused with each listed (exit code 1),
    unless --skip-invalid. Each line is sent as its exact bytes, keyed by its ticket_id.
    """
    import asyncio
    import time
    from collections import Counter
    from collections.abc import Iterable

    from worker.edge.report import invalid_lines, progress_bar, sent_summary
    from worker.stream.producer import Line, open_publisher, read_lines

    settings = _settings(
        broker=broker,
        app_id=app_id,
        input_topics=input_topics,
        partitions=partitions,
    )
    target_topic = topic or settings.input_topics[0]
    tiers: frozenset[str] | None = None
    priorities: frozenset[str] | None = None
    if policy is not None:  # the flag only: without it, lines are checked by the codec alone
        from worker.edge.policy_file import load_policy

        loaded = load_policy(policy)
        tiers, priorities = frozenset(loaded.tiers), frozenset(loaded.priorities)

    valid = 0
    invalid = []
    with open(events, "rb") as lines:
        for line in read_lines(lines, tiers=tiers, priorities=priorities):
            if line.problem is None:
                valid += 1
            else:
                invalid.append(line.problem)
    for text in invalid_lines(invalid, shown=_INVALID_SHOWN):
        click.echo(text, err=True)
    if invalid and not skip_invalid:
        total = valid + len(invalid)
        raise click.ClickException(
            f"{events}: {len(invalid):,} of {total:,} lines are invalid; nothing was sent "
            f"(fix them, or send the {valid:,} valid ones with --skip-invalid)"
        )
    if not valid:
        click.echo(f"nothing to send: {events} holds no valid event")
        return

    sent: Counter[str] = Counter()

    async def publish(lines: Iterable[Line]) -> tuple[int, float]:
        async with open_publisher(settings, target_topic) as publisher:
            started = time.monotonic()
            with progress_bar() as progress:
                task = progress.add_task(f"producing to {target_topic}", total=valid)
                publisher.on_ack(lambda acked: progress.update(task, completed=acked))
                for line in lines:
                    if line.event is None:
                        continue
                    await publisher.send(line.event.ticket_id.encode(), line.value)
                    sent[line.event.type] += 1
                await publisher.flush()
            return publisher.partitions, time.monotonic() - started

    with open(events, "rb") as file:
        checked = read_lines(file, tiers=tiers, priorities=priorities)
        topic_partitions, elapsed = asyncio.run(publish(checked))
    click.echo(
        sent_summary(
            sent,
            source=events,
            topic=target_topic,
            partitions=topic_partitions,
            elapsed_s=elapsed,
            skipped=len(invalid),
        )
    )


# --- sla-worker loadgen --------------------------------------------------------------------


@main.command()
@_kafka_options
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Tickets created per second (each brings about 3 to 4 events).",
)
@click.option("--tickets", type=click.IntRange(min=0), help="Create this many tickets, then stop.")
@click.option(
    "--duration",
    metavar="DURATION",
    callback=parsers.duration_option,
    help="Create tickets for this long (e.g. 30s, 10m) [default: until stopped].",
)
@parsers.share_option("--late", "20%", "Share of tickets first answered after their deadline.")
@parsers.share_option("--never", "5%", "Share of tickets never answered (nor resolved).")
@parsers.share_option(
    "--updates", "10%", "Share of tickets whose priority changes before the first response."
)
@parsers.share_option(
    "--pauses", "10%", "Share of answered tickets paused (waiting on the customer) once."
)
@parsers.share_option(
    "--reopens", "5%", "Share of answered tickets reopened once after resolution."
)
@click.option(
    "--tiers",
    "tier_weights",
    metavar="NAME=W,...",
    callback=parsers.weights_option,
    help="Tier weights, e.g. gold=1,silver=3,free=6 [default: uniform over the policy's].",
)
@click.option(
    "--priorities",
    "priority_weights",
    metavar="NAME=W,...",
    callback=parsers.weights_option,
    help="Priority weights, e.g. P1=1,P2=3,P3=6 [default: uniform over the policy's].",
)
@click.option(
    "--spread",
    metavar="DURATION",
    default="5m",
    show_default=True,
    callback=parsers.duration_option,
    help="Response and resolution times of targets without a deadline are within this.",
)
@click.option("--seed", type=int, help="Random seed: the same seed gives the same traffic.")
@click.option("--prefix", help="Ticket id prefix [default: T-<seed>-].")
@click.option(
    "--backdate",
    metavar="DURATION",
    callback=parsers.duration_option,
    help="Start this long ago: past events are sent at once (history), later ones when due.",
)
@click.option(
    "--start",
    metavar="TS",
    callback=parsers.until_option,
    help="Start at this instant (RFC 3339, or 'now') instead; with --out, a reproducible log.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    metavar="FILE.jsonl",
    help="Write the events to this JSON-lines file ('-': stdout) instead of Kafka, at once.",
)
@click.option(
    "--produce",
    "also_produce",
    is_flag=True,
    help="With --out: produce to Kafka as well, in real time, and write what was sent.",
)
@click.option("--topic", help="Topic to produce to [default: the first input topic].")
def loadgen(
    broker: str | None,
    app_id: str | None,
    policy: str | None,
    input_topics: str | None,
    partitions: int | None,
    rate: float,
    tickets: int | None,
    duration: int | None,
    late: float,
    never: float,
    updates: float,
    pauses: float,
    reopens: float,
    tier_weights: dict[str, float] | None,
    priority_weights: dict[str, float] | None,
    spread: int,
    seed: int | None,
    prefix: str | None,
    backdate: int | None,
    start: datetime | None,
    out: str | None,
    also_produce: bool,
    topic: str | None,
) -> None:
    """Generate synthetic ticket traffic from the policy's tiers and priorities.

    Tickets arrive at --rate per second (Poisson); each is created, maybe escalated,
    answered on time, late (after its first-response deadline) or never, maybe paused,
    resolved and reopened. Events carry real times and go to Kafka when due, so warnings
    and breaches happen live; events already in the past (--backdate) go at once. Ctrl-C
    stops, printing what was sent. The traffic is a pure function of the options and --seed.
    """
    import asyncio
    import contextlib
    import secrets
    import sys
    import time

    from rich.console import Console

    from worker.edge.policy_file import load_policy
    from worker.edge.report import loadgen_summary
    from worker.loadgen import LoadProfile, plan_tickets, send_traffic

    if backdate is not None and start is not None:
        raise click.UsageError("give --backdate or --start, not both")
    if also_produce and out is None:
        raise click.UsageError("--produce goes with --out (without --out, loadgen produces)")
    to_kafka = out is None or also_produce
    if not to_kafka and tickets is None and duration is None:
        raise click.UsageError("--out needs --tickets or --duration (or --produce)")
    settings = _settings(
        broker=broker,
        app_id=app_id,
        policy=policy,
        input_topics=input_topics,
        partitions=partitions,
    )
    loaded = load_policy(settings.policy)
    chosen_seed = secrets.randbelow(10_000) if seed is None else seed
    try:
        profile = LoadProfile(
            rate=rate,
            tickets=tickets,
            duration_s=duration,
            seed=chosen_seed,
            late=late,
            never=never,
            updates=updates,
            pauses=pauses,
            reopens=reopens,
            tier_weights=tier_weights,
            priority_weights=priority_weights,
            spread_s=spread,
            prefix=prefix,
        )
        began = start or datetime.now(UTC) - timedelta(seconds=backdate or 0)
        plans = plan_tickets(loaded, profile, began)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    target_topic = topic or settings.input_topics[0]
    stdout_log = out == "-"
    clock = time.monotonic()
    with contextlib.ExitStack() as files:
        sink = None
        if out is not None:
            sink = sys.stdout.buffer if stdout_log else files.enter_context(open(out, "wb"))
        stats, stopped = asyncio.run(
            send_traffic(
                plans,
                settings=settings if to_kafka else None,
                topic=target_topic,
                out=sink,
                realtime=to_kafka,
                total_tickets=tickets,
                console=Console(stderr=True),
            )
        )
    elapsed = time.monotonic() - clock
    summary = loadgen_summary(
        stats,
        destinations=[*([target_topic] if to_kafka else []), *([out] if out is not None else [])],
        elapsed_s=elapsed,
        stopped=stopped,
        policy=loaded.name,
        seed=chosen_seed,
        prefix=profile.ticket_prefix,
    )
    click.echo(summary, err=stdout_log)


# --- sla-worker feed (internal: the live console of `make run`) ----------------------------


@main.command(hidden=True)
@_kafka_options
@click.option("--from-beginning", is_flag=True, help="Show what the topics already hold too.")
def feed(
    broker: str | None,
    app_id: str | None,
    policy: str | None,
    input_topics: str | None,
    partitions: int | None,
    from_beginning: bool,
) -> None:
    """Print warnings and breaches as they are published, and outcomes every few seconds."""
    import asyncio

    from worker.stream.feed import run_feed

    settings = _settings(broker=broker, app_id=app_id)
    stats = asyncio.run(run_feed(settings, from_beginning=from_beginning))
    click.echo(stats.summary(), err=True)

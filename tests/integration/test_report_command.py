"""``sla-worker report`` over the outcome topic of the real local broker, run as a user runs it.

Outcomes and late fulfilments are produced with known Kafka timestamps before, inside and
after a period; the report reads the period by offsets for times and gives its figures and
worst breaches as CSV and JSON.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer
from harness import late_fulfilment

from worker.core.events import SlaLateFulfilment, SlaOutcome, SlaWarning
from worker.edge.codec import encode_output

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "deploy" / "policies" / "demo.yaml")
CLI_TIMEOUT_S = 60
NOVEMBER = ("--from", "2026-11-01", "--to", "2026-12-01")


async def sla_worker(*args: str) -> tuple[int, str, str]:
    """Run ``sla-worker ARGS`` in a subprocess; return its exit code, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    async with asyncio.timeout(CLI_TIMEOUT_S):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def outcome(
    ticket: str,
    met: bool,
    elapsed_s: float,
    *,
    customer: str | None = "acme",
    tier: str = "gold",
    priority: str = "P1",
    target: str = "first_response",
    target_s: int = 120,
) -> SlaOutcome:
    at = datetime(2026, 11, 2, 10, tzinfo=UTC)
    return SlaOutcome(
        ticket_id=ticket,
        customer_id=customer,
        tier=tier,
        priority=priority,
        target=target,
        cycle=1,
        commitment="sla",
        started_at=at,
        deadline=at + timedelta(seconds=target_s),
        target_seconds=target_s,
        policy="demo",
        outcome="met" if met else "breached",
        fulfilled_at=at + timedelta(seconds=elapsed_s) if met else None,
        elapsed_seconds=elapsed_s,
    )


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


async def publish(bootstrap: str, topic: str, records: list[tuple[str, str, bytes]]) -> None:
    """Send ``(key, Kafka timestamp, value)`` records, in this order, and wait for them all."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, stamp, value in records:
            await producer.send_and_wait(topic, value, key=key.encode(), timestamp_ms=ms(stamp))
    finally:
        await producer.stop()


def stamped(
    stamp: str, event: SlaOutcome | SlaLateFulfilment | SlaWarning
) -> tuple[str, str, bytes]:
    return (event.ticket_id, stamp, encode_output(event))


N_4 = outcome("N-4", False, 120, customer=None)  # answered only in December
N_6 = outcome(
    "N-6",
    False,
    3600,
    tier="silver",
    priority="P2",
    target="resolution",
    target_s=3600,
    customer="globex",
)  # resolved 45 s late
IN_NOVEMBER = [
    stamped("2026-11-02T10:00:30Z", outcome("N-1", True, 30)),
    stamped("2026-11-02T10:01:00Z", outcome("N-2", True, 60)),
    stamped("2026-11-02T10:01:30Z", outcome("N-3", True, 90, customer=None)),
    stamped("2026-11-02T10:02:00Z", N_4),
    stamped("2026-11-15T08:00:00Z", outcome("N-1", True, 30)),  # a repeat: counted once
    stamped(
        "2026-11-30T23:59:59.999Z",
        outcome("N-5", True, 600, tier="silver", priority="P2", target="resolution", target_s=3600),
    ),
    stamped("2026-11-02T11:00:45Z", late_fulfilment(N_6, 45)),  # before its outcome on the topic
    stamped("2026-11-20T12:00:00Z", N_6),
    ("N-7", "2026-11-21T00:00:00Z", b"not an output"),
]


async def test_report_reads_a_period_of_the_topic_by_kafka_timestamps(
    kafka_bootstrap, topic_factory
):
    """Only the outcomes and late fulfilments stamped in [--from, --to) count, in CSV and JSON,
    on every partition: the worst breaches are the one not fulfilled by then, then the one
    fulfilled late with its counted time over the target."""
    topic = await topic_factory(partitions=3, config={"retention.ms": "-1"})
    warning = SlaWarning(
        ticket_id="N-8",
        tier="gold",
        priority="P1",
        target="first_response",
        cycle=1,
        commitment="sla",
        started_at=datetime(2026, 11, 3, tzinfo=UTC),
        deadline=datetime(2026, 11, 3, 0, 2, tzinfo=UTC),
        target_seconds=120,
        policy="demo",
        threshold="50%",
        detected_at=datetime(2026, 11, 3, 0, 1, tzinfo=UTC),
        remaining_seconds=60,
    )
    await publish(
        kafka_bootstrap,
        topic,
        [
            stamped("2026-10-31T23:59:59.999Z", outcome("O-1", False, 120)),  # October
            *IN_NOVEMBER,
            stamped("2026-11-03T00:00:00Z", warning),  # not an outcome: skipped
            stamped("2026-10-15T00:00:00Z", outcome("O-2", True, 1)),  # stamped back in October
            stamped("2026-12-01T00:00:00Z", outcome("D-1", False, 120)),  # December
            stamped("2026-12-02T00:00:00Z", outcome("D-2", True, 5)),
            stamped("2026-12-03T00:00:00Z", late_fulfilment(N_4, 30 * 86400)),  # after the period
        ],
    )
    broker = ("--broker", f"kafka://{kafka_bootstrap}", "--topic", topic, "--policy", DEMO)

    code, out, err = await sla_worker("report", *broker, *NOVEMBER, "--csv")
    assert code == 0, err
    assert list(csv.reader(io.StringIO(out))) == [
        ["tier", "priority", "target", "met", "breached", "compliance", "objective", "verdict",
         "median_seconds", "p90_seconds"],
        ["gold", "P1", "first_response", "3", "1", "0.75", "0.99", "missed", "60", "84"],
        ["silver", "P2", "resolution", "1", "1", "0.5", "0.95", "missed", "600", "600"],
    ]  # fmt: skip
    (unreadable,) = err.splitlines()  # N-7's message, wherever its key put it
    assert unreadable.startswith("partition ")
    assert unreadable.endswith(": not JSON: invalid character (byte 4)")

    code, out, err = await sla_worker("report", *broker, *NOVEMBER, "--json", "--worst", "2")
    assert code == 0, err
    document = json.loads(out)
    assert (document["source"], document["from"], document["to"]) == (
        f"topic {topic}",
        "2026-11-01T00:00:00Z",
        "2026-12-01T00:00:00Z",
    )
    assert (document["outcomes"], document["late_fulfilments"], document["duplicates"]) == (6, 1, 1)
    assert [
        (w["ticket_id"], w["fulfilled_at"], w["elapsed_seconds"], w["over_seconds"])
        for w in document["worst_breaches"]
    ] == [
        ("N-4", None, None, None),  # its late fulfilment is stamped in December
        ("N-6", "2026-11-02T11:00:45Z", 3645, 45),
    ]

    code, out, err = await sla_worker("report", *broker, *NOVEMBER)
    assert code == 0, err
    worst = out[out.index("worst breaches") :].splitlines()
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in worst if "│" in line]
    assert [(row[0], row[-1]) for row in rows] == [("N-4", "open"), ("N-6", "45s")]
    assert out.splitlines()[-1] == "6 outcomes, 1 late fulfilment, 1 repeats dropped"

    code, out, err = await sla_worker("report", *broker, *NOVEMBER, "--json", "--by", "customer")
    assert code == 0, err
    groups = json.loads(out)["groups"]
    assert [(g["customer_id"], g["tier"], g["met"], g["breached"]) for g in groups] == [
        ("acme", "gold", 2, 0),
        ("acme", "silver", 1, 0),
        ("globex", "silver", 0, 1),
        (None, "gold", 1, 1),
    ]

    code, out, err = await sla_worker("report", *broker, "--from", "2026-12-01", "--json")
    assert code == 0, err
    december = json.loads(out)
    assert (december["outcomes"], december["late_fulfilments"]) == (2, 1)
    assert [w["ticket_id"] for w in december["worst_breaches"]] == ["D-1"]  # N-4: November


async def test_report_of_an_empty_period_says_so(kafka_bootstrap, topic_factory):
    """A period without outcomes prints 'no outcomes between ...' and exits 0."""
    topic = await topic_factory(partitions=2, config={"retention.ms": "-1"})
    await publish(kafka_bootstrap, topic, IN_NOVEMBER[:2])
    broker = ("--broker", f"kafka://{kafka_bootstrap}", "--topic", topic, "--policy", DEMO)
    code, out, err = await sla_worker(
        "report", *broker, "--from", "2026-10-01", "--to", "2026-11-01"
    )
    assert code == 0, err
    assert out == (
        f"no outcomes between 2026-10-01T00:00:00Z and 2026-11-01T00:00:00Z in topic {topic}\n"
    )
    empty = await topic_factory(partitions=1)
    code, out, err = await sla_worker("report", "--broker", f"kafka://{kafka_bootstrap}",
                                      "--topic", empty, "--policy", DEMO, "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["groups"] == []
    assert err.startswith("no outcomes before ")


async def test_report_of_a_missing_topic_is_one_line(kafka_bootstrap):
    """A topic that does not exist: one line naming it, exit code 1."""
    code, out, err = await sla_worker(
        "report", "--broker", f"kafka://{kafka_bootstrap}", "--topic", "t-no-such-topic",
        "--policy", DEMO,
    )  # fmt: skip
    assert code == 1
    assert out == ""
    assert err.strip().splitlines() == [
        f"Error: topic t-no-such-topic does not exist on {kafka_bootstrap} "
        "(see SLA_OUTCOME_TOPIC, or --topic)"
    ]


async def test_reading_shows_progress_over_the_messages_in_range(kafka_bootstrap, topic_factory):
    """The progress bar's total is the messages between the period's offsets; all are read."""
    from rich.console import Console
    from rich.progress import Progress

    from worker.edge.settings import Settings
    from worker.stream.outcomes_reader import read_outcome_period

    topic = await topic_factory(partitions=3, config={"retention.ms": "-1"})
    await publish(
        kafka_bootstrap,
        topic,
        [stamped("2026-10-31T00:00:00Z", outcome("O-1", True, 1)), *IN_NOVEMBER],
    )
    settings = Settings.from_env({}, broker=f"kafka://{kafka_bootstrap}")
    seen: list[SlaOutcome] = []
    progress = Progress(console=Console(file=io.StringIO(), force_terminal=True))
    with progress:
        unreadable = await read_outcome_period(
            settings,
            topic,
            datetime(2026, 11, 1, tzinfo=UTC),
            datetime(2026, 12, 1, tzinfo=UTC),
            seen.append,
            progress=progress,
        )
    (task,) = progress.tasks
    assert (task.total, task.completed) == (len(IN_NOVEMBER), len(IN_NOVEMBER))
    assert len(seen) == len(IN_NOVEMBER) - 1  # all but the unreadable message, repeat included
    assert [item.error for item in unreadable] == ["not JSON: invalid character (byte 4)"]

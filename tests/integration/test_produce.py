"""``sla-worker produce`` and ``loadgen`` against the real local broker, run as a user runs them.

What reaches Kafka is what the file holds, byte for byte, keyed by ticket id, and every event
of a ticket lands on the partition its key hashes to (murmur2, as Java and faust compute it).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka.partitioner import murmur2

from worker.edge.codec import Rejected, decode_event

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "deploy" / "policies" / "demo.yaml")
CLI_TIMEOUT_S = 60


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


def event_line(ticket: str, number: int, extra: str = "") -> bytes:
    return (
        b'{"type": "ticket.responded", "event_id": "%s-%d", "ticket_id": "%s",'
        b' "occurred_at": "2026-11-23T10:00:0%d+01:00"%s}'
        % (ticket.encode(), number, ticket.encode(), number, extra.encode())
    )


async def test_produce_publishes_each_line_byte_exact_keyed_by_ticket(
    kafka_bootstrap, topic_factory, consume, tmp_path
):
    """Lines come back unchanged, keyed by ticket id, each ticket on its murmur2 partition."""
    topic = await topic_factory(partitions=4)
    tickets = [f"T-{n}" for n in range(12)] + ["T-\u00e9t\u00e9"]
    lines = [
        event_line(ticket, number, extra=', "note": "caf\u00e9  spaced"' if number == 2 else "")
        for number in (1, 2, 3)
        for ticket in tickets
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    code, out, err = await sla_worker(
        "produce", "--broker", f"kafka://{kafka_bootstrap}", "--topic", topic, str(path)
    )
    assert code == 0, err
    assert out.startswith(f"sent {len(lines)} events from {path} to {topic} (4 partitions)")

    records = await consume(kafka_bootstrap, topic, len(lines))
    assert sorted(r.value for r in records) == sorted(lines)
    partitions = defaultdict(set)
    for record in records:
        decoded = decode_event(record.value)
        assert not isinstance(decoded, Rejected)
        assert record.key == decoded.ticket_id.encode()
        partitions[record.key].add(record.partition)
    for key, seen in partitions.items():
        assert seen == {(murmur2(key) & 0x7FFFFFFF) % 4}, key
    # Per partition, a ticket's lines keep the file's order.
    for ticket in tickets:
        mine = [r.value for r in records if r.key == ticket.encode()]
        assert mine == [line for line in lines if b'"ticket_id": "%s"' % ticket.encode() in line]


async def test_produce_refuses_a_file_with_invalid_lines_and_sends_nothing(
    kafka_bootstrap, topic_factory, consume, tmp_path
):
    """A refused file leaves the topic empty; --skip-invalid sends the valid lines only."""
    topic = await topic_factory(partitions=2)
    path = tmp_path / "events.jsonl"
    path.write_bytes(event_line("T-1", 1) + b"\n{broken\n" + event_line("T-2", 1) + b"\n")
    broker = f"kafka://{kafka_bootstrap}"

    code, _, err = await sla_worker("produce", "--broker", broker, "--topic", topic, str(path))
    assert code == 1
    assert "line 2: invalid_json" in err
    with pytest.raises(TimeoutError):
        await consume(kafka_bootstrap, topic, 1, timeout_s=2.0)

    code, out, err = await sla_worker(
        "produce", "--broker", broker, "--topic", topic, "--skip-invalid", str(path)
    )
    assert code == 0, err
    assert "skipped 1 invalid lines" in out
    records = await consume(kafka_bootstrap, topic, 2)
    assert sorted(r.value for r in records) == [event_line("T-1", 1), event_line("T-2", 1)]


async def test_loadgen_publishes_backdated_history_at_once(kafka_bootstrap, topic_factory, consume):
    """History entirely in the past is sent at once: every event, valid, keyed by ticket."""
    topic = await topic_factory(partitions=4)
    code, out, err = await sla_worker(
        "loadgen",
        "--broker",
        f"kafka://{kafka_bootstrap}",
        "--policy",
        DEMO,
        "--topic",
        topic,
        "--tickets",
        "40",
        "--rate",
        "1",
        "--backdate",
        "2d",
        "--seed",
        "11",
    )
    assert code == 0, err
    first = out.splitlines()[0]
    assert first.startswith("loadgen: 40 tickets, ")
    sent = int(first.split(", ")[1].split(" events")[0])
    records = await consume(kafka_bootstrap, topic, sent)
    assert len(records) == sent
    created = 0
    for record in records:
        decoded = decode_event(record.value)
        assert not isinstance(decoded, Rejected)
        assert record.key == decoded.ticket_id.encode()
        assert record.partition == (murmur2(record.key) & 0x7FFFFFFF) % 4
        assert decoded.ticket_id.startswith("T-11-")
        created += json.loads(record.value)["type"] == "ticket.created"
    assert created == 40

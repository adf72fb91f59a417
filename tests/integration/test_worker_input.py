"""Bad input reaches the dead-letter topic with its exact bytes; other clients' events work."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from harness import Deployment, event, utc

S = timedelta(seconds=1)


def _payload(record: dict[str, object]) -> bytes:
    payload = str(record["payload"])
    if record.get("payload_encoding") == "base64":
        return base64.b64decode(payload)
    return payload.encode()


async def test_bad_messages_are_dead_lettered_exactly_and_processing_goes_on(
    deployment: Deployment,
) -> None:
    """Each kind of bad message lands in the dead-letter topic, byte-exact, with its reason."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    # Let the input topic accept a message over the worker's 1 MiB limit.
    admin = AIOKafkaAdminClient(bootstrap_servers=deployment.bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    deployment.topics["input"],
                    configs={"max.message.bytes": str(4 * 1024 * 1024)},
                )
            ]
        )
    finally:
        await admin.close()
    await deployment.start_worker()
    now = utc()
    good = event("created", "good", now - 15 * S, tier="fast", priority="P1")
    bad: list[tuple[str, bytes | None, bytes]] = [
        ("invalid_json", b"j1", b'{"type": "ticket.created", '),
        ("invalid_json", b"j2", b"\xff\xfe not utf-8"),
        (
            "invalid_event",
            b"e1",
            json.dumps({"type": "ticket.created", "ticket_id": "e1"}).encode(),
        ),
        (
            "unknown_tier",
            b"t1",
            json.dumps(event("created", "t1", now, tier="platinum", priority="P1")).encode(),
        ),
        (
            "unknown_priority",
            b"p1",
            json.dumps(event("created", "p1", now, tier="fast", priority="P9")).encode(),
        ),
        (
            "key_mismatch",
            b"other",
            json.dumps(event("created", "k1", now, tier="fast", priority="P1")).encode(),
        ),
        ("too_large", b"big", b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'),
    ]
    await deployment.send([*((key, value) for _, key, value in bad), good])
    letters = await deployment.read("dead_letters", lambda rs: len(rs) >= len(bad))
    by_key = {r["_key"]: r for r in letters}
    for reason, key, value in bad:
        letter = by_key[key]
        assert letter["reason"] == reason, letter["error"]
        assert _payload(letter) == value
        assert "\n" not in str(letter["error"])
        source = letter["source"]
        assert isinstance(source, dict)
        assert source["topic"] == deployment.topics["input"]
    # the valid ticket after them is still processed: it breaches on time
    breaches = await deployment.read("breaches", lambda rs: len(rs) >= 1)
    assert [r["ticket_id"] for r in breaches] == ["good"]


async def test_events_produced_with_kcat_are_processed(deployment: Deployment, kcat: str) -> None:
    """Events from a client that is not ours (kcat, librdkafka) are processed like our own."""
    await deployment.start_worker()
    now = utc()
    lines = [
        event("created", "kc1", now - 15 * S, tier="fast", priority="P1"),
        event("created", "kc2", now - 15 * S, tier="fast", priority="P1"),
        event("responded", "kc2", now),
    ]
    data = "".join(f"{doc['ticket_id']}|{json.dumps(doc)}\n" for doc in lines)
    produced = await asyncio.to_thread(
        subprocess.run,
        [
            kcat,
            "-P",
            "-b",
            deployment.bootstrap,
            "-t",
            deployment.topics["input"],
            "-K",
            "|",
            "-X",
            "topic.partitioner=murmur2_random",
        ],
        input=data,
        capture_output=True,
        text=True,
        check=False,
    )
    assert produced.returncode == 0, produced.stderr
    outcomes = await deployment.read("outcomes", lambda rs: len(rs) >= 2)
    assert {(r["ticket_id"], r["outcome"]) for r in outcomes} == {
        ("kc1", "breached"),
        ("kc2", "met"),
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SLA_POLICY": "/nonexistent/policy.yaml"}, "policy"),
        ({"SLA_BROKER": "kafka://127.0.0.1:1", "SLA_CONNECT_TIMEOUT": "3s"}, "cannot reach Kafka"),
        ({"SLA_INPUT_TOPICS": "no-such-topic"}, "missing topics: no-such-topic"),
        ({"SLA_GRACE": "soon"}, "SLA_GRACE"),
        ({"SLA_DATA_DIR": "/proc/sla-worker/data"}, "cannot create data directory"),
    ],
)
async def test_startup_errors_are_one_line(
    deployment: Deployment, env: dict[str, str], message: str
) -> None:
    """Bad settings, an unreachable broker or missing topics end in one line and exit 1."""
    worker = await deployment.start_worker(wait=False, **env)
    assert worker.process is not None
    code = await asyncio.to_thread(worker.process.wait, 60)
    output = worker.log().strip()
    assert code == 1, output
    assert message in output
    assert "Traceback" not in output
    assert len(output.splitlines()) <= 2, output


async def test_invalid_policy_at_start_up_lists_every_problem(
    deployment: Deployment, tmp_path: Path
) -> None:
    """An invalid policy stops the worker with its problems listed, each with its place."""
    policy = tmp_path / "bad.yaml"
    policy.write_text(
        "version: 1\nname: bad\npriorities: [P1]\n"
        "tiers:\n  gold:\n    commitment: sla\n    objective: 2\n"
        "    targets:\n      first_response: {P9: 1h}\n"
    )
    worker = await deployment.start_worker(wait=False, SLA_POLICY=str(policy))
    assert worker.process is not None
    code = await asyncio.to_thread(worker.process.wait, 60)
    output = worker.log().strip()
    assert code == 1, output
    assert "Traceback" not in output
    assert "tiers.gold.objective" in output
    assert "tiers.gold.targets.first_response.P9" in output

"""Hostile input: every bad message is dead-lettered byte-exact, and the worker goes on."""

from __future__ import annotations

import base64
import json
import random
from datetime import timedelta
from pathlib import Path

from harness import Deployment, event, utc

S = timedelta(seconds=1)
MIB = 1024 * 1024


def _payload(record: dict[str, object]) -> bytes:
    payload = str(record["payload"])
    if record.get("payload_encoding") == "base64":
        return base64.b64decode(payload)
    return payload.encode()


def hostile_messages(seed: int = 8) -> list[tuple[bytes, bytes, str]]:
    """Return (key, value, expected reason) for a catalogue of hostile messages."""
    rng = random.Random(seed)
    now = utc()
    valid = event("created", "x", now, tier="fast", priority="P1")
    text = json.dumps(valid)
    messages: list[tuple[bytes, bytes, str]] = []
    for n in range(60):  # arbitrary bytes, most not UTF-8, some empty
        size = rng.choice([0, 1, 7, 64, 1000, 20_000])
        messages.append((f"bytes-{n}".encode(), rng.randbytes(size), "invalid_json"))
    for n, cut in enumerate(range(1, len(text), max(1, len(text) // 12))):
        messages.append((f"trunc-{n}".encode(), text[:cut].encode(), "invalid_json"))
    messages.append((b"nested", b"[" * 100_000 + b"]" * 100_000, "invalid_json"))
    messages.append((b"nested-obj", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "invalid_json"))
    kinds = {
        "huge-id": {**valid, "ticket_id": "h" * 500_000},
        "type-int": {**valid, "type": 7},
        "tier-list": {**valid, "tier": ["fast"]},
        "no-offset": {**valid, "occurred_at": "2026-11-23T10:00:00"},
        "far-future": {**valid, "occurred_at": "2999-01-01T00:00:00Z"},
        "year-zero": {**valid, "occurred_at": "0001-01-01T00:00:00Z"},
        "ctrl-id": {**valid, "event_id": "e\x00\x1f"},
        "bad-version": {**valid, "schema_version": 2},
        "not-object": [valid],
    }
    for key, document in kinds.items():
        if isinstance(document, dict) and "ticket_id" in document and key != "huge-id":
            document = {**document, "ticket_id": key}
        reason = "invalid_event"
        if key == "not-object":
            reason = "invalid_json"
        messages.append((key.encode(), json.dumps(document).encode(), reason))
    messages.append((b"ten-mib", b'{"pad":"' + b"x" * (10 * MIB) + b'"}', "too_large"))
    return messages


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def test_hostile_messages_land_in_the_dead_letter_topic_exactly(
    deployment: Deployment,
) -> None:
    """Garbage, truncated, nested, huge, mistyped and mistimed messages are dead-lettered."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=deployment.bootstrap)
    await admin.start()
    try:  # let the input topic take the 10 MiB message, as a misconfigured producer might
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    deployment.topics["input"],
                    configs={"max.message.bytes": str(16 * MIB)},
                )
            ]
        )
    finally:
        await admin.close()
    worker = await deployment.start_worker()
    assert worker.process is not None
    before_kib = rss_kib(worker.process.pid)
    hostile = hostile_messages()
    await deployment.send([(key, value) for key, value, _ in hostile])
    # a valid ticket after all of them is still processed
    await deployment.send([event("created", "after", utc() - 15 * S, tier="fast", priority="P1")])

    letters = await deployment.read("dead_letters", lambda rs: len(rs) >= len(hostile), 120)
    by_key = {r["_key"]: r for r in letters}
    assert len(by_key) == len(hostile)
    for key, value, reason in hostile:
        letter = by_key[key]
        assert letter["reason"] == reason, (key, letter["error"])
        assert _payload(letter) == value, key
        assert "\n" not in str(letter["error"])
    breaches = await deployment.read("breaches", lambda rs: len(rs) >= 1)
    assert [r["ticket_id"] for r in breaches] == ["after"]

    assert worker.process.poll() is None, "the worker stopped"
    counted = sum(
        worker.metric("sla_dead_letters_total", reason=reason) or 0.0
        for reason in {reason for _, _, reason in hostile}
    )
    assert counted == len(hostile)
    assert worker.metric("sla_events_total", result="dead_letter", type="unknown") == len(hostile)
    # Memory stays bounded: ~12 MiB of hostile input must not leave the worker much bigger.
    assert rss_kib(worker.process.pid) - before_kib < 200 * 1024

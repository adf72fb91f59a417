"""The SLA status stream on the real broker: a compacted topic of each ticket's current status."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from harness import POLICY, ROOT, SLA_WORKER, Deployment, event, ts, utc

from worker.core.errors import StartupError
from worker.edge.settings import Settings
from worker.stream.kafka_admin import check_topics, create_topics

if TYPE_CHECKING:
    from aiokafka.structs import ConsumerRecord

S = timedelta(seconds=1)
M = timedelta(minutes=1)

Status = tuple[str, dict[str, Any] | None]  # (key, document or None for a tombstone)


def _status(message: ConsumerRecord[bytes, bytes]) -> Status:
    return message.key.decode(), None if message.value is None else json.loads(message.value)


async def statuses(
    deployment: Deployment, until: Callable[[list[Status]], bool], timeout_s: float = 60.0
) -> list[Status]:
    """Read the status topic from its start until ``until(records)`` holds."""
    return await deployment._read("status", until, timeout_s, _status)


def latest(records: list[Status]) -> dict[str, dict[str, Any] | None]:
    """What compaction keeps: the last record of each key."""
    return dict(records)


def stable(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """A status without what moves with as_of alone (as_of, and the counted time of a target
    still counting)."""
    if document is None:
        return None
    targets = []
    for target in document["targets"]:
        counting = target["fulfilled_at"] is None and target["state"] != "paused"
        dropped = ("elapsed_seconds", "remaining_seconds") if counting else ()
        targets.append({k: v for k, v in target.items() if k not in dropped})
    return {**{k: v for k, v in document.items() if k != "as_of"}, "targets": targets}


def has(ticket: str, check: Callable[[dict[str, Any]], bool]) -> Callable[[list[Status]], bool]:
    """Whether the last record of ``ticket`` is a status for which ``check`` holds."""

    def holds(records: list[Status]) -> bool:
        document = latest(records).get(ticket)
        return document is not None and check(document)

    return holds


def targets(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{t['target']}:{t['cycle']}": t for t in document["targets"]}


async def test_status_follows_a_ticket_from_creation_to_tombstone(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """Create, pause, resume, priority change, resolve and forget each publish its status."""
    deployment = await Deployment.create(kafka_bootstrap, tmp_path, SLA_RETENTION="5s")
    try:
        await deployment.start_worker()
        created_at = utc()
        await deployment.send(
            [event("created", "S1", created_at, tier="fast", priority="P2", customer_id="acme")]
        )
        records = await statuses(deployment, has("S1", lambda d: True))
        first = latest(records)["S1"]
        assert first is not None
        assert (first["type"], first["customer_id"], first["priority"]) == (
            "sla.status",
            "acme",
            "P2",
        )
        assert first["policy"] == "integration"
        assert len(first["policy_sha256"]) == 64
        now = targets(first)
        assert [t["state"] for t in now.values()] == ["running", "running"]
        assert now["first_response:1"]["deadline"] == ts(created_at + 40 * S)
        assert now["resolution:1"]["deadline"] == ts(created_at + 2 * 60 * M)

        paused_at = created_at + S
        await deployment.send([event("paused", "S1", paused_at)])
        records = await statuses(
            deployment, has("S1", lambda d: targets(d)["resolution:1"]["state"] == "paused")
        )
        paused = targets(latest(records)["S1"] or {})["resolution:1"]
        assert paused["deadline"] is None
        assert paused["elapsed_seconds"] == 1  # to the pause, even before the clock reaches it

        await deployment.send([event("resumed", "S1", created_at + 3 * S)])
        records = await statuses(
            deployment, has("S1", lambda d: targets(d)["resolution:1"]["state"] == "running")
        )
        resumed = targets(latest(records)["S1"] or {})["resolution:1"]
        assert resumed["deadline"] == ts(created_at + 2 * 60 * M + 2 * S)  # later by the pause

        await deployment.send([event("updated", "S1", created_at + 4 * S, priority="P3")])
        records = await statuses(deployment, has("S1", lambda d: d["priority"] == "P3"))
        updated = targets(latest(records)["S1"] or {})
        assert updated["first_response:1"]["deadline"] == ts(created_at + 60 * M)

        await deployment.send([event("resolved", "S1", created_at + 5 * S)])
        records = await statuses(
            deployment,
            has("S1", lambda d: {t["state"] for t in d["targets"]} == {"met"}),
        )
        resolved = targets(latest(records)["S1"] or {})
        assert resolved["resolution:1"]["fulfilled_at"] == ts(created_at + 5 * S)

        # Forgotten SLA_RETENTION after its last event: a tombstone under the same key.
        records = await statuses(deployment, lambda rs: rs[-1:] == [("S1", None)])
        for key, document in records:  # every record keyed by its ticket: compaction keeps it
            assert document is None or document["ticket_id"] == key
        assert len(records) >= 6
    finally:
        deployment.kill_workers()


async def test_a_redelivered_event_publishes_its_ticket_s_status_again(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """An event sent again (same event_id: how a batch reprocessed after a crash looks) changes
    nothing but publishes the ticket's status again, so a status lost in the crash comes back."""
    deployment = await Deployment.create(kafka_bootstrap, tmp_path)
    try:
        await deployment.start_worker()
        created = event("created", "R1", utc(), eid="R1-created", tier="fast", priority="P2")
        await deployment.send([created])
        await statuses(deployment, has("R1", lambda d: True))
        await deployment.send([created])
        records = await statuses(deployment, lambda rs: [k for k, _ in rs].count("R1") == 2)
        first, again = (document for key, document in records if key == "R1")
        assert stable(again) == stable(first)
    finally:
        deployment.kill_workers()


async def test_status_topic_is_created_compacted(deployment: Deployment) -> None:
    """`topics create` made the status topic with cleanup.policy=compact."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=deployment.bootstrap)
    await admin.start()
    try:
        responses: Any = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, deployment.topics["status"])]
        )
    finally:
        await admin.close()
    configs = {
        entry["config_names"]: entry["config_value"]
        for response in responses
        for resource in response.to_object()["resources"]
        for entry in resource["config_entries"]
    }
    assert configs["cleanup.policy"] == "compact"


def history(seed: int, tickets: int, start: datetime) -> list[dict[str, Any]]:
    """Tickets of every kind, two days ago: answered in time or late or never, paused and
    resumed, re-prioritised, resolved, reopened; in time order."""
    rng = random.Random(seed)
    timed: list[tuple[datetime, dict[str, Any]]] = []
    for n in range(tickets):
        ticket = f"H{n:04d}"
        at = start + timedelta(seconds=rng.uniform(0, 3600))
        tier = rng.choice(["fast", "fast", "replay", "free"])
        priority = rng.choice(["P1", "P2"])
        extra = {"customer_id": f"c{n % 7}"} if n % 3 else {}
        timed.append((at, event("created", ticket, at, tier=tier, priority=priority, **extra)))
        for kind in rng.sample(["responded", "paused", "updated", "resolved"], k=rng.randint(0, 4)):
            at = at + timedelta(seconds=rng.uniform(1, 60))
            fields = {"priority": rng.choice(["P1", "P2"])} if kind == "updated" else {}
            timed.append((at, event(kind, ticket, at, **fields)))
            if kind == "paused" and rng.random() < 0.5:
                at = at + timedelta(seconds=rng.uniform(1, 30))
                timed.append((at, event("resumed", ticket, at)))
            if kind == "resolved" and rng.random() < 0.3:
                at = at + timedelta(seconds=rng.uniform(1, 30))
                timed.append((at, event("reopened", ticket, at)))
    timed.sort(key=lambda pair: pair[0])
    return [document for _, document in timed]


async def test_last_status_after_a_replay_equals_simulate(
    deployment: Deployment, tmp_path: Path
) -> None:
    """After replaying a history, each ticket's last status is `simulate --status`'s."""
    events = history(seed=3, tickets=300, start=utc() - timedelta(days=2))
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps(doc) + "\n" for doc in events))
    await deployment.send(events)
    await deployment.start_worker()
    # The worker runs on the wall clock once caught up: simulate up to now, as it does.
    simulated = await asyncio.to_thread(
        subprocess.run,
        [
            *SLA_WORKER,
            "simulate",
            "--policy",
            str(POLICY),
            str(log),
            "--status",
            "--until",
            ts(utc()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    expected = {
        document["ticket_id"]: stable(document)
        for document in map(json.loads, simulated.stdout.splitlines())
    }
    assert len(expected) == 300

    def settled(records: list[Status]) -> bool:
        return {key: stable(doc) for key, doc in latest(records).items()} == expected

    try:
        records = await statuses(deployment, settled, timeout_s=120)
    except Exception:
        records = await statuses(deployment, lambda rs: True, timeout_s=10)
        got = {key: stable(doc) for key, doc in latest(records).items()}
        differ = [k for k in expected if got.get(k) != expected[k]]
        raise AssertionError(
            f"{len(differ)} tickets differ, e.g. {differ[:1]}: "
            f"{[(got.get(k), expected[k]) for k in differ[:1]]}"
        ) from None
    for key, document in records:
        assert document is not None
        assert document["ticket_id"] == key


def _settings(bootstrap: str, **overrides: Any) -> Settings:
    tag = secrets.token_hex(4)
    overrides = {"status_topic": f"status-{tag}", **overrides}
    return Settings(
        broker=f"kafka://{bootstrap}",
        app_id=f"app-{tag}",
        input_topics=(f"in-{tag}",),
        warning_topic=f"warn-{tag}",
        breach_topic=f"breach-{tag}",
        outcome_topic=f"outcome-{tag}",
        dead_letter_topic=f"dlt-{tag}",
        partitions=2,
        connect_timeout_s=10,
        **overrides,
    )


async def test_start_up_refuses_an_uncompacted_status_topic(kafka_bootstrap: str) -> None:
    """A status topic with cleanup.policy=delete is refused, in one line saying how to fix it."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    settings = _settings(kafka_bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(settings.status_topic, 2, 1, topic_configs={"cleanup.policy": "delete"})]
        )
    finally:
        await admin.close()
    await create_topics(settings)
    with pytest.raises(StartupError, match=r"status topic .* is not compacted") as raised:
        await check_topics(settings)
    assert "cleanup.policy=compact" in str(raised.value)
    assert "\n" not in str(raised.value)


async def test_an_empty_status_topic_needs_no_topic(kafka_bootstrap: str) -> None:
    """With SLA_STATUS_TOPIC empty, topics create makes no status topic and start-up needs none."""
    settings = _settings(kafka_bootstrap, status_topic="")
    made = await create_topics(settings)
    assert not any(s.name.startswith("status-") for s in made)
    assert await check_topics(settings) == 2

"""Failures that do not crash the worker end in a retry, a dead letter or a stop before commit.

Each test pins one row of docs/operating.md's reliability table on the real broker: a kill
between a batch's delivery and its commit, an output topic that refuses records, a record
stamped in year 10000, an oversized field, a long conversation, open-ticket retention.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from datetime import timedelta
from typing import Any

from harness import Deployment, WorkerProcess, event, utc

from worker.stream.agent import MAX_STATE_BYTES

S = timedelta(seconds=1)
EX_IOERR = 74
YEAR_10000_MS = 253_402_300_800_000 + 86_400_000  # 2 January 10000, 00:00 UTC


async def _alter_topic(deployment: Deployment, topic: str, configs: dict[str, str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=deployment.bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, deployment.topics[topic], configs=configs)]
        )
    finally:
        await admin.close()


async def _committed(deployment: Deployment) -> dict[int, int]:
    """The worker group's committed offsets of the input topic, by partition (-1: none)."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=deployment.bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(
            deployment.env["SLA_APP_ID"],
            partitions=[
                TopicPartition(deployment.topics["input"], p) for p in range(deployment.partitions)
            ],
        )
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


async def _exit_code(worker: WorkerProcess, timeout_s: float = 60.0) -> int:
    assert worker.process is not None
    return await asyncio.to_thread(worker.process.wait, timeout_s)


def _ids(records: list[dict[str, Any]]) -> set[str]:
    return {str(r["id"]) for r in records}


async def test_a_kill_between_delivery_and_commit_loses_nothing(deployment: Deployment) -> None:
    """A worker killed after its batches were delivered but before any commit: after a
    restart every output is there, and the repeats carry the same ids."""
    worker = await deployment.start_worker(SLA_COMMIT_INTERVAL="1h")
    start = utc() - 30 * S  # 20 s first-response targets: every ticket breaches on arrival
    tickets = [f"k{i}" for i in range(40)]
    await deployment.send(event("created", t, start, tier="fast", priority="P1") for t in tickets)
    first = await deployment.read(
        "breaches", lambda rs: _ids(rs) >= {f"{t}:first_response:1" for t in tickets}
    )
    assert set((await _committed(deployment)).values()) <= {-1}  # nothing committed yet
    worker.kill()
    await deployment.restart(worker)
    await deployment.send([event("created", "after", utc(), tier="fast", priority="P3")])
    await worker.wait_ticks()
    outcomes = await deployment.read("outcomes", lambda rs: len(_ids(rs)) >= len(tickets))
    breaches = await deployment.drain("breaches")
    assert _ids(breaches) == _ids(first)
    assert {r["ticket_id"] for r in outcomes} == set(tickets)
    await worker.stop()


async def test_an_output_topic_refusing_records_stops_the_worker_before_committing(
    deployment: Deployment,
) -> None:
    """A breach the topic refuses stops the worker (exit 74, one line) with the group's offsets
    unchanged; once the topic accepts again, a restart publishes it, by id."""
    worker = await deployment.start_worker()
    await _alter_topic(deployment, "breaches", {"max.message.bytes": "64"})
    # The first message of its partition (offset 0): a commit past it would be 1 or more.
    await deployment.send([event("created", "refused", utc() - 30 * S, tier="fast", priority="P1")])
    assert await _exit_code(worker) == EX_IOERR
    [line] = worker.log_events("worker.stopping")
    assert line["reason"] == "delivery_failed"
    assert deployment.topics["breaches"] in line["error"]
    assert "MessageSizeTooLarge" in line["error"]
    assert all(offset <= 0 for offset in (await _committed(deployment)).values())
    await _alter_topic(deployment, "breaches", {"max.message.bytes": "1048588"})
    await deployment.restart(worker)
    breaches = await deployment.read("breaches", lambda rs: "refused:first_response:1" in _ids(rs))
    assert [r["id"] for r in breaches if r["ticket_id"] == "refused"] == [
        "refused:first_response:1"
    ]
    await worker.stop()


async def test_records_the_codec_refuses_are_dead_lettered_byte_exact(
    deployment: Deployment,
) -> None:
    """A record stamped in year 10000 is dead-lettered byte-exact (timestamp null); a 300 KB
    customer_id is dead-lettered, and no changelog record exceeds the state bound."""
    from aiokafka import AIOKafkaProducer

    await deployment.start_worker()
    payload = b'{"type": "ticket.created", "ticket_id": "y1"'  # not JSON
    producer = AIOKafkaProducer(bootstrap_servers=deployment.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            deployment.topics["input"], payload, key=b"y1", timestamp_ms=YEAR_10000_MS
        )
    finally:
        await producer.stop()
    huge = event("created", "big", utc(), tier="fast", priority="P3")
    huge["customer_id"] = "c" * 300_000
    await deployment.send([huge, event("created", "fine", utc(), tier="fast", priority="P3")])
    letters = await deployment.read("dead_letters", lambda rs: len(rs) >= 2)
    by_key = {r["_key"]: r for r in letters}
    year = by_key[b"y1"]
    assert year["source"]["timestamp"] is None
    encoded = year["payload"]
    assert (
        base64.b64decode(encoded) if year.get("payload_encoding") == "base64" else encoded.encode()
    ) == payload
    assert by_key[b"big"]["reason"] == "invalid_event"
    assert "customer_id" in by_key[b"big"]["error"]
    deployment.topics["changelog"] = f"{deployment.env['SLA_APP_ID']}-tickets-changelog"
    async with asyncio.timeout(60):  # "fine" was sent after "big": its state is stored
        while await deployment.count("changelog") < 1:  # noqa: ASYNC110 - polling Kafka
            await asyncio.sleep(0.2)
    changelog = await deployment.drain_raw("changelog")
    assert [json.loads(value)["id"] for _, value in changelog] == ["fine"]
    assert all(len(value) <= MAX_STATE_BYTES for _, value in changelog)


async def test_a_long_conversation_keeps_its_resolution(deployment: Deployment) -> None:
    """600 responses then ticket.resolved within the target: resolution met on the outcomes."""
    worker = await deployment.start_worker()
    start = utc() - 50 * S
    events = [event("created", "talk", start, tier="fast", priority="P1")]
    events += [
        event("responded", "talk", start + (i + 1) * timedelta(milliseconds=50), eid=f"r{i}")
        for i in range(600)
    ]
    events.append(event("resolved", "talk", start + 40 * S))
    await deployment.send(events)
    outcomes = await deployment.read(
        "outcomes", lambda rs: any(r["target"] == "resolution" for r in rs)
    )
    [resolution] = [r for r in outcomes if r["target"] == "resolution"]
    assert resolution["outcome"] == "met"
    await worker.stop()


async def test_an_open_ticket_past_open_retention_is_forgotten_and_counted(
    deployment: Deployment,
) -> None:
    """A ticket silent for SLA_OPEN_RETENTION is forgotten, counted and logged."""
    worker = await deployment.start_worker(SLA_OPEN_RETENTION="5s")
    await deployment.send([event("created", "silent", utc() - 1 * S, tier="fast", priority="P3")])

    async with asyncio.timeout(60):
        while worker.metric("sla_tickets_expired_total", tier="fast") != 1.0:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    [line] = worker.log_events("ticket.expired")
    assert line["ticket_id"] == "silent"
    assert await worker.stop(signal.SIGTERM) == 0


async def test_a_batch_too_large_for_its_topic_is_sent_again_record_by_record(
    deployment: Deployment,
) -> None:
    """Outputs whose record batch exceeds the topic's max.message.bytes, each record within
    it, are all delivered one by one; the worker does not stop."""
    await _alter_topic(deployment, "outcomes", {"max.message.bytes": "2000"})
    worker = await deployment.start_worker()
    start = utc() - 10 * S
    tickets = [f"s{i}" for i in range(60)]
    events = [event("created", t, start, tier="fast", priority="P1") for t in tickets]
    events += [event("responded", t, start + 1 * S) for t in tickets]
    await deployment.send(events)
    outcomes = await deployment.read("outcomes", lambda rs: len(_ids(rs)) >= len(tickets))
    assert {r["ticket_id"] for r in outcomes} == set(tickets)
    assert all(r["outcome"] == "met" for r in outcomes)
    worker.check_alive()
    assert worker.log_events("delivery.split")  # the path under test was taken
    assert worker.log_events("worker.stopping") == []
    await worker.stop()


async def test_the_memory_store_keeps_states_across_a_restart(deployment: Deployment) -> None:
    """With SLA_STORE=memory the batch path writes the store's dict and the changelog: a
    restarted worker rebuilds the states from the changelog (a repeated event is a duplicate)."""
    worker = await deployment.start_worker(SLA_STORE="memory")
    start = utc() - 10 * S
    responded = event("responded", "m1", start + 1 * S)
    await deployment.send([event("created", "m1", start, tier="fast", priority="P1"), responded])
    await deployment.read("outcomes", lambda rs: len(rs) >= 1)
    assert await worker.stop() == 0
    await deployment.restart(worker)
    await deployment.send([responded])
    async with asyncio.timeout(60):
        while worker.total("sla_events_total", result="duplicate") < 1:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    assert {r["id"] for r in await deployment.drain("outcomes")} == {"m1:first_response:1"}
    await worker.stop()

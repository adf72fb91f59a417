"""Fixtures shared by every test: a real local Kafka broker, unique topics, Kafka helpers.

The broker is started once per session, and only when a test asks for `kafka_bootstrap`
(directly or through `topic_factory`): unit tests never need Java. It runs from
`deploy/kafka/kafka.sh` on free ports with its own state directory under pytest's temporary
directory, and is stopped at the end of the session. Set `SLA_TEST_BROKER=host:port` to use
a broker you already run instead.

aiokafka is imported inside the helpers, not here, so that collecting the unit tests does
not load the streaming stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from harness import Deployment, kafka_env, start_broker, stop_broker
from hypothesis import settings

if TYPE_CHECKING:
    from aiokafka.structs import RecordMetadata

# A new topic becomes usable (every partition has a leader) within milliseconds locally.
TOPIC_READY_TIMEOUT_S = 15.0

Bytesish = bytes | str | None
TopicFactory = Callable[..., Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Record:
    """One message read back from Kafka, as the broker stored it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...]


# In CI, property tests draw the same examples every run: a failure reproduces, and the
# coverage gate does not depend on luck. Locally they explore new examples each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test that uses the broker `integration`: `-m 'not integration'` needs no Java."""
    for item in items:
        if "kafka_bootstrap" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`127.0.0.1:PORT` of a real broker for this session (or `$SLA_TEST_BROKER`)."""
    external = os.environ.get("SLA_TEST_BROKER")
    if external:
        yield external
        return

    def environment(ports: list[int]) -> dict[str, str]:
        return kafka_env(ports, tmp_path_factory.mktemp("kafka"))

    env = start_broker(2, environment, "the local Kafka broker")
    try:
        yield f"127.0.0.1:{env['KAFKA_PORT']}"
    finally:
        stop_broker(env)


def _as_bytes(data: Bytesish) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


async def produce_records(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[Bytesish, Bytesish]],
    partition: int | None = None,
) -> list[RecordMetadata]:
    """Send `(key, value)` pairs (str is UTF-8 encoded) and wait until the broker has them all.

    Without `partition`, aiokafka's default partitioner (murmur2 of the key, like Java)
    chooses. Returns each record's metadata (partition, offset), in input order.
    """
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        pending = [
            await producer.send(topic, value=_as_bytes(v), key=_as_bytes(k), partition=partition)
            for k, v in records
        ]
        return list(await asyncio.gather(*pending))
    finally:
        await producer.stop()


async def consume_records(
    bootstrap: str, topic: str, n: int, timeout_s: float = 10.0
) -> list[Record]:
    """Read `topic` from the beginning of every partition until at least `n` records arrived.

    Returns all records fetched by then (so extras show up in the test's assertion), sorted
    by partition and offset. Raises TimeoutError, listing what did arrive, if fewer than `n`
    arrive within `timeout_s` seconds. No consumer group: nothing is committed.
    """
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    received: list[Record] = []
    await consumer.start()
    try:
        async with asyncio.timeout(timeout_s):
            while len(received) < n:
                # A long poll: returns as soon as records arrive, or empty after 200 ms.
                batches = await consumer.getmany(timeout_ms=200)
                received.extend(
                    Record(
                        topic=m.topic,
                        partition=m.partition,
                        offset=m.offset,
                        key=m.key,
                        value=m.value,
                        timestamp_ms=m.timestamp,
                        headers=tuple(m.headers),
                    )
                    for messages in batches.values()
                    for m in messages
                )
    except TimeoutError:
        raise TimeoutError(
            f"expected {n} records on {topic} within {timeout_s}s, got {len(received)}: {received}"
        ) from None
    finally:
        await consumer.stop()
    return sorted(received, key=lambda r: (r.partition, r.offset))


@pytest.fixture
def produce() -> Callable[..., Awaitable[list[RecordMetadata]]]:
    """Give tests `produce_records`: await it with bootstrap, topic, pairs[, partition]."""
    return produce_records


@pytest.fixture
def consume() -> Callable[..., Awaitable[list[Record]]]:
    """Give tests `consume_records`: await it with bootstrap, topic, n[, timeout_s]."""
    return consume_records


def _topic_part(test_name: str) -> str:
    # Topic names allow [A-Za-z0-9._-] and 249 characters; keep them readable in listings.
    return re.sub(r"[^A-Za-z0-9._-]+", "-", test_name).strip("-")[:100]


@pytest.fixture
async def topic_factory(
    kafka_bootstrap: str, request: pytest.FixtureRequest
) -> AsyncIterator[TopicFactory]:
    """Create unique topics, ready to use; await it with `partitions=8` and `config=None`.

    Names look like `t-<test name>-<random>`, so tests never share data and a leftover topic
    says which test made it. The topics are deleted when the test ends.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    # Only asks for end offsets: it has no group and reads nothing.
    probe = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
    await admin.start()
    await probe.start()
    created: list[str] = []

    async def create(partitions: int = 8, config: dict[str, str] | None = None) -> str:
        name = f"t-{_topic_part(request.node.name)}-{secrets.token_hex(4)}"
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication_factor=1, topic_configs=config or {})]
        )
        errors = [e for e in response.to_object()["topic_errors"] if e["error_code"] != 0]
        assert not errors, f"could not create topic {name}: {errors}"
        created.append(name)
        # The metadata lists a leader for each partition a moment before that broker serves
        # it (producers would get NOT_LEADER and retry). A ListOffsets is answered only by
        # the serving leader, and aiokafka retries it until every partition is ready.
        async with asyncio.timeout(TOPIC_READY_TIMEOUT_S):
            await probe.end_offsets([TopicPartition(name, p) for p in range(partitions)])
        return name

    try:
        yield create
    finally:
        # Deleting keeps a long session's broker small; a test that broke the broker has
        # already failed, so a failure here would only hide its real error.
        if created:
            with contextlib.suppress(Exception):
                await admin.delete_topics(created)
        await probe.stop()
        await admin.close()


@pytest.fixture(scope="session")
def kcat() -> str:
    """Path of kcat; skips the test without it, except in CI (`CI=true`), where it fails."""
    path = shutil.which("kcat")
    if path is None:
        reason = "kcat not found: run deploy/install-system-packages.sh (Debian package kcat)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture
async def deployment(
    kafka_bootstrap: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Deployment]:
    """A fresh set of topics and settings; workers started by the test are stopped after."""
    deployment = await Deployment.create(kafka_bootstrap, tmp_path)
    try:
        yield deployment
    finally:
        deployment.kill_workers()
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            for worker in deployment.workers:
                print(worker.log())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report

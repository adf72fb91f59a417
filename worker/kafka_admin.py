"""Kafka administration at the edge: reaching the broker, creating and checking topics.

Used by ``sla-worker topics create`` and by the worker's start-up checks. Imports aiokafka
(never faust); every failure is a one-line :class:`~worker.errors.StartupError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from worker.errors import StartupError
from worker.settings import Settings

__all__ = [
    "DEAD_LETTER_MAX_BYTES",
    "TopicStatus",
    "check_topics",
    "connect_admin",
    "create_topics",
    "tick_topic",
]

# Ticks are consumed within seconds; an hour of them is plenty to survive a restart.
_TICK_RETENTION_MS: Final = 3_600_000
# A dead letter carries the rejected message's exact bytes, JSON-escaped or in base64, so it
# can be several times the size of the input; inputs of up to ~10 MiB fit in this.
DEAD_LETTER_MAX_BYTES: Final = 64 * 1024 * 1024
# Replicas for the topics we create: 3 where the cluster has that many brokers.
_MAX_REPLICATION: Final = 3


def tick_topic(settings: Settings) -> str:
    """Return the name of the internal topic that carries deadline ticks."""
    return f"{settings.app_id}-ticks"


@dataclass(frozen=True, slots=True)
class TopicStatus:
    """What ``topics create`` did with one topic."""

    name: str
    created: bool
    partitions: int


async def connect_admin(
    settings: Settings, *, timeout_s: float | None = None
) -> AIOKafkaAdminClient:
    """Return a started admin client, retrying until ``timeout_s``; StartupError after."""
    timeout_s = settings.connect_timeout_s if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    # aiokafka logs every failed attempt; we report the outcome in one line instead.
    with _quiet("aiokafka"):
        while True:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=settings.bootstrap,
                client_id=f"{settings.app_id}-admin",
                request_timeout_ms=max(1_000, int(min(timeout_s, 10.0) * 1000)),
                **settings.kafka_client_options(),
            )
            try:
                await admin.start()
                await admin.list_topics()
                return admin
            except (KafkaError, OSError, ValueError) as error:
                last = error
                await _close(admin)
                if _is_auth_failure(error):
                    break
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(1.0)  # retry pace while the broker is unreachable
    reason = _describe(last)
    raise StartupError(
        f"cannot reach Kafka at {settings.bootstrap} ({settings.kafka_security_protocol}): {reason}"
    )


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence a library's logger for the duration of a block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _is_auth_failure(error: Exception) -> bool:
    name = type(error).__name__.lower()
    return "auth" in name or "sasl" in name or "ssl" in name


def _describe(error: Exception | None) -> str:
    if error is None:
        return "no answer"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def _close(admin: AIOKafkaAdminClient) -> None:
    with contextlib.suppress(Exception):  # closing a client that never fully started
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Return ``{topic: partitions}`` for those of ``names`` that exist."""
    existing = set(await admin.list_topics())
    wanted = [n for n in names if n in existing]
    if not wanted:
        return {}
    described: Any = await admin.describe_topics(wanted)
    return {item["topic"]: len(item["partitions"]) for item in described if not item["error_code"]}


async def _replication(admin: AIOKafkaAdminClient) -> int:
    cluster: Any = await admin.describe_cluster()
    return max(1, min(_MAX_REPLICATION, len(cluster.get("brokers", [])) or 1))


async def create_topics(settings: Settings) -> list[TopicStatus]:
    """Create the input, output, dead-letter and tick topics; keep those that exist."""
    admin = await connect_admin(settings)
    try:
        names = [*settings.input_topics, *settings.output_topics, tick_topic(settings)]
        counts = await _partition_counts(admin, names)
        replication = await _replication(admin)
        missing = [n for n in dict.fromkeys(names) if n not in counts]
        configs = {
            tick_topic(settings): {"retention.ms": str(_TICK_RETENTION_MS)},
            settings.dead_letter_topic: {"max.message.bytes": str(DEAD_LETTER_MAX_BYTES)},
        }
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # created concurrently
                await admin.create_topics(
                    [
                        NewTopic(
                            n, settings.partitions, replication, topic_configs=configs.get(n, {})
                        )
                        for n in missing
                    ]
                )
        return [
            TopicStatus(n, n in missing, counts.get(n, settings.partitions))
            for n in dict.fromkeys(names)
        ]
    finally:
        await _close(admin)


async def check_topics(settings: Settings) -> int:
    """Check what the worker needs before it starts; return the input partition count.

    Input and output topics must exist and every input topic must have the same partition
    count (the worker refuses to start otherwise, naming the topics). The tick topic is
    created with that count when missing.
    """
    admin = await connect_admin(settings)
    try:
        ticks = tick_topic(settings)
        wanted = [*settings.input_topics, *settings.output_topics, ticks]
        counts = await _partition_counts(admin, wanted)
        missing = [n for n in dict.fromkeys(wanted) if n not in counts and n != ticks]
        if missing:
            raise StartupError(
                f"missing topics: {', '.join(missing)} (create them: sla-worker topics create)"
            )
        inputs = {n: counts[n] for n in settings.input_topics}
        if len(set(inputs.values())) > 1:
            listed = ", ".join(f"{n} has {c}" for n, c in inputs.items())
            raise StartupError(
                f"input topics must have the same partition count, keyed by ticket id: {listed}"
            )
        partitions = next(iter(inputs.values()))
        if ticks in counts and counts[ticks] != partitions:
            raise StartupError(
                f"internal topic {ticks} has {counts[ticks]} partitions but the input topics "
                f"have {partitions}: delete it (it holds only ticks) and start again"
            )
        changelog = f"{settings.app_id}-tickets-changelog"
        stored = (await _partition_counts(admin, [changelog])).get(changelog)
        if stored is not None and stored != partitions:
            raise StartupError(
                f"the state changelog {changelog} has {stored} partitions but the input topics "
                f"have {partitions}: input partitions cannot change under a deployment; use a "
                "new SLA_APP_ID (and replay) to repartition"
            )
        if ticks not in counts:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker made it
                await admin.create_topics(
                    [
                        NewTopic(
                            ticks,
                            partitions,
                            await _replication(admin),
                            topic_configs={"retention.ms": str(_TICK_RETENTION_MS)},
                        )
                    ]
                )
        return partitions
    finally:
        await _close(admin)

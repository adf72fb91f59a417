"""Reading a period of the outcome topic, by Kafka timestamps (``sla-worker report``).

Stream module: aiokafka (never faust). Without a consumer group (it commits nothing and
disturbs no one), each partition is read from the first offset whose timestamp is at or
after the start (``offsets_for_times``) up to the first at or after the end, or the
partition's end offset as it was when reading began; messages stamped outside the period
on the way (timestamps set by producers need not grow) are left out. The values (outcomes
and late fulfilments) are decoded by ``worker/edge/codec.py``; what is done with them is the
caller's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from worker.core.errors import StartupError
from worker.core.events import SlaLateFulfilment, SlaOutcome
from worker.edge.codec import Unreadable, decode_outcome
from worker.edge.settings import Settings
from worker.stream.kafka_admin import connect_admin, kafka_client_options

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["read_outcome_period"]

# Records per fetch: large batches keep a month of outcomes to a few seconds; each record
# is small (a few hundred bytes).
_MAX_RECORDS: Final = 5_000
# How long one fetch waits for data: short, since every offset to read exists already.
_FETCH_TIMEOUT_MS: Final = 1_000


def _ms(moment: datetime) -> int:
    """Return ``moment`` in milliseconds since the epoch (Kafka's timestamps)."""
    return int(moment.timestamp() * 1000)


async def read_outcome_period(
    settings: Settings,
    topic: str,
    start: datetime | None,
    end: datetime,
    add: Callable[[SlaOutcome | SlaLateFulfilment], object],
    *,
    progress: Progress | None = None,
) -> list[Unreadable]:
    """Read the outcomes and late fulfilments of ``topic`` stamped in ``[start, end)``.

    Each is passed to ``add``. ``start`` None reads from the beginning. Warnings and
    breaches (should the topic hold any) are skipped; return the messages that are not
    outputs, with their partition and offset. ``progress`` (a rich progress bar) shows the
    messages read of those in range. Raise :class:`~worker.core.errors.StartupError` when
    the broker cannot be reached or the topic does not exist.
    """
    partitions = await _partitions(settings, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        client_id=f"{settings.app_id}-report",
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=_MAX_RECORDS,
        **kafka_client_options(settings),
    )
    try:
        try:
            await consumer.start()
        except KafkaError as error:
            raise StartupError(f"cannot consume from {settings.bootstrap}: {error}") from None
        tps = [TopicPartition(topic, number) for number in range(partitions)]
        consumer.assign(tps)
        begin = await _offsets_at(consumer, tps, start)
        stop = await _offsets_at(consumer, tps, end)
        pending = {tp: stop[tp] for tp in tps if begin[tp] < stop[tp]}
        total = sum(stop[tp] - begin[tp] for tp in pending)
        task = None if progress is None else progress.add_task(f"reading {topic}", total=total)
        for tp in tps:
            if tp in pending:
                consumer.seek(tp, begin[tp])
            else:
                consumer.pause(tp)
        start_ms, end_ms = (None if start is None else _ms(start)), _ms(end)
        unreadable: list[Unreadable] = []
        while pending:
            batches = await consumer.getmany(
                *pending, timeout_ms=_FETCH_TIMEOUT_MS, max_records=_MAX_RECORDS
            )
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= pending.get(tp, 0):
                        break  # past the period: the rest of the batch too
                    stamp = record.timestamp
                    if (start_ms is not None and stamp < start_ms) or stamp >= end_ms:
                        continue
                    try:
                        outcome = decode_outcome(record.value or b"")
                    except ValueError as error:
                        where = f"partition {tp.partition} offset {record.offset}"
                        unreadable.append(Unreadable(where, str(error)))
                        continue
                    if outcome is not None:
                        add(outcome)
            left = 0
            for tp in list(pending):
                # Positions, not record offsets: transaction markers and compacted gaps
                # take offsets that no record brings.
                position = await consumer.position(tp)
                if position >= pending[tp]:
                    del pending[tp]
                    consumer.pause(tp)
                else:
                    left += pending[tp] - position
            if progress is not None and task is not None:
                progress.update(task, completed=total - left)
        return unreadable
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


async def _partitions(settings: Settings, topic: str) -> int:
    """Return the partition count of ``topic``; StartupError when unreachable or missing."""
    admin = await connect_admin(settings)  # a bounded, one-line failure when unreachable
    try:
        if topic not in set(await admin.list_topics()):
            raise StartupError(
                f"topic {topic} does not exist on {settings.bootstrap} "
                "(see SLA_OUTCOME_TOPIC, or --topic)"
            )
        described: Any = await admin.describe_topics([topic])
        return len(described[0]["partitions"])
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


async def _offsets_at(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], moment: datetime | None
) -> dict[TopicPartition, int]:
    """Return each partition's first offset stamped at or after ``moment``.

    None is the beginning; a partition with nothing that late gives its end offset.
    """
    if moment is None:
        found: dict[TopicPartition, int] = await consumer.beginning_offsets(tps)
        return found
    ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    times = await consumer.offsets_for_times(dict.fromkeys(tps, _ms(moment)))
    return {tp: ends[tp] if times[tp] is None else times[tp].offset for tp in tps}

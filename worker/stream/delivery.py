"""The agent's sink and store in the worker: Kafka record batches and the faust table's store.

:class:`KafkaSink` publishes a batch's changelog records, outputs, ticket statuses and dead
letters with the aiokafka producer faust started: one closed record batch per topic
partition (several when one is full), all sent at once, then every delivery awaited and
checked. A batch the broker refuses as too large is sent again record by record once; any
other failure raises :class:`DeliveryError`, naming the topic, the partition and the broker's error.

:class:`TableStore` reads and writes the ticket table's store directly: per partition, one
RocksDB multi-get and one write batch plus the persisted changelog offset (faust's recovery
starts there); with the memory store, its dict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import murmur2
from faust.types import AppT, TableT

from worker.edge.logs import get_logger
from worker.stream import faust_internals as fi
from worker.stream.agent import Emission

__all__ = ["BATCH_BYTES", "DeliveryError", "KafkaSink", "TableStore"]

# Bytes of one record batch (faust's producer_max_batch_size, given to aiokafka): a
# 1,000-event batch writes ~40-50 KB of changelog per partition over 8 partitions, so one
# record batch per topic partition usually holds all of it; far below the 1 MiB default
# max.message.bytes of a topic.
BATCH_BYTES: Final = 256 * 1024

_Records = list[tuple[bytes | None, bytes | None]]

log = get_logger("sla-worker")


class DeliveryError(Exception):
    """A record the broker did not take (after aiokafka's retries): the worker must stop."""

    def __init__(self, topic: str, partition: int | None, error: BaseException) -> None:
        self.topic = topic
        self.partition = partition
        self.error = error
        text = str(error).splitlines()[0] if str(error) else ""
        super().__init__(
            f"{topic}[{partition}]: {type(error).__name__}{': ' + text if text else ''}"
        )


@lru_cache(maxsize=65_536)
def _partition_of(key: bytes, partitions: int) -> int:
    """Return the partition of ``key`` as aiokafka's (and Java's) default partitioner does."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


class KafkaSink:
    """Publish a batch's records and wait until each is delivered (or raise)."""

    def __init__(self, app: AppT, *, changelog: str, dead_letter_topic: str) -> None:
        self._app = app
        self._changelog = changelog
        self._dead_letters = dead_letter_topic
        self._partitions: dict[str, int] = {}

    async def deliver(self, emission: Emission) -> dict[int, int]:
        """Publish everything in ``emission``; return the last changelog offset per partition."""
        aio: Any = fi.aiokafka_producer(self._app)
        groups: dict[tuple[str, int], _Records] = {}
        for partition, writes in emission.changelog.items():
            groups[(self._changelog, partition)] = list(writes.items())
        published: list[tuple[str, bytes, bytes | None]] = [*emission.outputs]
        published.extend((topic, key, value) for (topic, key), value in emission.statuses.items())
        for topic, out_key, out_value in published:
            count = self._partitions.get(topic)
            if count is None:
                count = self._partitions[topic] = len(await aio.partitions_for(topic))
            groups.setdefault((topic, _partition_of(out_key, count)), []).append(
                (out_key, out_value)
            )
        sent: list[tuple[str, int | None, _Records]] = []
        submits: list[Any] = []
        for (topic, tp_partition), records in groups.items():
            for chunk, builder in _builders(aio, records):
                sent.append((topic, tp_partition, chunk))
                submits.append(aio.send_batch(builder, topic, partition=tp_partition))
        for key, value in emission.dead_letters:
            sent.append((self._dead_letters, None, [(key, value)]))
            submits.append(aio.send(self._dead_letters, value, key=key))
        futures = await asyncio.gather(*submits, return_exceptions=True)
        waiting = [f for f in futures if not isinstance(f, BaseException)]
        results = iter(await asyncio.gather(*waiting, return_exceptions=True))
        offsets: dict[int, int] = {}
        for (topic, where, chunk), future in zip(sent, futures, strict=True):
            result = future if isinstance(future, BaseException) else next(results)
            if isinstance(result, MessageSizeTooLargeError) and len(chunk) > 1:
                last = await _one_by_one(aio, topic, where, chunk)
            elif isinstance(result, BaseException):
                raise DeliveryError(topic, where, result)
            else:
                last = result.offset + len(chunk) - 1
            if topic == self._changelog and where is not None:
                offsets[where] = max(last, offsets.get(where, -1))
        return offsets


def _builders(aio: Any, records: _Records) -> list[tuple[_Records, Any]]:
    """Split ``records`` into closed aiokafka record batches, in order."""
    out: list[tuple[_Records, Any]] = []
    builder = aio.create_batch()
    chunk: _Records = []
    for key, value in records:
        if builder.append(key=key, value=value, timestamp=None) is None:  # full
            builder.close()
            out.append((chunk, builder))
            builder = aio.create_batch()
            chunk = []
            builder.append(key=key, value=value, timestamp=None)  # the first always fits
        chunk.append((key, value))
    builder.close()  # closed: no linger, sent in the producer's next turn
    out.append((chunk, builder))
    return out


async def _one_by_one(aio: Any, topic: str, partition: int | None, chunk: _Records) -> int:
    """Send a refused batch's records one at a time (aiokafka does not split batches)."""
    log.warning(
        "delivery.split",
        topic=topic,
        partition=partition,
        records=len(chunk),
        why="the record batch is larger than the topic's max.message.bytes",
    )
    last = -1
    for key, value in chunk:
        try:
            future = await aio.send(topic, value, key=key, partition=partition)
            last = (await future).offset
        except Exception as error:
            raise DeliveryError(topic, partition, error) from error
    return last


class TableStore:
    """The faust table's store, read and written per partition outside stream iteration."""

    def __init__(self, table: TableT[Any, Any], *, rocksdb: bool) -> None:
        self._table = table
        self._rocksdb = rocksdb
        self._changelog = fi.changelog_topic(table)

    def get_many(self, partition: int, keys: Sequence[bytes]) -> list[bytes | None]:
        """Return the stored value of each key (None where there is none)."""
        if self._rocksdb:
            db: Any = fi.partition_db(self._table, partition)
            values: list[bytes | None] = db.get(list(keys))
            return values
        data = fi.memory_dict(self._table)
        return [data.get(key) for key in keys]

    def write(
        self, partition: int, writes: Mapping[bytes, bytes | None], changelog_offset: int | None
    ) -> None:
        """Write ``writes`` (None: delete) at once, then the changelog offset they reach."""
        if not self._rocksdb:
            data = fi.memory_dict(self._table)
            for key, value in writes.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            return
        batch = fi.write_batch()
        for key, value in writes.items():
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        fi.partition_db(self._table, partition).write(batch)
        if changelog_offset is not None:
            fi.set_persisted_offset(self._table, self._changelog, partition, changelog_offset)

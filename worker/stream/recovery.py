"""After each rebalance: rebuild the agent's partitions from the table, before consumption resumes.

faust calls :meth:`Recovery.on_recover` once the table's partitions are restored. For the
owned partitions it rebuilds the deadline index and the running-target gauges from every
stored state, sets each input partition's clock behind or caught up from the group's
committed offsets, and publishes again the outputs a crash may have lost (docs/operating.md,
reliability): every one is delivered before consumption resumes. Until it is done the
worker is not ready (/readyz).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Final

from faust.types import TP, AppT, TableT
from mode import BaseSignalT

from worker.edge.logs import get_logger
from worker.edge.metrics import Metrics
from worker.edge.settings import Settings
from worker.edge.state_codec import peek_state
from worker.stream.agent import Agent, Emission, Partition
from worker.stream.faust_internals import active_items
from worker.stream.health import Health
from worker.stream.kafka_admin import connect_admin, kafka_client_options

__all__ = ["Recovery"]

log = get_logger("sla-worker")

# Ticket states stored before the message that made them emit was recorded: on recovery,
# their outputs emitted within this window before the partition's newest emission are
# published again (what a crash can lose was emitted after the last commit, and faust
# commits every 2.8 s, flushing the producer first; 15 s is five times that). States that
# record it are re-published exactly when that message is not committed (on_recover).
_REEMIT_WINDOW_S: Final = 15.0
# A rebuild of a million tickets takes seconds: yield to the HTTP server this often.
_REBUILD_YIELD_EVERY: Final = 1_000
# Outputs republished per delivery round (each round awaited before the next).
_REEMIT_BATCH: Final = 1_000


class Recovery:
    """The rebalance callbacks of the worker, and the Kafka clients they need."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        agent: Agent,
        health: Health,
        *,
        app: AppT,
        table: TableT[Any, Any],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.agent = agent
        self.health = health
        self.app = app
        self.table = table
        self._admin: Any = None
        self._probe: Any = None

    async def on_revoked(
        self, sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any
    ) -> None:
        """Rebalance begins: not ready until the partitions are rebuilt after recovery."""
        self.health.set_ready(False)
        log.info("partitions.revoked")

    async def on_assigned(
        self, sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any
    ) -> None:
        """Log each new assignment (recovery follows before consumption resumes)."""
        assigned = args[0] if args else kwargs.get("assigned", set())
        log.info(
            "partitions.assigned",
            partitions=sorted(
                {tp.partition for tp in assigned if tp.topic == self.agent.tick_topic}
            ),
        )

    async def on_recover(self) -> None:
        """Recovery done: rebuild clocks, indexes and gauges for the owned partitions."""
        started = time.monotonic()
        assigned = {
            tp.partition
            for tp in self.app.assignor.assigned_actives()
            if tp.topic in self.settings.input_topics
        }
        partitions = {p: Partition() for p in assigned}
        running = self.metrics.rebuild_running()
        # Where the group resumes: outputs caused by a message at or past it may never have
        # reached Kafka (faust flushes the producer, then commits), and reprocessing that
        # message emits nothing (its event is already in the state): publish them again.
        tick_topic = self.agent.tick_topic
        committed = await self._committed(
            [TP(t, p) for t in (*self.settings.input_topics, tick_topic) for p in assigned]
        )
        unsure: list[tuple[int, bytes]] = []
        # States stored before the causing message was kept: the last seconds' emissions.
        legacy: dict[int, list[tuple[float, bytes]]] = {p: [] for p in assigned}
        stored = active_items(self.table, rocksdb=self.settings.store == "rocksdb")
        for count, (key, raw) in enumerate(stored, start=1):  # awaits below
            summary = peek_state(raw)
            part = partitions.get(summary.partition)
            if part is None:
                continue
            part.index.set(key.decode(), summary.due_at)
            running.add(summary.running)
            emitted = summary.emitted
            if emitted is None:
                pass
            elif emitted.topic is None or emitted.offset is None:
                legacy[summary.partition].append((emitted.at, key))
            elif emitted.offset >= committed.get(TP(emitted.topic, summary.partition), -1):
                unsure.append((summary.partition, key))
            if count % _REBUILD_YIELD_EVERY == 0:
                await asyncio.sleep(0)  # keep /healthz and /metrics answering meanwhile
        for p, entries in legacy.items():
            newest = max((at for at, _ in entries), default=0.0)
            unsure.extend((p, key) for at, key in entries if at >= newest - _REEMIT_WINDOW_S)
        await self._positions(partitions, committed)
        self.agent.partitions = partitions
        self.metrics.clear_partitions()
        for p, part in partitions.items():
            self.metrics.set_partition_caught_up(p, part.clock.caught_up)
        running.done()
        reemitted = await self._reemit(unsure)
        self.health.tick_seen()
        self.health.set_ready(bool(assigned))
        log.info(
            "partitions.recovered",
            partitions=sorted(assigned),
            tickets=sum(len(p.index) for p in partitions.values()),
            reemitted=reemitted,
            seconds=round(time.monotonic() - started, 3),
        )

    async def close(self) -> None:
        """Release the admin and probe connections."""
        if self._admin is not None:
            await self._admin.close()
            self._admin = None
        if self._probe is not None:
            await self._probe.stop()
            self._probe = None

    async def _positions(self, partitions: dict[int, Partition], committed: dict[TP, int]) -> None:
        """Mark each input partition behind when it has messages left to process.

        What is left is measured from the group's committed offset (where consumption
        resumes), not the fetcher's position, which may already be past messages that were
        fetched but not yet processed.
        """
        tps = [TP(t, p) for t in self.settings.input_topics for p in partitions]
        if not tps:
            return
        # A probe of our own: the consumer's requests queue behind its long fetch polls.
        if self._probe is None:
            from aiokafka import AIOKafkaConsumer

            self._probe = AIOKafkaConsumer(
                bootstrap_servers=self.settings.bootstrap,
                group_id=None,
                **kafka_client_options(self.settings),
            )
            await self._probe.start()
        ends = {_tp(k): v for k, v in (await self._probe.end_offsets(tps)).items()}
        earliest = {_tp(k): v for k, v in (await self._probe.beginning_offsets(tps)).items()}
        for tp in tps:
            end = ends.get(tp)
            first = earliest.get(tp) or 0
            start = committed.get(tp)
            if start is None or start <= first:
                # Nothing committed past the start: faust's seek to the committed offset
                # is a no-op at offset 0, and what it fetched while recovering would be
                # skipped. Rewind explicitly (a crash before the first commit loses nothing).
                start = first
                await self.app.consumer.seek(tp, first)
            behind = end is not None and start < end
            partitions[tp.partition].clock.set_behind(tp.topic, behind)

    async def _committed(self, tps: list[TP]) -> dict[TP, int]:
        """Return the consumer group's committed offsets of ``tps`` (-1 where none)."""
        from aiokafka.structs import TopicPartition

        if self._admin is None:
            self._admin = await connect_admin(self.settings)
        offsets = await self._admin.list_consumer_group_offsets(
            self.settings.app_id, partitions=[TopicPartition(tp.topic, tp.partition) for tp in tps]
        )
        return {TP(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}

    async def _reemit(self, keys: list[tuple[int, bytes]]) -> int:
        """Publish again every output the tickets ``keys`` emitted (same ids); return how many.

        ``keys`` are ``(partition, key)``. Every output is delivered before this returns.
        """
        now = datetime.now(UTC)
        count = 0
        emission = Emission()
        for partition, key in keys:
            state, _ = self.agent.load(partition, key)
            if state is None:
                continue
            outputs = self.agent.tracker.emitted_outputs(state, detected_at=now)
            emission.outputs.extend(self.agent.output_records(outputs))
            if len(emission.outputs) >= _REEMIT_BATCH:
                await self.agent.sink.deliver(emission)
                count += len(emission.outputs)
                emission = Emission()
        if emission:
            await self.agent.sink.deliver(emission)
            count += len(emission.outputs)
        return count


def _tp(tp: Any) -> TP:
    """Return faust's TP for an aiokafka TopicPartition."""
    return TP(tp.topic, tp.partition)

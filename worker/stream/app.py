"""The streaming worker: the SLA core wired to Kafka with faust.

The only module that imports faust. One agent (concurrency 1, at-least-once) consumes the
input topics and the internal tick topic, co-partitioned by ticket id:

- an input message is decoded by the codec (invalid ones go to the dead-letter topic with
  their exact bytes), applied to the ticket's state by the tracker, stored in the table, and
  its outputs are published;
- a tick message for partition ``p`` (sent by a timer to every owned partition, because a
  table can only be written inside a stream event) advances the tickets whose due instant
  the partition's clock has reached.

The per-partition deadline index and clock live in memory and are rebuilt from the table
after every rebalance, before consumption resumes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import faust
from aiohttp import web
from faust.types import TP, EventT, StreamT
from faust.types.tuples import Message
from mode import BaseSignalT

from worker.core.clock import PartitionClock
from worker.core.events import (
    DeadLetter,
    InputEvent,
    OutputEvent,
    SlaBreached,
    SlaOutcome,
    SlaWarning,
    TargetFulfilled,
)
from worker.core.policy import Policy
from worker.core.schedule import DeadlineIndex
from worker.core.tracker import RunningTarget, TicketState, Tracker
from worker.edge.codec import (
    MAX_MESSAGE_BYTES,
    Rejected,
    decode_message,
    encode_dead_letter,
    encode_output,
)
from worker.edge.logs import get_logger
from worker.edge.metrics import Metrics
from worker.edge.settings import Settings
from worker.edge.state_codec import LastEmission, decode_state, encode_state, peek_state
from worker.stream.kafka_admin import DEAD_LETTER_MAX_BYTES, connect_admin, kafka_client_options

__all__ = ["SlaWorker", "create_app"]

log = get_logger("sla-worker")

# Tickets advanced per partition per tick: bounds how long one tick holds the agent (input
# keeps flowing between ticks); at 4 ticks/s that is 8,000 deadlines/s per partition.
_TICK_BATCH: Final = 2_000
# A tick not processed within this long is presumed lost (e.g. across a rebalance) and sent
# again; until then no second tick is queued behind it, so ticks never pile up.
_TICK_RESEND_S: Final = 30.0
# Ticket states stored before the message that made them emit was recorded: on recovery,
# their outputs emitted within this window before the partition's newest emission are
# published again (what a crash can lose was emitted after the last commit, and faust
# commits every 2.8 s, flushing the producer first; 15 s is five times that). States that
# record it are re-published exactly when that message is not committed (_on_recover).
_REEMIT_WINDOW_S: Final = 15.0
# A rebuild of a million tickets takes seconds: yield to the HTTP server this often.
_REBUILD_YIELD_EVERY: Final = 1_000
# RocksDB memory, per partition's database. faust's defaults are a 2 GiB block cache and
# three 64 MiB memtables for each of them: a worker owning 8 partitions could grow past 17 GiB.
# Ticket states are a few hundred bytes and the hot ones are recent (in the memtables); the
# rest is read through the OS page cache. So: two 4 MiB memtables and an 8 MiB block cache
# each, at most 128 MiB for 8 partitions, whatever the number of tickets.
_ROCKSDB_OPTIONS: Final = {
    "write_buffer_size": 4 * 2**20,
    "max_write_buffer_number": 2,
    "block_cache_size": 8 * 2**20,
}
# Ticks make a round trip through Kafka; /readyz reports an outage when none has come back
# for this long (a few hundred ticks normally would have).
_TICK_SILENCE_S: Final = 10.0
# /healthz fails when the deadline timer has not run for this many tick intervals.
_HEALTH_TICKS: Final = 20


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Partition:
    """In-memory state of one owned partition: its clock and its deadline index."""

    clock: PartitionClock = field(default_factory=PartitionClock)
    index: DeadlineIndex = field(default_factory=DeadlineIndex)
    tick_sent_at: float | None = None


class SlaWorker:
    """The faust app and everything the agent needs, built by :func:`create_app`."""

    def __init__(
        self, settings: Settings, metrics: Metrics, *, policy: Policy, partitions: int
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.policy = policy
        self.tracker = Tracker(policy, retention=timedelta(seconds=settings.retention_s))
        self.grace = timedelta(seconds=settings.grace_s)
        self.max_future = timedelta(seconds=settings.max_future_s)
        self.tiers = frozenset(policy.tiers)
        self.priorities = frozenset(policy.priorities)
        self.tick_topic = f"{settings.app_id}-ticks"
        self.partitions: dict[int, _Partition] = {}
        self.ready = False
        self.timer_ran_at = time.monotonic()
        self.tick_seen_at = time.monotonic()
        self._admin: Any = None
        self._probe: Any = None

        self.app = faust.App(
            settings.app_id,
            broker=settings.broker,
            broker_credentials=_credentials(settings),
            store="rocksdb://" if settings.store == "rocksdb" else "memory://",
            datadir=settings.data_dir,
            topic_partitions=partitions,
            topic_allow_declare=True,
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            processing_guarantee="at_least_once",
            # A worker that dies without leaving the group hands its partitions (and their
            # deadlines) over after the session timeout: 10 s rather than faust's 60 s.
            broker_session_timeout=10.0,
            broker_heartbeat_interval=1.0,
            broker_rebalance_timeout=30.0,
            producer_acks=-1,
            # Why linger: every event writes the changelog and most publish outputs; without
            # it aiokafka sends a produce request of three or four messages at a time, and the
            # requests cost more CPU than the messages. 10 ms adds at most that to a breach.
            producer_linger_ms=10,
            producer_max_request_size=DEAD_LETTER_MAX_BYTES,  # dead letters carry big inputs
            web_enabled=False,  # our own aiohttp server serves the three paths, no more
            web_tables_enabled=False,
            autodiscover=False,
            logging_config=None,
        )
        raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
        self.source = self.app.topic(*settings.input_topics, self.tick_topic, **raw)
        self.ticks = self.app.topic(self.tick_topic, **raw)
        self.targets = {
            SlaWarning: self.app.topic(settings.warning_topic, **raw),
            SlaBreached: self.app.topic(settings.breach_topic, **raw),
            SlaOutcome: self.app.topic(settings.outcome_topic, **raw),
        }
        self.dead_letters = self.app.topic(settings.dead_letter_topic, **raw)
        self.table = self.app.Table(
            "tickets",
            partitions=partitions,
            on_recover=self._on_recover,
            key_type=bytes,  # bytes means faust's "raw" codec: our codec owns the format
            value_type=bytes,
            options=_ROCKSDB_OPTIONS,
        )
        self.app.agent(self.source, name="sla-tracker", concurrency=1)(self._process)
        self.app.timer(settings.tick_interval_s)(self._send_ticks)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_partitions_assigned.connect(self._on_assigned)

    # --- the agent --------------------------------------------------------------------------

    async def _process(self, stream: StreamT[bytes]) -> None:
        """Decode, apply, persist, emit: one message at a time."""
        async for event in stream.events():
            message = event.message
            if message.topic == self.tick_topic:
                await self._on_tick(message)
            else:
                await self._on_input(event)

    async def _on_input(self, event: EventT[bytes]) -> None:
        message = event.message
        wall = _utcnow()
        part = self._partition(message.partition)
        self._observe_position(part, message)
        decoded = self._decode(message, wall)
        if isinstance(decoded, Rejected):
            await self._dead_letter(message, decoded, wall)
            return
        part.clock.observe(decoded.occurred_at)
        clock = part.clock.now(wall, self.grace) or decoded.occurred_at
        key = message.key or b""
        state, last = self._load(key)
        new_state, outputs = self.tracker.apply(state, decoded, clock)
        lag_s = (wall - decoded.occurred_at).total_seconds()
        if new_state is state:
            self.metrics.observe_event(decoded.type, "duplicate", lag_s)
            return
        await self._emit(outputs, wall)
        self._store(part, message, key, state, new_state, outputs, last, wall)
        self.metrics.observe_event(decoded.type, "ok", lag_s)

    async def _on_tick(self, message: Message) -> None:
        self.tick_seen_at = time.monotonic()
        partition = message.partition
        part = self.partitions.get(partition)
        if part is None:
            return
        part.tick_sent_at = None
        wall = _utcnow()
        clock = part.clock.now(wall, self.grace)
        if clock is None:
            return
        for ticket_id in part.index.pop_due(clock, limit=_TICK_BATCH):
            key = ticket_id.encode()
            state, last = self._load(key)
            if state is None:
                continue
            new_state, outputs = self.tracker.advance(state, clock)
            await self._emit(outputs, wall)
            self._store(part, message, key, state, new_state, outputs, last, wall)

    # --- helpers of the agent -----------------------------------------------------------------

    def _decode(self, message: Message, wall: datetime) -> InputEvent | Rejected:
        value = message.value
        if not isinstance(value, bytes | bytearray):
            return Rejected("invalid_json", "value: the message has no value (a tombstone)")
        decoded = decode_message(
            message.key,
            bytes(value),
            tiers=self.tiers,
            priorities=self.priorities,
            max_bytes=MAX_MESSAGE_BYTES,
        )
        if not isinstance(decoded, Rejected) and decoded.occurred_at > wall + self.max_future:
            return Rejected(
                "invalid_event",
                f"occurred_at: {decoded.occurred_at.isoformat()} is more than "
                f"{self.settings.max_future_s}s in the future",
            )
        return decoded

    async def _dead_letter(self, message: Message, rejected: Rejected, wall: datetime) -> None:
        value = message.value if isinstance(message.value, bytes | bytearray) else b""
        timestamp = datetime.fromtimestamp(message.timestamp, UTC) if message.timestamp else None
        dead = DeadLetter(
            reason=rejected.reason,
            error=rejected.error,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            timestamp=timestamp,
            key=message.key,
            payload=bytes(value),
        )
        await self.dead_letters.send(
            key=message.key, value=encode_dead_letter(dead, detected_at=wall)
        )
        self.metrics.observe_dead_letter(rejected.reason)
        self.metrics.observe_event("unknown", "dead_letter")
        log.warning(
            "message.dead_lettered",
            reason=rejected.reason,
            error=rejected.error,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )

    def _observe_position(self, part: _Partition, message: Message) -> None:
        """Track whether this input partition is behind its end (docs/events.md, the clock)."""
        highwater = self.app.consumer.highwater(TP(message.topic, message.partition))
        behind = highwater is None or message.offset + 1 < highwater
        if part.clock.caught_up == behind:  # state changes: tell metrics
            part.clock.set_behind(message.topic, behind)
            self.metrics.set_partition_caught_up(message.partition, part.clock.caught_up)
        else:
            part.clock.set_behind(message.topic, behind)

    def _partition(self, partition: int) -> _Partition:
        part = self.partitions.get(partition)
        if part is None:
            part = self.partitions[partition] = _Partition()
        return part

    def _load(self, key: bytes) -> tuple[TicketState | None, LastEmission | None]:
        """Return the stored state of a ticket and its last emission."""
        raw = self.table.get(key)
        return (None, None) if raw is None else decode_state(raw)

    def _store(
        self,
        part: _Partition,
        cause: Message,
        key: bytes,
        old: TicketState | None,
        new: TicketState | None,
        outputs: list[OutputEvent],
        last: LastEmission | None,
        wall: datetime,
    ) -> None:
        """Persist the new state (or forget the ticket) and keep index and gauges in step.

        ``cause`` is the message (input event or tick) being processed: when it made the
        ticket emit, the state records it, so a recovery knows whether those outputs may
        have been lost (see ``_on_recover``).
        """
        ticket_id = key.decode()
        before: tuple[RunningTarget, ...] = () if old is None else old.running
        if new is None:
            self.table.pop(key, None)
            part.index.set(ticket_id, None)
            self.metrics.update_running(before, ())
            return
        if outputs:
            last = LastEmission(wall.timestamp(), cause.topic, cause.offset)
        self.table[key] = encode_state(new, partition=cause.partition, emitted=last)
        part.index.set(ticket_id, new.due_at)
        if before != new.running:
            self.metrics.update_running(before, new.running)

    async def _emit(self, outputs: Iterable[OutputEvent], wall: datetime) -> None:
        outputs = list(outputs)
        for output in outputs:
            if isinstance(output, TargetFulfilled):
                continue
            topic = self.targets[type(output)]
            await topic.send(key=output.ticket_id.encode(), value=encode_output(output))
            if isinstance(output, SlaBreached):
                log.info(
                    "sla.breached",
                    ticket_id=output.ticket_id,
                    target=output.target,
                    tier=output.tier,
                    priority=output.priority,
                )
        self.metrics.observe_outputs(outputs)

    # --- timer, rebalance, recovery -------------------------------------------------------

    async def _send_ticks(self) -> None:
        """Queue a tick on every owned partition that has none in flight."""
        self.timer_ran_at = time.monotonic()
        self.metrics.timer_ran(_utcnow())
        now = time.monotonic()
        for tp in self.app.assignor.assigned_actives():
            if tp.topic != self.tick_topic:
                continue
            part = self.partitions.get(tp.partition)
            if part is None:
                continue
            if part.tick_sent_at is not None and now - part.tick_sent_at < _TICK_RESEND_S:
                continue
            part.tick_sent_at = now
            await self.ticks.send(key=None, value=b"", partition=tp.partition)

    async def _on_revoked(
        self, sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any
    ) -> None:
        """Rebalance begins: not ready until the partitions are rebuilt after recovery."""
        self.ready = False
        log.info("partitions.revoked")

    async def _on_assigned(
        self, sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any
    ) -> None:
        """Log each new assignment (recovery follows before consumption resumes)."""
        assigned = args[0] if args else kwargs.get("assigned", set())
        log.info(
            "partitions.assigned",
            partitions=sorted({tp.partition for tp in assigned if tp.topic == self.tick_topic}),
        )

    async def _on_recover(self) -> None:
        """Recovery done: rebuild clocks, indexes and gauges for the owned partitions."""
        started = time.monotonic()
        assigned = {
            tp.partition
            for tp in self.app.assignor.assigned_actives()
            if tp.topic in self.settings.input_topics
        }
        partitions = {p: _Partition() for p in assigned}
        running = self.metrics.rebuild_running()
        # Where the group resumes: outputs caused by a message at or past it may never have
        # reached Kafka (faust flushes the producer, then commits), and reprocessing that
        # message emits nothing (its event is already in the state): publish them again.
        committed = await self._committed(
            [TP(t, p) for t in (*self.settings.input_topics, self.tick_topic) for p in assigned]
        )
        unsure: list[bytes] = []
        # States stored before the causing message was kept: the last seconds' emissions.
        legacy: dict[int, list[tuple[float, bytes]]] = {p: [] for p in assigned}
        for count, (key, raw) in enumerate(self._stored_states(), start=1):  # awaits below
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
                unsure.append(key)
            if count % _REBUILD_YIELD_EVERY == 0:
                await asyncio.sleep(0)  # keep /healthz and /metrics answering meanwhile
        for entries in legacy.values():
            newest = max((at for at, _ in entries), default=0.0)
            unsure.extend(key for at, key in entries if at >= newest - _REEMIT_WINDOW_S)
        await self._positions(partitions, committed)
        self.partitions = partitions
        self.metrics.clear_partitions()
        for p, part in partitions.items():
            self.metrics.set_partition_caught_up(p, part.clock.caught_up)
        running.done()
        reemitted = await self._reemit(unsure)
        self.tick_seen_at = time.monotonic()
        self.ready = bool(assigned)
        log.info(
            "partitions.recovered",
            partitions=sorted(assigned),
            tickets=sum(len(p.index) for p in partitions.values()),
            reemitted=reemitted,
            seconds=round(time.monotonic() - started, 3),
        )

    def _stored_states(self) -> Iterator[tuple[bytes, bytes]]:
        """Yield every stored ``(key, state)`` of the owned partitions, once each.

        The rebuild awaits between states, and standby partitions are already being
        restored then (faust resumes them before calling ``on_recover``): a restore may
        open a partition's database, adding it to the store's dict of databases, which
        would break ``table.items()`` (it walks that dict lazily) with "dictionary changed
        size during iteration". So the databases of the active partitions are listed first,
        then each is read through a RocksDB iterator, which reads a snapshot. Both are
        methods of faust's RocksDB store (faust-streaming is pinned). The memory store is a
        dict of every key: copied before the walk.
        """
        if self.settings.store != "rocksdb":
            yield from list(self.table.items())
            return
        store: Any = self.table.data
        for db in list(store._dbs_for_actives()):
            yield from store._visible_items(db)

    async def _positions(self, partitions: dict[int, _Partition], committed: dict[TP, int]) -> None:
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

    async def close(self) -> None:
        """Release the admin and probe connections."""
        if self._admin is not None:
            await self._admin.close()
            self._admin = None
        if self._probe is not None:
            await self._probe.stop()
            self._probe = None

    async def _reemit(self, keys: list[bytes]) -> int:
        """Publish again every output the tickets ``keys`` emitted (same ids); return how many."""
        count = 0
        now = _utcnow()
        for key in keys:
            state, _ = self._load(key)
            if state is None:
                continue
            for output in self.tracker.emitted_outputs(state, detected_at=now):
                if isinstance(output, TargetFulfilled):
                    continue
                await self.targets[type(output)].send(
                    key=output.ticket_id.encode(), value=encode_output(output)
                )
                count += 1
        return count

    # --- HTTP -------------------------------------------------------------------------------

    def web_app(self) -> web.Application:
        """Return the aiohttp application serving /metrics, /healthz and /readyz only."""
        routes = web.RouteTableDef()

        @routes.get("/metrics")
        async def metrics(request: web.Request) -> web.Response:
            body, content_type = self.metrics.render(request.headers.get("Accept"), _utcnow())
            response = web.Response(body=body)
            response.headers["Content-Type"] = content_type
            return response

        @routes.get("/healthz")
        async def healthz(request: web.Request) -> web.Response:
            stale_s = time.monotonic() - self.timer_ran_at
            if self.ready and stale_s > _HEALTH_TICKS * self.settings.tick_interval_s:
                return web.Response(status=503, text=f"deadline timer stalled {stale_s:.1f}s\n")
            return web.Response(text="ok\n")

        @routes.get("/readyz")
        async def readyz(request: web.Request) -> web.Response:
            if not self.ready:
                return web.Response(
                    status=503, text="not ready: partitions not assigned or not recovered\n"
                )
            silent_s = time.monotonic() - self.tick_seen_at
            if silent_s > _TICK_SILENCE_S:
                return web.Response(
                    status=503,
                    text=f"not ready: no deadline tick came back through Kafka for "
                    f"{silent_s:.0f}s (broker unreachable, or the worker overloaded)\n",
                )
            return web.Response(text="ready\n")

        application = web.Application()
        application.add_routes(routes)
        return application


def _tp(tp: Any) -> TP:
    """Return faust's TP for an aiokafka TopicPartition."""
    return TP(tp.topic, tp.partition)


def _credentials(settings: Settings) -> Any:
    """Return faust credentials giving its clients the security of our own aiokafka clients.

    faust turns them back into aiokafka options (``credentials_to_aiokafka_auth``):
    SSLCredentials for TLS alone; SASLCredentials for SASL, whose protocol is SASL_SSL
    exactly when it has an SSL context, with the mechanism by name (PLAIN, SCRAM-SHA-256,
    SCRAM-SHA-512) and the username and password as aiokafka's ``sasl_plain_*`` for all.
    """
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    options = kafka_client_options(settings)
    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        ssl_context=options.get("ssl_context"),
        mechanism=settings.kafka_sasl_mechanism,
    )


def create_app(
    settings: Settings, metrics: Metrics, *, policy: Policy, partitions: int
) -> SlaWorker:
    """Build the worker: faust app, topics, table, agent, timer and HTTP application."""
    return SlaWorker(settings, metrics, policy=policy, partitions=partitions)


class _Worker(faust.Worker):
    """faust's worker, plus our HTTP server started first and stopped last."""

    def __init__(self, sla: SlaWorker, **kwargs: Any) -> None:
        super().__init__(sla.app, **kwargs)
        # faust's terminal spinner writes escape codes before log lines even when stdout is
        # not a terminal, which breaks JSON log parsers.
        self.spinner = None
        self._sla = sla
        self._runner: web.AppRunner | None = None

    async def on_first_start(self) -> None:
        """Serve /metrics, /healthz and /readyz before recovery starts."""
        self._runner = web.AppRunner(self._sla.web_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._sla.settings.web_host, self._sla.settings.web_port)
        await site.start()
        log.info(
            "http.listening",
            host=self._sla.settings.web_host,
            port=self._sla.settings.web_port,
        )
        await super().on_first_start()

    async def on_shutdown(self) -> None:
        """Stop the HTTP server after the consumer and producer have stopped."""
        await super().on_shutdown()
        await self._sla.close()
        if self._runner is not None:
            await self._runner.cleanup()
        log.info("worker.stopped")


def run_worker(settings: Settings, policy: Policy, partitions: int) -> None:
    """Run the worker until SIGTERM or SIGINT; exits 0 after a clean shutdown."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    metrics = Metrics(policy)
    sla = create_app(settings, metrics, policy=policy, partitions=partitions)
    worker = _Worker(
        sla,
        loop=loop,
        loglevel=settings.log_level.upper(),
        override_logging=False,
        redirect_stdouts=False,
        quiet=True,
    )
    log.info(
        "worker.starting",
        app_id=settings.app_id,
        policy=policy.name,
        inputs=list(settings.input_topics),
        partitions=partitions,
        store=settings.store,
    )
    worker.execute_from_commandline()

"""The streaming worker's faust wiring: the App, its topics, table, agent and timer.

The only module that builds faust objects. What runs per message is
:mod:`worker.stream.agent`; what runs after a rebalance, :mod:`worker.stream.recovery`;
the HTTP server, :mod:`worker.stream.http_server`. :func:`create_app` connects them to one
faust App: the agent (concurrency 1, at-least-once) consumes the input topics and the
internal tick topic, co-partitioned by ticket id; the timer sends ticks; the table's
recovery callback rebuilds the agent's partitions. :func:`run_worker` runs it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any, Final

import faust
from aiohttp import web
from faust.types import TP, StreamT

from worker.core.events import OutputEvent, SlaBreached, SlaOutcome, SlaWarning
from worker.core.policy import Policy
from worker.edge.logs import get_logger
from worker.edge.metrics import Metrics
from worker.edge.settings import Settings
from worker.stream.agent import Agent, Channel, Outputs
from worker.stream.health import Health
from worker.stream.http_server import start_http, web_app
from worker.stream.kafka_admin import (
    DEAD_LETTER_MAX_BYTES,
    kafka_client_options,
    tick_topic,
)
from worker.stream.recovery import Recovery

__all__ = ["SlaWorker", "create_app", "run_worker"]

log = get_logger("sla-worker")

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


class SlaWorker:
    """The faust app wired to the agent, the recovery and the health state."""

    def __init__(
        self, settings: Settings, metrics: Metrics, *, policy: Policy, partitions: int
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.policy = policy
        self.health = Health(tick_interval_s=settings.tick_interval_s)
        self.tick_topic = tick_topic(settings)
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
        targets: dict[type[OutputEvent], Channel] = {
            SlaWarning: self.app.topic(settings.warning_topic, **raw),
            SlaBreached: self.app.topic(settings.breach_topic, **raw),
            SlaOutcome: self.app.topic(settings.outcome_topic, **raw),
        }
        dead_letters = self.app.topic(settings.dead_letter_topic, **raw)
        self.table = self.app.Table(
            "tickets",
            partitions=partitions,
            key_type=bytes,  # bytes means faust's "raw" codec: our codec owns the format
            value_type=bytes,
            options=_ROCKSDB_OPTIONS,
        )
        self.agent = Agent(
            settings,
            metrics,
            policy=policy,
            table=self.table,
            outputs=Outputs(targets, dead_letters),
            highwater=self._highwater,
            health=self.health,
            tick_topic=self.tick_topic,
        )
        self.recovery = Recovery(
            settings, metrics, self.agent, self.health, app=self.app, table=self.table
        )
        self.table.on_recover(self.recovery.on_recover)
        self.app.agent(self.source, name="sla-tracker", concurrency=1)(self._process)
        self.app.timer(settings.tick_interval_s)(self._send_ticks)
        self.app.on_partitions_revoked.connect(self.recovery.on_revoked)
        self.app.on_partitions_assigned.connect(self.recovery.on_assigned)

    async def _process(self, stream: StreamT[bytes]) -> None:
        """Hand each message of the faust stream to the agent, one at a time."""
        async for event in stream.events():
            await self.agent.handle(event.message)

    async def _send_ticks(self) -> None:
        """Queue a tick on every owned partition that has none in flight (the timer)."""
        self.health.timer_ran()
        self.metrics.timer_ran(datetime.now(UTC))
        owned = (
            tp.partition
            for tp in self.app.assignor.assigned_actives()
            if tp.topic == self.tick_topic
        )
        for partition in self.agent.ticks_due(owned, time.monotonic()):
            await self.ticks.send(key=None, value=b"", partition=partition)

    def _highwater(self, topic: str, partition: int) -> int | None:
        """Return the end offset of the consumer's latest fetch of a partition (None: none yet)."""
        return self.app.consumer.highwater(TP(topic, partition))


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
    """Build the worker: faust app, topics, table, agent, timer and recovery callbacks."""
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
        settings = self._sla.settings
        self._runner = await start_http(
            web_app(self._sla.metrics, self._sla.health), settings.web_host, settings.web_port
        )
        log.info("http.listening", host=settings.web_host, port=settings.web_port)
        await super().on_first_start()

    async def on_shutdown(self) -> None:
        """Stop the HTTP server after the consumer and producer have stopped."""
        await super().on_shutdown()
        await self._sla.recovery.close()
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

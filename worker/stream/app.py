"""The streaming worker's faust wiring: the App, its topics, table, agent and timer.

The only module that builds faust objects. What runs per batch is
:mod:`worker.stream.agent` (publishing through :mod:`worker.stream.delivery`); what runs
after a rebalance, :mod:`worker.stream.recovery`; the HTTP server,
:mod:`worker.stream.http_server`. :func:`create_app` connects them to one faust App: the
agent (concurrency 1, at-least-once) consumes the input topics and the internal tick topic,
co-partitioned by ticket id, in batches; the timer sends ticks; the table's recovery
callback rebuilds the agent's partitions. :func:`run_worker` runs it.

The agent's messages come from faust's fetcher in batches (``faust_internals.BatchFeed``:
faust's conductor and stream are bypassed for them, not for the changelog); a batch's
offsets become committable only after everything it produced is delivered and stored
(``faust_internals.ack``). When a delivery or a store write fails, the
worker fences every later commit, logs one line and stops itself with SIGTERM; it exits
with :data:`EXIT_IO_ERROR`, and a restart redoes the batch. A stop (SIGTERM, SIGINT or
that failure) that has not finished after ``SLA_SHUTDOWN_GRACE`` (8 s; the broker gone,
say) ends the process with :data:`EXIT_SHUTDOWN_INCOMPLETE`, saying what was not done.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import faust
import mode
from aiohttp import web
from faust.types import TP, Message, StreamT

from worker.core.policy import Policy
from worker.edge.logs import get_logger
from worker.edge.metrics import Metrics
from worker.edge.settings import Settings
from worker.stream import faust_internals as fi
from worker.stream.agent import Agent
from worker.stream.delivery import BATCH_BYTES, KafkaSink, TableStore
from worker.stream.health import Health
from worker.stream.http_server import start_http, web_app
from worker.stream.kafka_admin import (
    DEAD_LETTER_MAX_BYTES,
    Partitions,
    changelog_topic,
    kafka_client_options,
    tick_topic,
)
from worker.stream.recovery import Recovery

__all__ = [
    "BATCH_BUFFERED",
    "BATCH_MAX",
    "EXIT_IO_ERROR",
    "EXIT_SHUTDOWN_INCOMPLETE",
    "GC_THRESHOLDS",
    "PRODUCER_REQUEST_TIMEOUT_S",
    "SlaWorker",
    "create_app",
    "run_worker",
    "tune_collector",
]

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
# A batch is what was fetched while the previous one was processed, cut at 1,000 messages
# (measured in bench/bench_worker.py: larger batches gain little); nothing waits for a batch
# to fill, so a quiet worker processes each message as it arrives. At most 4 such lists wait
# (then the fetcher waits): about faust's stream buffer of 4,096 messages.
BATCH_MAX: Final = 1_000
BATCH_BUFFERED: Final = 4
# aiokafka's request timeout, which is also how long a record is retried (broker down,
# leader moving) before its delivery fails; faust's default is 20 minutes. Two minutes rides
# out a broker restart or a leader election; a longer outage stops the worker before any
# offset moves past what was not delivered (docs/operating.md, reliability).
PRODUCER_REQUEST_TIMEOUT_S: Final = 120.0
# The cyclic garbage collector looks at the youngest objects every 50,000 allocations of
# tracked objects rather than Python's 700. A batch allocates a hundred-odd objects per event
# (decoded events, states, datetimes, records), next to none in a reference cycle and all
# freed by reference counting once the batch is done; collected every 700 allocations, the
# live ones of the batch in progress were traversed and promoted again and again for
# nothing: ~15% of the agent's CPU (bench/bench_agent.py, 118 -> 98 us per event). Garbage in
# a cycle is still collected, a few batches later. The older generations keep their ratios
# (a full collection also waits until a quarter of the long-lived objects are new).
GC_THRESHOLDS: Final = (50_000, 20, 100)
EXIT_IO_ERROR: Final = 74  # EX_IOERR: a delivery or a store write failed; nothing committed past it
EXIT_SHUTDOWN_INCOMPLETE: Final = 75  # EX_TEMPFAIL: the stop did not finish (the last commit)


class SlaWorker:
    """The faust app wired to the agent, the recovery and the health state."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        policy: Policy,
        partitions: int,
        replication_factor: int = 1,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.policy = policy
        self.health = Health(tick_interval_s=settings.tick_interval_s)
        self.tick_topic = tick_topic(settings)
        self.failure: BaseException | None = None
        self.watchdog = Watchdog()
        commit: dict[str, Any] = {}
        if settings.commit_interval_s:
            commit = {
                "broker_commit_interval": float(settings.commit_interval_s),
                "broker_commit_every": 2**62,  # by time only: tests stop between the two
            }
        self.app = faust.App(
            settings.app_id,
            broker=settings.broker,
            broker_credentials=_credentials(settings),
            store="rocksdb://" if settings.store == "rocksdb" else "memory://",
            datadir=settings.data_dir,
            topic_partitions=partitions,
            # As `topics create` made the changelog and the ticks (kafka_admin.check_topics).
            topic_replication_factor=replication_factor,
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
            producer_request_timeout=PRODUCER_REQUEST_TIMEOUT_S,
            # The batch path sends closed record batches (no linger); only ticks go through
            # faust's send, and 10 ms of linger groups those of several partitions.
            producer_linger_ms=10,
            producer_max_batch_size=BATCH_BYTES,
            producer_max_request_size=DEAD_LETTER_MAX_BYTES,  # dead letters carry big inputs
            # faust's sensors off (they cost per message); the worker's metrics are its own.
            Monitor=fi.NoopMonitor,
            **commit,
            web_enabled=False,  # our own aiohttp server serves the three paths, no more
            web_tables_enabled=False,
            autodiscover=False,
            logging_config=None,
        )
        fi.install(self.app)  # before any topic or agent: the consumer without wait_first
        raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
        sources = (*settings.input_topics, self.tick_topic)
        self.feed = fi.feed_batches(self.app, sources, batch_max=BATCH_MAX, buffered=BATCH_BUFFERED)
        self.source = self.app.topic(*sources, **raw)
        self.ticks = self.app.topic(self.tick_topic, **raw)
        self.table = self.app.Table(
            "tickets",
            partitions=partitions,
            key_type=bytes,  # bytes means faust's "raw" codec: our codec owns the format
            value_type=bytes,
            options=_ROCKSDB_OPTIONS,
        )
        self.rocksdb = settings.store == "rocksdb"
        self.agent = Agent(
            settings,
            metrics,
            policy=policy,
            store=TableStore(self.table, rocksdb=self.rocksdb),
            sink=KafkaSink(
                self.app,
                changelog=changelog_topic(settings),
                dead_letter_topic=settings.dead_letter_topic,
            ),
            highwater=self._highwater,
            health=self.health,
            tick_topic=self.tick_topic,
        )
        self.recovery = Recovery(
            settings, metrics, self.agent, self.health, app=self.app, table=self.table
        )
        self.table.on_recover(self.recovery.on_recover)
        # CrashingSupervisor: a bug escaping the agent stops the worker rather than restarting
        # the agent on the same stream past the failed batch (faust's default).
        self.app.agent(
            self.source,
            name="sla-tracker",
            concurrency=1,
            supervisor_strategy=mode.CrashingSupervisor,
        )(self._process)
        self.app.timer(settings.tick_interval_s)(self._send_ticks)
        self.app.on_partitions_revoked.connect(self.recovery.on_revoked)
        self.app.on_partitions_assigned.connect(self.recovery.on_assigned)

    async def _process(self, stream: StreamT[bytes]) -> None:
        """Hand the agent the batches of the feed; each batch committable once it is done.

        ``stream`` (faust's, of the same topics) is never iterated: its topics stay
        subscribed through it, their messages come through the feed.
        """
        if self.failure is not None:
            return  # a stopped worker never processes again
        app = self.app
        feed = self.feed
        while True:
            messages = await feed.take(app)
            if not messages:
                continue  # all fetched before a rebalance: faust fetches them again
            try:
                await self.agent.handle_batch(messages)
            except Exception as error:
                self._fail(error, messages)
                return  # returned, not crashed: no supervisor restarts it
            fi.ack(messages, app.consumer)

    def _fail(self, error: BaseException, messages: Sequence[Message]) -> None:
        """Stop the worker before any offset moves past ``messages`` (synchronous: no await)."""
        fi.fence_commits(self.app, f"{type(error).__name__}: {error}")
        fi.drop(messages)
        self.failure = error
        first = messages[0] if messages else None
        log.error(
            "worker.stopping",
            reason="delivery_failed" if _is_delivery(error) else "processing_failed",
            error=_one_line(error),
            batch_topic=None if first is None else first.topic,
            batch_partition=None if first is None else first.partition,
            batch_offset=None if first is None else first.offset,
        )
        self.watchdog.arm(self)
        os.kill(os.getpid(), signal.SIGTERM)  # the same stop as an operator's

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


def _is_delivery(error: BaseException) -> bool:
    from worker.stream.delivery import DeliveryError

    return isinstance(error, DeliveryError)


def _one_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Watchdog:
    """Ends the process if a stop has not finished in ``Settings.shutdown_grace_s``.

    A thread, not the event loop: the loop itself may be stuck (faust joins its consumer
    thread synchronously, and that thread retries the broker forever).
    """

    def __init__(self) -> None:
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def arm(self, sla: SlaWorker) -> None:
        """Start the countdown once (later calls do nothing)."""
        with self._lock:
            if self._timer is not None:
                return
            grace = float(sla.settings.shutdown_grace_s)
            self._timer = threading.Timer(grace, _hard_exit, args=(sla,))
            self._timer.daemon = True
            self._timer.start()


def _hard_exit(sla: SlaWorker) -> None:
    """Log what the stop could not finish and end the process at once."""
    code = EXIT_IO_ERROR if sla.failure is not None else EXIT_SHUTDOWN_INCOMPLETE
    log.error(
        "worker.shutdown_incomplete",
        seconds=sla.settings.shutdown_grace_s,
        exit_code=code,
        not_done="the last offset commit (and leaving the group) was not confirmed: a "
        "restart reprocesses what was not committed; outputs repeat with the same ids",
    )
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    logging.shutdown()
    os._exit(code)


def create_app(
    settings: Settings,
    metrics: Metrics,
    *,
    policy: Policy,
    partitions: int,
    replication_factor: int = 1,
) -> SlaWorker:
    """Build the worker: faust app, topics, table, agent, timer and recovery callbacks."""
    return SlaWorker(
        settings,
        metrics,
        policy=policy,
        partitions=partitions,
        replication_factor=replication_factor,
    )


class _Worker(faust.Worker):
    """faust's worker, plus our HTTP server started first and stopped last."""

    def __init__(self, sla: SlaWorker, **kwargs: Any) -> None:
        super().__init__(sla.app, **kwargs)
        # faust's terminal spinner writes escape codes before log lines even when stdout is
        # not a terminal, which breaks JSON log parsers.
        self.spinner = None
        self._sla = sla
        self._runner: web.AppRunner | None = None

    def _on_sigterm(self) -> None:
        self._stopping("SIGTERM")
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._stopping("SIGINT")
        super()._on_sigint()

    def _stopping(self, signal_name: str) -> None:
        """Say so, and bound the stop (mode's signal handlers call these first)."""
        if self._sla.failure is None:
            log.info("worker.stopping", reason=signal_name)
        self._sla.watchdog.arm(self._sla)

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


def tune_collector() -> None:
    """Set the collector for the worker's batches (:data:`GC_THRESHOLDS`); freeze what exists.

    Called once everything is imported and built: the objects of the modules, of faust and
    of the app go to the permanent generation, which no collection traverses again.
    """
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


def run_worker(settings: Settings, policy: Policy, partitions: int) -> None:
    """Run the worker until SIGTERM or SIGINT; exits 0 after a clean shutdown.

    Exits :data:`EXIT_IO_ERROR` after a failed delivery or store write (nothing committed
    past it), :data:`EXIT_SHUTDOWN_INCOMPLETE` when a stop did not finish in time.
    ``partitions`` is the input partition count (``kafka_admin.check_topics``, whose answer
    also carries the replication factor of the topics it made).
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    metrics = Metrics(policy)
    sla = create_app(
        settings,
        metrics,
        policy=policy,
        partitions=int(partitions),
        replication_factor=(
            partitions.replication.factor if isinstance(partitions, Partitions) else 1
        ),
    )
    tune_collector()
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
    try:
        worker.execute_from_commandline()
    except SystemExit:
        if sla.failure is not None:
            raise SystemExit(EXIT_IO_ERROR) from None
        raise

"""The worker as a user runs it, on a real local broker: the one harness of tests and benchmarks.

A broker started with ``deploy/kafka/kafka.sh`` on free ports; a deployment (unique topics,
application id and settings, its topics created with ``sla-worker topics create``); ``sla-worker
run`` subprocesses with a readiness wait, their metrics and logs; producing to the input topic
and reading the output topics; CPU and memory readings of a process from ``/proc``.

Used by ``tests/conftest.py``, ``tests/integration``, ``tests/e2e`` and ``bench/bench_worker.py``
(which puts ``tests/`` on ``sys.path``). It is not part of the installed package and imports
neither pytest nor ``worker``: what goes wrong is a :class:`HarnessError` carrying the worker's
log, and aiokafka and prometheus_client are imported inside the helpers that use them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from worker.core.events import SlaLateFulfilment, SlaOutcome

if TYPE_CHECKING:
    from aiokafka.structs import ConsumerRecord

__all__ = [
    "KAFKA_SH",
    "POLICY",
    "ROOT",
    "SLA_WORKER",
    "Deployment",
    "HarnessError",
    "Message",
    "Sample",
    "StoppableBroker",
    "Store",
    "WorkerProcess",
    "broker_pid",
    "cpu_seconds",
    "event",
    "free_port",
    "free_ports",
    "kafka_env",
    "kafka_sh",
    "late_fulfilment",
    "machine_cpu_seconds",
    "own_broker",
    "rss_bytes",
    "start_broker",
    "stop_broker",
    "topic_names",
    "ts",
    "utc",
]

ROOT = Path(__file__).resolve().parents[1]
POLICY = Path(__file__).resolve().parent / "integration" / "policy.yaml"
SLA_WORKER = [sys.executable, "-m", "worker"]
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
# A cold machine first fetches the broker's jars from Maven Central: minutes, not seconds.
BROKER_START_TIMEOUT_S = 600
# Free ports are picked, released, then bound by the JVM a moment later; another process
# can take one in between, so a failed start is retried on new ports.
BROKER_START_ATTEMPTS = 3
# Start-up is a few seconds (Python imports, group join, recovery); a cold JVM broker and a
# busy CI machine can stretch it, so allow a generous bound before declaring it stuck.
READY_TIMEOUT_S = 90.0
# /readyz is polled (there is no event to await); restart-to-ready is a benchmark figure, and
# a tenth of a second is its resolution.
READY_POLL_S = 0.1
# A clean shutdown must finish within 10 s (issue 5); allow margin before killing.
STOP_TIMEOUT_S = 20.0
# A worker replaying a backlog answers /metrics late, but within seconds.
HTTP_TIMEOUT_S = 10.0
# Sends awaited together: bounds the futures held while producing a million events.
SEND_CHUNK = 20_000
# Large enough for the hostile-input tests' oversized messages (the broker rejects them).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

Sample = tuple[str, dict[str, str], float]
"""One sample of a Prometheus exposition: (name, labels, value)."""

_T = TypeVar("_T")


class HarnessError(Exception):
    """The broker or a worker did not do what the harness waited for; the message says what."""


# --- ports and the broker -------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1 now (each socket is held until all are picked)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def free_port() -> int:
    """One port free on 127.0.0.1 now."""
    return free_ports(1)[0]


def kafka_sh(command: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``deploy/kafka/kafka.sh COMMAND`` with ``env`` (e.g. ``up`` on chosen ports)."""
    return subprocess.run(
        ["bash", str(KAFKA_SH), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=BROKER_START_TIMEOUT_S,
        check=False,
    )


def kafka_env(
    ports: list[int], state_dir: Path, base: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The environment of ``kafka.sh`` for a broker on ``ports[0]`` (controller ``ports[1]``)."""
    return {
        **base,
        "KAFKA_PORT": str(ports[0]),
        "KAFKA_CONTROLLER_PORT": str(ports[1]),
        "KAFKA_STATE_DIR": str(state_dir),
    }


def start_broker(
    ports: int, environment: Callable[[list[int]], dict[str, str]], what: str
) -> dict[str, str]:
    """Start a broker with ``kafka.sh up`` on ``ports`` free ports; return its environment.

    ``environment`` makes the environment of ``kafka.sh`` from the ports picked (see
    :func:`kafka_env`). A failed start is retried on new ports (another process may take one
    between picking and binding); :class:`HarnessError` after ``BROKER_START_ATTEMPTS``. Its
    bootstrap address is ``127.0.0.1:$KAFKA_PORT``. Stop it with :func:`stop_broker`.
    """
    failures = []
    for _ in range(BROKER_START_ATTEMPTS):
        env = environment(free_ports(ports))
        started = kafka_sh("up", env)
        if started.returncode == 0:
            return env
        failures.append(started.stdout + started.stderr)
        kafka_sh("down", env)
    raise HarnessError(f"could not start {what}:\n" + "\n".join(failures))


def stop_broker(env: Mapping[str, str]) -> None:
    """Stop the broker ``start_broker`` started with ``env``; it must stop cleanly."""
    stopped = kafka_sh("down", env)
    if stopped.returncode != 0:
        raise HarnessError(f"kafka.sh down failed:\n{stopped.stdout}{stopped.stderr}")


@dataclass
class StoppableBroker:
    """A broker of a test's own, which the test may stop and start again (``kafka.sh``)."""

    env: dict[str, str]

    @property
    def bootstrap(self) -> str:
        """Its ``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.env['KAFKA_PORT']}"

    def up(self) -> None:
        """Start it again on the same ports and state."""
        started = kafka_sh("up", self.env)
        if started.returncode != 0:
            raise HarnessError(f"kafka.sh up failed:\n{started.stdout}{started.stderr}")

    def down(self) -> None:
        """Stop it (it must stop cleanly)."""
        stop_broker(self.env)


def own_broker(state_dir: Path) -> StoppableBroker:
    """Start a broker of a test's own on free ports, its state under ``state_dir``."""
    return StoppableBroker(
        start_broker(2, lambda ports: kafka_env(ports, state_dir), "a test's own broker")
    )


def broker_pid(env: Mapping[str, str]) -> int | None:
    """The pid of the broker ``start_broker`` started with ``env`` (None when not running)."""
    with contextlib.suppress(OSError, ValueError):
        return int((Path(env["KAFKA_STATE_DIR"]) / "kafka.pid").read_text())
    return None


# --- processes ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """The user + system CPU seconds process ``pid`` used so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """The CPU seconds all processes of the machine used so far (from ``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """The resident memory (VmRSS) of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise HarnessError(f"no VmRSS for pid {pid}")


# --- input events ---------------------------------------------------------------------------


def utc(text: str | None = None) -> datetime:
    """Return now in UTC, or the instant of an RFC 3339 text."""
    if text is None:
        return datetime.now(UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ts(moment: datetime) -> str:
    """Return RFC 3339 UTC text with Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- the agent's fakes (tests/unit/test_agent.py, bench/bench_agent.py) ----------------------


@dataclass(frozen=True, slots=True)
class Message:
    """A consumed message, as much of it as the agent reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float = 0.0


@dataclass(slots=True)
class Store:
    """The agent's store in memory: a dict per partition; ``table`` merges them."""

    partitions: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    persisted: dict[int, int] = field(default_factory=dict)
    writes: int = 0

    def get_many(self, partition: int, keys: Sequence[bytes]) -> list[bytes | None]:
        data = self.partitions.get(partition, {})
        return [data.get(key) for key in keys]

    def write(
        self, partition: int, writes: Mapping[bytes, bytes | None], changelog_offset: int | None
    ) -> None:
        self.writes += 1
        data = self.partitions.setdefault(partition, {})
        for key, value in writes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        if changelog_offset is not None:
            self.persisted[partition] = changelog_offset

    @property
    def table(self) -> dict[bytes, bytes]:
        return {k: v for data in self.partitions.values() for k, v in data.items()}


def late_fulfilment(breach: SlaOutcome, over_s: float) -> SlaLateFulfilment:
    """Return the late fulfilment of ``breach``, ``over_s`` counted seconds past its target."""
    target_s = breach.target_seconds or 0
    return SlaLateFulfilment(
        ticket_id=breach.ticket_id,
        customer_id=breach.customer_id,
        tier=breach.tier,
        priority=breach.priority,
        target=breach.target,
        cycle=breach.cycle,
        commitment=breach.commitment,
        started_at=breach.started_at,
        deadline=breach.deadline,
        target_seconds=breach.target_seconds,
        policy=breach.policy,
        fulfilled_at=breach.started_at + timedelta(seconds=target_s + over_s),
        elapsed_seconds=target_s + over_s,
        over_seconds=over_s,
    )


def event(
    kind: str, ticket: str, at: datetime, eid: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Return one input event document."""
    return {
        "type": f"ticket.{kind}",
        "event_id": eid or f"{ticket}-{kind}-{secrets.token_hex(3)}",
        "ticket_id": ticket,
        "occurred_at": ts(at),
        **extra,
    }


# --- a worker -------------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """One ``sla-worker run`` subprocess; it may be stopped and started again."""

    env: dict[str, str]
    log_path: Path
    profile: Path | None = None  # run under cProfile, writing its statistics here
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0  # time.time() just before the last start

    @property
    def web_port(self) -> int:
        """The HTTP port of /metrics and /readyz."""
        return int(self.env["SLA_WEB_PORT"])

    @property
    def pid(self) -> int:
        """The worker's pid (the Python process itself, no wrapper)."""
        assert self.process is not None
        return self.process.pid

    def start(self, **env: str) -> None:
        """Start the process, with ``env`` on top of its environment for this run only."""
        command = [*SLA_WORKER, "run"]
        if self.profile is not None:
            command = [sys.executable, "-m", "cProfile", "-o", str(self.profile), "-m", "worker"]
            command.append("run")
        with self.log_path.open("ab") as log:
            self.started_at = time.time()
            self.process = subprocess.Popen(
                command, env={**self.env, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    def http(self, path: str) -> tuple[int, str]:
        """GET ``path``; return the status and the body."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.web_port}{path}", timeout=HTTP_TIMEOUT_S
            ) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()

    def check_alive(self) -> None:
        """Raise :class:`HarnessError` with the log's end if the worker has exited."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise HarnessError(f"worker exited with {self.process.returncode}:\n{self.log()}")

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Wait until /readyz answers 200; return when (``time.time()``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError):
                status, _ = await asyncio.to_thread(self.http, "/readyz")
                if status == 200:
                    return time.time()
            await asyncio.sleep(READY_POLL_S)
        raise HarnessError(f"worker not ready within {timeout_s:.0f}s:\n{self.log()}")

    async def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Send ``sig`` and wait for the exit code; SIGKILL and raise after ``timeout_s``."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return await asyncio.to_thread(self.process.wait, timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise HarnessError(
                f"worker did not stop within {timeout_s:.0f}s:\n{self.log()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL the process if it still runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def samples(self) -> list[Sample]:
        """Every sample on /metrics."""
        from prometheus_client.parser import text_string_to_metric_families

        _, body = self.http("/metrics")
        return [
            (sample.name, sample.labels, float(sample.value))
            for family in text_string_to_metric_families(body)
            for sample in family.samples
        ]

    def metric(self, name: str, **labels: str) -> float | None:
        """Return the value of one series on /metrics, or None when absent."""
        for sample, have, value in self.samples():
            if sample == name and all(have.get(k) == v for k, v in labels.items()):
                return value
        return None

    def total(self, name: str, **labels: str) -> float:
        """Return the sum of the samples of ``name`` whose labels include ``labels``."""
        return sum(
            value
            for sample, have, value in self.samples()
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        )

    async def wait_ticks(self, count: int = 2, timeout_s: float = 30.0) -> None:
        """Wait until the deadline timer has run ``count`` more times after now."""
        name = "sla_deadline_timer_last_run_timestamp_seconds"
        async with asyncio.timeout(timeout_s):
            for _ in range(count):
                before = self.metric(name) or 0.0
                while (self.metric(name) or 0.0) <= before:  # noqa: ASYNC110 - polling HTTP
                    await asyncio.sleep(0.1)

    def log(self) -> str:
        """Return the end of the log."""
        return self.log_path.read_text(errors="replace")[-6000:]

    def log_events(self, name: str) -> list[dict[str, Any]]:
        """Return the JSON log lines whose ``event`` is ``name``."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if f'"{name}"' in line:
                with contextlib.suppress(ValueError):
                    document = json.loads(line)
                    if isinstance(document, dict) and document.get("event") == name:
                        found.append(document)
        return found


# --- a deployment ---------------------------------------------------------------------------


def topic_names(tag: str) -> dict[str, str]:
    """The input, output and dead-letter topics of one deployment, unique by ``tag``."""
    return {
        "input": f"in-{tag}",
        "warnings": f"warn-{tag}",
        "breaches": f"breach-{tag}",
        "outcomes": f"outcome-{tag}",
        "dead_letters": f"dlq-{tag}",
        "status": f"status-{tag}",
    }


@dataclass
class Deployment:
    """Topics, settings and workers of one test or measurement."""

    bootstrap: str
    env: dict[str, str]
    topics: dict[str, str]
    tmp: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    @classmethod
    async def create(
        cls,
        bootstrap: str,
        tmp: Path,
        *,
        tag: str | None = None,
        policy: Path = POLICY,
        partitions: int = 4,
        base_env: Mapping[str, str] = os.environ,
        **settings: str,
    ) -> Deployment:
        """Name topics and an application id after ``tag`` and create them (``topics create``).

        The tag is random by default; ``tmp``, an existing directory, holds the workers' data
        directories and logs. The workers get ``base_env``, the deployment's settings (RocksDB
        store, JSON logs) and ``settings`` on top; each one has its own data directory and
        HTTP port (see :meth:`start_worker`).
        """
        tag = tag or secrets.token_hex(4)
        topics = topic_names(tag)
        env = {
            **base_env,
            "SLA_BROKER": f"kafka://{bootstrap}",
            "SLA_APP_ID": f"sla-{tag}",
            "SLA_POLICY": str(policy),
            "SLA_INPUT_TOPICS": topics["input"],
            "SLA_WARNING_TOPIC": topics["warnings"],
            "SLA_BREACH_TOPIC": topics["breaches"],
            "SLA_OUTCOME_TOPIC": topics["outcomes"],
            "SLA_DEAD_LETTER_TOPIC": topics["dead_letters"],
            "SLA_STATUS_TOPIC": topics["status"],
            "SLA_PARTITIONS": str(partitions),
            "SLA_LOG_FORMAT": "json",
            "SLA_STORE": "rocksdb",
            **settings,
        }
        created = await asyncio.to_thread(
            subprocess.run,
            [*SLA_WORKER, "topics", "create"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if created.returncode != 0:
            raise HarnessError(f"sla-worker topics create failed:\n{created.stderr}")
        return cls(bootstrap=bootstrap, env=env, topics=topics, tmp=tmp)

    @property
    def partitions(self) -> int:
        """Partitions of each topic."""
        return int(self.env["SLA_PARTITIONS"])

    async def start_worker(
        self, *, wait: bool = True, profile: Path | None = None, **env: str
    ) -> WorkerProcess:
        """Start a worker with its own data directory, HTTP port and log (``env`` on top)."""
        index = len(self.workers)
        worker = WorkerProcess(
            env={
                **self.env,
                "SLA_WEB_PORT": str(free_port()),
                "SLA_DATA_DIR": str(self.tmp / f"data-{index}"),
                **env,
            },
            log_path=self.tmp / f"worker-{index}.log",
            profile=profile,
        )
        worker.start()
        self.workers.append(worker)
        if wait:
            await worker.wait_ready()
        return worker

    async def restart(self, worker: WorkerProcess) -> WorkerProcess:
        """Start the same worker again (same data directory and port)."""
        worker.start()
        await worker.wait_ready()
        return worker

    def kill_workers(self) -> None:
        """SIGKILL every worker of this deployment that still runs."""
        for worker in self.workers:
            worker.kill()

    async def send(self, events: Iterable[dict[str, Any] | tuple[bytes | None, bytes]]) -> float:
        """Produce events (documents keyed by ticket id, or raw (key, value) pairs).

        Returns the seconds from the first send to the last acknowledgement.
        """
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            linger_ms=5,  # batches fill up when producing a backlog; nothing waits on one
            max_batch_size=262_144,
            max_request_size=MAX_MESSAGE_BYTES,
        )
        await producer.start()
        began = time.perf_counter()
        try:
            pending: list[asyncio.Future[Any]] = []
            for item in events:
                if isinstance(item, dict):
                    key, value = item["ticket_id"].encode(), json.dumps(item).encode()
                else:
                    key, value = item
                pending.append(await producer.send(self.topics["input"], value=value, key=key))
                if len(pending) >= SEND_CHUNK:
                    await asyncio.gather(*pending)
                    pending.clear()
            await asyncio.gather(*pending)
        finally:
            await producer.stop()
        return time.perf_counter() - began

    async def count(self, topic: str) -> int:
        """Return how many messages a topic of the deployment holds now."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        probe = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await probe.start()
        try:
            tps = [TopicPartition(self.topics[topic], p) for p in range(self.partitions)]
            ends = await probe.end_offsets(tps)
            starts = await probe.beginning_offsets(tps)
        finally:
            await probe.stop()
        return int(sum(ends.values()) - sum(starts.values()))

    async def read(
        self,
        topic: str,
        until: Callable[[list[dict[str, Any]]], bool],
        timeout_s: float = 60.0,
    ) -> list[dict[str, Any]]:
        """Read an output topic's documents from the start until ``until(records)`` holds.

        Each document has its message key under ``_key``.
        """
        return await self._read(topic, until, timeout_s, _document)

    async def drain(self, topic: str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Read every document an output topic holds now (to its current end)."""
        total = await self.count(topic)
        return await self.read(topic, lambda records: len(records) >= total, timeout_s)

    async def drain_raw(self, topic: str, timeout_s: float = 30.0) -> list[tuple[int, bytes]]:
        """Read every message an output topic holds now: (Kafka timestamp in ms, value)."""
        total = await self.count(topic)
        return await self._read(
            topic, lambda records: len(records) >= total, timeout_s, _timestamp_value
        )

    async def _read(
        self,
        topic: str,
        until: Callable[[list[_T]], bool],
        timeout_s: float,
        decode: Callable[[ConsumerRecord[bytes, bytes]], _T],
    ) -> list[_T]:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            self.topics[topic],
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=64 * 1024 * 1024,
        )
        records: list[_T] = []
        await consumer.start()
        try:
            async with asyncio.timeout(timeout_s):
                while not until(records):
                    batches = await consumer.getmany(timeout_ms=200)
                    for messages in batches.values():
                        records.extend(decode(message) for message in messages)
        except TimeoutError:
            logs = "\n".join(w.log() for w in self.workers)
            raise HarnessError(
                f"{topic}: condition not met within {timeout_s}s; got {len(records)} records:"
                f" {records[:20]}\n--- worker logs ---\n{logs}"
            ) from None
        finally:
            await consumer.stop()
        return records

    async def delete_topics(self) -> None:
        """Delete the deployment's topics and the workers' internal ones (changelogs)."""
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            internal = f"{self.env['SLA_APP_ID']}-"
            ours = set(self.topics.values())
            names = [t for t in await admin.list_topics() if t in ours or t.startswith(internal)]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()


def _document(message: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(message.value)
    document["_key"] = message.key
    return document


def _timestamp_value(message: ConsumerRecord[bytes, bytes]) -> tuple[int, bytes]:
    return message.timestamp, message.value

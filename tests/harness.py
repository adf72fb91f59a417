"""Harness for the worker as a user runs it: `sla-worker run` as a subprocess.

Each test gets its own topics and application id (consumer group, internal topics), a free
HTTP port, and helpers to produce ticket events and read what the worker publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

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
# A clean shutdown must finish within 10 s (issue 5); allow margin before killing.
STOP_TIMEOUT_S = 20.0


def free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1 now (each socket is held until all are picked)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def kafka_sh(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``deploy/kafka/kafka.sh COMMAND`` with ``env`` (e.g. ``up`` on chosen ports)."""
    return subprocess.run(
        ["bash", str(KAFKA_SH), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=BROKER_START_TIMEOUT_S,
        check=False,
    )


def start_broker(
    ports: int, environment: Callable[[list[int]], dict[str, str]], what: str
) -> dict[str, str]:
    """Start a broker with ``kafka.sh up`` on ``ports`` free ports; return its environment.

    ``environment`` makes the environment of ``kafka.sh`` from the ports picked. A failed
    start is retried on new ports (another process may take one between picking and
    binding); the test fails after ``BROKER_START_ATTEMPTS``. Stop it with ``stop_broker``.
    """
    failures = []
    for _ in range(BROKER_START_ATTEMPTS):
        env = environment(free_ports(ports))
        started = kafka_sh("up", env)
        if started.returncode == 0:
            return env
        failures.append(started.stdout + started.stderr)
        kafka_sh("down", env)
    pytest.fail(f"could not start {what}:\n" + "\n".join(failures), pytrace=False)


def stop_broker(env: dict[str, str]) -> None:
    """Stop the broker ``start_broker`` started with ``env``; it must stop cleanly."""
    stopped = kafka_sh("down", env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def topic_names(tag: str) -> dict[str, str]:
    """The input, output and dead-letter topics of one test deployment, unique by ``tag``."""
    return {
        "input": f"in-{tag}",
        "warnings": f"warn-{tag}",
        "breaches": f"breach-{tag}",
        "outcomes": f"outcome-{tag}",
        "dead_letters": f"dlq-{tag}",
    }


def utc(text: str | None = None) -> datetime:
    """Return now in UTC, or the instant of an RFC 3339 text."""
    if text is None:
        return datetime.now(UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ts(moment: datetime) -> str:
    """Return RFC 3339 UTC text with Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class WorkerProcess:
    """One `sla-worker run` subprocess."""

    env: dict[str, str]
    log_path: Path
    web_port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*SLA_WORKER, "run"], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    def http(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.web_port}{path}", timeout=5
            ) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        async with asyncio.timeout(timeout_s):
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    pytest.fail(f"worker exited with {self.process.returncode}:\n{self.log()}")
                with contextlib.suppress(OSError):
                    status, _ = await asyncio.to_thread(self.http, "/readyz")
                    if status == 200:
                        return
                await asyncio.sleep(0.2)  # polling an HTTP endpoint: there is no event to await

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return await asyncio.to_thread(self.process.wait, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"worker did not stop within {STOP_TIMEOUT_S}s:\n{self.log()}")

    def metric(self, name: str, **labels: str) -> float | None:
        """Return the value of one series on /metrics, or None when absent."""
        from prometheus_client.parser import text_string_to_metric_families

        _, body = self.http("/metrics")
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return None

    async def wait_ticks(self, count: int = 2, timeout_s: float = 30.0) -> None:
        """Wait until the deadline timer has run ``count`` more times after now."""
        name = "sla_deadline_timer_last_run_timestamp_seconds"
        async with asyncio.timeout(timeout_s):
            for _ in range(count):
                before = self.metric(name) or 0.0
                while (self.metric(name) or 0.0) <= before:  # noqa: ASYNC110 - polling HTTP
                    await asyncio.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


@dataclass
class Deployment:
    """Topics, settings and workers of one test."""

    bootstrap: str
    env: dict[str, str]
    topics: dict[str, str]
    tmp: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    async def start_worker(self, *, wait: bool = True, **env: str) -> WorkerProcess:
        index = len(self.workers)
        data_dir = self.tmp / f"data-{index}"
        worker = WorkerProcess(
            env={
                **self.env,
                "SLA_WEB_PORT": str(_free_port()),
                "SLA_DATA_DIR": str(data_dir),
                **env,
            },
            log_path=self.tmp / f"worker-{index}.log",
            web_port=0,
        )
        worker.web_port = int(worker.env["SLA_WEB_PORT"])
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

    async def send(self, events: Iterable[dict[str, Any] | tuple[bytes | None, bytes]]) -> None:
        """Produce events (documents keyed by ticket id, or raw (key, value) pairs)."""
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", max_request_size=16 * 1024 * 1024
        )
        await producer.start()
        try:
            pending = []
            for item in events:
                if isinstance(item, dict):
                    key, value = item["ticket_id"].encode(), json.dumps(item).encode()
                else:
                    key, value = item
                pending.append(await producer.send(self.topics["input"], value=value, key=key))
            await asyncio.gather(*pending)
        finally:
            await producer.stop()

    async def drain(self, topic: str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Read everything an output topic holds now (to its current end)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        probe = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await probe.start()
        try:
            name = self.topics[topic]
            partitions = range(int(self.env["SLA_PARTITIONS"]))
            ends = await probe.end_offsets([TopicPartition(name, p) for p in partitions])
        finally:
            await probe.stop()
        total = sum(ends.values())
        return await self.read(topic, lambda rs: len(rs) >= total, timeout_s)

    async def read(
        self,
        topic: str,
        until: Callable[[list[dict[str, Any]]], bool],
        timeout_s: float = 60.0,
    ) -> list[dict[str, Any]]:
        """Read an output topic from the start until ``until(records)`` holds."""
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            self.topics[topic],
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=64 * 1024 * 1024,
        )
        records: list[dict[str, Any]] = []
        await consumer.start()
        try:
            async with asyncio.timeout(timeout_s):
                while not until(records):
                    batches = await consumer.getmany(timeout_ms=200)
                    for messages in batches.values():
                        for message in messages:
                            document = json.loads(message.value)
                            document["_key"] = message.key
                            records.append(document)
        except TimeoutError:
            logs = "\n".join(w.log() for w in self.workers)
            pytest.fail(
                f"{topic}: condition not met within {timeout_s}s; got {len(records)} records:"
                f" {records[:20]}\n--- worker logs ---\n{logs}"
            )
        finally:
            await consumer.stop()
        return records

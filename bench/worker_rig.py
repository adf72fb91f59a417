"""The rig the figures of ``bench_worker.py`` run on: policy, broker, deployments, polling.

The broker, deployments and worker processes are those of the tests' harness
(``tests/harness.py``; ``bench_worker.py`` puts ``tests/`` on ``sys.path`` before importing
this). What this module adds is the benchmark's own: the policy of the measurements, the
targets of issue 5, progress lines, a worker's counter polled until it reaches a value (the
crossing interpolated), and the CPU the worker, the broker and the rest of the machine used.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from harness import (
    Deployment,
    HarnessError,
    WorkerProcess,
    broker_pid,
    cpu_seconds,
    machine_cpu_seconds,
)

__all__ = [
    "BUSY_SHARE",
    "OPEN_TARGET",
    "PARTITIONS",
    "POLICY",
    "READY_TIMEOUT_S",
    "TARGET_CPU_US",
    "TARGET_EVENTS_S",
    "TARGET_OPEN",
    "TARGET_P99_S",
    "TARGET_RESTART_S",
    "TARGET_TICKET_BYTES",
    "CpuMeter",
    "Rig",
    "Row",
    "Stalled",
    "counter_reaches",
    "log",
    "quantile",
    "stop_worker",
    "verdict",
]

# Tier `fast` is the mixed traffic of figure 1; tier `open` holds the tickets of figures
# 2-4: P1 breaches in the window (its creation is backdated by the 2h target), P2 is due in
# a day (open all along). No warnings on `open`: the breaches are the only outputs there.
POLICY = """\
version: 1
name: bench-worker
priorities: [P1, P2, P3]
warnings: ["50%", "75%"]
tiers:
  fast:
    commitment: sla
    objective: 0.99
    targets:
      first_response: {P1: 20s, P2: 40s, P3: 2m}
      resolution: {P1: 10m, P2: 20m, P3: 1h}
  open:
    commitment: sla
    objective: 0.99
    warnings: []
    targets:
      first_response: {P1: 2h, P2: 1d}
      resolution: {P1: 1d, P2: 1d}
"""
OPEN_TARGET = timedelta(hours=2)  # first_response of tier `open`, P1
PARTITIONS = 8  # the worker's default
# Targets: events/s and CPU per event per process of issue 17 (issue 5 had set 20,000/s),
# the latency, memory and restart ones of issue 5.
TARGET_EVENTS_S = 7_000
TARGET_CPU_US = 150
TARGET_P99_S = 1.5
TARGET_TICKET_BYTES = 300
TARGET_RESTART_S = 60.0
# The open tickets at which the p99, memory and restart targets are set.
TARGET_OPEN = 1_000_000
# Other processes using more than this share of a core make the figures read low: say so.
BUSY_SHARE = 0.25
# Polling the worker's HTTP endpoints (there is nothing to await): /metrics costs the worker
# a few milliseconds per scrape, so twice a second (the crossing is interpolated).
POLL_S = 0.5
# A restart at a million open tickets rebuilds its deadline index before it is ready.
READY_TIMEOUT_S = 600.0
# The worker stops within 10 s (issue 5); past this it is killed and the run goes on.
STOP_TIMEOUT_S = 30.0

Row = tuple[str, str, str]
"""One line of the final table: figure, value, target."""

STARTED = time.monotonic()


def log(text: str) -> None:
    """Print a progress line with the time since the start."""
    print(f"[{time.monotonic() - STARTED:7.1f}s] {text}", flush=True)


def quantile(sorted_values: list[float], q: float) -> float:
    """Return the ``q`` quantile (nearest rank) of an ascending list."""
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def verdict(met: bool, open_tickets: int | None = None) -> str:
    """Say whether a target is met; those set at a million open tickets need that many."""
    if open_tickets is not None and open_tickets < TARGET_OPEN:
        return f"not judged: measured at {open_tickets:,} open (--open {TARGET_OPEN})"
    return "met" if met else "NOT met"


@dataclass
class Rig:
    """The run's temporary directory, its broker and the deployments made on it."""

    tmp: Path
    bootstrap: str
    broker_env: dict[str, str] | None = None  # kafka.sh environment when we started it
    status_stream: bool = True  # False: the workers run with SLA_STATUS_TOPIC empty
    deployments: list[Deployment] = field(default_factory=list)

    @property
    def policy(self) -> Path:
        """The policy file (``POLICY``), written into the temporary directory."""
        return self.tmp / "policy.yaml"

    @property
    def broker_pid(self) -> int | None:
        """The broker's pid when we started it."""
        return None if self.broker_env is None else broker_pid(self.broker_env)

    async def deployment(self, name: str) -> Deployment:
        """Create the topics of a new deployment named after ``name`` (and a random tag)."""
        tmp = self.tmp / name
        tmp.mkdir()
        deployment = await Deployment.create(
            self.bootstrap,
            tmp,
            tag=f"bench-{name}-{secrets.token_hex(3)}",
            policy=self.policy,
            partitions=PARTITIONS,
            base_env={k: v for k, v in os.environ.items() if not k.startswith("SLA_")},
            SLA_LOG_LEVEL="warning",
            SLA_WEB_HOST="127.0.0.1",
            **({} if self.status_stream else {"SLA_STATUS_TOPIC": ""}),
        )
        self.deployments.append(deployment)
        return deployment

    async def done(self, deployment: Deployment) -> None:
        """Delete a deployment's topics from a broker not ours (ours is deleted whole)."""
        if self.broker_env is None:
            await deployment.delete_topics()

    def kill_workers(self) -> None:
        """SIGKILL every worker still running (after an error: each figure stops its own)."""
        for deployment in self.deployments:
            deployment.kill_workers()


class CpuMeter:
    """CPU seconds used since it was made: the worker's, the broker's, every other process's.

    "Other" is every process of the machine but the worker, the broker and this one.
    """

    def __init__(
        self, worker_pid: int, broker_pid: int | None, *, more: Sequence[int] = ()
    ) -> None:
        self.worker_pids = [worker_pid, *more]  # "the worker": every worker process given
        self.broker_pid = broker_pid
        self.began = self._now()

    def _now(self) -> tuple[float, float, float]:
        worker = sum(cpu_seconds(pid) for pid in self.worker_pids)
        broker = cpu_seconds(self.broker_pid) if self.broker_pid else 0.0
        others = machine_cpu_seconds() - cpu_seconds(os.getpid()) - worker - broker
        return worker, broker, others

    def used(self) -> tuple[float, float | None, float]:
        """(worker, broker or None when not ours, others) CPU seconds so far."""
        now = self._now()
        worker, broker, others = (n - b for n, b in zip(now, self.began, strict=True))
        return worker, broker if self.broker_pid else None, others


class Stalled(Exception):  # noqa: N818 - a condition, not a failure of ours
    """A worker's counter stopped short of its target: ``(when, value)`` of the last poll."""

    def __init__(self, at: float, value: float) -> None:
        super().__init__(f"stopped at {value:,.0f}")
        self.at = at
        self.value = value


async def _total(
    worker: WorkerProcess | Sequence[WorkerProcess], name: str, **labels: str
) -> float:
    """Return the sum of ``name`` on the /metrics of every worker given; stop if one exited."""
    workers = [worker] if isinstance(worker, WorkerProcess) else list(worker)
    total = 0.0
    for each in workers:
        each.check_alive()
        total += await asyncio.to_thread(each.total, name, **labels)
    return total


async def counter_reaches(
    worker: WorkerProcess | Sequence[WorkerProcess],
    name: str,
    target: float,
    timeout_s: float,
    *,
    stall_s: float | None = None,
    **labels: str,
) -> tuple[float, float]:
    """Poll until the sum of ``name`` reaches ``target``; return (time.time(), value).

    Given several workers, the sum is over all of them.

    The time is interpolated between the last poll below ``target`` and the first at or
    above it, assuming a steady rate in between. Raise :class:`Stalled` when the sum has
    not moved for ``stall_s`` seconds (if given) or ``timeout_s`` has passed.
    """
    deadline = time.monotonic() + timeout_s
    before_t, before_v = time.time(), await _total(worker, name, **labels)
    moved_at = time.monotonic()
    while before_v < target:
        now = time.monotonic()
        if now > deadline or (stall_s is not None and now - moved_at > stall_s):
            raise Stalled(before_t, before_v)
        await asyncio.sleep(POLL_S)
        now_t, now_v = time.time(), await _total(worker, name, **labels)
        if now_v >= target:
            share = (target - before_v) / (now_v - before_v)
            return before_t + share * (now_t - before_t), now_v
        if now_v != before_v:
            moved_at = time.monotonic()
        before_t, before_v = now_t, now_v
    return before_t, before_v


async def stop_worker(worker: WorkerProcess) -> float:
    """SIGTERM the worker and wait for its exit (SIGKILL after a while); return the seconds."""
    began = time.monotonic()
    try:
        await worker.stop(timeout_s=STOP_TIMEOUT_S)
    except HarnessError:
        log(f"worker pid {worker.pid} did not stop within {STOP_TIMEOUT_S:.0f}s: SIGKILL")
    return time.monotonic() - began

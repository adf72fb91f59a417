"""Figure 1 of ``bench_worker.py``: sustained events/s of a worker replaying a backlog.

Beside it, the ceilings over the same messages: a bare aiokafka consumer, and bare faust
agents configured as the worker (``faust_floor.py``). What is measured and how is told in
``bench_worker.py``'s docstring; this module is imported by it (see ``worker_rig.py``).
"""

from __future__ import annotations

import asyncio
import pstats
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness import Deployment
from worker_rig import (
    PARTITIONS,
    READY_TIMEOUT_S,
    TARGET_CPU_US,
    TARGET_EVENTS_S,
    CpuMeter,
    Rig,
    Row,
    counter_reaches,
    log,
    stop_worker,
    verdict,
)

from worker.edge.codec import encode_input
from worker.edge.policy_file import load_policy
from worker.loadgen import LoadProfile, generate_events

__all__ = ["Throughput", "measure_throughput"]

SEED = 20_260_105
# Tickets per second of event time in the history (about 3.4 events each).
HISTORY_RATE = 20.0
EVENTS_PER_TICKET = 3.4
# The bare faust agents (faust_floor.py): mode and what it does per message.
FLOOR_MODES = {"iterate": "iterating only", "table": "one table write per message"}
FAUST_FLOOR = Path(__file__).resolve().parent / "faust_floor.py"


@dataclass
class Throughput:
    """What figure 1 measured."""

    events: int
    produce_s: float
    bare_s: float
    worker_s: float
    counted: int  # events processed between ready and done
    ready_s: float  # process start to /readyz
    worker_cpu_s: float
    broker_cpu_s: float | None
    others_cpu_s: float  # every other process of the machine (not worker, broker, us)
    # events/s of a bare faust agent over the same messages (faust_floor.py), by mode
    floors: dict[str, float | None] = field(default_factory=dict)
    processes: int = 1  # workers replaying together (one consumer group)

    @property
    def worker_rate(self) -> float:
        """Events/s of the worker."""
        return self.counted / self.worker_s

    @property
    def bare_rate(self) -> float:
        """Events/s of the bare consumer."""
        return self.events / self.bare_s

    @property
    def others_share(self) -> float:
        """The share of a core other processes used while the worker replayed."""
        return self.others_cpu_s / self.worker_s

    def rows(self) -> list[Row]:
        """Return the lines of the final table."""
        workers = "worker" if self.processes == 1 else f"{self.processes} worker processes"
        rows = [
            (
                f"sustained events/s, {workers} replaying {self.events:,} mixed events",
                f"{self.worker_rate:,.0f}/s ({self.counted:,} in {self.worker_s:.1f}s)",
                f">= {TARGET_EVENTS_S:,}/s {verdict(self.worker_rate >= TARGET_EVENTS_S)}",
            ),
            (
                "bare aiokafka consumer, same messages",
                f"{self.bare_rate:,.0f}/s ({self.bare_s:.2f}s)",
                "-",
            ),
            ("worker / bare consumer", f"{self.worker_rate / self.bare_rate:.1%}", "-"),
        ]
        for mode, rate in self.floors.items():
            value = "failed (see the log above)" if rate is None else f"{rate:,.0f}/s"
            rows.append((f"bare faust agent, {FLOOR_MODES[mode]}", value, "-"))
        cpu = f"{workers} {self.worker_cpu_s / self.worker_s:.0%}"
        if self.broker_cpu_s is not None:
            cpu += f", broker {self.broker_cpu_s / self.worker_s:.0%}"
        cpu += f", other processes {self.others_share:.0%}"
        rows.append(("CPU (share of one core) while replaying", cpu, "-"))
        rows.append(
            (
                "worker CPU per event",
                f"{self.worker_cpu_s / self.counted * 1e6:.0f} us",
                f"<= {TARGET_CPU_US} us "
                f"{verdict(self.worker_cpu_s / self.counted * 1e6 <= TARGET_CPU_US)}",
            )
        )
        return rows


def history(policy_file: Path, count: int) -> list[tuple[bytes, bytes]]:
    """Return ``count`` mixed historical events (key, wire JSON), ending minutes ago."""
    policy = load_policy(policy_file)
    profile = LoadProfile(rate=HISTORY_RATE, seed=SEED, tier_weights={"fast": 1.0})
    now = datetime.now(UTC)
    span = timedelta(seconds=count / EVENTS_PER_TICKET / HISTORY_RATE)
    start = now - span - timedelta(minutes=10)
    while True:
        events = []
        for event in generate_events(policy, profile, start):
            events.append(event)
            if len(events) == count:
                break
        late = events[-1].occurred_at - (now - timedelta(minutes=2))
        if late <= timedelta(0):
            return [(e.ticket_id.encode(), encode_input(e)) for e in events]
        start -= late + timedelta(minutes=5)  # the history reached the present: start earlier


async def measure_throughput(
    rig: Rig, count: int, profile: Path | None, processes: int = 1
) -> Throughput:
    """Produce ``count`` historical events, read them bare, then time a worker replaying them.

    With ``processes`` above 1, that many workers of one group replay them together (timed
    from all ready until their counters' sum reaches ``count``; CPU is their sum).
    """
    deployment = await rig.deployment("throughput")
    began = time.perf_counter()
    values = history(rig.policy, count)
    log(
        f"1. generated {count:,} historical events ({sum(len(v) for _, v in values) / count:.0f}"
        f" bytes each) in {time.perf_counter() - began:.1f}s"
    )
    produce_s = await deployment.send(values)
    del values
    log(f"1. produced them in {produce_s:.1f}s ({count / produce_s:,.0f}/s)")
    bare_s = await bare_consume(deployment, count)
    log(f"1. bare aiokafka consumer read them in {bare_s:.2f}s ({count / bare_s:,.0f}/s)")
    floors = {mode: faust_floor(rig, deployment, count, mode) for mode in FLOOR_MODES}

    workers = [
        await deployment.start_worker(wait=False, profile=profile if n == 0 else None)
        for n in range(processes)
    ]
    worker = workers[0]
    try:
        ready_at = max([await w.wait_ready(READY_TIMEOUT_S) for w in workers])
        at_ready = sum([await asyncio.to_thread(w.total, "sla_events_total") for w in workers])
        meter = CpuMeter(worker.pid, rig.broker_pid, more=[w.pid for w in workers[1:]])
        log(f"1. worker ready in {ready_at - worker.started_at:.1f}s ({at_ready:,.0f} processed)")
        timeout_s = max(600.0, count / 200)
        done_at, _ = await counter_reaches(
            workers, "sla_events_total", count, timeout_s, stall_s=120
        )
        worker_cpu, broker_cpu, others = meter.used()
        result = Throughput(
            events=count,
            produce_s=produce_s,
            bare_s=bare_s,
            worker_s=done_at - ready_at,
            counted=count - int(at_ready),
            ready_s=ready_at - worker.started_at,
            worker_cpu_s=worker_cpu,
            broker_cpu_s=broker_cpu,
            others_cpu_s=others,
            floors=floors,
            processes=processes,
        )
        log(
            f"1. worker processed them in {result.worker_s:.1f}s after ready "
            f"({result.worker_rate:,.0f}/s; worker CPU {worker_cpu / result.worker_s:.0%} of a "
            f"core)"
        )
    finally:
        for each in workers:
            await stop_worker(each)
    await rig.done(deployment)
    if profile is not None:
        show_profile(profile)
    return result


async def bare_consume(deployment: Deployment, count: int) -> float:
    """Read ``count`` input messages with a bare consumer; return the seconds it took."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        deployment.topics["input"],
        bootstrap_servers=deployment.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        began = time.perf_counter()
        seen = touched = 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1_000)
            for messages in batches.values():
                for message in messages:
                    touched += len(message.value)
                    seen += 1
        return time.perf_counter() - began
    finally:
        await consumer.stop()


def faust_floor(rig: Rig, deployment: Deployment, count: int, mode: str) -> float | None:
    """Return the events/s of a bare faust agent reading the input topic (``faust_floor.py``)."""
    command = [
        sys.executable,
        str(FAUST_FLOOR),
        f"--bootstrap={rig.bootstrap}",
        f"--topic={deployment.topics['input']}",
        f"--count={count}",
        f"--partitions={PARTITIONS}",
        f"--mode={mode}",
        f"--data-dir={deployment.tmp}",
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=max(300.0, count / 500), check=False
        )
    except subprocess.TimeoutExpired:
        log(f"1. bare faust agent ({mode}) timed out")
        return None
    for line in done.stdout.splitlines():
        if line.startswith("events_per_s="):
            rate = float(line.partition("=")[2])
            log(f"1. bare faust agent ({FLOOR_MODES[mode]}): {rate:,.0f}/s")
            return rate
    log(f"1. bare faust agent ({mode}) failed: {done.stderr.strip()[-500:]}")
    return None


def show_profile(path: Path) -> None:
    """Print the hottest functions of the profiled worker."""
    if not path.exists():
        log(f"no profile written to {path}")
        return
    print(f"\nHottest functions of the profiled worker ({path}), by own time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)

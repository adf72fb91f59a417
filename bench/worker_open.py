"""Figures 2-4 of ``bench_worker.py``: open tickets' breach detection delay, memory, restart.

What is measured and how is told in ``bench_worker.py``'s docstring; this module is imported
by it (see ``worker_rig.py``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
from harness import Deployment, WorkerProcess, rss_bytes, utc
from worker_rig import (
    OPEN_TARGET,
    READY_TIMEOUT_S,
    TARGET_P99_S,
    TARGET_RESTART_S,
    TARGET_TICKET_BYTES,
    CpuMeter,
    Rig,
    Row,
    Stalled,
    counter_reaches,
    log,
    quantile,
    stop_worker,
    verdict,
)

from worker.core.events import TicketCreated
from worker.core.tracker import Tracker
from worker.edge.codec import encode_input
from worker.edge.policy_file import load_policy
from worker.edge.state_codec import encode_state

__all__ = ["OpenTickets", "measure_open"]

# Restart estimate per open ticket (table scan and index rebuild), with margin.
RESTART_S_PER_TICKET = 50e-6


@dataclass
class OpenTickets:
    """What figures 2-4 measured."""

    open: int
    breaching: int
    window_s: float
    rss_idle: int = 0
    rss_loaded: int = 0
    rss_rebuilt: int = 0
    load_s: float = 0.0
    restart_ready_s: float = 0.0
    restart_recovered_s: float | None = None
    rebuild_s: float | None = None
    rebuild_tickets: int | None = None
    restart2_ready_s: float = 0.0
    stop_s: float = 0.0
    slack_s: float = 0.0  # first deadline minus the moment the serving worker was ready
    breaches: list[tuple[float, float, float]] = field(default_factory=list)  # unix seconds:
    # (deadline, detected_at, Kafka timestamp) of each breach, in the topic's order
    delays: list[float] = field(default_factory=list)  # detected_at - deadline, sorted
    published: list[float] = field(default_factory=list)  # Kafka timestamp - deadline
    left_out: int = 0
    duplicates: int = 0
    missing: int = 0
    drain_s: float = 0.0  # last deadline to last detection
    histogram: list[tuple[float, float]] = field(default_factory=list)  # (le, cumulative)
    histogram_sum: float = 0.0
    breach_cpu_s: float = 0.0  # worker CPU from the first deadline to the last breach
    breach_span_s: float = 0.0
    breach_others_s: float = 0.0  # CPU of every other process of the machine meanwhile
    state_bytes: int = 0  # encoded table value of one open ticket
    prior: int = 0  # breach messages published before the worker serving the window started

    @property
    def others_share(self) -> float | None:
        """The share of a core other processes used during the breach window."""
        return self.breach_others_s / self.breach_span_s if self.breach_span_s else None

    def rows(self) -> list[Row]:
        """Return the lines of the final table."""
        rows = self._breach_rows() if self.breaching else []
        k = f"{self.open:,} open"
        per_ticket = (self.rss_loaded - self.rss_idle) / self.open
        rebuilt = (self.rss_rebuilt - self.rss_idle) / self.open
        rebuild = (
            f", log line at {self.restart_recovered_s:.1f} s, rebuild {self.rebuild_s:.2f} s"
            f" ({self.rebuild_tickets:,} tickets)"
            if self.rebuild_s is not None and self.restart_recovered_s is not None
            else ", no partitions.recovered line"
        )
        return [
            *rows,
            (
                f"RSS per open ticket ({k}, after the load)",
                f"{per_ticket:,.0f} B ({self.rss_idle / 2**20:.0f} -> "
                f"{self.rss_loaded / 2**20:.0f} MiB)",
                f"<= {TARGET_TICKET_BYTES} B at 1,000,000 "
                f"{verdict(per_ticket <= TARGET_TICKET_BYTES, self.open)}",
            ),
            (
                "  stored state of one open ticket (encode_state, RocksDB value)",
                f"{self.state_bytes} B",
                "-",
            ),
            (
                "  RSS per open ticket after a restart (index rebuilt)",
                f"{rebuilt:,.0f} B ({self.rss_rebuilt / 2**20:.0f} MiB)",
                "-",
            ),
            (
                f"load: {k} created, sent to processed",
                f"{self.load_s:.1f} s ({self.open / self.load_s:,.0f}/s)",
                "-",
            ),
            (
                f"restart to ready ({k})",
                f"{self.restart_ready_s:.1f} s{rebuild}",
                f"<= {TARGET_RESTART_S:.0f} s at 1,000,000 "
                f"{verdict(self.restart_ready_s <= TARGET_RESTART_S, self.open)}",
            ),
            (
                "  second restart (warning level); clean stop before",
                f"{self.restart2_ready_s:.1f} s; {self.stop_s:.1f} s",
                "-",
            ),
        ]

    def _breach_rows(self) -> list[Row]:
        rows: list[Row] = []
        delays, published = self.delays, self.published
        where = f"{self.open:,} open, {self.breaching:,} breaching over {self.window_s:.0f}s"
        if delays:
            p99 = quantile(delays, 0.99)
            rows.append(
                (
                    f"breach detection delay p50/p99/max ({where})",
                    f"{quantile(delays, 0.5):.2f} / {p99:.2f} / {delays[-1]:.2f} s",
                    f"p99 < {TARGET_P99_S} s at 1,000,000 {verdict(p99 < TARGET_P99_S, self.open)}",
                )
            )
            rows.append(
                (
                    "  breach published (Kafka timestamp - deadline) p50/p99/max",
                    f"{quantile(published, 0.5):.2f} / {quantile(published, 0.99):.2f} / "
                    f"{published[-1]:.2f} s",
                    "-",
                )
            )
        if self.histogram:
            count = self.histogram[-1][1]
            rows.append(
                (
                    "  worker histogram p50/p99 (bucket bound), mean",
                    f"<= {histogram_quantile(self.histogram, 0.5):g} / <= "
                    f"{histogram_quantile(self.histogram, 0.99):g} s, "
                    f"{self.histogram_sum / count if count else float('nan'):.2f} s",
                    "-",
                )
            )
        rows.append(("  last detection - last deadline", f"{self.drain_s:.1f} s", "-"))
        notes = []
        if self.left_out:
            notes.append(f"{self.left_out:,} left out (deadline before ready)")
        if self.missing:
            notes.append(f"{self.missing:,} breaches missing from the topic")
        if self.duplicates:
            notes.append(f"{self.duplicates:,} duplicate breach messages")
        if self.prior:
            notes.append(f"{self.prior:,} breach messages from the restart before")
        notes.append(f"first deadline {self.slack_s:+.1f}s after ready")
        rows.append(("  breach window", "; ".join(notes), "-"))
        if self.breach_span_s:
            rows.append(
                (
                    "  worker CPU from the first deadline to the last breach",
                    f"{self.breach_cpu_s / self.breach_span_s:.0%} of a core "
                    f"({self.breaching / self.breach_span_s:,.0f} breaches/s; other "
                    f"processes {self.breach_others_s / self.breach_span_s:.0%})",
                    "-",
                )
            )
        return rows


def open_ticket(number: int, created: datetime, priority: str) -> TicketCreated:
    """Return the ticket.created of open ticket ``number`` (tier ``open``)."""
    ticket = f"O-{number:07d}"
    return TicketCreated(
        event_id=f"{ticket}-1",
        ticket_id=ticket,
        occurred_at=created,
        tier="open",
        priority=priority,
        customer_id=f"C-{number % 1000:04d}",
    )


def open_events(
    count: int, breaching: int, first: datetime, window_s: float
) -> list[tuple[bytes, bytes]]:
    """Return the ticket.created events: ``breaching`` due in the window, the rest in a day."""
    now = datetime.now(UTC)
    values = []
    for i in range(count):
        if i < breaching:
            deadline = first + timedelta(seconds=window_s * i / max(1, breaching))
            created = deadline - OPEN_TARGET
            priority = "P1"
        else:
            created, priority = now, "P2"
        event = open_ticket(
            i, created.replace(microsecond=created.microsecond // 1000 * 1000), priority
        )
        values.append((event.ticket_id.encode(), encode_input(event)))
    return values


def stored_state_bytes(rig: Rig) -> int:
    """Return the size of the table value the worker stores for one open ticket."""
    now = datetime.now(UTC)
    state, _ = Tracker(load_policy(rig.policy)).apply(None, open_ticket(1, now, "P1"), now)
    assert state is not None
    return len(encode_state(state, partition=7, emitted=None))


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Return the upper bound of the bucket holding the ``q`` quantile."""
    total = buckets[-1][1] if buckets else 0.0
    for bound, cumulative in buckets:
        if total and cumulative >= q * total:
            return bound
    return float("nan")


async def measure_open(
    rig: Rig, count: int, breaching: int, window_s: float, rates: tuple[float, float]
) -> OpenTickets:
    """Load ``count`` open tickets, restart the worker twice, then watch the breach window.

    ``rates`` (ticket.created/s of the worker, events/s produced) place the window after
    the load and the restarts.
    """
    result = OpenTickets(open=count, breaching=breaching, window_s=window_s)
    result.state_bytes = stored_state_bytes(rig)
    deployment = await rig.deployment("open")
    worker = await deployment.start_worker(wait=False)
    try:
        await worker.wait_ready(READY_TIMEOUT_S)
        await asyncio.sleep(3.0)  # let start-up garbage settle
        result.rss_idle = rss_bytes(worker.pid)
        log(f"2. worker idle: RSS {result.rss_idle / 2**20:.1f} MiB")
        first = await load(deployment, worker, result, rates)
        await restart(deployment, worker, result)
        ready_at = await start(worker)
        result.restart2_ready_s = ready_at - worker.started_at
        result.slack_s = first.timestamp() - ready_at
        log(
            f"4. restarted again (warning level): ready in {result.restart2_ready_s:.1f}s; "
            f"first deadline {result.slack_s:+.1f}s after ready"
        )
        if breaching:
            await breach_window(rig, worker, result, first)
    finally:
        await stop_worker(worker)

    if breaching:
        records = await deployment.drain_raw("breaches", max(120.0, breaching / 2_000))
        collect_delays(result, records, ready_at)
    await rig.done(deployment)
    return result


async def start(worker: WorkerProcess, **env: str) -> float:
    """Start the worker again; return when it was ready (``time.time()``)."""
    worker.start(**env)
    return await worker.wait_ready(READY_TIMEOUT_S)


async def load(
    deployment: Deployment, worker: WorkerProcess, result: OpenTickets, rates: tuple[float, float]
) -> datetime:
    """Produce the open tickets, wait until processed (3.); return the first deadline."""
    count, breaching, window_s = result.open, result.breaching, result.window_s
    events_s, produce_s = rates
    # When the first deadline may come: after building, producing and processing the
    # load (with margin), two restarts and a margin.
    restart_guess = 6.0 + count * RESTART_S_PER_TICKET
    expected = count / 100_000 + count / produce_s + count / events_s
    first = datetime.now(UTC) + timedelta(seconds=expected + 2 * restart_guess + 10.0)
    began = time.perf_counter()
    values = open_events(count, breaching, first, window_s)
    build_s = time.perf_counter() - began
    produce_took = await deployment.send(values)
    del values
    log(
        f"2. built {count:,} ticket.created in {build_s:.1f}s, produced in "
        f"{produce_took:.1f}s; first deadline in "
        f"{(first - datetime.now(UTC)).total_seconds():.0f}s"
    )
    load_began = time.time() - produce_took
    loaded_at, _ = await counter_reaches(
        worker, "sla_events_total", count, max(600, count / 100), stall_s=120
    )
    result.load_s = loaded_at - load_began
    await asyncio.sleep(2.0)
    result.rss_loaded = rss_bytes(worker.pid)
    log(
        f"3. {count:,} open tickets processed {result.load_s:.1f}s after the first was "
        f"sent; RSS {result.rss_loaded / 2**20:.1f} MiB"
    )
    result.stop_s = await stop_worker(worker)
    return first


async def restart(deployment: Deployment, worker: WorkerProcess, result: OpenTickets) -> None:
    """4. Restart on the same data directory, at info level for partitions.recovered."""
    result.restart_ready_s = await start(worker, SLA_LOG_LEVEL="info") - worker.started_at
    recovered = [r for r in worker.log_events("partitions.recovered") if r.get("tickets")]
    if recovered:
        last = recovered[-1]
        result.rebuild_s = float(last["seconds"])
        result.rebuild_tickets = int(last["tickets"])
        result.restart_recovered_s = utc(last["timestamp"]).timestamp() - worker.started_at
    await asyncio.sleep(2.0)
    result.rss_rebuilt = rss_bytes(worker.pid)
    log(
        f"4. restarted: ready in {result.restart_ready_s:.1f}s, index rebuild "
        f"{result.rebuild_s}s for {result.rebuild_tickets} tickets; RSS "
        f"{result.rss_rebuilt / 2**20:.1f} MiB"
    )
    await stop_worker(worker)
    # Deadlines passed while restarting were detected by that worker, not the next one.
    result.prior = await deployment.count("breaches")


async def breach_window(
    rig: Rig, worker: WorkerProcess, result: OpenTickets, first: datetime
) -> None:
    """2. Wait for the breaches of the window; take the worker's CPU and histogram."""
    breaching, window_s = result.breaching, result.window_s
    wait_s = first.timestamp() + window_s - time.time() + max(120.0, breaching / 500)
    await asyncio.sleep(max(0.0, first.timestamp() - time.time()))
    meter, span_began = CpuMeter(worker.pid, rig.broker_pid), time.time()
    try:
        done_at, _ = await counter_reaches(
            worker,
            "sla_outcomes_total",
            breaching - result.prior,
            wait_s,
            stall_s=120.0,
            outcome="breached",
            tier="open",
        )
    except Stalled as stalled:
        done_at = stalled.at
        log(f"2. breaches stopped at {stalled.value:,.0f} (+{result.prior:,} before)")
    result.breach_cpu_s, _, result.breach_others_s = meter.used()
    result.breach_span_s = done_at - span_began
    samples = await asyncio.to_thread(worker.samples)
    result.histogram = sorted(
        (float(labels["le"]), value)
        for name, labels, value in samples
        if name == "sla_breach_detection_delay_seconds_bucket"
    )
    result.histogram_sum = sum(
        v for n, _, v in samples if n == "sla_breach_detection_delay_seconds_sum"
    )
    log(f"2. breaches done {done_at - first.timestamp():.1f}s after the first deadline")


def collect_delays(result: OpenTickets, records: list[tuple[int, bytes]], ready_at: float) -> None:
    """Fill the per-breach delays from the breach topic's messages."""
    decoder = msgspec.json.Decoder()
    seen: set[str] = set()
    delays, published = [], []
    last_deadline = last_detected = 0.0
    for timestamp_ms, value in records:
        document = decoder.decode(value)
        if document["id"] in seen:
            result.duplicates += 1
            continue
        seen.add(document["id"])
        deadline = utc(document["deadline"]).timestamp()
        detected = utc(document["detected_at"]).timestamp()
        result.breaches.append((deadline, detected, timestamp_ms / 1000))
        last_deadline = max(last_deadline, deadline)
        last_detected = max(last_detected, detected)
        if deadline < ready_at:
            result.left_out += 1
            continue
        delays.append(detected - deadline)
        published.append(timestamp_ms / 1000 - deadline)
    result.missing = result.breaching - len(seen)
    result.delays = sorted(delays)
    result.published = sorted(published)
    result.drain_s = last_detected - last_deadline

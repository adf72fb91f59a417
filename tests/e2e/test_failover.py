"""Three workers, one killed: its deadlines fire on the others within the session timeout."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import timedelta
from typing import Any

from harness import Deployment, WorkerProcess, event, utc

S = timedelta(seconds=1)
# The worker's consumer-group session timeout (worker/stream/app.py) plus the 2 s.
SESSION_TIMEOUT = 10 * S
MARGIN = 2 * S


def owned(worker: WorkerProcess, partitions: int) -> set[int]:
    """Return the partitions a worker reports on /metrics (none while it starts)."""
    try:
        return {
            p
            for p in range(partitions)
            if worker.metric("sla_partition_caught_up", partition=str(p)) is not None
        }
    except OSError:
        return set()


def same_repeats(records: list[dict[str, Any]]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for record in records:
        body = json.dumps(
            {k: v for k, v in record.items() if k not in ("detected_at", "_key")}, sort_keys=True
        )
        assert seen.setdefault((record["type"], record["id"]), body) == body


async def test_killed_workers_deadlines_fire_on_the_others(deployment: Deployment) -> None:
    """SIGKILL one of three workers: every deadline still fires, late by at most 12 s."""
    workers = [await deployment.start_worker() for _ in range(2)]
    # With 4 partitions faust may leave a third worker only standby copies (not ready).
    workers.append(await deployment.start_worker(wait=False))
    partitions = int(deployment.env["SLA_PARTITIONS"])

    def settled() -> list[set[int]] | None:
        split = [owned(w, partitions) for w in workers]
        whole = sum(len(s) for s in split) == partitions
        return split if whole and set().union(*split) == set(range(partitions)) else None

    async with asyncio.timeout(90):
        while (split := await asyncio.to_thread(settled)) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.5)  # polling /metrics: the rebalance has no event to await

    tickets = [f"F{n:03d}" for n in range(40)]
    await deployment.send(
        [event("created", t, utc() - 12 * S, tier="fast", priority="P1") for t in tickets]
    )
    await deployment.read("warnings", lambda rs: len({r["ticket_id"] for r in rs}) >= 40)
    victim = next(w for w, s in zip(workers, split, strict=True) if s)
    await victim.stop(signal.SIGKILL)

    breaches = await deployment.read(
        "breaches", lambda rs: {r["ticket_id"] for r in rs} >= set(tickets), timeout_s=90
    )
    same_repeats(breaches)
    for record in breaches:
        late = utc(str(record["detected_at"])) - utc(str(record["deadline"]))
        assert late <= SESSION_TIMEOUT + MARGIN, record

    victim.start()  # back again (perhaps as a standby): nothing lost or doubled
    async with asyncio.timeout(90):
        while await asyncio.to_thread(settled) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
    more = [f"G{n:03d}" for n in range(20)]
    await deployment.send(
        [event("created", t, utc() - 15 * S, tier="fast", priority="P1") for t in more]
    )
    everything = await deployment.read(
        "breaches",
        lambda rs: {r["ticket_id"] for r in rs} >= set(tickets) | set(more),
        timeout_s=90,
    )
    same_repeats(everything)
    assert {r["ticket_id"] for r in everything} == set(tickets) | set(more)

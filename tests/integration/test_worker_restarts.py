"""Restarts, crashes and a second worker: nothing lost, repeats carry the same id."""

from __future__ import annotations

import json
import signal
from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from harness import Deployment, event, utc
from test_worker_replay import IGNORED, history

S = timedelta(seconds=1)


def check_repeats(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Return records by id, asserting that any repeat is the same message (detected_at aside)."""
    seen: dict[str, list[str]] = defaultdict(list)
    for record in records:
        seen[record["id"]].append(
            json.dumps({k: v for k, v in record.items() if k not in IGNORED}, sort_keys=True)
        )
    for key, versions in seen.items():
        assert len(set(versions)) == 1, f"{key} was published with different content: {versions}"
    return {record["id"]: record for record in records}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_stop_mid_stream_then_restart_loses_nothing(
    deployment: Deployment, sig: signal.Signals
) -> None:
    """Stopped (cleanly or not) in the middle of a replay, the restarted worker finishes it."""
    events, breaching = history(late=30, never=20, seed=3)
    tickets = {doc["ticket_id"] for doc in events}
    await deployment.send(events)
    worker = await deployment.start_worker()
    await deployment.read("outcomes", lambda rs: len(rs) >= 500, timeout_s=120)
    code = await worker.stop(sig)
    if sig == signal.SIGTERM:
        assert code == 0, worker.log()
    await deployment.restart(worker)

    def finished(records: list[dict[str, Any]]) -> bool:
        """Every ticket has its outcome, and the 30 answered late their late fulfilment."""
        late = {r["id"] for r in records if r["type"] == "sla.late_fulfilment"}
        return {r["ticket_id"] for r in records} >= tickets and len(late) >= 30

    await deployment.read("outcomes", finished, timeout_s=180)
    await worker.wait_ticks(3)
    outcomes = check_repeats(await deployment.drain("outcomes"))
    breaches = check_repeats(await deployment.drain("breaches"))
    assert {r["ticket_id"] for r in outcomes.values()} == tickets
    assert {r["ticket_id"] for r in breaches.values()} == breaching
    assert {
        r["ticket_id"] for r in outcomes.values() if r.get("outcome") == "breached"
    } == breaching
    late = {r["ticket_id"] for r in outcomes.values() if r["type"] == "sla.late_fulfilment"}
    assert len(late) == 30  # the tickets answered after their breach
    assert late < breaching


async def test_second_worker_takes_over_deadlines_of_a_stopped_one(
    deployment: Deployment,
) -> None:
    """Two workers split the partitions; stopping one moves its tickets, whose deadlines fire."""
    first = await deployment.start_worker()
    second = await deployment.start_worker()
    partitions = int(deployment.env["SLA_PARTITIONS"])

    async def owned(worker: Any) -> set[int]:
        return {
            p
            for p in range(partitions)
            if worker.metric("sla_partition_caught_up", partition=str(p)) is not None
        }

    # after the second joined, the group rebalanced: both own some partitions, none twice
    await first.wait_ready()
    a, b = await owned(first), await owned(second)
    assert a
    assert b
    assert not a & b
    assert a | b == set(range(partitions))

    now = utc()
    tickets = [f"H{n:03d}" for n in range(40)]
    await deployment.send(
        [event("created", t, now - 8 * S, tier="fast", priority="P1") for t in tickets]
    )
    await deployment.read("warnings", lambda rs: len({r["ticket_id"] for r in rs}) >= 40)
    assert await first.stop(signal.SIGTERM) == 0
    breaches = await deployment.read(
        "breaches", lambda rs: {r["ticket_id"] for r in rs} >= set(tickets), timeout_s=90
    )
    check_repeats(breaches)
    assert await owned(second) == set(range(partitions))

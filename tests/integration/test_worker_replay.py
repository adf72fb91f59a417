"""Replaying history: the catch-up clock gives exactly the breaches the history contains."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from harness import POLICY, ROOT, SLA_WORKER, Deployment, event, ts, utc

S = timedelta(seconds=1)
TICKETS = 10_000
# What may differ between the worker's outputs and simulate's: when each was detected (and
# the Kafka key, which simulate does not print).
IGNORED = ("detected_at", "_key")


def history(late: int, never: int, seed: int) -> tuple[list[dict[str, Any]], set[str]]:
    """Tickets created two days ago, over an hour; all answered in time but `late` + `never`.

    Returns the events in time order and the ids of the tickets that must breach.
    """
    rng = random.Random(seed)
    start = utc() - timedelta(days=2)
    events: list[tuple[Any, dict[str, Any]]] = []
    breaching: set[str] = set()
    for n in range(TICKETS):
        ticket = f"R{n:05d}"
        priority = rng.choice(["P1", "P2"])
        budget_s = 20 if priority == "P1" else 40
        created_at = start + timedelta(seconds=rng.uniform(0, 3600))
        events.append(
            (created_at, event("created", ticket, created_at, tier="replay", priority=priority))
        )
        if n < never:
            breaching.add(ticket)
            continue
        if n < never + late:
            breaching.add(ticket)
            answer_s = budget_s + rng.uniform(1, 60)
        else:
            answer_s = rng.uniform(0, budget_s)
        answered_at = created_at + timedelta(seconds=answer_s)
        events.append((answered_at, event("responded", ticket, answered_at)))
    events.sort(key=lambda pair: pair[0])
    return [doc for _, doc in events], breaching


async def test_replay_of_history_answered_in_time_has_no_breach(deployment: Deployment) -> None:
    """10,000 historical tickets, all answered in time, produced before the worker starts."""
    events, _ = history(late=0, never=0, seed=1)
    await deployment.send(events)
    worker = await deployment.start_worker()
    outcomes = await deployment.read("outcomes", lambda rs: len(rs) >= TICKETS, timeout_s=180)
    assert {r["outcome"] for r in outcomes} == {"met"}
    assert len({r["id"] for r in outcomes}) == TICKETS
    # Once caught up, the wall clock decides: let the deadline timer run a few more times,
    # so a false breach at the switch to live time would have been published by now.
    await worker.wait_ticks(3)
    assert await deployment.drain("breaches") == []


def kinds(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["type"] == kind]


async def test_replay_breaches_exactly_the_late_tickets_and_matches_simulate(
    deployment: Deployment, tmp_path: Path
) -> None:
    """With 100 tickets answered late or never, exactly those breach, the 60 answered late get
    a late fulfilment, as `simulate` says; `report` over the outcome topic ranks them."""
    events, breaching = history(late=60, never=40, seed=2)
    answered = {doc["ticket_id"] for doc in events if doc["type"] == "ticket.responded"}
    late = breaching & answered
    assert len(late) == 60
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps(doc) + "\n" for doc in events))
    await deployment.send(events)
    worker = await deployment.start_worker()
    breaches = await deployment.read("breaches", lambda rs: len(rs) >= len(breaching), 180)
    assert {r["ticket_id"] for r in breaches} == breaching
    await deployment.read(
        "outcomes",
        lambda rs: (
            len(kinds(rs, "sla.outcome")) >= TICKETS
            and len(kinds(rs, "sla.late_fulfilment")) >= len(late)
        ),
        timeout_s=180,
    )
    await worker.wait_ticks(3)
    breaches = await deployment.drain("breaches")
    outcomes = await deployment.drain("outcomes")
    warnings = await deployment.drain("warnings")

    now = ts(utc())
    simulated = await asyncio.to_thread(
        subprocess.run,
        [*SLA_WORKER, "simulate", "--policy", str(POLICY), str(log), "--json", "--until", now],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    expected = [json.loads(line) for line in simulated.stdout.splitlines()]

    def comparable(records: list[dict[str, Any]]) -> set[str]:
        return {
            json.dumps(
                {k: v for k, v in r.items() if k not in ("detected_at", "_key")}, sort_keys=True
            )
            for r in records
        }

    published = breaches + outcomes + warnings
    assert len(published) == len(expected)
    assert comparable(published) == comparable(expected)
    fulfilments = kinds(outcomes, "sla.late_fulfilment")
    assert {r["id"] for r in fulfilments} == {f"{t}:first_response:1:late" for t in late}
    assert all(r["_key"] == r["ticket_id"].encode() for r in fulfilments)

    reported = await asyncio.to_thread(
        subprocess.run,
        [*SLA_WORKER, "report", "--broker", f"kafka://{deployment.bootstrap}", "--policy",
         str(POLICY), "--topic", deployment.topics["outcomes"], "--json", "--worst", "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    document = json.loads(reported.stdout)
    assert (document["outcomes"], document["late_fulfilments"]) == (TICKETS, len(late))
    worst = document["worst_breaches"]
    assert {w["ticket_id"] for w in worst[: len(breaching) - len(late)]} == breaching - late
    assert all(w["over_seconds"] is None for w in worst[: len(breaching) - len(late)])
    over = {f["ticket_id"]: f["over_seconds"] for f in fulfilments}
    ranked = worst[len(breaching) - len(late) :]
    assert {w["ticket_id"]: w["over_seconds"] for w in ranked} == over
    assert [w["over_seconds"] for w in ranked] == sorted(over.values(), reverse=True)

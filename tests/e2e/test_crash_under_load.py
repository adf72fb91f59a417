"""Crash under load: SIGKILL the worker at random moments while traffic flows; lose nothing."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from harness import POLICY, ROOT, SLA_WORKER, Deployment, ts, utc

# What may differ between a repeat and the original, or between the worker and simulate.
IGNORED = ("detected_at", "_key")
KILLS = 3


def canonical(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if k not in IGNORED}, sort_keys=True)


async def test_sigkill_under_load_publishes_what_simulate_says(
    deployment: Deployment, tmp_path: Path
) -> None:
    """After several SIGKILLs under load, the outputs equal simulate's; repeats are identical."""
    worker = await deployment.start_worker()
    log = tmp_path / "sent.jsonl"
    loadgen = await asyncio.create_subprocess_exec(
        *[
            *SLA_WORKER,
            "loadgen",
            "--rate",
            "4",
            "--duration",
            "25s",
            "--tiers",
            "replay=1",
            "--priorities",
            "P1=1,P2=1",
            "--spread",
            "10s",
            "--seed",
            "11",
            "--backdate",
            "15s",
            "--out",
            str(log),
            "--produce",
        ],
        env=deployment.env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    rng = random.Random(5)
    for _ in range(KILLS):
        # Random kill moments are the point of this test, not a way to wait for something.
        await asyncio.sleep(rng.uniform(2.0, 7.0))
        await worker.stop(signal.SIGKILL)
        await asyncio.sleep(rng.uniform(0.2, 2.0))  # the worker stays down a moment
        await deployment.restart(worker)
    _, errors = await asyncio.wait_for(loadgen.communicate(), timeout=300)
    assert loadgen.returncode == 0, errors.decode()
    await worker.wait_ticks(3)
    until = ts(utc())

    published: list[dict[str, Any]] = []
    for topic in ("warnings", "breaches", "outcomes"):
        published += await deployment.drain(topic)
    simulated = await asyncio.to_thread(
        subprocess.run,
        [*SLA_WORKER, "simulate", "--policy", str(POLICY), str(log), "--json", "--until", until],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    expected = [json.loads(line) for line in simulated.stdout.splitlines()]

    by_key: dict[tuple[str, str], set[str]] = {}
    for record in published:
        by_key.setdefault((record["type"], record["id"]), set()).add(canonical(record))
    assert all(len(versions) == 1 for versions in by_key.values()), "a repeat differs"
    assert {canonical(r) for r in published} == {canonical(r) for r in expected}
    repeats = len(published) - len(by_key)
    events = log.read_text().count("\n")
    print(
        f"crash under load: {KILLS} kills, {events} events, {len(by_key)} outputs "
        f"({dict(Counter(t for t, _ in by_key))}), {repeats} repeats"
    )

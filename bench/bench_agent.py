"""CPU per event of the worker's own code: the agent's batch path in-process, no broker.

Run with ``make bench`` or ``.venv/bin/python bench/bench_agent.py [--events N] [--profile]``.
The messages are those of ``bench_worker.py``'s throughput figure (the same policy, seed and
mixed historical events), handed to ``worker.stream.agent.Agent.handle_batch`` in batches of
1,000 over 8 partitions, with a dict per partition as the store and a sink that only counts
what it is given: what is timed is decode -> apply -> status -> encode -> metrics -> logs
(the worker's JSON lines, written to /dev/null), the worker's own part of a message,
without faust, the broker or RocksDB. Three runs, with the
status stream on (its default) and off; the best of each is printed. The garbage collector
is set as the worker sets it (``worker.stream.app.tune_collector``; ``--gc-default`` keeps
Python's, to see what that setting is worth). ``bench_worker.py``
gives the whole process's CPU per event beside it: the difference is the framework's.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the harness

from harness import Message, Store
from worker_rig import POLICY
from worker_throughput import history

from worker.edge.logs import configure_logging
from worker.edge.metrics import Metrics
from worker.edge.policy_file import load_policy
from worker.edge.settings import Settings
from worker.stream.agent import Agent, Emission
from worker.stream.app import tune_collector
from worker.stream.health import Health

PARTITIONS = 8
BATCH = 1_000  # worker.stream.app.BATCH_MAX
RUNS = 3


@dataclass(slots=True)
class Sink:
    """Counts the records of each batch; delivers nothing."""

    records: int = 0

    async def deliver(self, emission: Emission) -> dict[int, int]:
        """Count the records; no changelog offsets."""
        self.records += sum(len(w) for w in emission.changelog.values())
        self.records += len(emission.outputs) + len(emission.statuses)
        return {}


def batches(events: list[tuple[bytes, bytes]], topic: str) -> list[list[Message]]:
    """Return the events as the consumer would fetch them: by key's partition, in batches."""
    offsets = [0] * PARTITIONS
    messages = []
    for key, value in events:
        partition = hash(key) % PARTITIONS
        messages.append(Message(topic, partition, offsets[partition], key, value))
        offsets[partition] += 1
    return [messages[i : i + BATCH] for i in range(0, len(messages), BATCH)]


def run(policy_file: Path, events: list[tuple[bytes, bytes]], *, status: bool) -> float:
    """Return the CPU seconds of one agent processing ``events`` from scratch."""
    policy = load_policy(policy_file)
    settings = Settings(app_id="bench-agent", status_topic="sla-status" if status else "")
    agent = Agent(
        settings,
        Metrics(policy),
        policy=policy,
        store=Store(),
        sink=Sink(),
        highwater=lambda topic, partition: None,
        health=Health(tick_interval_s=settings.tick_interval_s),
        tick_topic="bench-agent-ticks",
    )
    work = batches(events, settings.input_topics[0])
    loop = asyncio.new_event_loop()
    try:
        start = time.process_time()
        for batch in work:
            loop.run_until_complete(agent.handle_batch(batch))
        return time.process_time() - start
    finally:
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="cProfile one run (status on)")
    parser.add_argument(
        "--gc-default", action="store_true", help="Python's collector thresholds, not the worker's"
    )
    args = parser.parse_args()
    compiled = Path(sys.modules["worker.core.tracker"].__file__ or "").suffix != ".py"
    print(f"core: {'compiled (mypyc)' if compiled else 'pure Python'}")
    # The worker's logging (JSON lines at info: a line per breach), rendered into the void.
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
    configure_logging("json", "info")
    with tempfile.TemporaryDirectory() as tmp:
        policy_file = Path(tmp) / "policy.yaml"
        policy_file.write_text(POLICY)
        events = history(policy_file, args.events)
        if not args.gc_default:
            tune_collector()
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(run, policy_file, events, status=True)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            return
        for status in (True, False):
            best = min(run(policy_file, events, status=status) for _ in range(RUNS))
            print(
                f"agent, status stream {'on ' if status else 'off'}: "
                f"{best / len(events) * 1e6:6.1f} us CPU per event "
                f"({len(events) / best:,.0f} events/s; best of {RUNS}, {len(events):,} events; "
                f"collector {'default' if args.gc_default else 'as the worker sets it'})"
            )


if __name__ == "__main__":
    main()

"""One worker process end to end on Kafka: events/s, breach detection delay, memory, restart.

Run with ``.venv/bin/python bench/bench_worker.py [--events N] [--open K]``. It starts its own
single-node broker with ``deploy/kafka/kafka.sh`` (free ports, state under a temporary
directory) unless ``--bootstrap HOST:PORT`` names one, creates topics of its own (unique
names and application id, ``sla-worker topics create``), runs ``sla-worker run`` as a
subprocess (``SLA_STORE=rocksdb``, ``SLA_LOG_LEVEL=warning``, a data directory under the
temporary directory, 8 partitions), and removes everything afterwards: workers stopped, the
broker stopped (or, with ``--bootstrap``, the topics deleted), the directory deleted. The
policy is written into the temporary directory (``POLICY`` in ``worker_rig.py``). Figures
only: nothing here asserts on timing. A default run takes about 5 minutes on 2 cores; the
figures are printed as they come, then as a table with the command line and the machine.
The CPU that other processes of the machine used meanwhile is printed too: a busy machine
reads low.

1. **Sustained events/s.** N events (default 200,000) of historical traffic from the load
   generator (``worker.loadgen``, fixed seed, tier ``fast``: 20% late and 5% never answered,
   escalations, pauses, reopens: a mix of met, breached and warned targets, so the worker
   publishes outputs as it would in production), all stamped in the past (the history ends
   minutes before the run), are produced before the worker starts. The worker then replays
   them: timed from ``/readyz`` answering 200 until ``sla_events_total`` reaches N (polled
   every 0.5 s, the crossing interpolated between polls; events processed before the first
   ready answer are left out of the count). The same N messages are first read by a bare
   aiokafka consumer (``group_id=None``, from the beginning, touching each value only):
   the ceiling for a single Python consumer on this machine; then by two bare faust agents
   configured as the worker (``bench/faust_floor.py``): one that only iterates the stream,
   one that also writes each message into a RocksDB table. They are the ceiling faust
   itself puts on a worker that handles messages one at a time with a table.
2. **Breach detection delay.** K open tickets (default 100,000; ``--open``) are created, of
   which B (``--breaching``, default all K) have first-response deadlines spread evenly
   over a window (``--window``, default 60 s) that starts once the load, the restarts of
   4 and a margin are expected to be done (estimated from the rates of 1); the others have
   deadlines a day away. The delay of each breach is ``detected_at - deadline`` from the
   breach topic (exact, per breach): p50, p99 and max, counted only over deadlines after
   the worker was ready (a deadline that passed while it was down or still loading is not
   a detection delay; how many were left out is printed). Also shown: the Kafka timestamp
   of each breach message minus its deadline (when it was actually handed to the
   producer: a tick processes up to 2,000 due tickets one after another), and the
   worker's own ``sla_breach_detection_delay_seconds`` histogram (bucket bounds only).
   B breaches in the window is B / window breaches/s: past what one worker can process
   (see its CPU share, printed), the delay measures the backlog, not the detection; so
   ``--open 1000000 --breaching 100000`` keeps a million open at the default's breach rate.
3. **Memory per open ticket.** VmRSS of the worker (``/proc/<pid>/status``) idle after start
   with nothing open, then after the K tickets are processed, difference divided by K.
   Every ticket has two running targets (first response and resolution), as a real open
   ticket does. RSS includes RocksDB's memtables and caches, not only Python objects.
4. **Restart to ready.** After the load the worker gets SIGTERM and is started again on the
   same data directory (this one run at ``SLA_LOG_LEVEL=info``: its ``partitions.recovered``
   line gives the time the deadline index rebuild took, ``seconds``); timed until
   ``/readyz`` answers 200 and until that line is logged. It is then stopped and started
   once more at the warning level, which serves the breach window (a second restart figure).

The order of a run is therefore 1, then 3, 4 and 2 on one set of topics and data directory
(``--only throughput`` or ``--only open`` runs one part).

Targets: >= 7,000 events/s and <= 150 us of CPU per event per process (issue 17); breach
detection p99 < 1.5 s, <= 300 bytes per open ticket and ready within 60 s after a restart, at
1,000,000 open tickets (issue 5).
``--processes 2`` replays figure 1 with two workers of one group (their events/s and CPU
summed), for the scaling figure. ``--profile FILE`` runs the worker of 1 under cProfile
(``python -m cProfile -o FILE``) and prints its hottest functions; its events/s are then
those of a profiled worker.

Layout: figure 1 is ``worker_throughput.py``, figures 2-4 ``worker_open.py``, what they share
(policy, targets, polling, CPU shares) ``worker_rig.py``; the broker, deployments and worker
processes are the tests' harness, ``tests/harness.py``. This file reads the options, runs
the figures and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the harness

from harness import HarnessError, kafka_env, start_broker, stop_broker
from worker_open import OpenTickets, measure_open
from worker_rig import BUSY_SHARE, PARTITIONS, POLICY, Rig, Row, log
from worker_throughput import Throughput, measure_throughput

__all__ = ["main"]

# Used for the window's start when figure 1 was not run in the same invocation.
ASSUMED_EVENTS_S = 2_000.0  # ticket.created/s of the worker
ASSUMED_PRODUCE_S = 20_000.0


def report(args: argparse.Namespace, thr: Throughput | None, opened: OpenTickets | None) -> None:
    """Print the table of figures, whether the machine was busy, the command and the machine."""
    rows: list[Row] = []
    busy = []
    if thr is not None:
        rows += thr.rows()
        if thr.others_share > BUSY_SHARE:
            busy.append(f"{thr.others_share:.0%} of a core during 1")
    if opened is not None:
        rows += opened.rows()
        share = opened.others_share
        if share is not None and share > BUSY_SHARE:
            busy.append(f"{share:.0%} during the breach window")
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print()
    print(f"{'figure':<{width}}  {'value':<{value_width}}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  {target}")
    if busy:
        print(
            f"note: other processes used {' and '.join(busy)}: the machine was busy, these "
            "figures read low; re-run on a quiet machine"
        )
    print()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"  (as run: {sys.executable} {' '.join(sys.argv)})")
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"machine: {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"load average now {' '.join(load)}"
    )
    print(
        f"broker: {args.bootstrap or 'local Kafka 3.9 from deploy/kafka/kafka.sh'}; "
        f"{PARTITIONS} partitions, one worker process, RocksDB store"
    )


async def run(args: argparse.Namespace, rig: Rig) -> None:
    """Run the figures the options ask for, then print the table."""
    thr = opened = None
    rates = (args.assume_rate, ASSUMED_PRODUCE_S)
    if args.only in (None, "throughput"):
        profile = rig.tmp / "worker.prof" if args.profile else None
        thr = await measure_throughput(rig, args.events, profile, args.processes)
        if args.profile:
            shutil.copy(rig.tmp / "worker.prof", args.profile)
        # ticket.created alone costs the worker less than the mixed events of figure 1 (no
        # outputs): about twice as fast; 1.5 times keeps a margin.
        rates = (1.5 * thr.worker_rate, thr.events / thr.produce_s)
    if args.only in (None, "open"):
        breaching = args.open if args.breaching is None else min(args.breaching, args.open)
        opened = await measure_open(rig, args.open, breaching, args.window, rates)
        if args.breaches_csv:
            with args.breaches_csv.open("w") as out:
                out.write("deadline,detected_at,published\n")
                out.writelines(f"{d:.6f},{t:.6f},{k:.3f}\n" for d, t, k in opened.breaches)
    report(args, thr, opened)


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="events of figure 1")
    parser.add_argument("--open", type=int, default=100_000, help="open tickets of 2-4")
    parser.add_argument(
        "--breaching", type=int, default=None, help="of the open tickets, how many breach"
    )
    parser.add_argument("--window", type=float, default=60.0, help="breach window (seconds)")
    parser.add_argument("--only", choices=("throughput", "open"), help="run one part only")
    parser.add_argument("--bootstrap", help="use this broker (HOST:PORT) instead of starting one")
    parser.add_argument("--kafka-port", type=int, help="port of the broker started (default free)")
    parser.add_argument("--kafka-controller-port", type=int, help="its controller port")
    parser.add_argument(
        "--assume-rate",
        type=float,
        default=ASSUMED_EVENTS_S,
        help="ticket.created/s assumed to place the breach window when figure 1 is not run",
    )
    parser.add_argument("--profile", type=Path, help="cProfile the worker of figure 1 into FILE")
    parser.add_argument(
        "--processes", type=int, default=1, help="workers replaying figure 1 together (one group)"
    )
    parser.add_argument(
        "--breaches-csv", type=Path, help="write deadline,detected_at,published per breach"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--no-status", action="store_true", help="run the workers without the status stream"
    )
    return parser.parse_args()


def main() -> None:
    """Start or name the broker, run the figures, clean up whatever happens."""
    args = parse_args()
    # SIGTERM (and SIGINT, also when started in the background) ends the run with cleanup.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    tmp = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    rig = Rig(tmp, args.bootstrap or "", status_stream=not args.no_status)
    rig.policy.write_text(POLICY)
    status = 0
    try:
        if not args.bootstrap:

            def environment(ports: list[int]) -> dict[str, str]:
                chosen = [args.kafka_port or ports[0], args.kafka_controller_port or ports[1]]
                return kafka_env(chosen, tmp / "kafka")

            rig.broker_env = start_broker(2, environment, "the local Kafka broker")
            rig.bootstrap = f"127.0.0.1:{rig.broker_env['KAFKA_PORT']}"
            log(f"broker up on {rig.bootstrap}")
        asyncio.run(run(args, rig))
    except KeyboardInterrupt as interrupt:
        print(f"interrupted ({interrupt or 'SIGINT'}): cleaning up", file=sys.stderr)
        status = 130
    except HarnessError as error:
        print(f"error: {error}", file=sys.stderr)
        status = 1
    finally:
        rig.kill_workers()
        if rig.broker_env is not None:
            stop_broker(rig.broker_env)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(status)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


if __name__ == "__main__":
    main()

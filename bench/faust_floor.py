"""The ceiling faust itself puts on a worker: a bare agent over the same topic, doing nothing.

Run by ``bench/bench_worker.py`` (figure 1) as ``python bench/faust_floor.py --bootstrap
HOST:PORT --topic T --count N --mode MODE --data-dir DIR``; prints one line,
``events_per_s=<float>``, once the agent has seen N messages. Modes:

- ``iterate``: the agent iterates ``stream.events()`` and counts; nothing else.
- ``table``: the same, and writes each message's value into a RocksDB-backed table under
  its key (what the worker does once per event: a store write and a changelog message).

The app is configured as the worker's (``worker/stream/app.py``): at-least-once, concurrency 1,
raw serializers, the same producer linger, its own consumer group and data directory. The
time runs from the first message the agent sees to the N-th, so start-up and the group join
are left out, as they are for the worker.

This is a benchmark aid, not part of the package: it imports faust, which only
``worker/stream/`` does in the product.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from typing import Any

import faust
from mode import Worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--mode", choices=("iterate", "table"), default="iterate")
    parser.add_argument("--data-dir", required=True, help="the table's RocksDB directory")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="faust-floor-", dir=args.data_dir)
    app = faust.App(
        f"faust-floor-{args.mode}-{secrets.token_hex(4)}",
        broker=f"kafka://{args.bootstrap}",
        store="rocksdb://",
        datadir=data_dir,
        topic_partitions=args.partitions,
        topic_allow_declare=True,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        producer_acks=-1,
        producer_linger_ms=10,
        web_enabled=False,
        autodiscover=False,
        logging_config=None,
    )
    source = app.topic(args.topic, key_serializer="raw", value_serializer="raw")
    table = (
        app.Table("floor", partitions=args.partitions, key_type=bytes, value_type=bytes)
        if args.mode == "table"
        else None
    )
    seen = 0
    began = 0.0

    @app.agent(source, concurrency=1)
    async def agent(stream: Any) -> None:
        nonlocal seen, began
        async for event in stream.events():
            if not seen:
                began = time.perf_counter()
            if table is not None:
                table[event.message.key] = event.message.value
            seen += 1
            if seen >= args.count:
                rate = seen / (time.perf_counter() - began)
                # To the real stdout: the worker redirects print() to its logger.
                os.write(sys.__stdout__.fileno(), f"events_per_s={rate:.1f}\n".encode())
                # Done: the measurement is printed, and nothing of this app is kept.
                os._exit(0)

    Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
    sys.exit(1)  # the worker stopped before N messages were seen


if __name__ == "__main__":
    main()

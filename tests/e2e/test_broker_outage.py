"""The broker goes away right after deadlines pass: breaches are published once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from harness import Deployment, StoppableBroker, event, own_broker, utc

S = timedelta(seconds=1)
TICKETS = 40
# Bounds for what is polled here: the worker notices an outage within its 10 s tick silence,
# and reconnects within a few seconds of the broker answering again.
OUTAGE_VISIBLE_TIMEOUT_S = 40.0
RECOVERY_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoppableBroker]:
    own = own_broker(tmp_path_factory.mktemp("outage-kafka"))
    try:
        yield own
    finally:
        own.down()


@pytest.fixture(scope="module")
def kafka_bootstrap(broker: StoppableBroker) -> str:
    """Point this module's deployments at the broker it may restart."""
    return broker.bootstrap


async def wait_readyz(worker: object, status: int, timeout_s: float) -> str:
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                got, body = await asyncio.to_thread(worker.http, "/readyz")  # type: ignore[attr-defined]
            except OSError:
                got, body = 0, ""
            if got == status:
                return str(body)
            await asyncio.sleep(0.5)


async def test_breaches_due_during_a_broker_outage_are_published_after_it(
    deployment: Deployment, broker: StoppableBroker, tmp_path: Path
) -> None:
    """Deadlines passing while Kafka is down still breach, once Kafka is back; none is lost."""
    worker = await deployment.start_worker()
    tickets = [f"O{n:03d}" for n in range(TICKETS)]
    start = utc() - 12 * S  # 20 s targets: due 8 s from now, while the broker is down
    await deployment.send([event("created", t, start, tier="fast", priority="P1") for t in tickets])
    await deployment.read("warnings", lambda rs: len({r["ticket_id"] for r in rs}) >= TICKETS)
    await asyncio.to_thread(broker.down)
    body = await wait_readyz(worker, 503, OUTAGE_VISIBLE_TIMEOUT_S)
    assert "no deadline tick came back through Kafka" in body
    alive, why = worker.http("/healthz")
    assert alive == 200, why  # the worker itself is alive (its deadline timer runs)
    assert utc() > start + 20 * S  # every deadline passed during the outage
    await asyncio.to_thread(broker.up)
    await wait_readyz(worker, 200, RECOVERY_TIMEOUT_S)
    breaches = await deployment.read(
        "breaches", lambda rs: {r["ticket_id"] for r in rs} >= set(tickets), RECOVERY_TIMEOUT_S
    )
    assert {r["ticket_id"] for r in breaches} == set(tickets)
    assert worker.process is not None
    assert worker.process.poll() is None

"""SIGTERM while the broker is gone: the worker exits within 10 s, saying what it could not do."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from datetime import timedelta

import pytest
from harness import Deployment, StoppableBroker, event, own_broker, utc

S = timedelta(seconds=1)
# What an orchestrator usually waits after SIGTERM before SIGKILL.
STOP_BOUND_S = 10.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoppableBroker]:
    own = own_broker(tmp_path_factory.mktemp("shutdown-kafka"))
    try:
        yield own
    finally:
        own.down()


@pytest.fixture(scope="module")
def kafka_bootstrap(broker: StoppableBroker) -> str:
    """Point this module's deployments at the broker it stops."""
    return broker.bootstrap


async def test_sigterm_with_the_broker_stopped_exits_in_time(
    deployment: Deployment, broker: StoppableBroker
) -> None:
    """With the broker down, SIGTERM ends the worker within 10 s with a stopping line; a stop
    cut short says so after SLA_SHUTDOWN_GRACE (3 s here, 8 s by default)."""
    worker = await deployment.start_worker(SLA_SHUTDOWN_GRACE="3s")
    await deployment.send([event("created", "t1", utc() - 5 * S, tier="fast", priority="P3")])
    async with asyncio.timeout(60):
        while worker.total("sla_events_total") < 1:  # noqa: ASYNC110 - polling HTTP
            await asyncio.sleep(0.2)
    await asyncio.to_thread(broker.down)
    try:
        assert worker.process is not None
        worker.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(worker.process.wait, STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            worker.kill()
            pytest.fail(f"no exit within {STOP_BOUND_S}s of SIGTERM:\n{worker.log()}")
    finally:
        await asyncio.to_thread(broker.up)
    assert worker.log_events("worker.stopping"), worker.log()
    if code != 0:  # the stop did not finish: it says what it could not do
        [line] = worker.log_events("worker.shutdown_incomplete")
        assert "commit" in line["not_done"]
        assert (line["seconds"], line["exit_code"], code) == (3, 75, 75)

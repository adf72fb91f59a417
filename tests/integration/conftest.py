"""Fixtures of the integration tests: a deployment (topics, settings) per test."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from harness import POLICY, ROOT, SLA_WORKER, Deployment


@pytest.fixture
async def deployment(
    kafka_bootstrap: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Deployment]:
    """A fresh set of topics and settings; workers started by the test are stopped after."""
    tag = secrets.token_hex(4)
    topics = {
        "input": f"in-{tag}",
        "warnings": f"warn-{tag}",
        "breaches": f"breach-{tag}",
        "outcomes": f"outcome-{tag}",
        "dead_letters": f"dlq-{tag}",
    }
    env = {
        **os.environ,
        "SLA_BROKER": f"kafka://{kafka_bootstrap}",
        "SLA_APP_ID": f"sla-{tag}",
        "SLA_POLICY": str(POLICY),
        "SLA_INPUT_TOPICS": topics["input"],
        "SLA_WARNING_TOPIC": topics["warnings"],
        "SLA_BREACH_TOPIC": topics["breaches"],
        "SLA_OUTCOME_TOPIC": topics["outcomes"],
        "SLA_DEAD_LETTER_TOPIC": topics["dead_letters"],
        "SLA_PARTITIONS": "4",
        "SLA_LOG_FORMAT": "json",
        "SLA_STORE": "rocksdb",
    }
    created = await asyncio.to_thread(
        subprocess.run,
        [*SLA_WORKER, "topics", "create"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    deployment = Deployment(bootstrap=kafka_bootstrap, env=env, topics=topics, tmp=tmp_path)
    try:
        yield deployment
    finally:
        for worker in deployment.workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            for worker in deployment.workers:
                print(worker.log())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report

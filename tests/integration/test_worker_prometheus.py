"""A real Prometheus scrapes a real worker on the real broker and computes compliance."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import POLICY, ROOT, SLA_WORKER, Deployment, event, utc
from test_prometheus_tools import (
    PROMETHEUS_READY_TIMEOUT_S,
    SERIES_TIMEOUT_S,
    every_expression,
    free_port,
    ready,
    tool,
    wait_for,
)

S = timedelta(seconds=1)
# tier -> (tickets answered in time, tickets never answered): compliance 6/8 and 4/5.
MIX = {"fast": (6, 2), "replay": (4, 1)}


@contextmanager
def prometheus_scraping(port: int, rules: Path, workdir: Path) -> Iterator[str]:
    """Run Debian's Prometheus on a free port, scraping the worker every second."""
    config = workdir / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "scrape_configs": [
                    {
                        "job_name": "sla-worker",
                        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                    }
                ],
            }
        )
    )
    web = free_port()
    url = f"http://127.0.0.1:{web}"
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: ready(url), PROMETHEUS_READY_TIMEOUT_S, "Prometheus ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def query(url: str, expr: str) -> dict[str, Any]:
    """Run an instant query; return the API's whole answer."""
    address = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(address, timeout=10) as response:  # noqa: S310
            answer: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as error:
        answer = json.load(error)
    return answer


def tier_compliance(url: str) -> dict[str, float] | None:
    """Return compliance per tier once every tier of the mix has its final value."""
    answer = query(url, "sla:tier_compliance:ratio_5m")
    got = {s["metric"]["tier"]: float(s["value"][1]) for s in answer["data"]["result"]}
    expected = {tier: ok / (ok + bad) for tier, (ok, bad) in MIX.items()}
    if got.keys() == expected.keys() and all(abs(got[t] - expected[t]) < 1e-9 for t in expected):
        return got
    return None


async def test_prometheus_computes_compliance_scraped_from_the_worker(
    deployment: Deployment, tmp_path: Path
) -> None:
    """After a known mix of met and breached tickets, Prometheus's compliance per tier is exact."""
    worker = await deployment.start_worker()
    rules = tmp_path / "integration.rules.yml"
    generated = await asyncio.to_thread(
        subprocess.run,
        [*SLA_WORKER, "rules", str(POLICY)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rules.write_text(generated.stdout)
    with prometheus_scraping(worker.web_port, rules, tmp_path) as url:
        # Counters must be scraped at zero before the outcomes, or increase() sees none.
        await asyncio.to_thread(
            wait_for,
            lambda: query(url, "sla_outcomes_total")["data"]["result"] or None,
            SERIES_TIMEOUT_S,
            "a first scrape of the worker",
        )
        now = utc()
        events = []
        for tier, (ok, bad) in MIX.items():
            for n in range(ok + bad):
                ticket = f"{tier}-{n}"
                events.append(event("created", ticket, now - 25 * S, tier=tier, priority="P1"))
                if n < ok:
                    events.append(event("responded", ticket, now - 10 * S))
        await deployment.send(events)
        total = sum(ok + bad for ok, bad in MIX.values())
        await deployment.read("outcomes", lambda rs: len(rs) >= total)
        got = await asyncio.to_thread(
            wait_for,
            lambda: tier_compliance(url),
            SERIES_TIMEOUT_S,
            "sla:tier_compliance:ratio_5m from the worker's metrics",
        )
        assert got == pytest.approx({"fast": 0.75, "replay": 0.8}, rel=1e-9)
        recorded = [
            r["expr"] for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]
        ]
        failures = [
            (expr, answer.get("error"))
            for expr in [*every_expression(), *recorded]
            if (answer := query(url, expr))["status"] != "success"
        ]
        assert not failures, failures

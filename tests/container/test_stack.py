"""docker-compose.yml's stack brought up as an operator does, used, and torn down to nothing.

``deploy/container/stack.sh up`` starts Kafka, the topics job, two workers, Prometheus and
Alertmanager (with podman: on the stand-in images of compose.offline.yml) under a project
name of its own and on free host ports, every one set through the compose file's
``*_HOST_PORT`` variables: nothing here depends on 9092 or 9090 being free, and the host
clients below reach Kafka only if the broker advertises the published port. The tests run
in file order; the last one takes the stack down and checks nothing is left.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from container_tools import ROOT, run
from harness import Deployment, free_ports

from worker.edge.policy_file import load_policy
from worker.loadgen import LoadProfile, plan_tickets

pytestmark = pytest.mark.container

STACK_SH = ROOT / "deploy" / "container" / "stack.sh"
HOST_PORTS = (
    "KAFKA_HOST_PORT",
    "WORKER_1_HOST_PORT",
    "WORKER_2_HOST_PORT",
    "PROMETHEUS_HOST_PORT",
    "ALERTMANAGER_HOST_PORT",
    "GRAFANA_HOST_PORT",
)
WORKER_PORTS = {"worker-1": "WORKER_1_HOST_PORT", "worker-2": "WORKER_2_HOST_PORT"}
PARTITIONS = 8  # SLA_PARTITIONS of docker-compose.yml
# `up` returns once every health check passes; the stand-ins are made by the `image`
# fixture before, so this covers starts only (a JVM broker, Python workers).
UP_TIMEOUT_S = 600
# After `up`, the workers still join one group and split the partitions (one rebalance),
# and Prometheus scrapes every 15 s (deploy/compose/prometheus.yml).
SETTLE_TIMEOUT_S = 120.0
# Everything here is polled: HTTP endpoints and a topic have no event to wait on.
POLL_S = 1.0
HTTP_TIMEOUT_S = 5.0

_T = TypeVar("_T")
_CAUGHT_UP = re.compile(r'^sla_partition_caught_up\{partition="(\d+)"\}', re.MULTILINE)


@dataclass(frozen=True)
class Stack:
    """A running stack: its compose project, environment and published host ports."""

    project: str
    env: dict[str, str]
    volumes_before: frozenset[str]

    def port(self, variable: str) -> int:
        return int(self.env[variable])


def _names(engine: str, *command: str) -> set[str]:
    """Return the lines of an engine listing (`ps`, `volume ls`, ...) as a set."""
    return set(run([engine, *command]).stdout.split())


@pytest.fixture(scope="module")
def stack(engine: str, image: str) -> Iterator[Stack]:
    """The stack of docker-compose.yml, up and healthy; taken down (volumes too) after."""
    project = f"slatest{secrets.token_hex(3)}"
    ports = dict(zip(HOST_PORTS, free_ports(len(HOST_PORTS)), strict=True))
    env = {
        **os.environ,
        "ENGINE": engine,
        "COMPOSE_PROJECT_NAME": project,
        **{name: str(port) for name, port in ports.items()},
    }
    before = frozenset(_names(engine, "volume", "ls", "--quiet"))
    offline = ["--offline"] if engine == "podman" else []
    try:
        run(["bash", str(STACK_SH), "up", *offline], env=env, timeout_s=UP_TIMEOUT_S)
        yield Stack(project=project, env=env, volumes_before=before)
    finally:
        run(["bash", str(STACK_SH), "down", "--volumes"], env=env, timeout_s=300, check=False)


def _get(url: str) -> tuple[int, str]:
    """Return the status and body of a GET (0 and the error when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def _poll(probe: Callable[[], tuple[bool, _T]], what: str) -> _T:
    """Call ``probe`` until it reports success; return its last value, or fail with it."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        done, value = probe()
        if done:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{what} within {SETTLE_TIMEOUT_S}s; last seen: {value!r}")
        time.sleep(POLL_S)


def _worker_url(stack: Stack, worker: str, path: str) -> str:
    return f"http://127.0.0.1:{stack.port(WORKER_PORTS[worker])}{path}"


def _owned_partitions(stack: Stack, worker: str) -> set[int]:
    """Return the partitions a worker reports (one sla_partition_caught_up series each)."""
    _, body = _get(_worker_url(stack, worker, "/metrics"))
    return {int(p) for p in _CAUGHT_UP.findall(body)}


def test_both_workers_become_ready_and_split_the_partitions(stack: Stack) -> None:
    """Both workers answer /readyz 200 and own disjoint halves covering all 8 partitions."""

    def ready() -> tuple[bool, dict[str, tuple[int, str]]]:
        answers = {w: _get(_worker_url(stack, w, "/readyz")) for w in WORKER_PORTS}
        return all(status == 200 for status, _ in answers.values()), answers

    _poll(ready, "both workers ready")

    def split() -> tuple[bool, dict[str, set[int]]]:
        owned = {worker: _owned_partitions(stack, worker) for worker in WORKER_PORTS}
        first, second = owned.values()
        return bool(first and second and not first & second), owned

    owned = _poll(split, "the partitions split between the workers")
    assert set().union(*owned.values()) == set(range(PARTITIONS))


def test_prometheus_scrapes_both_workers(stack: Stack) -> None:
    """Prometheus's API reports `up == 1` for worker-1 and worker-2 under job sla-worker."""
    query = urllib.parse.urlencode({"query": 'up{job="sla-worker"}'})
    url = f"http://127.0.0.1:{stack.port('PROMETHEUS_HOST_PORT')}/api/v1/query?{query}"

    def scraped() -> tuple[bool, dict[str, str]]:
        status, body = _get(url)
        if status != 200:
            return False, {"status": str(status), "body": body[:200]}
        series = json.loads(body)["data"]["result"]
        values = {item["metric"]["instance"]: item["value"][1] for item in series}
        return values == {"worker-1:6066": "1", "worker-2:6066": "1"}, values

    _poll(scraped, "both workers scraped")


async def test_synthetic_traffic_produces_breaches_on_the_breach_topic(
    stack: Stack, tmp_path: Path
) -> None:
    """`sla-worker loadgen` from the host: every ticket drawn late or never answered breaches."""
    seed = 7
    prefix = f"T-{secrets.token_hex(3)}-"
    # A day ago: each ticket's whole life is history, sent at once, and its deadlines have
    # passed, so the workers decide every breach without waiting on the clock.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    policy = ROOT / "deploy" / "policies" / "demo.yaml"
    profile = LoadProfile(
        tickets=20,
        seed=seed,
        late=0.5,
        never=0.2,
        tier_weights={"gold": 1.0, "silver": 1.0},
        prefix=prefix,
    )
    expected = {
        plan.ticket_id
        for plan in plan_tickets(load_policy(policy), profile, start)
        if plan.fate in ("late", "never")
    }
    assert expected
    bootstrap = f"127.0.0.1:{stack.port('KAFKA_HOST_PORT')}"
    run(
        [
            sys.executable,
            "-m",
            "worker",
            "loadgen",
            f"--broker=kafka://{bootstrap}",
            f"--policy={policy}",
            "--tickets=20",
            f"--start={start.isoformat()}",
            "--late=50%",
            "--never=20%",
            "--tiers=gold=1,silver=1",
            f"--seed={seed}",
            f"--prefix={prefix}",
        ],
        timeout_s=120,
    )

    # docker-compose.yml's topics (the defaults of the settings), read from the host.
    reader = Deployment(
        bootstrap=bootstrap,
        env={"SLA_PARTITIONS": str(PARTITIONS)},
        topics={"breaches": "sla-breaches"},
        tmp=tmp_path,
    )

    def first_responses(records: list[dict[str, object]]) -> set[object]:
        return {
            record["ticket_id"]
            for record in records
            if record["target"] == "first_response" and str(record["ticket_id"]).startswith(prefix)
        }

    breaches = await reader.read(
        "breaches", lambda records: first_responses(records) >= expected, SETTLE_TIMEOUT_S
    )
    ours = [b for b in breaches if str(b["ticket_id"]).startswith(prefix)]
    assert {b["type"] for b in ours} == {"sla.breached"}
    assert first_responses(ours) == expected


def test_down_leaves_no_container_network_or_volume(engine: str, stack: Stack) -> None:
    """`stack.sh down --volumes` removes every container, network, pod and volume it made."""
    run(["bash", str(STACK_SH), "down", "--volumes"], env=stack.env, timeout_s=300)
    project = stack.project
    label = f"label=com.docker.compose.project={project}"
    assert not _names(engine, "ps", "--all", "--quiet", "--filter", label)
    networks = _names(engine, "network", "ls", "--format", "{{.Name}}")
    assert not {name for name in networks if name.startswith(f"{project}_")}
    volumes = _names(engine, "volume", "ls", "--quiet")
    assert volumes == stack.volumes_before, f"left behind: {sorted(volumes - stack.volumes_before)}"
    if engine == "podman":
        assert not {n for n in _names(engine, "pod", "ls", "--format", "{{.Name}}") if project in n}

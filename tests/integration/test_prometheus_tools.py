"""The generated rules, the Prometheus and Alertmanager configuration, and a real scrape.

Needs `promtool`, `amtool` and `prometheus` (Debian's `prometheus` and
`prometheus-alertmanager`: `bash deploy/install-system-packages.sh`). Without them these
tests are skipped on a laptop and fail in CI (`CI=true`).

The scrape test starts a real Prometheus on 127.0.0.1 (free port, temporary storage, 1 s
scrape and evaluation intervals, the generated cloudflare rules loaded) scraping a tiny HTTP
server that serves `Metrics.render`, drives the metrics with a known mix of met and breached
outcomes, and checks what Prometheus computes. Everything waits by polling, bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from worker.core.events import SlaOutcome, TargetFulfilled
from worker.core.ticket_state import RunningTarget
from worker.edge.metrics import Metrics
from worker.edge.policy_file import load_policy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.rules.yml"))
TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.test.yml"))
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "sla-overview.json"
POLICY_FILE = ROOT / "deploy" / "policies" / "cloudflare.yaml"
# promtool and amtool answer in well under a second; a cold CI machine may be slow.
TOOL_TIMEOUT_S = 60
# Prometheus starts in about a second; replaying an empty WAL takes nothing.
PROMETHEUS_READY_TIMEOUT_S = 60
# With 1 s scrape and evaluation intervals a new value shows up within a few seconds.
SERIES_TIMEOUT_S = 30
PROMETHEUS_START_ATTEMPTS = 3
POLL_INTERVAL_S = 0.2
# Grafana's built-in interval variables, replaced by fixed windows before querying.
GRAFANA_INTERVALS = {"__rate_interval": "1m", "__range": "1h", "__interval": "1m"}

T = TypeVar("T")


def tool(name: str) -> str:
    """Return the path of a Prometheus tool; skip without it, or fail in CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: run `bash deploy/install-system-packages.sh`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False, cwd=ROOT
    )


def wait_for(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """Poll ``probe`` until it returns something other than None, at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(POLL_INTERVAL_S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the static checks -------------------------------------------------------------------


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(rules: Path) -> None:
    """Every generated rules file is valid, without duplicate rules (promtool's lint)."""
    result = run(tool("promtool"), "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("tests", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(tests: Path) -> None:
    """The alert unit tests pass: each alert fires when it should and only then."""
    result = run(tool("promtool"), "test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config() -> None:
    """prometheus.yml is valid, and so are the rules files it loads."""
    result = run(tool("promtool"), "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_check_config() -> None:
    """alertmanager.yml is valid."""
    result = run(tool("amtool"), "check-config", str(PROMETHEUS_DIR / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


# --- a real Prometheus scraping Metrics.render -------------------------------------------


@dataclass
class Exporter:
    """Serves ``Metrics.render`` on /metrics; remembers the content types it answered."""

    metrics: Metrics
    lock: threading.Lock = field(default_factory=threading.Lock)
    content_types: list[str] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                with exporter.lock:
                    body, content_type = exporter.metrics.render(
                        self.headers.get("Accept"), datetime.now(UTC)
                    )
                    exporter.content_types.append(content_type)
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@dataclass
class Prometheus:
    url: str
    exporter: Exporter

    def query(self, expr: str) -> dict[str, Any]:
        """Run an instant query; return the whole API answer (status, data or error)."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            with urllib.request.urlopen(address, timeout=10) as response:  # noqa: S310
                answer: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as error:  # 400/422: the answer says why
            answer = json.load(error)
        return answer

    def vector(self, expr: str) -> list[dict[str, Any]]:
        answer = self.query(expr)
        assert answer["status"] == "success", (expr, answer)
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def values(self, expr: str) -> dict[frozenset[tuple[str, str]], float]:
        return {
            frozenset(sample["metric"].items()): float(sample["value"][1])
            for sample in self.vector(expr)
        }


@contextlib.contextmanager
def serve(exporter: Exporter) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), exporter.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def ready(url: str) -> bool | None:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:  # noqa: S310
            return True if response.status == 200 else None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@contextlib.contextmanager
def start_prometheus(binary: str, workdir: Path, exporter_port: int) -> Iterator[str]:
    """Run Prometheus scraping the exporter with the cloudflare rules; yield its URL."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROMETHEUS_DIR / "rules" / "cloudflare.rules.yml")],
        "scrape_configs": [
            {
                "job_name": "sla-worker",
                "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
            }
        ],
    }
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    for attempt in range(1, PROMETHEUS_START_ATTEMPTS + 1):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = workdir / f"prometheus-{attempt}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_file}",
                    f"--storage.tsdb.path={workdir / f'data-{attempt}'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + PROMETHEUS_READY_TIMEOUT_S
            while process.poll() is None and time.monotonic() < deadline and not ready(url):
                time.sleep(POLL_INTERVAL_S)
            if process.poll() is None and ready(url):
                yield url
                return
            if process.poll() is None:
                pytest.fail(
                    f"Prometheus not ready in {PROMETHEUS_READY_TIMEOUT_S}s:\n" + log.read_text()
                )
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    pytest.fail(f"Prometheus did not start:\n{log.read_text()}")


def outcome(tier: str, priority: str, kind: str, ticket: str) -> list[Any]:
    """An outcome of a first response (and its fulfilment when met), as the tracker emits."""
    started = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    fields: dict[str, Any] = {
        "ticket_id": ticket,
        "tier": tier,
        "priority": priority,
        "target": "first_response",
        "cycle": 1,
        "commitment": "sla",
        "started_at": started,
        "deadline": started + timedelta(hours=1),
        "target_seconds": 3600,
        "policy": "cloudflare-support",
    }
    elapsed = 1800 if kind == "met" else 3600
    fulfilled = started + timedelta(seconds=elapsed)
    result: list[Any] = [
        SlaOutcome(
            **fields,
            outcome="met" if kind == "met" else "breached",
            fulfilled_at=fulfilled if kind == "met" else None,
            elapsed_seconds=elapsed,
        )
    ]
    if kind == "met":
        result.append(
            TargetFulfilled(**fields, fulfilled_at=fulfilled, elapsed_seconds=elapsed, met=True)
        )
    return result


# premium-enterprise: 9 met, 1 breached (90%); enterprise: 3 met, 1 breached (75%);
# business: no outcome at all (no compliance sample).
MIX = [
    *[("premium-enterprise", "P1", "met")] * 9,
    ("premium-enterprise", "P2", "breached"),
    *[("enterprise", "P3", "met")] * 3,
    ("enterprise", "P1", "breached"),
]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary = tool("prometheus")
    metrics = Metrics(load_policy(POLICY_FILE))
    now = datetime.now(UTC)
    metrics.reset_running(
        [
            RunningTarget(
                "premium-enterprise", "P1", "first_response", now + timedelta(minutes=10), False
            ),
            RunningTarget(
                "premium-enterprise", "P1", "first_response", now + timedelta(minutes=12), False
            ),
            RunningTarget(
                "premium-enterprise", "P1", "first_response", now + timedelta(hours=1), False
            ),
            RunningTarget("enterprise", "P2", "first_response", now + timedelta(hours=2), False),
        ]
    )
    metrics.set_partition_caught_up(0, True)
    metrics.timer_ran(now)
    exporter = Exporter(metrics)
    workdir = tmp_path_factory.mktemp("prometheus")
    with serve(exporter) as port, start_prometheus(binary, workdir, port) as url:
        server = Prometheus(url, exporter)
        # One scrape of the zeros first, so that increase() sees every counter rise.
        wait_for(
            lambda: server.vector('sla_outcomes_total{job="sla-worker"}') or None,
            SERIES_TIMEOUT_S,
            "the first scrape",
        )
        with exporter.lock:
            for number, (tier, priority, kind) in enumerate(MIX):
                metrics.observe_outputs(outcome(tier, priority, kind, f"T{number}"))
            metrics.observe_event("ticket.created", "ok", lag_s=0.3)
            metrics.observe_event("garbage", "dead_letter")
            metrics.observe_dead_letter("invalid_json")
            metrics.timer_ran(datetime.now(UTC))
        yield server


def compliance(server: Prometheus, expr: str) -> dict[str, float] | None:
    """Return the compliance per tier once both tiers are at their final value, else None."""
    got = {dict(labels)["tier"]: v for labels, v in server.values(expr).items()}
    expected = {"premium-enterprise": 0.9, "enterprise": 0.75}
    if got.keys() == expected.keys() and all(
        got[tier] == pytest.approx(ratio, rel=1e-9) for tier, ratio in expected.items()
    ):
        return got
    return None


def test_prometheus_computes_the_expected_compliance(prometheus: Prometheus) -> None:
    """The recording rules give met / (met + breached) per tier, summed over series."""
    got = wait_for(
        lambda: compliance(prometheus, "sla:tier_compliance:ratio_5m"),
        SERIES_TIMEOUT_S,
        "sla:tier_compliance:ratio_5m at 0.9 and 0.75: got "
        + repr(prometheus.values("sla:tier_compliance:ratio_5m")),
    )
    assert set(got) == {"premium-enterprise", "enterprise"}  # business: no outcome, no sample
    per_target = wait_for(
        lambda: compliance(prometheus, 'sla:compliance:ratio_5m{target="first_response"}'),
        SERIES_TIMEOUT_S,
        "sla:compliance:ratio_5m",
    )
    assert per_target == got
    labels = next(iter(prometheus.values("sla:tier_compliance:ratio_5m")))
    assert dict(labels)["policy"] == "cloudflare-support"


def test_prometheus_negotiates_openmetrics(prometheus: Prometheus) -> None:
    """Prometheus asks for OpenMetrics and gets it (the gauge histogram's native format)."""
    wait_for(lambda: prometheus.exporter.content_types or None, SERIES_TIMEOUT_S, "a scrape")
    assert prometheus.exporter.content_types[0].startswith("application/openmetrics-text")


def test_time_to_breach_bucket_label_as_scraped(prometheus: Prometheus) -> None:
    """The gauge histogram's 15-minute bucket is stored with le="900.0", as the rules expect."""
    values = prometheus.values(
        'sla_time_to_breach_seconds_bucket{tier="premium-enterprise", priority="P1", '
        'target="first_response", le="900.0"}'
    )
    assert list(values.values()) == [2.0]


def test_imminent_breach_alert_fires(prometheus: Prometheus) -> None:
    """Two premium-enterprise P1 targets due within 15 minutes page SlaBreachImminent."""
    alerts = wait_for(
        lambda: (
            prometheus.vector('ALERTS{alertname="SlaBreachImminent", alertstate="firing"}') or None
        ),
        SERIES_TIMEOUT_S,
        "SlaBreachImminent to fire",
    )
    assert [(a["metric"]["tier"], a["metric"]["priority"]) for a in alerts] == [
        ("premium-enterprise", "P1")
    ]
    assert alerts[0]["metric"]["severity"] == "page"


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana variables: interval ones by fixed windows, the others by `.*`."""

    def replace(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        return GRAFANA_INTERVALS.get(name, ".*")

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, expr)


def every_expression() -> list[str]:
    exprs = [
        rule["expr"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs += [
        grafana_to_promql(target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    exprs += [
        grafana_to_promql(variable["query"]["query"])
        .removeprefix("label_values(")
        .rsplit(",", 1)[0]
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    ]
    return exprs


def test_every_rule_and_dashboard_expression_evaluates(prometheus: Prometheus) -> None:
    """Prometheus accepts every expression of the rules and the dashboard."""
    failures = [
        (expr, answer.get("error"))
        for expr in every_expression()
        if (answer := prometheus.query(expr))["status"] != "success"
    ]
    assert not failures, failures


def test_dashboard_headline_panels_have_data(prometheus: Prometheus) -> None:
    """Compliance, objective, time to breach and worker health panels return series."""
    wait_for(
        lambda: compliance(prometheus, "sla:tier_compliance:ratio_5m"),
        SERIES_TIMEOUT_S,
        "compliance",
    )
    for expr in (
        'sla:objective:ratio{policy=~".*", tier=~".*"}',
        'sum(sla_time_to_breach_seconds_bucket{job=~".*", tier=~".*", le="900.0"})',
        'min by (tier, priority, target) (sla_next_deadline_timestamp_seconds{job=~".*"} > 0)',
        'sum by (instance) (sla_partition_caught_up{job=~".*"})',
        'time() - sla_deadline_timer_last_run_timestamp_seconds{job=~".*"}',
    ):
        assert prometheus.vector(expr), expr

"""Generated Prometheus rules, the committed rule files and the Grafana dashboard."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from worker.cli import main as cli_main
from worker.core.policy import Policy
from worker.core.policy_parse import parse_policy
from worker.edge.metrics import TIME_TO_BREACH_BUCKETS_S, Metrics, bucket_label
from worker.edge.policy_file import load_policy
from worker.edge.rules import (
    BURN_RATE_ALERTS,
    DEFAULT_JOB,
    IMMINENT_S,
    burn_factor,
    render_rules,
    runbook_url,
)

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "deploy" / "policies"
RULES = ROOT / "deploy" / "prometheus" / "rules"
PROMTOOL_TESTS = ROOT / "deploy" / "prometheus" / "tests"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "sla-overview.json"
POLICY_FILES = sorted(POLICIES.glob("*.yaml"))
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

ALERTS = {
    "SlaBreachImminent",
    "SlaBreached",
    "SlaComplianceBelowObjective",
    "SlaErrorBudgetBurnFast",
    "SlaErrorBudgetBurnSlow",
    "SlaDeadLetters",
    "SlaWorkerDown",
    "SlaWorkerLagging",
    "SlaDeadlineTimerStalled",
    "SlaPolicyMismatch",
}
# Alerts whose value is a number worth reading (a count, a ratio, a rate, an age).
ALERTS_WITH_VALUE = {
    "SlaBreachImminent",
    "SlaBreached",
    "SlaComplianceBelowObjective",
    "SlaErrorBudgetBurnFast",
    "SlaErrorBudgetBurnSlow",
    "SlaDeadLetters",
    "SlaDeadlineTimerStalled",
}
# A metric name written right before a selector's matchers or a range: `name{` or `name[`.
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]")
GRAFANA_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
GRAFANA_BUILT_INS = {"__rate_interval", "__range", "__interval"}


def rules_file(policy_file: Path) -> Path:
    return RULES / f"{policy_file.stem}.rules.yml"


def rules_of(text: str) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]


def exported_series() -> set[str]:
    """Every series name the worker exposes (Prometheus text format), at any policy."""
    names: set[str] = set()
    for policy_file in POLICY_FILES:
        metrics = Metrics(load_policy(policy_file))
        metrics.set_partition_caught_up(0, True)
        body, _ = metrics.render(None, NOW)
        names |= {
            line.split("{")[0].split(" ")[0]
            for line in body.decode().splitlines()
            if line and not line.startswith("#")
        }
    return names


def recorded_series() -> set[str]:
    return {
        rule["record"]
        for path in sorted(RULES.glob("*.rules.yml"))
        for rule in rules_of(path.read_text())
        if "record" in rule
    }


def selected_names(expr: str) -> set[str]:
    """Return the metric names an expression selects (never function or keyword names)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return set(SELECTOR.findall(without_strings)) - {"by", "without", "on", "ignoring"}


# --- the committed files ---------------------------------------------------------------


@pytest.mark.parametrize("policy_file", POLICY_FILES, ids=lambda p: p.stem)
def test_committed_rules_are_regenerated_identically(policy_file: Path) -> None:
    """Each committed rules file is exactly what its policy generates today."""
    command = (
        f"sla-worker rules {policy_file.relative_to(ROOT)} > "
        f"{rules_file(policy_file).relative_to(ROOT)}"
    )
    assert rules_file(policy_file).exists(), f"missing rules file: run {command}"
    expected = render_rules(load_policy(policy_file))
    assert rules_file(policy_file).read_text() == expected, (
        f"{rules_file(policy_file).name} is stale: regenerate it with {command}"
    )


def test_every_rules_file_has_its_policy() -> None:
    """No rules file outlives its policy file."""
    stems = {p.name.removesuffix(".rules.yml") for p in RULES.glob("*.rules.yml")}
    assert stems == {p.stem for p in POLICY_FILES}


def test_promtool_tests_load_committed_rules() -> None:
    """Every promtool test file loads rules that exist."""
    for test_file in sorted(PROMTOOL_TESTS.glob("*.test.yml")):
        spec = yaml.safe_load(test_file.read_text())
        assert spec["evaluation_interval"]
        for group in spec["tests"]:
            assert group.get("interval"), f"{test_file.name}: {group['name']} needs an interval"
        for rule_file in spec["rule_files"]:
            assert (test_file.parent / rule_file).resolve().exists()


# --- structure -------------------------------------------------------------------------


@pytest.mark.parametrize("policy_file", POLICY_FILES, ids=lambda p: p.stem)
def test_rules_structure(policy_file: Path) -> None:
    """Groups are named uniquely; every alert has a severity, a policy and three annotations."""
    policy = load_policy(policy_file)
    document = yaml.safe_load(render_rules(policy))
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names))
    for rule in rules_of(render_rules(policy)):
        assert ("record" in rule) != ("alert" in rule)
        assert rule["labels"]["policy"] == policy.name
        if "record" in rule:
            assert rule["record"].startswith("sla:")
            continue
        assert rule["alert"] in ALERTS
        assert rule["labels"]["severity"] in {"page", "ticket"}
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}
        assert annotations["runbook_url"] == (
            "https://github.com/sla-worker/sla-worker/blob/main/docs/runbooks.md"
            f"#runbook-{rule['alert'].lower()}"
        )
        if rule["alert"] in ALERTS_WITH_VALUE:
            assert "$value" in annotations["description"], rule["alert"]


def test_cloudflare_has_every_alert() -> None:
    """A policy with sla, slo and none tiers gets every alert."""
    rules = rules_of(render_rules(load_policy(POLICIES / "cloudflare.yaml")))
    assert {rule["alert"] for rule in rules if "alert" in rule} == ALERTS


def test_severities() -> None:
    """Pages: imminent breach, fast burn, worker down, timer stalled; the rest are tickets."""
    rules = rules_of(render_rules(load_policy(POLICIES / "cloudflare.yaml")))
    severity = {rule["alert"]: rule["labels"]["severity"] for rule in rules if "alert" in rule}
    pages = {k for k, v in severity.items() if v == "page"}
    assert pages == {
        "SlaBreachImminent",
        "SlaErrorBudgetBurnFast",
        "SlaWorkerDown",
        "SlaDeadlineTimerStalled",
    }


def test_imminent_breach_uses_the_time_to_breach_bucket_label() -> None:
    """The alert reads le="900.0": a bucket bound, written as prometheus_client writes it."""
    assert float(IMMINENT_S) in TIME_TO_BREACH_BUCKETS_S
    rules = rules_of(render_rules(load_policy(POLICIES / "cloudflare.yaml")))
    imminent = next(rule for rule in rules if rule.get("alert") == "SlaBreachImminent")
    assert f'le="{bucket_label(IMMINENT_S)}"' in imminent["expr"]
    assert 'le="900.0"' in imminent["expr"]
    assert 'tier=~"premium-enterprise|enterprise"' in imminent["expr"]


def test_imminent_breach_only_for_policies_with_sla_tiers() -> None:
    data = {
        "version": 1,
        "name": "internal",
        "priorities": ["P1"],
        "tiers": {
            "team": {
                "commitment": "slo",
                "objective": 0.9,
                "targets": {"first_response": {"P1": "1h"}},
            }
        },
    }
    alerts = {rule.get("alert") for rule in rules_of(render_rules(parse_policy(data)))}
    assert "SlaBreachImminent" not in alerts
    assert "SlaBreached" in alerts


def test_job_is_in_every_raw_selector() -> None:
    """Every selector of a worker metric matches the job; recorded ones match the policy."""
    text = render_rules(load_policy(POLICIES / "demo.yaml"), job="sla-demo")
    assert 'job="sla-worker"' not in text
    recorded = recorded_series()
    for rule in rules_of(text):
        for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", rule["expr"]):
            name, matchers = match.groups()
            expected = 'policy="demo"' if name in recorded else 'job="sla-demo"'
            assert expected in matchers, (rule.get("record") or rule.get("alert"), match[0])


def test_every_selected_metric_exists() -> None:
    """Rules select only series the worker exposes, series they record, and `up`."""
    known = exported_series() | recorded_series() | {"up"}
    for path in sorted(RULES.glob("*.rules.yml")):
        for rule in rules_of(path.read_text()):
            assert selected_names(rule["expr"]) <= known, (path.name, rule["expr"])


def test_compliance_has_no_sample_without_outcomes() -> None:
    """The denominator is filtered with `> 0`: no outcome in a window, no compliance sample."""
    rules = rules_of(render_rules(load_policy(POLICIES / "demo.yaml")))
    for rule in rules:
        if rule.get("record", "").startswith(("sla:compliance:", "sla:tier_compliance:")):
            assert rule["expr"].rstrip().endswith("> 0)"), rule["record"]


def test_windows_recorded() -> None:
    records = {
        rule.get("record") for rule in rules_of(render_rules(load_policy(POLICIES / "demo.yaml")))
    }
    for window in ("5m", "1h", "1d", "7d", "30d"):
        assert f"sla:compliance:ratio_{window}" in records
        assert f"sla:tier_compliance:ratio_{window}" in records
    assert "sla:error_budget:remaining_ratio_30d" in records
    assert "sla:objective:ratio" in records


def test_runbook_url() -> None:
    """An alert's runbook link is the anchor of its heading in docs/runbooks.md."""
    assert runbook_url("SlaBreachImminent") == (
        "https://github.com/sla-worker/sla-worker/blob/main/docs/runbooks.md"
        "#runbook-slabreachimminent"
    )


def test_every_alert_has_its_runbook() -> None:
    """docs/runbooks.md has a heading "Runbook: <Alert>" for every alert, so each link lands."""
    text = (ROOT / "docs" / "runbooks.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#+ Runbook: (\w+)$", text, flags=re.MULTILINE))
    assert headings == ALERTS
    for alert in ALERTS:  # GitHub's anchor of "Runbook: SlaX" is "runbook-slax"
        assert runbook_url(alert).endswith(f"docs/runbooks.md#runbook-{alert.lower()}")


# --- burn-rate factors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("objective", "factors"),
    [
        (0.999, ("14.4", "6", "3", "1")),
        (0.99, ("14.4", "6", "3", "1")),
        (0.95, ("10", "6", "3", "1")),
        (0.9, ("5", "5", "3", "1")),
        (0.8, ("2.5", "2.5", "2.5", "1")),
        (0.5, ("1", "1", "1", "1")),
    ],
)
def test_burn_factors_per_objective(objective: float, factors: tuple[str, ...]) -> None:
    """The standard 14.4/6/3/1 factors, capped at half the targets breaching."""
    got = tuple(
        burn_factor(window.factor, objective)
        for _, _, windows in BURN_RATE_ALERTS
        for window in windows
    )
    assert got == tuple(Fraction(f) for f in factors)


@pytest.mark.parametrize("objective", [0.001, 0.3, 0.9, 0.93, 0.95, 0.99, 0.9999])
def test_every_burn_factor_can_fire(objective: float) -> None:
    """factor x (1 - objective) is an error ratio below 1: reachable when targets breach."""
    budget = 1 - Fraction(str(objective))
    for _, _, windows in BURN_RATE_ALERTS:
        for window in windows:
            assert burn_factor(window.factor, objective) * budget <= Fraction(1, 2)


def test_objective_of_one_has_no_burn_alerts() -> None:
    data = {
        "version": 1,
        "name": "perfect",
        "priorities": ["P1"],
        "tiers": {
            "gold": {
                "commitment": "sla",
                "objective": 1,
                "targets": {"first_response": {"P1": "1h"}},
            }
        },
    }
    rules = rules_of(render_rules(parse_policy(data)))
    alerts = {rule.get("alert") for rule in rules}
    assert "SlaErrorBudgetBurnFast" not in alerts
    assert "SlaComplianceBelowObjective" in alerts
    budget = next(r for r in rules if r.get("record") == "sla:error_budget:remaining_ratio_30d")
    assert budget["expr"].startswith("floor(")
    with pytest.raises(ValueError, match="no error budget"):
        burn_factor(Fraction(1), 1.0)


def test_pantheon_free_sites_burn_thresholds_are_capped() -> None:
    """Objective 90%: the fast page fires at 5x, where 14.4x would be out of reach."""
    rules = rules_of(rules_file(POLICIES / "pantheon.yaml").read_text())
    fast = next(
        rule
        for rule in rules
        if rule.get("alert") == "SlaErrorBudgetBurnFast" and rule["labels"]["tier"] == "free-sites"
    )
    assert "/ 0.1 > 5\n" in fast["expr"]
    assert "14.4" not in fast["expr"]


# --- the command line ------------------------------------------------------------------


def rules_cli(*args: str) -> Result:
    return CliRunner().invoke(cli_main, ["rules", *args])


def test_rules_command_prints_the_rules() -> None:
    """`sla-worker rules FILE` prints exactly what render_rules generates."""
    policy_file = POLICIES / "temporal-enterprise.yaml"
    result = rules_cli(str(policy_file))
    assert result.exit_code == 0
    assert result.stdout == render_rules(load_policy(policy_file))


def test_rules_command_job_option() -> None:
    """--job replaces the default job in every selector."""
    result = rules_cli(str(POLICIES / "demo.yaml"), "--job", "sla-demo")
    assert result.exit_code == 0
    assert 'job="sla-demo"' in result.stdout
    assert f'job="{DEFAULT_JOB}"' not in result.stdout


def test_rules_command_refuses_an_invalid_policy(tmp_path: Path) -> None:
    """An invalid policy: exit 1, nothing on stdout, a one-line error and no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\n")
    result = rules_cli(str(bad))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr


# --- the dashboard ---------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


def test_dashboard_identity_and_variables() -> None:
    """A stable uid, and the policy, job and tier variables the panels filter by."""
    data = dashboard()
    assert data["uid"] == "sla-overview"
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert {"datasource", "policy", "job", "tier"} <= set(variables)
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert DASHBOARD.read_text() == json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def test_every_panel_has_a_datasource_and_targets() -> None:
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert target["expr"].strip()
        position = panel["gridPos"]
        assert position["x"] >= 0
        assert position["x"] + position["w"] <= 24


def test_dashboard_selects_only_existing_series() -> None:
    """Every expression uses series the worker exposes or the rules record."""
    known = exported_series() | recorded_series() | {"up"}
    for expr in dashboard_exprs():
        assert selected_names(expr) <= known, expr


def test_dashboard_uses_only_defined_variables() -> None:
    defined = {v["name"] for v in dashboard()["templating"]["list"]} | GRAFANA_BUILT_INS
    for expr in dashboard_exprs():
        used = {a or b for a, b in GRAFANA_VARIABLE.findall(expr)}
        assert used <= defined, expr


def test_dashboard_covers_the_issue() -> None:
    """Compliance (24h, 7d, 30d) and budget, breaches, risk, deadlines, latency, health."""
    text = "\n".join(dashboard_exprs())
    for needle in (
        "sla:tier_compliance:ratio_1d",
        "sla:tier_compliance:ratio_7d",
        "sla:tier_compliance:ratio_30d",
        "sla:objective:ratio",
        "sla:error_budget:remaining_ratio_30d",
        'outcome="breached"',
        "sla_time_to_breach_seconds_bucket",
        "sla_next_deadline_timestamp_seconds",
        "histogram_quantile(0.9, sum by (le, tier, priority, target) "
        "(increase(sla_response_seconds_bucket",
        "sla_events_total",
        "sla_event_lag_seconds_bucket",
        "sla_dead_letters_total",
        "sla_partition_caught_up",
    ):
        assert needle in text, needle


@pytest.fixture(scope="module")
def all_policies() -> list[Policy]:
    return [load_policy(path) for path in POLICY_FILES]


def test_dashboard_recorded_series_exist_for_every_policy(all_policies: list[Policy]) -> None:
    """Every recording rule the dashboard reads is generated for every policy."""
    for policy in all_policies:
        records = {rule.get("record") for rule in rules_of(render_rules(policy))}
        for expr in dashboard_exprs():
            for name in selected_names(expr):
                if ":" in name:
                    assert name in records, (policy.name, name)

"""Prometheus recording and alerting rules generated from a policy (``sla-worker rules``).

Edge module: policy in, YAML text out. Imports PyYAML, never faust, aiokafka or
prometheus_client, so ``sla-worker rules`` answers in well under a second. Regenerate a
committed file with::

    sla-worker rules deploy/policies/demo.yaml > deploy/prometheus/rules/demo.rules.yml

Decisions (docs/metrics.md repeats them for users):

- Every selector matches ``job="<job>"`` (default ``sla-worker``, the job of
  ``deploy/prometheus/prometheus.yml``), so two deployments with different policies on one
  Prometheus each get their own job and rules file (``--job``). Every recorded series and
  alert carries ``policy="<policy name>"``; ``SlaPolicyMismatch`` tells when a worker of the
  job runs another policy (name or file sha256) than the one the rules were generated from.
- Compliance is ``met / (met + breached)`` of ``increase(sla_outcomes_total[window])``,
  summed over the job's instances. A window without any outcome has no sample (neither 1,
  which would claim a compliance nobody measured, nor the NaN of 0/0): the denominator is
  filtered with ``> 0``. Dashboards show "no data" and no alert fires on it.
- ``sla:compliance:ratio_<w>`` is per tier and target over 5m, 1h, 1d, 7d, 30d;
  ``sla:tier_compliance:ratio_<w>`` per tier (all its targets) over 5m, 30m, 1h, 2h, 6h,
  1d, 3d, 7d, 30d (the extra windows feed the burn-rate alerts); the 3d, 7d and 30d ones
  are evaluated every 5 minutes, as reading 30 days of samples every minute buys nothing.
  ``sla:error_budget:remaining_ratio_30d`` is ``1 - (1 - compliance_30d) / (1 - objective)``
  per tier: 1 untouched, 0 spent, negative overspent (an objective of 1 has no budget: 1
  while every target is met, else 0). ``sla:objective:ratio`` is the tier's objective.
- Burn-rate alerts follow the multi-window, multi-burn-rate table of the Google SRE
  workbook for a 30-day period (page: 14.4x over 1h and 5m, 6x over 6h and 30m; ticket: 3x
  over 1d and 2h, 1x over 3d and 6h), with each factor capped at ``0.5 / (1 - objective)``:
  the highest burn rate possible is ``1 / (1 - objective)`` (every target breached), so the
  standard 14.4x can never fire for objectives below 93.06%; capped, an alert fires at the
  standard rate or once half the targets in both windows breach, whichever comes first.
  A tier with objective 1 has no budget to burn: ``SlaBreached`` covers it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Final

import yaml

from worker.core.policy import Policy

__all__ = [
    "BURN_RATE_ALERTS",
    "DEFAULT_JOB",
    "IMMINENT_S",
    "RUNBOOK_URL",
    "TARGET_WINDOWS",
    "TIER_WINDOWS",
    "BurnWindow",
    "burn_factor",
    "render_rules",
    "runbook_url",
]

DEFAULT_JOB: Final = "sla-worker"
# Each alert's runbook: a heading "Runbook: <Alert>" of docs/runbooks.md, linked by its anchor.
RUNBOOK_URL: Final = (
    "https://github.com/sla-worker/sla-worker/blob/main/docs/runbooks.md#runbook-{alert}"
)
# SlaBreachImminent: running targets of sla tiers this close to their deadline. Must be a
# bound of sla_time_to_breach_seconds (worker.edge.metrics.TIME_TO_BREACH_BUCKETS_S).
IMMINENT_S: Final = 900
# The bucket label prometheus_client gives IMMINENT_S (see worker.edge.metrics.bucket_label).
_IMMINENT_LE: Final = "900.0"
TARGET_WINDOWS: Final = ("5m", "1h", "1d", "7d", "30d")
TIER_WINDOWS: Final = ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "7d", "30d")
# Windows this long are recorded in a group evaluated every _LONG_INTERVAL.
_LONG_WINDOWS: Final = frozenset({"3d", "7d", "30d"})
_LONG_INTERVAL: Final = "5m"
_PERIOD: Final = "30d"
# How far back SlaBreached and SlaDeadLetters look: a few evaluation intervals, so one
# breach or dead letter keeps the alert up long enough to reach Alertmanager, then clears.
_RECENT: Final = "10m"
# A burn-rate factor never asks for more than this share of targets breached in a window.
_MAX_BURN_ERROR_RATIO: Final = Fraction(1, 2)


@dataclass(frozen=True, slots=True)
class BurnWindow:
    """One long/short window pair of a burn-rate alert and its standard burn factor."""

    long: str
    short: str
    factor: Fraction


BURN_RATE_ALERTS: Final = (
    (
        "SlaErrorBudgetBurnFast",
        "page",
        (BurnWindow("1h", "5m", Fraction("14.4")), BurnWindow("6h", "30m", Fraction(6))),
    ),
    (
        "SlaErrorBudgetBurnSlow",
        "ticket",
        (BurnWindow("1d", "2h", Fraction(3)), BurnWindow("3d", "6h", Fraction(1))),
    ),
)


def runbook_url(alert: str) -> str:
    """Return the runbook link of ``alert``: docs/runbooks.md, heading ``Runbook: <alert>``."""
    return RUNBOOK_URL.format(alert=alert.lower())


def _num(value: Fraction | float) -> str:
    """Print a number PromQL and people read alike: ``14.4``, ``0.01``, ``99.9``."""
    return f"{float(value):.10g}"


def _percent(value: Fraction) -> str:
    return f"{_num(value * 100)}%"


def _selector(metric: str, job: str, **matchers: str) -> str:
    """Return ``metric{job="...", k="v", k=~"v"}``; a key ending in ``_re`` matches by regex."""
    parts = [f"job={json.dumps(job)}"]
    for key, value in matchers.items():
        op = "=~" if key.endswith("_re") else "="
        parts.append(f"{key.removesuffix('_re')}{op}{json.dumps(value)}")
    return f"{metric}{{{', '.join(parts)}}}"


def _recorded(metric: str, policy: Policy, **matchers: str) -> str:
    parts = [f"policy={json.dumps(policy.name)}"]
    parts.extend(f"{key}={json.dumps(value)}" for key, value in matchers.items())
    return f"{metric}{{{', '.join(parts)}}}"


def _exact(objective: float) -> Fraction:
    """Return an objective exactly as written (0.99 is 99/100, not the nearest binary float)."""
    return Fraction(str(objective))


def burn_factor(standard: Fraction, objective: float) -> Fraction:
    """Return the burn factor to alert at for ``objective``: ``standard``, capped.

    The cap, ``0.5 / (1 - objective)``, is the burn rate at which half the targets breach;
    the highest possible burn rate is ``1 / (1 - objective)``, so a capped factor can always
    fire. ``objective`` must be below 1 (an objective of 1 has no budget to burn).
    """
    budget = 1 - _exact(objective)
    if budget <= 0:
        raise ValueError(f"objective {objective} leaves no error budget to burn")
    return min(standard, _MAX_BURN_ERROR_RATIO / budget)


def _compliance(by: str, window: str, job: str) -> str:
    met = _selector("sla_outcomes_total", job, outcome="met")
    every = _selector("sla_outcomes_total", job)
    return (
        f"sum by ({by}) (increase({met}[{window}]))\n"
        f"/\n"
        f"(sum by ({by}) (increase({every}[{window}])) > 0)"
    )


def _record(name: str, expr: str, policy: Policy, **labels: str) -> dict[str, Any]:
    return {"record": name, "expr": expr, "labels": {"policy": policy.name, **labels}}


def _alert(
    name: str,
    expr: str,
    *,
    severity: str,
    summary: str,
    description: str,
    policy: Policy,
    for_: str | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_ is not None:
        rule["for"] = for_
    rule["labels"] = {"severity": severity, "policy": policy.name, **(labels or {})}
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": runbook_url(name),
    }
    return rule


def _recording_groups(policy: Policy, job: str) -> list[dict[str, Any]]:
    short: list[dict[str, Any]] = [
        _record(
            "sla:objective:ratio",
            f"max by (tier) ({_selector('sla_objective_ratio', job)})",
            policy,
        )
    ]
    long: list[dict[str, Any]] = []
    for window in TIER_WINDOWS:
        rules = long if window in _LONG_WINDOWS else short
        rules.append(
            _record(f"sla:tier_compliance:ratio_{window}", _compliance("tier", window, job), policy)
        )
        if window in TARGET_WINDOWS:
            rules.append(
                _record(
                    f"sla:compliance:ratio_{window}",
                    _compliance("tier, target", window, job),
                    policy,
                )
            )
    for name, tier in policy.tiers.items():
        if tier.objective is None:
            continue
        compliance = _recorded(f"sla:tier_compliance:ratio_{_PERIOD}", policy, tier=name)
        budget = 1 - _exact(tier.objective)
        expr = f"1 - (1 - {compliance}) / {_num(budget)}" if budget else f"floor({compliance})"
        long.append(_record(f"sla:error_budget:remaining_ratio_{_PERIOD}", expr, policy, tier=name))
    prefix = f"sla-worker:{policy.name}"
    return [
        {"name": f"{prefix}:compliance", "rules": short},
        {"name": f"{prefix}:compliance-long", "interval": _LONG_INTERVAL, "rules": long},
    ]


def _tiers_with(policy: Policy, commitment: str) -> list[str]:
    return [name for name, tier in policy.tiers.items() if tier.commitment == commitment]


def _sla_alerts(policy: Policy, job: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = []
    contractual = _tiers_with(policy, "sla")
    if contractual:
        bucket = _selector(
            "sla_time_to_breach_seconds_bucket",
            job,
            tier_re="|".join(contractual),
            le=_IMMINENT_LE,
        )
        alerts.append(
            _alert(
                "SlaBreachImminent",
                f"sum by (tier, priority) ({bucket}) > 0",
                severity="page",
                labels={"commitment": "sla"},
                summary="{{ $labels.tier }} {{ $labels.priority }} tickets breach their SLA "
                f"within {IMMINENT_S // 60} minutes",
                description="{{ $value | humanize }} running {{ $labels.priority }} targets of "
                f"the contractual tier {{{{ $labels.tier }}}} (policy {policy.name}) reach "
                f"their deadline within {IMMINENT_S // 60} minutes or are already past it. "
                "Answer them now.",
                policy=policy,
            )
        )
    for commitment in ("sla", "slo"):
        tiers = _tiers_with(policy, commitment)
        if not tiers:
            continue
        breached = _selector("sla_outcomes_total", job, outcome="breached", tier_re="|".join(tiers))
        alerts.append(
            _alert(
                "SlaBreached",
                f"sum by (tier, priority, target) (increase({breached}[{_RECENT}])) > 0",
                severity="ticket",
                labels={"commitment": commitment},
                summary="{{ $labels.tier }} {{ $labels.priority }} {{ $labels.target }} "
                f"target breached ({commitment})",
                description="{{ $value | humanize }} {{ $labels.target }} targets of "
                "{{ $labels.priority }} tickets in tier {{ $labels.tier }} (policy "
                f"{policy.name}, {commitment}) breached in the last {_RECENT}.",
                policy=policy,
            )
        )
    for name, tier in policy.tiers.items():
        if tier.objective is None:
            continue
        objective_value = tier.objective
        objective = _exact(objective_value)
        compliance = _recorded(f"sla:tier_compliance:ratio_{_PERIOD}", policy, tier=name)
        alerts.append(
            _alert(
                "SlaComplianceBelowObjective",
                f"{compliance} < {_num(objective)}",
                for_="15m",
                severity="ticket",
                labels={"tier": name, "commitment": tier.commitment},
                summary=f"Tier {name} is below its objective of {_percent(objective)}",
                description=f"Over the last {_PERIOD}, tier {name} (policy {policy.name}) met "
                "{{ $value | humanizePercentage }} of its targets; its objective is "
                f"{_percent(objective)}.",
                policy=policy,
            )
        )
        budget = 1 - objective
        if not budget:
            continue
        for alert, severity, windows in BURN_RATE_ALERTS:
            clauses = []
            factors = []
            for window in windows:
                factor = burn_factor(window.factor, objective_value)
                factors.append(f"{_num(factor)}x over {window.long} and {window.short}")
                burn = [
                    f"(1 - {_recorded(f'sla:tier_compliance:ratio_{w}', policy, tier=name)})"
                    f" / {_num(budget)} > {_num(factor)}"
                    for w in (window.long, window.short)
                ]
                clauses.append(f"(\n  {burn[0]}\nand\n  {burn[1]}\n)")
            alerts.append(
                _alert(
                    alert,
                    "\nor\n".join(clauses),
                    severity=severity,
                    labels={"tier": name, "commitment": tier.commitment},
                    summary=f"Tier {name} is burning its error budget "
                    "{{ $value | humanize }}x too fast",
                    description=f"Tier {name} (policy {policy.name}, objective "
                    f"{_percent(objective)}) is breaching targets at {{{{ $value | humanize }}}}"
                    f" times the rate its {_PERIOD} error budget allows (alert thresholds: "
                    f"{'; '.join(factors)}).",
                    policy=policy,
                )
            )
    return alerts


def _worker_alerts(policy: Policy, job: str) -> list[dict[str, Any]]:
    up = _selector("up", job)
    info = _selector("sla_policy_info", job)
    expected = {"name": policy.name, **({"sha256": policy.sha256} if policy.sha256 else {})}
    return [
        _alert(
            "SlaWorkerDown",
            f"{up} == 0 or absent({up})",
            for_="5m",
            severity="page",
            summary="sla-worker is down{{ with $labels.instance }} on {{ . }}{{ end }}",
            description="{{ with $labels.instance }}Prometheus could not scrape {{ . }}"
            "{{ else }}Prometheus found no target{{ end }} of job "
            f"{job} (policy {policy.name}) for 5 minutes. While no worker runs, no warning, "
            "breach or outcome is sent.",
            policy=policy,
        ),
        _alert(
            "SlaWorkerLagging",
            f"{_selector('sla_partition_caught_up', job)} == 0",
            for_="15m",
            severity="ticket",
            summary="sla-worker {{ $labels.instance }} is behind on partition "
            "{{ $labels.partition }}",
            description="{{ $labels.instance }} has not caught up with partition "
            "{{ $labels.partition }} for 15 minutes. Its clock is the event time of what it "
            "processed, so warnings and breaches there come late.",
            policy=policy,
        ),
        _alert(
            "SlaDeadlineTimerStalled",
            f"time() - {_selector('sla_deadline_timer_last_run_timestamp_seconds', job)} > 60",
            for_="2m",
            severity="page",
            summary="The deadline timer of {{ $labels.instance }} stopped",
            description="The deadline timer of {{ $labels.instance }} last ran "
            "{{ $value | humanizeDuration }} ago: breaches and warnings are not detected.",
            policy=policy,
        ),
        _alert(
            "SlaDeadLetters",
            f"sum by (reason) (increase({_selector('sla_dead_letters_total', job)}"
            f"[{_RECENT}])) > 0",
            severity="ticket",
            summary="Input events dead-lettered ({{ $labels.reason }})",
            description="{{ $value | humanize }} input messages went to the dead-letter topic "
            f"with reason {{{{ $labels.reason }}}} in the last {_RECENT} (job {job}). Their "
            "tickets are not tracked until the producer sends them again, valid.",
            policy=policy,
        ),
        _alert(
            "SlaPolicyMismatch",
            f"{info} unless {_selector('sla_policy_info', job, **expected)}",
            for_="10m",
            severity="ticket",
            summary="{{ $labels.instance }} runs another policy than its alert rules",
            description="{{ $labels.instance }} runs policy {{ $labels.name }} (sha256 "
            "{{ $labels.sha256 }}), but these rules were generated from policy "
            f"{policy.name}{f' (sha256 {policy.sha256})' if policy.sha256 else ''}: "
            "regenerate them with sla-worker rules.",
            policy=policy,
        ),
    ]


class _Dumper(yaml.SafeDumper):
    """Safe YAML with multi-line text as literal blocks (expressions stay readable)."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render_rules(policy: Policy, *, job: str = DEFAULT_JOB) -> str:
    """Return the Prometheus rules file (YAML) for ``policy``, scraped as ``job``."""
    groups = _recording_groups(policy, job)
    groups.append({"name": f"sla-worker:{policy.name}:alerts", "rules": []})
    groups[-1]["rules"] = _sla_alerts(policy, job) + _worker_alerts(policy, job)
    header = [
        f"# Prometheus rules for the sla-worker policy {policy.name!r}"
        + (f" (policy file sha256 {policy.sha256})." if policy.sha256 else "."),
        "# Generated by `sla-worker rules POLICY_FILE [--job NAME]`:",
        "# edit the policy and regenerate; do not edit this file.",
    ]
    body = yaml.dump(
        {"groups": groups},
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,  # never fold a line: expressions and texts read as written
    )
    return "\n".join(header) + "\n" + body

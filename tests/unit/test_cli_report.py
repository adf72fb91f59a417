"""``sla-worker report --file``: the compliance report of a file of outcomes, in three formats.

The figures themselves are pinned in ``test_compliance.py``; here, the command: its options,
the period of a file (when outcomes were decided), the table, CSV and JSON forms, an empty
period, unreadable lines, and a report over ``simulate --json`` of a log. The topic is read
in ``tests/integration/test_report.py``, against the real broker.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from harness import late_fulfilment

from worker.cli import main
from worker.core.events import SlaLateFulfilment, SlaOutcome
from worker.edge.codec import encode_input, encode_output
from worker.edge.policy_file import load_policy
from worker.edge.report import NO_CUSTOMER, compliance_csv, compliance_json
from worker.loadgen import LoadProfile, plan_tickets

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "deploy" / "policies" / "demo.yaml")
T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def outcome(
    ticket: str,
    met: bool,
    elapsed_s: float,
    *,
    at: datetime = T0,
    customer: str | None = None,
    tier: str = "gold",
    priority: str = "P1",
    target: str = "first_response",
    target_s: int = 120,
) -> SlaOutcome:
    """An outcome of ``ticket`` started at ``at`` (demo gold P1 first response: 2m)."""
    return SlaOutcome(
        ticket_id=ticket,
        customer_id=customer,
        tier=tier,
        priority=priority,
        target=target,
        cycle=1,
        commitment="sla",
        started_at=at,
        deadline=at + timedelta(seconds=target_s),
        target_seconds=target_s,
        policy="demo",
        outcome="met" if met else "breached",
        fulfilled_at=at + timedelta(seconds=elapsed_s) if met else None,
        elapsed_seconds=elapsed_s,
    )


OUTCOMES = [
    outcome("T-1", True, 30, customer="acme"),
    outcome("T-2", True, 90, customer="acme"),
    outcome("T-3", False, 120, customer=None, at=T0 + M),  # never fulfilled
    outcome("T-4", True, 60, tier="silver", customer="globex", target_s=300),
    outcome("T-5", False, 300, tier="silver", customer=None, target_s=300),
]
# T-5 answered 45 s past its 5m target (at 10:05:45).
LATE = late_fulfilment(OUTCOMES[4], 45)


def write(
    path: Path,
    outcomes: list[SlaOutcome | SlaLateFulfilment],
    extra: tuple[bytes, ...] = (),
) -> str:
    path.write_bytes(b"".join(encode_output(o) + b"\n" for o in outcomes) + b"".join(extra))
    return str(path)


def report(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(main, ["report", "--policy", DEMO, *args], input=stdin)


@pytest.fixture
def log(tmp_path: Path) -> str:
    return write(tmp_path / "outcomes.jsonl", [*OUTCOMES, LATE])


def test_the_table_shows_each_group_its_verdict_and_the_worst_breaches(log: str) -> None:
    """The terminal form: a row per tier, priority and target, then the worst breaches."""
    result = report("--file", log)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"compliance (file {log})")
    gold = next(line for line in lines if "gold" in line and "first_response" in line)
    assert [cell.strip() for cell in gold.split("│")[1:-1]] == [
        "gold",
        "P1",
        "first_response",
        "2",
        "1",
        "66.67%",
        "99.00%",
        "MISSED",
        "1m",
        "1m24s",
    ]
    assert any("silver" in line and "50.00%" in line and "95.00%" in line for line in lines)
    worst = lines[lines.index(next(x for x in lines if x.startswith("worst breaches"))) :]
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in worst if line.startswith("│")]
    assert [(c[0], c[-2], c[-1]) for c in cells] == [
        ("T-3", "-", "open"),  # not fulfilled first
        ("T-5", "2026-11-02T10:05:45Z", "45s"),  # then fulfilled late, most time over first
    ]
    assert lines[-1] == "5 outcomes, 1 late fulfilment"


def test_csv_has_a_header_and_a_row_per_group(log: str) -> None:
    """--csv: the groups only, machine-readable, seconds as numbers, missing values empty."""
    result = report("--file", log, "--csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "tier,priority,target,met,breached,compliance,objective,verdict,median_seconds,p90_seconds\n"
        "gold,P1,first_response,2,1,0.666667,0.99,missed,60,84\n"
        "silver,P1,first_response,1,1,0.5,0.95,missed,60,60\n"
    )


def test_json_holds_the_period_groups_and_worst_breaches(log: str) -> None:
    """--json: one object with the source, the period, the groups and the worst breaches."""
    result = report("--file", log, "--json", "--worst", "2", "--from", "2026-11-02")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {k: v for k, v in document.items() if k not in ("groups", "worst_breaches")} == {
        "source": f"file {log}",
        "from": "2026-11-02T00:00:00Z",
        "to": None,
        "by": "tier",
        "outcomes": 5,
        "late_fulfilments": 1,
        "duplicates": 0,
    }
    assert document["groups"][0] == {
        "tier": "gold",
        "priority": "P1",
        "target": "first_response",
        "met": 2,
        "breached": 1,
        "compliance": 0.666667,
        "objective": 0.99,
        "verdict": "missed",
        "median_seconds": 60,
        "p90_seconds": 84,
    }
    assert document["worst_breaches"] == [
        {
            "id": "T-3:first_response:1",
            "ticket_id": "T-3",
            "customer_id": None,
            "tier": "gold",
            "priority": "P1",
            "target": "first_response",
            "cycle": 1,
            "deadline": "2026-11-02T10:03:00Z",
            "target_seconds": 120,
            "fulfilled_at": None,
            "elapsed_seconds": None,
            "over_seconds": None,
        },
        {
            "id": "T-5:first_response:1",
            "ticket_id": "T-5",
            "customer_id": None,
            "tier": "silver",
            "priority": "P1",
            "target": "first_response",
            "cycle": 1,
            "deadline": "2026-11-02T10:05:00Z",
            "target_seconds": 300,
            "fulfilled_at": "2026-11-02T10:05:45Z",
            "elapsed_seconds": 345,
            "over_seconds": 45,
        },
    ]


def test_by_customer_groups_missing_ids_as_none(log: str) -> None:
    """--by customer: a group per customer; outcomes without one are '(none)' (JSON: null)."""
    table = report("--file", log, "--by", "customer")
    assert table.exit_code == 0, table.output
    customers = [line.split("│")[1].strip() for line in table.stdout.splitlines() if "│" in line]
    assert customers[:4] == ["acme", "globex", NO_CUSTOMER, NO_CUSTOMER]
    rows = list(
        csv.DictReader(io.StringIO(report("--file", log, "--by", "customer", "--csv").stdout))
    )
    assert [(r["customer_id"], r["tier"], r["met"], r["breached"]) for r in rows] == [
        ("acme", "gold", "2", "0"),
        ("globex", "silver", "1", "0"),
        (NO_CUSTOMER, "gold", "0", "1"),
        (NO_CUSTOMER, "silver", "0", "1"),
    ]
    assert rows[2]["median_seconds"] == ""  # no target met: no time to fulfil
    document = json.loads(report("--file", log, "--by", "customer", "--json").stdout)
    assert document["by"] == "customer"
    assert [g["customer_id"] for g in document["groups"]] == ["acme", "globex", None, None]


def test_a_file_period_is_when_outcomes_were_decided(tmp_path: Path) -> None:
    """--from/--to select a file's outcomes by fulfilment (met) or deadline (breached)."""
    log = write(
        tmp_path / "o.jsonl",
        [
            outcome("A", True, 30, at=datetime(2026, 10, 31, 23, 59, 45, tzinfo=UTC)),  # Nov 1st
            outcome("B", False, 120, at=datetime(2026, 11, 30, 23, 58, tzinfo=UTC)),  # Dec 1st
            outcome("C", False, 120, at=datetime(2026, 11, 30, 23, 57, tzinfo=UTC)),  # Nov 30th
            outcome("D", True, 30, at=datetime(2026, 10, 31, 23, 58, tzinfo=UTC)),  # Oct 31st
        ],
    )
    result = report("--file", log, "--from", "2026-11-01", "--to", "2026-12-01", "--json")
    assert result.exit_code == 0, result.output
    (group,) = json.loads(result.stdout)["groups"]
    assert (group["met"], group["breached"]) == (1, 1)
    instants = report("--file", log, "--from", "2026-11-30T23:59:00+00:00", "--json")
    assert json.loads(instants.stdout)["outcomes"] == 2  # B, and C at its deadline exactly


@pytest.mark.parametrize("fmt", [[], ["--csv"], ["--json"]])
def test_an_empty_period_says_so_and_succeeds(log: str, fmt: list[str]) -> None:
    """No outcome in the period: an explicit line (stderr for CSV and JSON), exit code 0."""
    result = report("--file", log, "--from", "2027-01-01", "--to", "2027-02-01", *fmt)
    assert result.exit_code == 0, result.output
    message = f"no outcomes between 2027-01-01T00:00:00Z and 2027-02-01T00:00:00Z in file {log}"
    if not fmt:
        assert result.stdout == message + "\n"
        return
    assert result.stderr == message + "\n"
    if fmt == ["--csv"]:
        assert result.stdout.count("\n") == 1  # the header
    else:
        assert json.loads(result.stdout)["groups"] == []


def test_unreadable_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    """Lines that are no output are listed on stderr by number; the rest is reported."""
    log = write(tmp_path / "o.jsonl", OUTCOMES[:2], (b"not json\n", b'{"type":"sla.outcome"}\n'))
    result = report("--file", log, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "line 3: not JSON: invalid character (byte 4)",
        "line 4: Object missing required field `ticket_id`",
    ]
    assert json.loads(result.stdout)["outcomes"] == 2


def test_repeated_outcomes_count_once(tmp_path: Path) -> None:
    """An outcome or late fulfilment delivered twice (same id) counts once; the repeats are
    said."""
    log = write(tmp_path / "o.jsonl", [LATE, *OUTCOMES, OUTCOMES[0], LATE, OUTCOMES[2]])
    document = json.loads(report("--file", log, "--json").stdout)
    assert (document["outcomes"], document["late_fulfilments"], document["duplicates"]) == (5, 1, 3)
    assert [w["over_seconds"] for w in document["worst_breaches"]] == [None, 45]
    last = report("--file", log).stdout.splitlines()[-1]
    assert last == "5 outcomes, 1 late fulfilment, 3 repeats dropped"


def test_a_late_fulfilment_after_the_period_leaves_its_breach_open(log: str) -> None:
    """A file's late fulfilment counts in the periods its fulfilment is in: before it, the
    breach is not fulfilled."""
    before = report("--file", log, "--json", "--to", "2026-11-02T10:05:45Z")
    assert [w["over_seconds"] for w in json.loads(before.stdout)["worst_breaches"]] == [None, None]
    within = report("--file", log, "--json", "--to", "2026-11-02T10:05:46Z")
    assert [w["over_seconds"] for w in json.loads(within.stdout)["worst_breaches"]] == [None, 45]


def test_outcomes_without_late_fulfilments_list_every_breach_as_not_fulfilled(
    tmp_path: Path,
) -> None:
    """A file of outcomes only (written before late fulfilments existed) still gives a report:
    every breach not fulfilled, the oldest deadline first."""
    log = write(tmp_path / "o.jsonl", OUTCOMES)
    result = report("--file", log)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    worst = [line for line in lines if line.startswith("│ T-")]
    assert [line.split("│")[1].strip() for line in worst] == ["T-3", "T-5"]
    assert [line.split("│")[-2].strip() for line in worst] == ["open", "open"]
    assert lines[-1] == "5 outcomes, 0 late fulfilments"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--from", "2026-11-31"], "'2026-11-31' is not a date such as 2026-11-01"),
        (["--to", "yesterday"], "'yesterday' is not an RFC 3339 timestamp"),
        (["--to", "2026-11-01T00:00:00"], "has no UTC offset"),
        (["--from", "2026-12-01", "--to", "2026-11-01"], "--to must be after --from"),
        (["--by", "agent"], "'agent' is not one of 'tier', 'customer'"),
        (["--worst", "-1"], "-1 is not in the range x>=0"),
    ],
)
def test_bad_options_are_one_line_usage_errors(log: str, args: list[str], problem: str) -> None:
    """A bad date, period, grouping or count: one line naming it, exit code 2."""
    result = report("--file", log, *args)
    assert result.exit_code == 2
    assert problem in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_policy_comes_from_sla_policy_by_default(log: str, tmp_path: Path) -> None:
    """Without --policy, objectives come from SLA_POLICY; a bad policy is exit code 1."""
    runner = CliRunner(env={"SLA_POLICY": DEMO})
    result = runner.invoke(main, ["report", "--file", log, "--csv"])
    assert result.exit_code == 0, result.output
    assert ",0.99,missed," in result.stdout
    (tmp_path / "bad.yaml").write_text("version: 1\n")
    bad = CliRunner(env={"SLA_POLICY": str(tmp_path / "bad.yaml")}).invoke(
        main, ["report", "--file", log]
    )
    assert bad.exit_code == 1


def test_a_report_over_simulate_json_has_simulates_figures(tmp_path: Path) -> None:
    """simulate --json piped into report --file -: per tier and target, simulate's counts."""
    policy = load_policy(DEMO)
    profile = LoadProfile(rate=0.05, tickets=300, seed=7)
    events = [e for plan in plan_tickets(policy, profile, T0) for e in plan.events]
    (tmp_path / "events.jsonl").write_bytes(b"".join(encode_input(e) + b"\n" for e in events))
    runner = CliRunner()
    until = (max(e.occurred_at for e in events) + timedelta(days=1)).isoformat()
    simulated = runner.invoke(
        main,
        ["simulate", "--policy", DEMO, str(tmp_path / "events.jsonl"), "--json", "--until", until],
    )
    assert simulated.exit_code == 0, simulated.output
    table: dict[tuple[str, str], tuple[int, int]] = {}
    for line in simulated.stderr.splitlines()[1:-1]:
        tier, target, _, met, breached, *_ = line.split()
        if int(met) + int(breached):
            table[tier, target] = (int(met), int(breached))
    result = report("--file", "-", "--json", stdin=simulated.stdout.encode())
    assert result.exit_code == 0, result.output
    counted: dict[tuple[str, str], tuple[int, int]] = {}
    for group in json.loads(result.stdout)["groups"]:
        met, breached = counted.get((group["tier"], group["target"]), (0, 0))
        counted[group["tier"], group["target"]] = (met + group["met"], breached + group["breached"])
    assert counted == table
    assert sum(breached for _, breached in table.values()) > 0


def test_formats_of_an_empty_report_by_customer() -> None:
    """An empty report by customer still has its CSV header and JSON shape."""
    from worker.core.compliance import compliance_report

    empty = compliance_report([], load_policy(DEMO), by_customer=True)
    assert compliance_csv(empty).startswith("customer_id,tier,priority,target,met,")
    document: dict[str, Any] = compliance_json(empty, source="file x", start=None, end=T0)
    assert (document["by"], document["to"], document["groups"]) == (
        "customer",
        "2026-11-02T10:00:00Z",
        [],
    )

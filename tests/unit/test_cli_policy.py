"""``sla-worker policy check`` and ``policy explain``, as a user runs them."""

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from worker.cli import main

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "deploy" / "policies"
CLOUDFLARE = str(POLICIES / "cloudflare.yaml")
SHIPPED = sorted(POLICIES.glob("*.yaml"))

PolicyData = Callable[..., dict[str, Any]]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def explain_json(*args: str) -> dict[str, Any]:
    result = run("policy", "explain", *args, "--json")
    assert result.exit_code == 0, result.output
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


@pytest.fixture
def business_file(tmp_path: Path, policy_data: PolicyData) -> Callable[..., str]:
    """Write the default test policy (us-business: Los Angeles, mon-fri 09-17) to a file."""

    def write(**overrides: object) -> str:
        path = tmp_path / "business.yaml"
        path.write_text(yaml.safe_dump(policy_data(**overrides)), encoding="utf-8")
        return str(path)

    return write


# --- policy check --------------------------------------------------------------------------


def test_check_accepts_every_shipped_policy() -> None:
    """Each valid file gets one 'ok' line with its name, tier count and digest; exit 0."""
    result = run("policy", "check", *map(str, SHIPPED))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(SHIPPED)
    for path, line in zip(SHIPPED, lines, strict=True):
        assert re.fullmatch(
            rf"ok: {re.escape(str(path))} \([a-z-]+, \d+ tiers?, sha256 [0-9a-f]{{12}}\)", line
        )
    assert f"ok: {CLOUDFLARE} (cloudflare-support, 5 tiers, sha256 " in result.stdout


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    """Invalid files list every problem with place and line; valid ones are still checked."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\nname: x\npriorities: [P1]\ntiers:\n  t: {commitment: maybe}\n")
    missing = tmp_path / "missing.yaml"
    result = run("policy", "check", str(bad), CLOUDFLARE, str(missing))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{bad}: invalid policy (2 problems)",
        "  version: unsupported version 2: this sla-worker reads version 1 only (line 1)",
        "  tiers.t.commitment: unknown commitment 'maybe' (choose one of sla, slo, none) (line 5)",
        result.stdout.splitlines()[3],
        f"{missing}: cannot read the file: No such file or directory",
    ]
    assert result.stdout.splitlines()[3].startswith(f"ok: {CLOUDFLARE} ")


def test_check_needs_a_file() -> None:
    """No file is a usage error: one line, exit 2."""
    result = run("policy", "check")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: Missing argument 'FILE...'. (see 'main policy check --help')"
    ]


# --- policy explain: 24x7 ------------------------------------------------------------------


def test_explain_json_for_a_24x7_target() -> None:
    """Cloudflare Enterprise P1 created 10:00Z on Monday: first response due 12:00Z."""
    result = explain_json(
        CLOUDFLARE, "--tier", "enterprise", "--priority", "P1", "--start", "2026-11-23T10:00:00Z"
    )
    assert result["deadline"] == "2026-11-23T12:00:00Z"
    assert result["target_seconds"] == 7200
    assert result["tier"] == "enterprise"
    assert result["priority"] == "P1"
    assert result["target"] == "first_response"
    assert result["calendar"] == "24x7"
    assert result["commitment"] == "sla"
    assert result["pausable"] is False
    assert result["counting_starts_at"] == "2026-11-23T10:00:00Z"
    assert result["counting_starts"] == "open"
    assert result["spans"] == [
        {
            "from": "2026-11-23T10:00:00Z",
            "to": "2026-11-23T12:00:00Z",
            "from_local": "2026-11-23T10:00:00+00:00",
            "to_local": "2026-11-23T12:00:00+00:00",
            "seconds": 7200,
            "total_seconds": 7200,
        }
    ]
    assert result["policy"] == "cloudflare-support"
    assert len(result["policy_sha256"]) == 64


def test_explain_accepts_any_offset_and_answers_in_utc() -> None:
    """The start may carry any UTC offset; every instant printed is UTC with Z."""
    result = explain_json(
        CLOUDFLARE, "--tier", "business", "--priority", "P2", "--start", "2026-11-23T11:00:00+01:00"
    )
    assert result["start"] == "2026-11-23T10:00:00Z"
    assert result["deadline"] == "2026-11-23T22:00:00Z"


def test_explain_text_for_a_24x7_target() -> None:
    """The text form shows the target, the counting start, each span and the deadline."""
    result = run(
        "policy", "explain", CLOUDFLARE, "--tier", "premium-enterprise", "--priority", "P1",
        "--start", "2026-11-23T10:00:00Z",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "cloudflare-support: tier premium-enterprise, priority P1, first_response (commitment sla)",
        "target    1h of counted time (3600 s) on calendar 24x7 (UTC), not pausable",
        "start     2026-11-23T10:00:00Z (Mon 2026-11-23 10:00 UTC)",
        "counting  starts at once: 24x7 is open at the start",
        "spans     1 counted span:",
        "    1  2026-11-23T10:00:00Z -> 2026-11-23T11:00:00Z  "
        "(Mon 2026-11-23 10:00 UTC -> Mon 2026-11-23 11:00 UTC)  1h, total 1h",
        "deadline  2026-11-23T11:00:00Z (Mon 2026-11-23 11:00 UTC)",
    ]


def test_explain_pauses_apply_even_to_a_target_that_does_not_pause() -> None:
    """--pause excludes its span whatever the target's pausable; overlapping ones merge."""
    result = explain_json(
        CLOUDFLARE, "--tier", "enterprise", "--priority", "P1", "--start", "2026-11-23T10:00:00Z",
        "--pause", "2026-11-23T10:30:00Z/2026-11-23T10:50:00Z",
        "--pause", "2026-11-23T10:40:00Z/2026-11-23T11:00:00Z",
    )  # fmt: skip
    assert result["pausable"] is False
    assert result["pauses"] == [{"from": "2026-11-23T10:30:00Z", "to": "2026-11-23T11:00:00Z"}]
    assert [(s["from"], s["to"]) for s in result["spans"]] == [
        ("2026-11-23T10:00:00Z", "2026-11-23T10:30:00Z"),
        ("2026-11-23T11:00:00Z", "2026-11-23T12:30:00Z"),
    ]
    assert [s["total_seconds"] for s in result["spans"]] == [1800, 7200]
    assert result["deadline"] == "2026-11-23T12:30:00Z"


def test_explain_a_start_inside_a_pause() -> None:
    """Counting starts when the pause ends, and the text says why."""
    args = [
        "policy", "explain", CLOUDFLARE, "--tier", "enterprise", "--priority", "P1",
        "--start", "2026-11-23T10:00:00Z", "--pause", "2026-11-23T09:00:00Z/2026-11-23T10:15:00Z",
    ]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert (
        "counting  starts at 2026-11-23T10:15:00Z (Mon 2026-11-23 10:15 UTC): "
        "the start is inside a pause"
    ) in result.stdout
    assert "deadline  2026-11-23T12:15:00Z" in result.stdout
    assert explain_json(*args[2:])["counting_starts"] == "paused"


def test_explain_shows_fractions_of_a_second() -> None:
    """Sub-second starts and pauses are exact to the microsecond."""
    result = run(
        "policy", "explain", CLOUDFLARE, "--tier", "enterprise", "--priority", "P1",
        "--start", "2026-11-23T10:00:00.5Z", "--pause", "2026-11-23T10:00:10Z/2026-11-23T10:00:20Z",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "9.5s, total 9.5s" in result.stdout
    assert "1h59m50.5s, total 2h" in result.stdout
    assert "deadline  2026-11-23T12:00:10.500000Z (Mon 2026-11-23 12:00:10 UTC)" in result.stdout


def test_explain_a_tier_without_deadlines() -> None:
    """Commitment none: measured, no deadline (JSON deadline null)."""
    args = [CLOUDFLARE, "--tier", "pro", "--priority", "P1", "--start", "2026-11-23T10:00:00Z"]
    result = explain_json(*args)
    assert result["deadline"] is None
    assert result["target_seconds"] is None
    assert result["spans"] == []
    assert result["no_deadline_reason"] == "tier 'pro' has commitment none"
    text = run("policy", "explain", *args)
    assert "target    none: tier 'pro' has commitment none; measured, no deadline" in text.stdout
    assert text.stdout.splitlines()[-1] == "deadline  none"


# --- policy explain: business calendar -----------------------------------------------------


def test_explain_business_hours_across_a_holiday(business_file: Callable[..., str]) -> None:
    """Silver P1 (4h, us-business) from Wed 15:00 PST: 2h Wed, Thanksgiving, 2h Fri."""
    result = explain_json(
        business_file(), "--tier", "silver", "--priority", "P1", "--start", "2026-11-25T23:00:00Z"
    )
    assert result["calendar"] == "us-business"
    assert result["timezone"] == "America/Los_Angeles"
    assert result["counting_starts"] == "open"
    assert [(s["from_local"], s["to_local"], s["total_seconds"]) for s in result["spans"]] == [
        ("2026-11-25T15:00:00-08:00", "2026-11-25T17:00:00-08:00", 7200),
        ("2026-11-27T09:00:00-08:00", "2026-11-27T11:00:00-08:00", 14400),
    ]
    assert result["deadline"] == "2026-11-27T19:00:00Z"
    assert result["deadline_local"] == "2026-11-27T11:00:00-08:00"


def test_explain_a_start_outside_open_hours(business_file: Callable[..., str]) -> None:
    """Created on a Saturday: counting starts Monday 09:00 local, and the text says why."""
    args = [
        business_file(),
        "--tier",
        "silver",
        "--priority",
        "P1",
        "--start",
        "2026-11-28T18:00:00Z",
    ]
    result = explain_json(*args)
    assert result["counting_starts"] == "closed"
    assert result["counting_starts_at"] == "2026-11-30T17:00:00Z"
    assert result["deadline"] == "2026-11-30T21:00:00Z"
    text = run("policy", "explain", *args).stdout
    assert (
        "counting  starts at 2026-11-30T17:00:00Z (Mon 2026-11-30 09:00 PST): "
        "the start is outside us-business open hours"
    ) in text
    assert "start     2026-11-28T18:00:00Z (Sat 2026-11-28 10:00 PST)" in text
    assert "deadline  2026-11-30T21:00:00Z (Mon 2026-11-30 13:00 PST)" in text


def test_explain_a_budget_used_up_at_closing_time(business_file: Callable[..., str]) -> None:
    """Used up at Wed 17:00: the deadline is the next opening (Fri 09:00, after the holiday)."""
    args = [
        business_file(),
        "--tier",
        "silver",
        "--priority",
        "P1",
        "--start",
        "2026-11-25T21:00:00Z",
    ]
    result = explain_json(*args)
    assert result["budget_used_at"] == "2026-11-26T01:00:00Z"
    assert result["deadline"] == "2026-11-27T17:00:00Z"
    text = run("policy", "explain", *args).stdout
    assert (
        "note      the budget is used up at 2026-11-26T01:00:00Z (Wed 2026-11-25 17:00 PST)" in text
    )


def test_explain_a_resolution_target_on_its_own_calendar(business_file: Callable[..., str]) -> None:
    """Gold resolution P1 counts 8h on us-business although the tier is 24x7; it pauses."""
    result = explain_json(
        business_file(), "--tier", "gold", "--priority", "P1", "--target", "resolution",
        "--start", "2026-11-23T17:00:00Z",
    )  # fmt: skip
    assert (result["calendar"], result["pausable"], result["target_seconds"]) == (
        "us-business",
        True,
        28800,
    )
    # Used up at Monday's 17:00 PST closing, so the deadline is Tuesday's 09:00 opening.
    assert result["budget_used_at"] == "2026-11-24T01:00:00Z"
    assert result["deadline"] == "2026-11-24T17:00:00Z"


def test_explain_a_priority_without_a_target(business_file: Callable[..., str]) -> None:
    """Silver has no P3 first-response target: measured, and the reason says so."""
    result = explain_json(
        business_file(), "--tier", "silver", "--priority", "P3", "--start", "2026-11-23T17:00:00Z"
    )
    assert result["deadline"] is None
    assert result["no_deadline_reason"] == (
        "tier 'silver' sets no first_response target for priority 'P3'"
    )


def test_explain_lists_at_most_50_spans_in_text(business_file: Callable[..., str]) -> None:
    """A 30-day business-hours target has 90 spans: text shows 50, JSON all of them."""
    path = business_file(**{"tiers.silver.targets.first_response.P1": "30d"})
    args = [path, "--tier", "silver", "--priority", "P1", "--start", "2026-11-23T17:00:00Z"]
    result = explain_json(*args)
    assert len(result["spans"]) == 90
    assert result["spans"][-1]["total_seconds"] == 30 * 86400
    text = run("policy", "explain", *args).stdout
    assert "   50  " in text
    assert "   51  " not in text
    assert "  ... and 40 more (--json lists every span)" in text


# --- bad input: one line, never a traceback ------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--tier", "enterprise", "--priority", "P1", "--start", "2026-11-23T10:00:00"],
            "Error: Invalid value for '--start': '2026-11-23T10:00:00' has no UTC offset: "
            "add one, such as 'Z' or '+01:00'",
        ),
        (
            ["--tier", "enterprise", "--priority", "P1", "--start", "yesterday"],
            "Error: Invalid value for '--start': 'yesterday' is not an RFC 3339 timestamp",
        ),
        (
            ["--tier", "ent", "--priority", "P1", "--start", "2026-11-23T10:00:00Z"],
            "Error: Invalid value for '--tier': unknown tier 'ent' "
            "(tiers: premium-enterprise, enterprise, business, pro, free)",
        ),
        (
            ["--tier", "enterprise", "--priority", "P9", "--start", "2026-11-23T10:00:00Z"],
            "Error: Invalid value for '--priority': unknown priority 'P9' "
            "(priorities: P1, P2, P3, P4)",
        ),
        (
            ["--tier", "enterprise", "--priority", "P1", "--start", "2026-11-23T10:00:00Z",
             "--target", "response"],
            "Error: Invalid value for '--target': 'response' is not one of",
        ),
        (
            ["--tier", "enterprise", "--priority", "P1", "--start", "2026-11-23T10:00:00Z",
             "--pause", "2026-11-23T10:00:00Z"],
            "Error: Invalid value for '--pause': '2026-11-23T10:00:00Z' is not FROM/TO",
        ),
        (
            ["--tier", "enterprise", "--priority", "P1", "--start", "2026-11-23T10:00:00Z",
             "--pause", "2026-11-23T11:00:00Z/2026-11-23T10:00:00Z"],
            "Error: Invalid value for '--pause': pause '2026-11-23T11:00:00Z/2026-11-23T10:00:00Z' "
            "ends before it starts",
        ),
        (
            ["--tier", "enterprise", "--priority", "P1", "--start", "2026-11-23T10:00:00Z",
             "--pause", "2026-11-23T10:00:00Z/later"],
            "Error: Invalid value for '--pause': 'later' is not an RFC 3339 timestamp",
        ),
        (["--priority", "P1", "--start", "2026-11-23T10:00:00Z"],
         "Error: Missing option '--tier'."),
    ],
)  # fmt: skip
def test_explain_bad_input_is_one_line_and_exit_2(extra: list[str], message: str) -> None:
    """Every usage mistake is one line on stderr naming the problem, exit code 2."""
    result = run("policy", "explain", CLOUDFLARE, *extra)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    (line,) = result.stderr.splitlines()
    assert line.startswith(message), line
    assert line.endswith("(see 'main policy explain --help')")
    assert result.stdout == ""


def test_explain_an_invalid_policy_lists_its_problems_and_exits_1(tmp_path: Path) -> None:
    """An invalid policy file is refused with all its problems, exit code 1."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\npriorities: [P1]\ntiers: {}\n")
    result = run(
        "policy",
        "explain",
        str(bad),
        "--tier",
        "t",
        "--priority",
        "P1",
        "--start",
        "2026-11-23T10:00:00Z",
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: {bad}: invalid policy (1 problem)",
        "  tiers: empty: define at least one tier (line 4)",
    ]


def test_explain_a_missing_policy_file_is_one_line(tmp_path: Path) -> None:
    """A missing file: one line naming it, exit code 1."""
    missing = tmp_path / "nope.yaml"
    result = run(
        "policy",
        "explain",
        str(missing),
        "--tier",
        "t",
        "--priority",
        "P1",
        "--start",
        "2026-11-23T10:00:00Z",
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: {missing}: cannot read the file: No such file or directory"
    ]


def test_unknown_command_is_one_line() -> None:
    """A typo in a command name is one line, exit code 2."""
    result = run("polcy")
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert "No such command 'polcy'" in result.stderr


def test_unknown_root_option_is_one_line() -> None:
    """A mistake in the root's own options is one line too."""
    result = run("--bogus")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["Error: No such option: --bogus (see 'main --help')"]


def test_a_group_without_a_command_shows_its_help() -> None:
    """`sla-worker policy` alone lists its commands."""
    result = run("policy")
    assert "check    Validate each policy FILE" in result.output
    assert "explain  Show the deadline of one target" in result.output


def test_version_and_help() -> None:
    """--version prints the version; no arguments prints the help."""
    assert run("--version").stdout == "sla-worker, version 0.1.0\n"
    result = run()
    assert re.search(r"^  policy +Validate policy files", result.output, re.MULTILINE)


# --- as a process --------------------------------------------------------------------------

_NO_STREAMING_STACK = """
import sys
from click.testing import CliRunner
from worker.cli import main

policy = sys.argv[1]
for args in (
    ["policy", "check", policy],
    ["policy", "explain", policy, "--tier", "enterprise", "--priority", "P1",
     "--start", "2026-11-23T10:00:00Z", "--json"],
):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
print(sorted(m for m in sys.modules if m.partition(".")[0] in ("faust", "aiokafka", "mode")))
"""


def test_policy_commands_never_import_the_streaming_stack() -> None:
    """`policy check` and `policy explain` run without importing faust or aiokafka."""
    completed = subprocess.run(
        [sys.executable, "-c", _NO_STREAMING_STACK, CLOUDFLARE],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_python_dash_m_worker_runs_the_cli() -> None:
    """`python -m worker policy check FILE` works like the console script."""
    completed = subprocess.run(
        [sys.executable, "-m", "worker", "policy", "check", CLOUDFLARE],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"ok: {CLOUDFLARE} (cloudflare-support, 5 tiers, ")

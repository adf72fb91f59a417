"""`policy check` and `policy explain` with a country holiday calendar (the `holidays` package)."""

from pathlib import Path

from click.testing import CliRunner

from worker.cli import main

POLICY = """\
version: 1
name: us-support
priorities: [P1]
calendars:
  us-business:
    timezone: America/Los_Angeles
    weekly: {mon-fri: ["09:00-17:00"]}
    holidays:
      country: US
      subdivision: CA
      dates: ["2026-12-24"]
tiers:
  gold:
    commitment: sla
    objective: 0.99
    calendar: us-business
    targets:
      first_response: {P1: 8h}
"""


def test_check_prints_the_holidays_version(tmp_path: Path) -> None:
    """The holidays package's version is part of the policy's meaning: check prints it."""
    file = tmp_path / "us.yaml"
    file.write_text(POLICY)
    result = CliRunner().invoke(main, ["policy", "check", str(file)])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith(", holidays 0.109)")


def test_explain_names_the_public_holiday_a_deadline_skipped(tmp_path: Path) -> None:
    """A deadline over Christmas names the listed day and the country's public holiday."""
    file = tmp_path / "us.yaml"
    file.write_text(POLICY)
    args = ["policy", "explain", str(file), "--tier", "gold", "--priority", "P1"]
    result = CliRunner().invoke(main, [*args, "--start", "2026-12-23T23:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "holiday   2026-12-24 listed holiday" in result.output
    assert "holiday   2026-12-25 Christmas Day (US)" in result.output
    # 8 business hours from Wednesday 15:00 PST: 2h, then 6h on Monday the 28th.
    assert "deadline  2026-12-28T23:00:00Z (Mon 2026-12-28 15:00 PST)" in result.output


def test_check_refuses_an_unknown_subdivision_listing_the_valid_ones(tmp_path: Path) -> None:
    """An unknown subdivision is one line with its place, listing the country's codes."""
    file = tmp_path / "bad.yaml"
    file.write_text(POLICY.replace("subdivision: CA", "subdivision: XX"))
    result = CliRunner().invoke(main, ["policy", "check", str(file)])
    assert result.exit_code == 1
    line = next(line for line in result.output.splitlines() if "subdivision" in line)
    assert "calendars.us-business.holidays.subdivision" in line
    assert "CA" in line
    assert "(line 10)" in line

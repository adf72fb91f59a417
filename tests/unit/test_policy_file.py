"""Policy files that could hang or crash the loader are refused, each in one line with its place.

No test here measures wall-clock time (the project's tests make no timing assertions).
Instead each pins *where* the loader stops: a bomb refused at its first anchor was never
expanded, a nesting refused at its 17th level never recursed deeper. A regression would not
pass slowly: it would end in a RecursionError or a ValueError traceback, or run for minutes,
which the suite's own duration shows at once.
"""

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from worker.cli import main
from worker.core.calendars import BusinessCalendar
from worker.core.errors import PolicyError
from worker.edge.policy_file import MAX_POLICY_BYTES, MAX_POLICY_DEPTH, load_policy

PolicyData = Callable[..., dict[str, Any]]

NO_ALIASES = "YAML anchors and aliases are not allowed in a policy: write the value out in full"


def problems_of(path: Path) -> list[tuple[str, str]]:
    """Return the problems load_policy reports for the file at ``path`` (it must refuse it)."""
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return caught.value.problems


def billion_laughs(levels: int = 9, width: int = 10) -> str:
    """Return the classic alias bomb: ``levels`` anchors, each ``width`` aliases of the last."""
    lines = ['a0: &a0 "lol"']
    for level in range(1, levels + 1):
        aliases = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            "version: 1\npriorities: &r [*r]\n",
            ("line 2, column 13", f"anchor &r: {NO_ALIASES}"),
            id="recursive-alias",
        ),
        pytest.param(
            billion_laughs(),
            ("line 1, column 5", f"anchor &a0: {NO_ALIASES}"),
            id="billion-laughs",
        ),
        pytest.param(
            "version: 1\nname: *missing\n",
            ("line 2, column 7", f"alias *missing: {NO_ALIASES}"),
            id="alias-without-anchor",
        ),
        pytest.param(
            "tiers:\n  gold: &gold {commitment: none}\n  silver: {<<: *gold}\n",
            ("line 2, column 9", f"anchor &gold: {NO_ALIASES}"),
            id="merge-key",
        ),
        pytest.param(
            "name: x\nversion: " + "[" * 10_000 + "]" * 10_000 + "\n",
            (
                f"line 2, column {10 + MAX_POLICY_DEPTH - 1}",
                f"nested deeper than {MAX_POLICY_DEPTH} levels of mappings and lists: "
                "a policy needs 6 at most",
            ),
            id="deep-nesting",
        ),
        pytest.param(
            "version: " + "9" * 5_000 + "\n",
            (
                "line 1, column 10",
                "invalid YAML: '99999999999999999999'... (5000 characters) is not a valid int",
            ),
            id="huge-integer",
        ),
        pytest.param(
            "version: !!int 0x\n",
            ("line 1, column 10", "invalid YAML: '0x' is not a valid int"),
            id="tagged-int",
        ),
        pytest.param(
            "objective: !!float x\n",
            ("line 1, column 12", "invalid YAML: 'x' is not a valid float"),
            id="tagged-float",
        ),
        pytest.param(
            "pausable: !!bool maybe\n",
            ("line 1, column 11", "invalid YAML: 'maybe' is not a valid bool"),
            id="tagged-bool",
        ),
    ],
)
def test_bombs_are_refused_in_one_problem_at_their_place(
    tmp_path: Path, text: str, problem: tuple[str, str]
) -> None:
    """Anchors, aliases, deep nesting and values a tag cannot hold: one problem, line and column."""
    path = tmp_path / "bomb.yaml"
    path.write_text(text, encoding="utf-8")
    assert problems_of(path) == [problem]


def test_nesting_up_to_the_limit_reaches_the_policy_checks(tmp_path: Path) -> None:
    """A file nested exactly MAX_POLICY_DEPTH deep is read; its problems are the policy's own."""
    path = tmp_path / "deep.yaml"
    inner = MAX_POLICY_DEPTH - 1  # the document's mapping is the first level
    path.write_text("version: " + "[" * inner + "]" * inner + "\n", encoding="utf-8")
    places = {place for place, _ in problems_of(path)}
    assert places == {"version", "name", "priorities", "tiers"}


def test_a_file_over_the_size_bound_is_refused_unread(tmp_path: Path) -> None:
    """A file of more than MAX_POLICY_BYTES is one problem for the file, before any parsing."""
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_POLICY_BYTES + 1))
    assert problems_of(path) == [("(file)", "larger than 2 MiB: not a policy file")]


def test_a_file_at_the_size_bound_is_read(tmp_path: Path) -> None:
    """A file of exactly MAX_POLICY_BYTES is parsed (here: a comment, so an empty policy)."""
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * MAX_POLICY_BYTES)
    assert problems_of(path) == [("(file)", "the file is empty: see deploy/policies/ for examples")]


def test_policy_check_prints_a_bomb_as_one_line(tmp_path: Path) -> None:
    """``policy check`` on the recursive alias: exit 1, the file, one problem line, no traceback."""
    path = tmp_path / "bomb.yaml"
    path.write_text("version: 1\npriorities: &r [*r]\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["policy", "check", str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.splitlines() == [
        f"{path}: invalid policy (1 problem)",
        f"  line 2, column 13: anchor &r: {NO_ALIASES}",
    ]


def test_many_listed_holidays_load_through_the_file(
    tmp_path: Path, policy_data: PolicyData
) -> None:
    """10,000 listed holidays load from YAML; a repeat is named at its index and line."""
    first = date(2000, 1, 1)
    days = [first + timedelta(days=i) for i in range(10_000)]
    data = policy_data(**{"calendars.us-business.holidays": days})
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump(data, default_flow_style=None, width=1 << 30), encoding="utf-8")
    calendar = load_policy(path).calendars["us-business"]
    assert isinstance(calendar, BusinessCalendar)
    assert calendar.holidays == tuple(days)

    data["calendars"]["us-business"]["holidays"].append(days[0])
    path.write_text(yaml.safe_dump(data, default_flow_style=None, width=1 << 30), encoding="utf-8")
    [(place, message)] = problems_of(path)
    assert place == "calendars.us-business.holidays.10000"
    assert message.startswith("holiday 2000-01-01 is listed twice (line ")

"""The policy model and its validation: every problem named at its place, all at once."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import worker.core.policy_calendars
from worker.core.calendars import TWENTY_FOUR_SEVEN, BusinessCalendar
from worker.core.errors import PolicyError
from worker.core.policy import (
    COMMITMENTS,
    DEFAULT_PAUSABLE,
    TARGETS,
    Policy,
    Target,
    WarningThreshold,
)
from worker.core.policy_parse import parse_policy
from worker.edge.policy_file import load_policy, policy_digest

DROP = ...  # an override removing that key (see conftest.py)
POLICIES = Path(__file__).resolve().parents[2] / "deploy" / "policies"
SHIPPED = sorted(POLICIES.glob("*.yaml"))

PolicyData = Callable[..., dict[str, Any]]
MakePolicy = Callable[..., Policy]


def problems_of(data: object) -> list[tuple[str, str]]:
    """Return the problems parse_policy reports for ``data`` (it must refuse it)."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, source="p.yaml")
    return caught.value.problems


# --- a valid policy ------------------------------------------------------------------------


def test_default_policy_parses_into_the_model(make_policy: MakePolicy) -> None:
    """The documented example parses into frozen tiers, targets and calendars."""
    policy = make_policy()
    assert policy.version == 1
    assert policy.name == "test-support"
    assert policy.priorities == ("P1", "P2", "P3", "P4")
    assert list(policy.calendars) == ["24x7", "us-business"]
    assert policy.calendars["24x7"] is TWENTY_FOUR_SEVEN
    us = policy.calendars["us-business"]
    assert isinstance(us, BusinessCalendar)
    assert us.timezone.key == "America/Los_Angeles"
    assert us.holidays == (date(2026, 11, 26), date(2026, 12, 25))
    assert [w.text for w in policy.warnings] == ["50%", "75%", "90%", "15m"]
    assert list(policy.tiers) == ["gold", "silver", "free"]
    gold = policy.tiers["gold"]
    assert (gold.name, gold.commitment, gold.objective) == ("gold", "sla", 0.99)
    assert gold.calendar is TWENTY_FOUR_SEVEN
    assert set(gold.targets) == set(TARGETS)
    assert gold.targets["first_response"]["P1"] == Target(
        "first_response", 3600, gold.calendar, False
    )
    assert gold.targets["resolution"]["P1"] == Target("resolution", 28800, us, True)
    assert gold.warnings == policy.warnings


def test_tier_warnings_override_the_policy_default(make_policy: MakePolicy) -> None:
    """A tier's own warnings replace the policy's; a commitment none tier has none."""
    policy = make_policy()
    assert [w.text for w in policy.tiers["silver"].warnings] == ["75%", "30m"]
    assert policy.tiers["free"].warnings == ()
    assert policy.tiers["free"].objective is None
    assert policy.tiers["free"].targets == {"first_response": {}, "resolution": {}}


def test_the_model_is_immutable(make_policy: MakePolicy) -> None:
    """Policies are shared by every ticket: nothing in them can be changed."""
    policy = make_policy()
    with pytest.raises(AttributeError):
        policy.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.tiers["x"] = policy.tiers["gold"]  # type: ignore[index]
    with pytest.raises(TypeError):
        policy.tiers["gold"].targets["first_response"]["P9"] = None  # type: ignore[index]


def test_sha256_and_source_are_kept(policy_data: PolicyData) -> None:
    """The digest given by the file loader is stored on the policy."""
    assert parse_policy(policy_data(), sha256="ab" * 32).sha256 == "ab" * 32
    assert parse_policy(policy_data()).sha256 == ""


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        pytest.param(
            {
                "calendars": DROP,
                "tiers.silver.calendar": "24x7",
                "tiers.gold.targets.resolution": DROP,
            },
            lambda p: list(p.calendars) == ["24x7"],
            id="no-calendars",
        ),
        pytest.param({"warnings": DROP}, lambda p: p.warnings == (), id="no-warnings"),
        pytest.param({"warnings": []}, lambda p: p.warnings == (), id="empty-warnings"),
        pytest.param(
            {"tiers.gold.objective": 1},
            lambda p: p.tiers["gold"].objective == 1.0,
            id="objective-one",
        ),
        pytest.param(
            {"tiers.gold.calendar": DROP},
            lambda p: p.tiers["gold"].calendar is TWENTY_FOUR_SEVEN,
            id="calendar-defaults-to-24x7",
        ),
        pytest.param(
            {"tiers.gold.targets.resolution.P2": {"within": "1h", "pausable": False}},
            lambda p: p.tiers["gold"].targets["resolution"]["P2"].pausable is False,
            id="pausable-override",
        ),
        pytest.param(
            {"tiers.gold.targets.first_response.P1": {"within": "1h"}},
            lambda p: p.tiers["gold"].targets["first_response"]["P1"].calendar is TWENTY_FOUR_SEVEN,
            id="mapping-target-uses-tier-calendar",
        ),
        pytest.param(
            {"tiers.gold.targets.first_response.P1": "0s"},
            lambda p: p.tiers["gold"].targets["first_response"]["P1"].within_s == 0,
            id="zero-target",
        ),
        pytest.param(
            {"calendars.us-business.holidays": [date(2026, 12, 25), "2026-12-24"]},
            lambda p: (
                p.calendars["us-business"].holidays == (date(2026, 12, 24), date(2026, 12, 25))
            ),
            id="holidays-as-yaml-dates-and-text",
        ),
        pytest.param(
            {"calendars.us-business.holidays": DROP},
            lambda p: p.calendars["us-business"].holidays == (),
            id="no-holidays",
        ),
        pytest.param(
            {
                "calendars.us-business.weekly": {
                    "mon": ["13:00-17:00", "09:00-12:00"],
                    "tue-thu": ["09:00-12:00", "12:00-24:00"],
                    "sat-sun": [],
                }
            },
            lambda p: (
                p.calendars["us-business"].weekly
                == {
                    0: ((32400, 43200), (46800, 61200)),
                    1: ((32400, 43200), (43200, 86400)),
                    2: ((32400, 43200), (43200, 86400)),
                    3: ((32400, 43200), (43200, 86400)),
                }
            ),
            id="windows-unordered-adjacent-and-closed-days",
        ),
        pytest.param(
            {"warnings": ["87.5%", "0.5%", "1h30m"]},
            lambda p: (
                [(w.ratio, w.remaining_s) for w in p.warnings]
                == [(0.875, None), (0.005, None), (None, 5400)]
            ),
            id="warning-kinds",
        ),
    ],
)
def test_valid_variations(
    make_policy: MakePolicy, overrides: dict[str, object], check: Callable[[Policy], bool]
) -> None:
    """Optional parts may be left out, and the accepted spellings parse as documented."""
    assert check(make_policy(**overrides))


# --- every problem kind, at its exact place ------------------------------------------------

BAD_DAY = "use mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri"
CAL = "calendars.us-business"
WEEK = f"{CAL}.weekly"


@pytest.mark.parametrize(
    ("overrides", "place", "message"),
    [
        # top level
        ({"tier": {}}, "tier", "unknown key 'tier': did you mean 'tiers'?"),
        ({"zzz": 1}, "zzz", "unknown key 'zzz' (expected: version, name, priorities, calendars,"),
        ({"version": DROP}, "version", "missing: every policy file starts with 'version: 1'"),
        ({"version": 2}, "version", "unsupported version 2: this sla-worker reads version 1 only"),
        ({"version": True}, "version", "unsupported version True"),
        ({"version": "1"}, "version", "unsupported version '1'"),
        ({"name": DROP}, "name", "missing: the policy's name"),
        ({"name": "a b"}, "name", "invalid policy name 'a b': use letters, digits, '_' and '-'"),
        ({"name": "-x"}, "name", "invalid policy name '-x'"),
        ({"name": "x" * 64}, "name", "invalid policy name"),
        ({"name": None}, "name", "policy name must be text, got nothing (null)"),
        ({"name": 5}, "name", "policy name must be text, got the number 5"),
        ({"name": date(2026, 1, 2)}, "name", "policy name must be text, got the date 2026-01-02"),
        ({"name": []}, "name", "policy name must be text, got a list"),
        ({"name": {}}, "name", "policy name must be text, got a mapping"),
        ({"name": {1}}, "name", "policy name must be text, got a set"),
        # priorities
        ({"priorities": DROP}, "priorities", "missing: list every valid priority"),
        (
            {"priorities": "P1"},
            "priorities",
            "expected a list of priority names, got the text 'P1'",
        ),
        ({"priorities": []}, "priorities", "empty: list every valid priority"),
        (
            {"priorities": ["P1", "P2", "P1", "P3", "P4"]},
            "priorities.2",
            "priority 'P1' is listed twice",
        ),
        ({"priorities": [1, "P2", "P3", "P4"]}, "priorities.0", "priority must be text"),
        # calendars
        ({"calendars": []}, "calendars", "expected a mapping of calendar names to calendars"),
        ({"calendars.24x7": {}}, "calendars.24x7", "'24x7' is built in (always open)"),
        ({"calendars.us business": {}}, "calendars.us business", "invalid calendar name"),
        ({CAL: "UTC"}, CAL, "expected a mapping of timezone, weekly and holidays"),
        ({f"{CAL}.holiday": []}, f"{CAL}.holiday", "did you mean 'holidays'?"),
        ({f"{CAL}.timezone": DROP}, f"{CAL}.timezone", "missing: the IANA time zone"),
        (
            {f"{CAL}.timezone": "Mars/Olympus"},
            f"{CAL}.timezone",
            "unknown time zone 'Mars/Olympus'",
        ),
        ({f"{CAL}.timezone": "America"}, f"{CAL}.timezone", "unknown time zone 'America'"),
        ({f"{CAL}.timezone": "/etc/passwd"}, f"{CAL}.timezone", "unknown time zone '/etc/passwd'"),
        ({f"{CAL}.timezone": 5}, f"{CAL}.timezone", "expected a time zone name, got the number 5"),
        ({f"{CAL}.weekly": DROP}, f"{CAL}.weekly", "missing: the open windows"),
        ({f"{CAL}.weekly": ["09:00-17:00"]}, f"{CAL}.weekly", "expected a mapping of days"),
        ({WEEK: {"monday": ["09:00-17:00"]}}, f"{WEEK}.monday", f"unknown day 'monday': {BAD_DAY}"),
        ({WEEK: {1: ["09:00-17:00"]}}, f"{WEEK}.1", "unknown day 1"),
        ({WEEK: {"mon-xyz": ["09:00-17:00"]}}, f"{WEEK}.mon-xyz", "unknown day 'mon-xyz'"),
        (
            {WEEK: {"fri-mon": ["09:00-17:00"]}},
            f"{WEEK}.fri-mon",
            "must run forward from mon to sun",
        ),
        ({WEEK: {"mon-mon": ["09:00-17:00"]}}, f"{WEEK}.mon-mon", "must run forward"),
        ({WEEK: {"mon": "09:00-17:00"}}, f"{WEEK}.mon", "expected a list of windows"),
        ({WEEK: {"mon": ["9-5"]}}, f"{WEEK}.mon.0", "invalid window '9-5': expected 'HH:MM-HH:MM'"),
        ({WEEK: {"mon": ["9:00-17:00"]}}, f"{WEEK}.mon.0", "invalid window '9:00-17:00'"),
        ({WEEK: {"mon": [900]}}, f"{WEEK}.mon.0", "invalid window 900"),
        ({WEEK: {"mon": ["24:00-24:00"]}}, f"{WEEK}.mon.0", "invalid window '24:00-24:00'"),
        ({WEEK: {"mon": ["09:00-24:30"]}}, f"{WEEK}.mon.0", "invalid window '09:00-24:30'"),
        ({WEEK: {"mon": ["17:00-09:00"]}}, f"{WEEK}.mon.0", "ends before it starts"),
        ({WEEK: {"mon": ["09:00-09:00"]}}, f"{WEEK}.mon.0", "ends before it starts"),
        (
            {WEEK: {"mon": ["11:00-13:00", "09:00-12:00"]}},
            f"{WEEK}.mon",
            "windows '09:00-12:00' and '11:00-13:00' overlap",
        ),
        (
            {WEEK: {"mon-fri": ["09:00-17:00"], "wed": ["18:00-20:00"]}},
            f"{WEEK}.wed",
            "wed is already given by 'mon-fri'",
        ),
        ({WEEK: {"mon": [], "sat-sun": []}}, WEEK, "no open hours: give at least one window"),
        ({f"{CAL}.holidays": "2026-12-25"}, f"{CAL}.holidays", "expected a list of dates"),
        (
            {f"{CAL}.holidays": ["2026-02-30"]},
            f"{CAL}.holidays.0",
            "'2026-02-30' is not a calendar date",
        ),
        (
            {f"{CAL}.holidays": ["25/12/2026"]},
            f"{CAL}.holidays.0",
            "expected a date such as '2026-12-25'",
        ),
        (
            {f"{CAL}.holidays": [datetime(2026, 12, 25, tzinfo=UTC)]},
            f"{CAL}.holidays.0",
            "got the timestamp 2026-12-25T00:00:00+00:00",
        ),
        (
            {f"{CAL}.holidays": ["2026-12-25", date(2026, 12, 25)]},
            f"{CAL}.holidays.1",
            "holiday 2026-12-25 is listed twice",
        ),
        # warnings
        ({"warnings": "75%"}, "warnings", "expected a list of thresholds"),
        (
            {"warnings": [0.75]},
            "warnings.0",
            "expected a threshold such as '75%' or '15m', got the number 0.75",
        ),
        ({"warnings": [True]}, "warnings.0", "got true/false (true)"),
        (
            {"warnings": ["0%"]},
            "warnings.0",
            "invalid threshold '0%': a share of the budget must be",
        ),
        ({"warnings": ["100%"]}, "warnings.0", "invalid threshold '100%'"),
        ({"warnings": ["75.%"]}, "warnings.0", "invalid threshold '75.%'"),
        ({"warnings": ["x%"]}, "warnings.0", "invalid threshold 'x%'"),
        ({"warnings": ["0s"]}, "warnings.0", "threshold '0s' would fire at the breach itself"),
        ({"warnings": ["15 min"]}, "warnings.0", "invalid duration '15 min'"),
        ({"warnings": ["50%", "50.0%"]}, "warnings.1", "threshold '50.0%' repeats '50%'"),
        ({"warnings": ["1h", "60m"]}, "warnings.1", "threshold '60m' repeats '1h'"),
        # tiers
        ({"tiers": DROP}, "tiers", "missing: define at least one tier"),
        ({"tiers": []}, "tiers", "expected a mapping of tier names to tiers, got a list"),
        ({"tiers": {}}, "tiers", "empty: define at least one tier"),
        ({"tiers.gold tier": {"commitment": "none"}}, "tiers.gold tier", "invalid tier name"),
        ({"tiers.free": "none"}, "tiers.free", "expected a mapping of tier settings"),
        ({"tiers.gold.calender": "24x7"}, "tiers.gold.calender", "did you mean 'calendar'?"),
        (
            {"tiers.gold.commitment": DROP},
            "tiers.gold.commitment",
            "missing: choose one of sla, slo, none",
        ),
        (
            {"tiers.gold.commitment": "gold"},
            "tiers.gold.commitment",
            "unknown commitment 'gold' (choose one of sla, slo, none)",
        ),
        (
            {"tiers.free.objective": 0.5},
            "tiers.free.objective",
            "a tier with commitment none has no objective",
        ),
        (
            {"tiers.gold.objective": DROP},
            "tiers.gold.objective",
            "missing: a tier with commitment sla needs",
        ),
        ({"tiers.silver.objective": DROP}, "tiers.silver.objective", "commitment slo needs"),
        (
            {"tiers.gold.objective": "99%"},
            "tiers.gold.objective",
            "expected a share such as 0.99, got the text '99%'",
        ),
        ({"tiers.gold.objective": True}, "tiers.gold.objective", "expected a share such as 0.99"),
        (
            {"tiers.gold.objective": 0},
            "tiers.gold.objective",
            "objective 0 must be more than 0 and at most 1",
        ),
        ({"tiers.gold.objective": 99}, "tiers.gold.objective", "objective 99 must be more than 0"),
        (
            {"tiers.gold.calendar": "us-busness"},
            "tiers.gold.calendar",
            "unknown calendar 'us-busness' (defined: us-business, 24x7)",
        ),
        (
            {"tiers.gold.calendar": 5},
            "tiers.gold.calendar",
            "expected a calendar name, got the number 5",
        ),
        (
            {"tiers.free.targets": {"first_response": {"P1": "1h"}}},
            "tiers.free.targets",
            "a tier with commitment none sets no deadlines",
        ),
        (
            {"tiers.free.warnings": ["50%"]},
            "tiers.free.warnings",
            "commitment none sends no warnings",
        ),
        (
            {"tiers.silver.warnings": ["200%"]},
            "tiers.silver.warnings.0",
            "invalid threshold '200%'",
        ),
        (
            {"tiers.gold.targets": DROP},
            "tiers.gold.targets",
            "missing: a tier with commitment sla needs at least one target",
        ),
        (
            {"tiers.gold.targets": {"first_response": {}}},
            "tiers.gold.targets",
            "needs at least one target",
        ),
        ({"tiers.gold.targets": "1h"}, "tiers.gold.targets", "expected a mapping of target names"),
        # targets
        (
            {"tiers.gold.targets.response": {"P1": "1h"}},
            "tiers.gold.targets.response",
            "unknown target 'response' (targets: first_response, resolution)",
        ),
        ({"tiers.gold.targets.1": {"P1": "1h"}}, "tiers.gold.targets.1", "unknown target"),
        (
            {"tiers.gold.targets.resolution": "8h"},
            "tiers.gold.targets.resolution",
            "expected a mapping of priorities to durations, got the text '8h'",
        ),
        (
            {"tiers.gold.targets.first_response.P9": "1h"},
            "tiers.gold.targets.first_response.P9",
            "unknown priority 'P9' (priorities: P1, P2, P3, P4)",
        ),
        (
            {"tiers.gold.targets.first_response.P1": 60},
            "tiers.gold.targets.first_response.P1",
            "got the number 60: write a duration with a unit, such as '60m'",
        ),
        (
            {"tiers.gold.targets.first_response.P1": 1.5},
            "tiers.gold.targets.first_response.P1",
            "got the number 1.5: write a duration with a unit, such as '1h30m'",
        ),
        (
            {"tiers.gold.targets.first_response.P1": "1 hour"},
            "tiers.gold.targets.first_response.P1",
            "invalid duration '1 hour'",
        ),
        (
            {"tiers.gold.targets.first_response.P1": None},
            "tiers.gold.targets.first_response.P1",
            "expected a duration such as '4h' or a mapping {within, calendar, pausable}, "
            "got nothing",
        ),
        (
            {"tiers.gold.targets.first_response.P1": True},
            "tiers.gold.targets.first_response.P1",
            "got true/false (true)",
        ),
        (
            {"tiers.gold.targets.first_response.P1": {"within": "1h", "pauseable": True}},
            "tiers.gold.targets.first_response.P1.pauseable",
            "unknown key 'pauseable': did you mean 'pausable'?",
        ),
        (
            {"tiers.gold.targets.first_response.P1": {"calendar": "24x7"}},
            "tiers.gold.targets.first_response.P1.within",
            "missing: the duration of the target",
        ),
        (
            {"tiers.gold.targets.first_response.P1": {"within": 60}},
            "tiers.gold.targets.first_response.P1.within",
            "got the number 60",
        ),
        (
            {"tiers.gold.targets.first_response.P1": {"within": None}},
            "tiers.gold.targets.first_response.P1.within",
            "expected a duration such as '4h' or '1h30m', got nothing (null)",
        ),
        (
            {"tiers.gold.targets.resolution.P1.calendar": "eu-business"},
            "tiers.gold.targets.resolution.P1.calendar",
            "unknown calendar 'eu-business' (defined: us-business, 24x7)",
        ),
        (
            {"tiers.gold.targets.resolution.P1.pausable": "yes"},
            "tiers.gold.targets.resolution.P1.pausable",
            "expected true or false, got the text 'yes'",
        ),
    ],
)
def test_each_problem_is_reported_at_its_place(
    policy_data: PolicyData, overrides: dict[str, object], place: str, message: str
) -> None:
    """One mistake gives exactly one problem, at its dotted place, naming what is wrong."""
    problems = problems_of(policy_data(**overrides))
    assert [p for p, _ in problems] == [place], problems
    assert message in problems[0][1]
    assert "\n" not in problems[0][1]


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    """An empty or scalar document is one problem about the whole document."""
    assert problems_of(None) == [
        (
            "(document)",
            "expected a mapping with version, name, priorities and tiers, got nothing (null)",
        )
    ]
    assert problems_of("policy")[0][1].endswith("got the text 'policy'")


def test_every_problem_is_listed_at_once(policy_data: PolicyData) -> None:
    """A file with five mistakes is refused with five problems, in file order."""
    data = policy_data(
        **{
            "version": 2,
            "calendars.us-business.timezone": "America/Los_Angelos",
            "warnings": ["50%", "150%"],
            "tiers.gold.targets.first_response.P9": "1h",
            "tiers.silver.calendar": "us-busness",
        }
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, source="five.yaml")
    error = caught.value
    assert [place for place, _ in error.problems] == [
        "version",
        "calendars.us-business.timezone",
        "warnings.1",
        "tiers.gold.targets.first_response.P9",
        "tiers.silver.calendar",
    ]
    assert error.source == "five.yaml"
    assert str(error).splitlines()[0] == "five.yaml: invalid policy (5 problems)"
    assert "  tiers.gold.targets.first_response.P9: unknown priority 'P9'" in str(error)


def test_one_broken_calendar_is_one_problem_not_a_cascade(policy_data: PolicyData) -> None:
    """Tiers and targets naming an invalid calendar do not repeat its problem."""
    problems = problems_of(policy_data(**{"calendars.us-business.timezone": "Nowhere/City"}))
    assert [place for place, _ in problems] == ["calendars.us-business.timezone"]


@pytest.mark.parametrize(
    ("overrides", "place"),
    [
        pytest.param(
            {
                "calendars": {"us business": {}},
                "tiers.silver.calendar": "us business",
                "tiers.gold.targets.resolution": DROP,
            },
            "calendars.us business",
            id="calendar-with-invalid-name",
        ),
        pytest.param({"calendars": "us-business"}, "calendars", id="calendars-not-a-mapping"),
        pytest.param(
            {"tiers.silver.targets": {"response": {"P1": "1h"}}},
            "tiers.silver.targets.response",
            id="only-an-unknown-target",
        ),
        pytest.param(
            {"tiers.silver.targets": {"first_response": "4h"}},
            "tiers.silver.targets.first_response",
            id="target-not-a-mapping",
        ),
    ],
)
def test_one_mistake_is_not_reported_again_where_it_is_used(
    policy_data: PolicyData, overrides: dict[str, object], place: str
) -> None:
    """What a mistake makes unusable elsewhere is not reported a second time."""
    assert [p for p, _ in problems_of(policy_data(**overrides))] == [place]


def test_unusable_priorities_do_not_flag_every_target(policy_data: PolicyData) -> None:
    """With an invalid priorities list, target priority keys are not checked against it."""
    problems = problems_of(policy_data(priorities="P1 P2"))
    assert [place for place, _ in problems] == ["priorities"]


def test_duplicate_priorities_still_check_target_keys(policy_data: PolicyData) -> None:
    """A priority listed twice is one problem; the list still names the valid priorities."""
    data = policy_data(
        priorities=["P1", "P1", "P2", "P3", "P4"],
        **{"tiers.gold.targets.first_response.P5": "1h"},
    )
    assert [place for place, _ in problems_of(data)] == [
        "priorities.1",
        "tiers.gold.targets.first_response.P5",
    ]


def test_a_calendar_refusal_not_foreseen_is_still_a_problem(
    policy_data: PolicyData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should BusinessCalendar refuse what validation let through, it is reported, not raised."""

    def refuse(*args: object, **kwargs: object) -> BusinessCalendar:
        raise ValueError("calendar 'us-business' refuses")

    monkeypatch.setattr(worker.core.policy_calendars, "BusinessCalendar", refuse)
    assert problems_of(policy_data()) == [
        ("calendars.us-business", "calendar 'us-business' refuses")
    ]


# --- target_for ----------------------------------------------------------------------------


def test_target_for_a_configured_target(make_policy: MakePolicy) -> None:
    """A configured target is returned as configured."""
    policy = make_policy()
    assert policy.target_for("gold", "P2", "first_response") == Target(
        "first_response", 7200, TWENTY_FOUR_SEVEN, False
    )


@pytest.mark.parametrize(
    ("tier", "priority", "target", "calendar"),
    [
        ("gold", "P2", "resolution", "24x7"),
        ("silver", "P3", "first_response", "us-business"),
        ("free", "P1", "first_response", "24x7"),
        ("free", "P4", "resolution", "24x7"),
    ],
)
def test_target_for_without_a_deadline_is_measured(
    make_policy: MakePolicy, tier: str, priority: str, target: str, calendar: str
) -> None:
    """No target for the priority, or commitment none: measured on the tier's calendar."""
    found = make_policy().target_for(tier, priority, target)
    assert found is not None
    assert found.name == target
    assert found.within_s is None
    assert found.calendar.name == calendar
    assert found.pausable is DEFAULT_PAUSABLE[target]


@pytest.mark.parametrize(
    ("tier", "priority", "target"),
    [
        ("platinum", "P1", "first_response"),
        ("gold", "P9", "first_response"),
        ("gold", "P1", "response"),
    ],
)
def test_target_for_unknown_names_is_none(
    make_policy: MakePolicy, tier: str, priority: str, target: str
) -> None:
    """Unknown tier, priority or target name: None (the event is dead-lettered)."""
    assert make_policy().target_for(tier, priority, target) is None


def test_pausable_defaults() -> None:
    """first_response does not pause by default; resolution does."""
    assert dict(DEFAULT_PAUSABLE) == {"first_response": False, "resolution": True}
    assert COMMITMENTS == ("sla", "slo", "none")


# --- warnings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "within_s", "expected"),
    [
        ("75%", 3600, timedelta(minutes=45)),
        ("50%", 1, timedelta(milliseconds=500)),
        ("87.5%", 7, timedelta(seconds=6, microseconds=125_000)),
        ("33.3333333%", 3, timedelta(microseconds=999_999 + 1)),  # rounded up to the microsecond
        ("0.00001%", 1, timedelta(microseconds=1)),
        ("50%", 0, None),
        ("15m", 3600, timedelta(minutes=45)),
        ("15m", 901, timedelta(seconds=1)),
        ("15m", 900, None),
        ("1h", 900, None),
        ("15m", 0, None),
    ],
)
def test_warning_fires_after(
    text: str, within_s: int, expected: timedelta | None, policy_data: PolicyData
) -> None:
    """A share fires at that share of the budget; a remaining time at budget minus it."""
    (threshold,) = parse_policy(policy_data(warnings=[text])).warnings
    assert threshold.fires_after(within_s) == expected


def test_a_warning_without_ratio_or_remaining_never_fires() -> None:
    """A hand-built threshold with neither part set cannot fire."""
    assert WarningThreshold("odd", None, None).fires_after(3600) is None


# --- shipped policies ----------------------------------------------------------------------


def test_every_shipped_policy_is_there() -> None:
    """The three reference policies and the demo ship in deploy/policies/."""
    assert [path.name for path in SHIPPED] == [
        "cloudflare.yaml",
        "demo.yaml",
        "pantheon.yaml",
        "temporal-enterprise.yaml",
    ]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_target_for_every_shipped_combination(path: Path) -> None:
    """Every tier x priority x target of a shipped policy resolves to a target."""
    policy = load_policy(path)
    for tier_name, tier in policy.tiers.items():
        for priority in policy.priorities:
            for target_name in TARGETS:
                target = policy.target_for(tier_name, priority, target_name)
                assert target is not None
                configured = tier.targets[target_name].get(priority)
                assert (target.within_s is None) == (configured is None)
                if tier.commitment == "none":
                    assert target.within_s is None


H = 3600
FIRST_RESPONSES = {
    "cloudflare.yaml": {
        "premium-enterprise": {"P1": H, "P2": 2 * H, "P3": 24 * H, "P4": 24 * H},
        "enterprise": {"P1": 2 * H, "P2": 4 * H, "P3": 48 * H, "P4": 48 * H},
        "business": {"P1": 8 * H, "P2": 12 * H, "P3": 72 * H, "P4": 72 * H},
        "pro": {"P1": None, "P2": None, "P3": None, "P4": None},
        "free": {"P1": None, "P2": None, "P3": None, "P4": None},
    },
    "temporal-enterprise.yaml": {
        "enterprise": {"P0": 30 * 60, "P1": H, "P2": 4 * H, "P3": 24 * H},
    },
    "pantheon.yaml": {
        "elite": {"emergency": H, "normal": 2 * H},
        "priority-enterprise": {"emergency": H, "normal": 2 * H},
        "business": {"emergency": 2 * H, "normal": 2 * H},
        "paid-sites": {"emergency": 2 * H, "normal": 2 * H},
        "free-sites": {"emergency": 2 * H, "normal": 2 * H},
    },
    "demo.yaml": {
        "gold": {"P1": 120, "P2": 300, "P3": 600},
        "silver": {"P1": 300, "P2": 600, "P3": 1200},
        "free": {"P1": None, "P2": None, "P3": None},
    },
}


@pytest.mark.parametrize("name", sorted(FIRST_RESPONSES))
def test_shipped_first_response_targets(name: str) -> None:
    """The shipped policies carry the published first-response times, on 24x7."""
    policy = load_policy(POLICIES / name)
    expected = FIRST_RESPONSES[name]
    assert {
        tier: {p: policy.target_for(tier, p, "first_response").within_s for p in policy.priorities}  # type: ignore[union-attr]
        for tier in policy.tiers
    } == expected
    for tier in policy.tiers.values():
        assert tier.calendar is TWENTY_FOUR_SEVEN
        assert (tier.objective is None) == (tier.commitment == "none")


def test_cloudflare_commitments_and_objectives() -> None:
    """Enterprise plans are SLAs at 99%, Business an SLO at 95%, Pro and Free none."""
    policy = load_policy(POLICIES / "cloudflare.yaml")
    assert {name: (t.commitment, t.objective) for name, t in policy.tiers.items()} == {
        "premium-enterprise": ("sla", 0.99),
        "enterprise": ("sla", 0.99),
        "business": ("slo", 0.95),
        "pro": ("none", None),
        "free": ("none", None),
    }


def test_demo_policy_has_minute_scale_resolution_targets() -> None:
    """The demo shows resolution targets and warnings within minutes."""
    policy = load_policy(POLICIES / "demo.yaml")
    gold = policy.tiers["gold"]
    assert {p: t.within_s for p, t in gold.targets["resolution"].items()} == {
        "P1": 900,
        "P2": 1800,
        "P3": 3600,
    }
    assert all(t.pausable for t in gold.targets["resolution"].values())
    assert [w.text for w in policy.warnings] == ["50%", "75%", "90%"]


# --- the file edge -------------------------------------------------------------------------


def write(tmp_path: Path, text: str | bytes, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


VALID_YAML = """\
version: 1
name: file-test
priorities: [P1, P2]
calendars:
  eu:
    timezone: Europe/Berlin
    weekly:
      mon-fri: ["08:00-18:00"]
    holidays: [2026-12-25, "2026-12-26"]
tiers:
  gold:
    commitment: sla
    objective: 0.99
    targets:
      first_response: {P1: 1h, P2: {within: 4h, calendar: eu}}
"""


def test_load_policy_reads_yaml_and_hashes_the_bytes(tmp_path: Path) -> None:
    """The digest is of the exact bytes; YAML dates and quoted dates both work."""
    import hashlib

    path = write(tmp_path, VALID_YAML)
    policy = load_policy(path)
    assert policy.sha256 == hashlib.sha256(VALID_YAML.encode()).hexdigest()
    assert policy.calendars["eu"].holidays == (date(2026, 12, 25), date(2026, 12, 26))  # type: ignore[attr-defined]
    assert load_policy(str(path)).sha256 == policy.sha256  # a str path works as well


@pytest.mark.parametrize(
    ("content", "problems"),
    [
        pytest.param(
            b"", [("(file)", "the file is empty: see deploy/policies/ for examples")], id="empty"
        ),
        pytest.param(
            b"# only a comment\n",
            [("(file)", "the file is empty: see deploy/policies/ for examples")],
            id="comment",
        ),
        pytest.param(
            b"\xff\xfe", [("(file)", "not UTF-8 text (invalid byte at offset 0)")], id="not-utf8"
        ),
        pytest.param(
            b"version: 1\nname: [x\n",
            [
                (
                    "line 3, column 1",
                    "invalid YAML: expected ',' or ']', but got '<stream end>' "
                    "(while parsing a flow sequence)",
                )
            ],
            id="syntax",
        ),
        pytest.param(
            b"a: 1\n---\nb: 2\n",
            [
                (
                    "line 2, column 1",
                    "invalid YAML: but found another document "
                    "(expected a single document in the stream)",
                )
            ],
            id="two-documents",
        ),
        pytest.param(
            b'name: "a\x01"\n',
            [("line 1, column 9", "invalid YAML: special characters are not allowed #x0001")],
            id="control-character",
        ),
        pytest.param(
            b"version: 1\nname: !!python/name:os.system x\n",
            [
                (
                    "line 2, column 7",
                    "invalid YAML: could not determine a constructor for the tag "
                    "'tag:yaml.org,2002:python/name:os.system'",
                )
            ],
            id="unsafe-tag",
        ),
        pytest.param(
            b"- 1\n- 2\n",
            [
                (
                    "(document)",
                    "expected a mapping with version, name, priorities and tiers, got a list",
                )
            ],
            id="a-list",
        ),
    ],
)
def test_load_policy_unreadable_files(
    tmp_path: Path, content: bytes, problems: list[tuple[str, str]]
) -> None:
    """Files that are not YAML mappings are one problem with the place of the fault."""
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, content))
    assert caught.value.problems == problems


def test_load_policy_missing_file(tmp_path: Path) -> None:
    """A missing file is one problem naming the file."""
    path = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.source == str(path)
    assert caught.value.problems == [("(file)", "cannot read the file: No such file or directory")]


def test_load_policy_adds_the_line_of_each_problem(tmp_path: Path) -> None:
    """Each problem ends with the line it is on (or its nearest enclosing key's line)."""
    text = (
        VALID_YAML.replace("Europe/Berlin", "Europe/Berln")
        .replace("holidays: [2026-12-25,", "holidays: [2026-02-30,")
        .replace("P1: 1h,", "P9: 1h,")
        .replace("    objective: 0.99\n", "")
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))
    assert caught.value.problems == [
        (
            "calendars.eu.timezone",
            "unknown time zone 'Europe/Berln': use an IANA name such as "
            "'America/Los_Angeles', 'Europe/Berlin' or 'UTC' (line 6)",
        ),
        ("calendars.eu.holidays.0", "'2026-02-30' is not a calendar date (line 9)"),
        (
            "tiers.gold.objective",
            "missing: a tier with commitment sla needs the share of targets that must be met, "
            "such as 0.99 (line 11)",
        ),
        (
            "tiers.gold.targets.first_response.P9",
            "unknown priority 'P9' (priorities: P1, P2) (line 14)",
        ),
    ]


def test_load_policy_refuses_a_key_given_twice(tmp_path: Path) -> None:
    """YAML would silently keep the last of two equal keys; the policy refuses it."""
    text = VALID_YAML + "  gold:\n    commitment: none\n"
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))
    assert caught.value.problems == [
        (
            "tiers.gold",
            "key 'gold' is given twice (first on line 11): "
            "YAML would silently keep only this one (line 16)",
        ),
    ]


def test_load_policy_lists_problems_without_a_line_first(tmp_path: Path) -> None:
    """Problems about missing top-level keys have no line and come before the rest."""
    text = "name: x\npriorities: [P1]\ntiers:\n  t:\n    commitment: maybe\n"
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))
    assert caught.value.problems == [
        ("version", "missing: every policy file starts with 'version: 1'"),
        (
            "tiers.t.commitment",
            "unknown commitment 'maybe' (choose one of sla, slo, none) (line 5)",
        ),
    ]


def test_format_duration_refuses_negative_seconds() -> None:
    """A negative duration has no text form."""
    from worker.core.durations import format_duration
    from worker.core.errors import DurationError

    with pytest.raises(DurationError, match="must not be negative"):
        format_duration(-1)


# --- country calendars ---------------------------------------------------------------------

HOLIDAYS = f"{CAL}.holidays"
US_2026 = {
    date(2026, 11, 11): "Veterans Day (US)",
    date(2026, 11, 26): "Thanksgiving Day (US)",
    date(2026, 12, 25): "Christmas Day (US)",
}
CA_2026 = {date(2026, 11, 27): "Day After Thanksgiving (US-CA)"}


class FakeSource:
    """A HolidaySource with a few days of 2026."""

    def __init__(self, name: str, days: dict[date, str]) -> None:
        self.name = name
        self.days = days

    def closed_days(self, year: int) -> dict[date, str]:
        return {day: name for day, name in self.days.items() if day.year == year}


class FakeCatalog:
    """A HolidayCatalog of three countries: US (with CA and NY), DE (with BY, 57) and IS."""

    version = "holidays 9.9"

    def countries(self) -> frozenset[str]:
        return frozenset({"US", "DE", "IS"})

    def subdivisions(self, country: str) -> dict[str, str]:
        return {
            "US": {"CA": "CA", "NY": "NY", "California": "CA"},
            "DE": {"BY": "BY", "Bayern": "BY", "57": "57"},
        }.get(country, {})

    def source(self, country: str, subdivision: str | None) -> FakeSource:
        if subdivision == "CA":
            return FakeSource("US-CA", {**US_2026, **CA_2026})
        return FakeSource(country if subdivision is None else f"{country}-{subdivision}", US_2026)


def country_problems(data: object) -> list[tuple[str, str]]:
    """Return the problems parse_policy reports for ``data`` with the fake catalog."""
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, source="p.yaml", holiday_catalog=FakeCatalog())
    return caught.value.problems


US_CA = {"country": "US", "subdivision": "CA", "dates": ["2026-12-24"], "except": ["2026-11-27"]}


def test_a_country_calendar_parses(policy_data: PolicyData) -> None:
    """A calendar naming a country closes on its holidays, plus dates, minus except."""
    policy = parse_policy(policy_data(**{HOLIDAYS: US_CA}), holiday_catalog=FakeCatalog())
    us = policy.calendars["us-business"]
    assert isinstance(us, BusinessCalendar)
    assert us.public_holidays is not None
    assert us.public_holidays.name == "US-CA"
    assert us.holidays == (date(2026, 12, 24),)
    assert us.worked_holidays == (date(2026, 11, 27),)
    assert policy.holiday_data == "holidays 9.9"
    wednesday = datetime(2026, 11, 25, 23, tzinfo=UTC)  # 15:00 PST
    # Thursday is Thanksgiving; Friday, a public holiday in California, is worked.
    assert us.deadline(wednesday, timedelta(hours=4)) == datetime(2026, 11, 27, 19, tzinfo=UTC)


def test_a_country_calendar_without_a_subdivision(policy_data: PolicyData) -> None:
    """subdivision and the lists are optional."""
    policy = parse_policy(
        policy_data(**{HOLIDAYS: {"country": "DE"}}), holiday_catalog=FakeCatalog()
    )
    us = policy.calendars["us-business"]
    assert isinstance(us, BusinessCalendar)
    assert us.public_holidays is not None
    assert us.public_holidays.name == "DE"
    assert (us.holidays, us.worked_holidays) == ((), ())


def test_holiday_data_is_empty_without_a_country_calendar(policy_data: PolicyData) -> None:
    """A policy whose calendars list their dates does not depend on the holiday data."""
    assert parse_policy(policy_data(), holiday_catalog=FakeCatalog()).holiday_data == ""
    assert parse_policy(policy_data()).holiday_data == ""


COUNTRY_CODES = "(ISO 3166-1 alpha-2 codes in holidays 9.9: DE, IS, US)"
US_SUBDIVISIONS = "(subdivisions in holidays 9.9: CA, NY)"


@pytest.mark.parametrize(
    ("holidays", "place", "message"),
    [
        pytest.param(
            {},
            f"{HOLIDAYS}.country",
            "missing: the ISO 3166-1 code of the country whose public holidays close the "
            "calendar, such as US (a calendar without one lists its dates: holidays: [...])",
            id="no-country",
        ),
        pytest.param(
            {"country": "XX"},
            f"{HOLIDAYS}.country",
            f"unknown country 'XX' {COUNTRY_CODES}",
            id="unknown-country",
        ),
        pytest.param(
            {"country": "us"},
            f"{HOLIDAYS}.country",
            f"unknown country 'us': did you mean 'US'? {COUNTRY_CODES}",
            id="lower-case-country",
        ),
        pytest.param(
            {"country": 1},
            f"{HOLIDAYS}.country",
            "expected a country code such as 'US', got the number 1",
            id="country-number",
        ),
        pytest.param(
            {"country": "US", "subdivision": "ZZ"},
            f"{HOLIDAYS}.subdivision",
            f"unknown subdivision 'ZZ' of US {US_SUBDIVISIONS}",
            id="unknown-subdivision",
        ),
        pytest.param(
            {"country": "US", "subdivision": "California"},
            f"{HOLIDAYS}.subdivision",
            f"unknown subdivision 'California' of US: did you mean 'CA'? {US_SUBDIVISIONS}",
            id="subdivision-name",
        ),
        pytest.param(
            {"country": "US", "subdivision": "us-ca"},
            f"{HOLIDAYS}.subdivision",
            f"unknown subdivision 'us-ca' of US: did you mean 'CA'? {US_SUBDIVISIONS}",
            id="subdivision-with-country",
        ),
        pytest.param(
            {"country": "DE", "subdivision": 57},
            f"{HOLIDAYS}.subdivision",
            "expected a subdivision code such as 'CA', got the number 57: write it as text, '57'",
            id="subdivision-number",
        ),
        pytest.param(
            {"country": "DE", "subdivision": 5},
            f"{HOLIDAYS}.subdivision",
            "expected a subdivision code such as 'CA', got the number 5",
            id="subdivision-other-number",
        ),
        pytest.param(
            {"country": "IS", "subdivision": "1"},
            f"{HOLIDAYS}.subdivision",
            "IS has no subdivisions in holidays 9.9: remove subdivision",
            id="no-subdivisions",
        ),
        pytest.param(
            {"country": "US", "subdivision": "CA", "except": ["2026-11-28"]},
            f"{HOLIDAYS}.except.0",
            "2026-11-28 is not a public holiday in US-CA (holidays 9.9); that month: "
            "2026-11-11 Veterans Day (US), 2026-11-26 Thanksgiving Day (US), "
            "2026-11-27 Day After Thanksgiving (US-CA)",
            id="except-not-a-holiday",
        ),
        pytest.param(
            {"country": "US", "except": ["2026-02-02"]},
            f"{HOLIDAYS}.except.0",
            "2026-02-02 is not a public holiday in US (holidays 9.9)",
            id="except-in-a-month-without-holidays",
        ),
        pytest.param(
            {"country": "US", "dates": ["2026-11-26"], "except": ["2026-11-26"]},
            f"{HOLIDAYS}.except.0",
            "2026-11-26 is also under dates: a day is closed or worked",
            id="except-and-dates",
        ),
        pytest.param(
            {"country": "US", "except": ["2026-11-26", date(2026, 11, 26)]},
            f"{HOLIDAYS}.except.1",
            "worked holiday 2026-11-26 is listed twice",
            id="except-twice",
        ),
        pytest.param(
            {"country": "US", "dates": ["2026-13-01"]},
            f"{HOLIDAYS}.dates.0",
            "'2026-13-01' is not a calendar date",
            id="bad-date",
        ),
        pytest.param(
            {"country": "US", "except": "2026-11-26"},
            f"{HOLIDAYS}.except",
            "expected a list of dates such as '2026-12-25', got the text '2026-11-26'",
            id="except-not-a-list",
        ),
        pytest.param(
            {"country": "US", "subdivison": "CA"},
            f"{HOLIDAYS}.subdivison",
            "unknown key 'subdivison': did you mean 'subdivision'? "
            "(expected: country, subdivision, dates, except)",
            id="unknown-key",
        ),
    ],
)
def test_country_calendar_problems(
    policy_data: PolicyData, holidays: dict[str, Any], place: str, message: str
) -> None:
    """Each mistake in a country calendar is one problem at its place, naming what is valid."""
    assert country_problems(policy_data(**{HOLIDAYS: holidays})) == [(place, message)]


def test_a_country_calendar_needs_holiday_data(policy_data: PolicyData) -> None:
    """parse_policy without a holiday catalog refuses a calendar naming a country."""
    assert problems_of(policy_data(**{HOLIDAYS: {"country": "US"}})) == [
        (
            f"{HOLIDAYS}.country",
            "this loader has no holiday data: load the policy with sla-worker "
            "(worker.edge.policy_file), which reads it from the holidays package",
        )
    ]


COUNTRY_YAML = """\
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
      except: ["2026-11-27"]
tiers:
  gold:
    commitment: sla
    objective: 0.99
    calendar: us-business
    targets:
      first_response: {P1: 8h}
"""


def test_load_policy_hashes_the_holiday_data_of_a_country_calendar(tmp_path: Path) -> None:
    """With a country calendar, the hash covers the file's bytes and the holidays version."""
    import hashlib

    path = write(tmp_path, COUNTRY_YAML)
    policy = load_policy(path)
    assert policy.holiday_data == "holidays 0.109"
    assert policy.sha256 == hashlib.sha256(COUNTRY_YAML.encode() + b"\0holidays 0.109").hexdigest()
    assert policy.sha256 == policy_digest(COUNTRY_YAML.encode(), "holidays 0.109")
    faked = load_policy(path, holiday_catalog=FakeCatalog())
    assert faked.holiday_data == "holidays 9.9"
    assert faked.sha256 == policy_digest(COUNTRY_YAML.encode(), "holidays 9.9")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_shipped_policies_do_not_depend_on_holiday_data(path: Path) -> None:
    """The shipped policies list their dates: their hash is still the file's own digest."""
    import hashlib

    policy = load_policy(path)
    assert policy.holiday_data == ""
    assert policy.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_policy_places_country_problems_on_their_line(tmp_path: Path) -> None:
    """An unknown country or subdivision is one problem with its line, listing the valid codes."""
    text = COUNTRY_YAML.replace("country: US", "country: XX")
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))
    ((place, message),) = caught.value.problems
    assert place == "calendars.us-business.holidays.country"
    assert message.startswith(
        "unknown country 'XX' (ISO 3166-1 alpha-2 codes in holidays 0.109: AD, AE, AF,"
    )
    assert ", DE, " in message
    assert message.endswith(", ZW) (line 9)")
    text = COUNTRY_YAML.replace("subdivision: CA", "subdivision: Bavaria").replace(
        "country: US", "country: DE"
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))
    assert caught.value.problems == [
        (
            "calendars.us-business.holidays.subdivision",
            "unknown subdivision 'Bavaria' of DE (subdivisions in holidays 0.109: Augsburg, "
            "BB, BE, BW, BY, HB, HE, HH, MV, NI, NW, RP, SH, SL, SN, ST, TH) (line 10)",
        )
    ]


# --- long lists and long texts are checked in linear time --------------------------------


def test_a_hundred_thousand_listed_holidays_are_checked_in_linear_time(
    policy_data: PolicyData,
) -> None:
    """100,000 listed holidays parse (a repeat among them named once at its place).

    The repeat check used to compare each date with every earlier one: 5 billion comparisons
    here, a run of minutes, where a set answers at once.
    """
    first = date(1900, 1, 1)
    days = [first + timedelta(days=i) for i in range(100_000)]
    calendar = parse_policy(policy_data(**{f"{CAL}.holidays": days})).calendars["us-business"]
    assert isinstance(calendar, BusinessCalendar)
    assert calendar.holidays == tuple(days)
    repeated = [*days, days[50_000].isoformat()]
    assert problems_of(policy_data(**{f"{CAL}.holidays": repeated})) == [
        (f"{CAL}.holidays.100000", "holiday 2036-11-23 is listed twice")
    ]


class CountingSource(FakeSource):
    """A FakeSource that counts the years it is asked for."""

    def __init__(self) -> None:
        super().__init__("US", US_2026)
        self.asked: list[int] = []

    def closed_days(self, year: int) -> dict[date, str]:
        self.asked.append(year)
        return super().closed_days(year)


def test_worked_holidays_ask_the_holiday_data_once_a_year(policy_data: PolicyData) -> None:
    """730 ``except`` dates over two years ask the country's holidays once a year."""
    source = CountingSource()

    class Catalog(FakeCatalog):
        def source(self, country: str, subdivision: str | None) -> FakeSource:
            return source

    first = date(2026, 1, 1)
    worked = [first + timedelta(days=i) for i in range(730)]
    holidays = {"country": "US", "except": worked}
    with pytest.raises(PolicyError) as caught:
        parse_policy(policy_data(**{HOLIDAYS: holidays}), holiday_catalog=Catalog())
    assert len(caught.value.problems) == 730 - len(US_2026)  # every day but the holidays
    assert sorted(source.asked) == [2026, 2027]


def test_a_long_percentage_is_refused_in_linear_time(policy_data: PolicyData) -> None:
    """A million-digit '0.111...x%' is refused at once: the pattern never backtracks."""
    threshold = "0." + "1" * 1_000_000 + "x%"
    [(place, message)] = problems_of(policy_data(warnings=[threshold]))
    assert place == "warnings.0"
    assert message.startswith("invalid threshold '0.111")


@pytest.mark.parametrize(
    ("threshold", "valid"),
    [("0.05%", True), ("0.010%", True), ("0.0%", False), ("0.%", False), ("0.000%", False)],
)
def test_fractional_percentages_below_one(
    policy_data: PolicyData, threshold: str, valid: bool
) -> None:
    """Below 1%, a share needs a non-zero digit after '0.'."""
    if valid:
        parse_policy(policy_data(warnings=[threshold]))
    else:
        assert [place for place, _ in problems_of(policy_data(warnings=[threshold]))] == [
            "warnings.0"
        ]

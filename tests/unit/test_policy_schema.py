"""schemas/policy.v1.json: a valid draft 2020-12 schema that agrees with the policy loader."""

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from worker.core.errors import PolicyError
from worker.core.policy_parse import parse_policy
from worker.edge.holiday_calendars import HolidaysPackage

DROP = ...  # an override removing that key (see conftest.py)
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "policy.v1.json").read_text(encoding="utf-8"))
SHIPPED = sorted((ROOT / "deploy" / "policies").glob("*.yaml"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
HOLIDAYS = "calendars.us-business.holidays"
# The loader as sla-worker runs it: country calendars answered by the holidays package.
CATALOG = HolidaysPackage()

PolicyData = Callable[..., dict[str, Any]]


def as_json(value: object) -> object:
    """Return YAML data as an editor's YAML language server sees it: dates are text."""
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_json(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def errors(data: object) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(as_json(data))]


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    """Editors can load it: it passes the draft 2020-12 metaschema."""
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"].endswith("/policy.v1.json")


def test_schema_knows_every_top_level_key() -> None:
    """The schema names the same top-level keys as docs/policy.md."""
    assert set(SCHEMA["properties"]) == {
        "version",
        "name",
        "priorities",
        "calendars",
        "warnings",
        "tiers",
    }
    assert SCHEMA["additionalProperties"] is False


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.stem)
def test_every_shipped_policy_is_valid(path: Path) -> None:
    """Every policy in deploy/policies/ validates against the schema."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert errors(data) == []


def test_the_default_test_policy_is_valid(policy_data: PolicyData) -> None:
    """The documented example (with a calendar and a target mapping) is valid."""
    assert errors(policy_data()) == []
    assert errors(policy_data(**{"calendars.us-business.weekly": {"sat": ["00:00-24:00"]}})) == []


@pytest.mark.parametrize(
    "holidays",
    [
        pytest.param(
            {
                "country": "US",
                "subdivision": "CA",
                "dates": ["2026-12-24"],
                "except": ["2026-11-27"],
            },
            id="issue-example",
        ),
        pytest.param({"country": "DE"}, id="country-only"),
        pytest.param({"country": "DE", "subdivision": "BY", "except": []}, id="empty-except"),
        pytest.param({"country": "FR", "subdivision": "Zone A"}, id="subdivision-not-iso"),
        pytest.param([], id="empty-list"),
    ],
)
def test_holiday_forms_are_valid_for_schema_and_loader(
    policy_data: PolicyData, holidays: object
) -> None:
    """Both forms of holidays (a list, or a country with dates and except) pass both checks."""
    data = policy_data(**{HOLIDAYS: holidays})
    assert errors(data) == []
    parse_policy(data, holiday_catalog=CATALOG)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"tier": {}}, id="unknown-top-level-key"),
        pytest.param({"version": 2}, id="version"),
        pytest.param({"name": "a b"}, id="name"),
        pytest.param({"priorities": []}, id="no-priorities"),
        pytest.param({"priorities": ["P1", "P1"]}, id="duplicate-priority"),
        pytest.param({"calendars.24x7": {"timezone": "UTC"}}, id="calendar-24x7"),
        pytest.param({"calendars.us-business.timezone": DROP}, id="calendar-without-timezone"),
        pytest.param({"calendars.us-business.weekly": {"monday": ["09:00-17:00"]}}, id="day"),
        pytest.param({"calendars.us-business.weekly": {"mon": ["9:00-17:00"]}}, id="window"),
        pytest.param({"calendars.us-business.weekly": {"mon": ["24:00-24:00"]}}, id="window-24"),
        pytest.param({"calendars.us-business.holidays": ["25/12/2026"]}, id="holiday"),
        pytest.param({"calendars.us-business.holidays": ["2026-02-30"]}, id="holiday-date"),
        pytest.param({HOLIDAYS: "2026-12-25"}, id="holidays-text"),
        pytest.param({HOLIDAYS: {"subdivision": "CA"}}, id="holidays-without-country"),
        pytest.param({HOLIDAYS: {"country": "us"}}, id="country-lower-case"),
        pytest.param({HOLIDAYS: {"country": "USA"}}, id="country-alpha-3"),
        pytest.param({HOLIDAYS: {"country": "DE", "subdivision": 57}}, id="subdivision-number"),
        pytest.param({HOLIDAYS: {"country": "US", "subdivision": ""}}, id="subdivision-empty"),
        pytest.param({HOLIDAYS: {"country": "US", "date": ["2026-12-24"]}}, id="holidays-key"),
        pytest.param({HOLIDAYS: {"country": "US", "dates": ["24/12/2026"]}}, id="dates-format"),
        pytest.param(
            {HOLIDAYS: {"country": "US", "except": ["2026-11-26", "2026-11-26"]}}, id="except-twice"
        ),
        pytest.param({HOLIDAYS: {"country": "US", "except": "2026-11-26"}}, id="except-text"),
        pytest.param({"warnings": ["100%"]}, id="warning-100%"),
        pytest.param({"warnings": ["0%"]}, id="warning-0%"),
        pytest.param({"warnings": ["0s"]}, id="warning-0s"),
        pytest.param({"warnings": ["75"]}, id="warning-number-text"),
        pytest.param({"warnings": ["50%", "50%"]}, id="warning-twice"),
        pytest.param({"tiers": {}}, id="no-tiers"),
        pytest.param({"tiers.gold.commitment": "gold"}, id="commitment"),
        pytest.param({"tiers.gold.commitment": DROP}, id="no-commitment"),
        pytest.param({"tiers.gold.objective": DROP}, id="sla-without-objective"),
        pytest.param({"tiers.gold.objective": 0}, id="objective-zero"),
        pytest.param({"tiers.gold.objective": 1.5}, id="objective-above-one"),
        pytest.param({"tiers.gold.targets": DROP}, id="sla-without-targets"),
        pytest.param({"tiers.free.objective": 0.9}, id="none-with-objective"),
        pytest.param({"tiers.free.targets": {"first_response": {"P1": "1h"}}}, id="none-targets"),
        pytest.param({"tiers.free.warnings": ["50%"]}, id="none-with-warnings"),
        pytest.param({"tiers.gold.targets.response": {"P1": "1h"}}, id="unknown-target"),
        pytest.param({"tiers.gold.targets.first_response.P1": 60}, id="duration-number"),
        pytest.param({"tiers.gold.targets.first_response.P1": "1 hour"}, id="duration-text"),
        pytest.param(
            {"tiers.gold.targets.first_response.P1": {"within": "1h", "pauseable": True}},
            id="target-unknown-key",
        ),
        pytest.param({"tiers.gold.targets.first_response.P1": {"pausable": True}}, id="no-within"),
        pytest.param({"tiers.gold.calender": "24x7"}, id="tier-unknown-key"),
    ],
)
def test_invalid_policies_are_rejected_by_schema_and_loader(
    policy_data: PolicyData, overrides: dict[str, object]
) -> None:
    """A mistake the schema catches is refused by the loader too."""
    data = policy_data(**overrides)
    assert errors(data), "the schema accepted it"
    with pytest.raises(PolicyError):
        parse_policy(data, holiday_catalog=CATALOG)

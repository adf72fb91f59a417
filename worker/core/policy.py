"""The policy model, its validation, and ``Policy.target_for(tier, priority, target)``.

Core module: the standard library and the core modules ``calendars``, ``durations`` and
``errors`` only; it must not import YAML, ``os``, the shell or the streaming stack, and it
does no I/O and never reads the clock. ``parse_policy`` takes the already-parsed policy file
(plain dicts, lists, text, numbers and dates, as a YAML or JSON loader returns them), checks
all of it, and either returns a frozen :class:`Policy` or raises
:class:`~worker.core.errors.PolicyError` listing every problem, each with its dotted place in the
file (``tiers.enterprise.targets.first_response.P9``). Reading the file is the job of
``worker/edge/policy_file.py``; counting time is the job of ``worker/core/calendars.py``.

Rules beyond docs/policy.md, chosen to make typos loud: unknown keys are errors at
every level; names (policy, priorities, calendars, tiers) are letters, digits, ``_`` and
``-``; a day range runs forward (``fri-mon`` is refused: write ``fri-sun`` and ``mon``);
``objective`` is required for ``sla``/``slo`` and refused for ``none``, as are a ``none``
tier's ``targets`` and ``warnings``; an ``sla``/``slo`` tier needs at least one target.
One mistake is reported once: what it makes unusable elsewhere is not reported again.

A calendar's ``holidays`` is a list of dates, or a mapping naming a country (and a
subdivision) whose public holidays close it, with extra ``dates`` and the public holidays
worked anyway (``except``). Which countries and subdivisions exist, and their holidays, come
from a :class:`HolidayCatalog` the caller passes in (the edge adapts the ``holidays`` package:
``worker/edge/holiday_calendars.py``); an ``except`` date must be one of the public holidays.
"""

import difflib
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from itertools import pairwise
from types import MappingProxyType
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worker.core.calendars import TWENTY_FOUR_SEVEN, BusinessCalendar, Calendar, HolidaySource
from worker.core.durations import parse_duration
from worker.core.errors import DurationError, PolicyError

__all__ = [
    "COMMITMENTS",
    "DAYS",
    "DEFAULT_PAUSABLE",
    "POLICY_VERSION",
    "TARGETS",
    "HolidayCatalog",
    "Policy",
    "Target",
    "Tier",
    "WarningThreshold",
    "parse_policy",
]

POLICY_VERSION = 1
COMMITMENTS = ("sla", "slo", "none")
TARGETS = ("first_response", "resolution")
DEFAULT_PAUSABLE: Mapping[str, bool] = MappingProxyType(
    {"first_response": False, "resolution": True}
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_BUILT_IN_CALENDAR = TWENTY_FOUR_SEVEN.name
_TOP_KEYS = ("version", "name", "priorities", "calendars", "warnings", "tiers")
_CALENDAR_KEYS = ("timezone", "weekly", "holidays")
_HOLIDAYS_KEYS = ("country", "subdivision", "dates", "except")
_TIER_KEYS = ("commitment", "objective", "calendar", "targets", "warnings")
_TARGET_KEYS = ("within", "calendar", "pausable")
# Names become Prometheus label values, topic message fields and dotted places in error
# messages: letters, digits, '_' and '-', starting with a letter or digit, at most 63
# characters (a DNS label's limit, so names also fit hostnames and Kubernetes labels).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
_NAME_RULE = "letters, digits, '_' and '-', starting with a letter or digit, at most 63 characters"
_PERCENT = re.compile(r"(?:[1-9][0-9]?(?:\.[0-9]+)?|0\.0*[1-9][0-9]*)%")
_WINDOW = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-(?:([01][0-9]|2[0-3]):([0-5][0-9])|24:00)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAY_S = 86_400


# --- model ---------------------------------------------------------------------------------


class HolidayCatalog(Protocol):
    """Where country calendars find public holidays: which places exist, and their holidays.

    ``version`` names the holiday data (``holidays 0.109``): it is part of a policy's meaning.
    """

    version: str

    def countries(self) -> Collection[str]:
        """Return the ISO 3166-1 alpha-2 codes of the countries known (``US``, ``DE``...)."""

    def subdivisions(self, country: str) -> Mapping[str, str]:
        """Return every spelling of a subdivision of a known ``country`` mapped to its code.

        Each code maps to itself, other names to the code (``Bayern`` to ``BY``); empty when
        the country has no subdivisions.
        """

    def source(self, country: str, subdivision: str | None) -> HolidaySource:
        """Return the public holidays of a known ``country`` (and known ``subdivision``)."""


@dataclass(frozen=True, slots=True)
class WarningThreshold:
    """An impending-breach warning: ``"75%"`` of the budget used, or ``"15m"`` remaining.

    ``text`` is the threshold as written in the policy (it names the warning in output events
    and metrics); exactly one of ``ratio`` (0 < ratio < 1) and ``remaining_s`` (> 0) is set.
    """

    text: str
    ratio: float | None
    remaining_s: int | None

    def fires_after(self, within_s: int) -> timedelta | None:
        """Return the counted time after which this warning fires for a ``within_s`` budget.

        A ratio fires once ``ratio * budget`` is used (computed exactly from the text and
        rounded up to the microsecond); a remaining threshold fires at ``budget - remaining``.
        Return None when it cannot fire meaningfully: a zero budget, or a remaining threshold
        that is not smaller than the budget (it would fire at the very start).
        """
        if within_s <= 0:
            return None
        if self.ratio is not None:
            used_us = Fraction(self.text.removesuffix("%")) / 100 * within_s * 1_000_000
            return timedelta(microseconds=math.ceil(used_us))
        if self.remaining_s is None or self.remaining_s >= within_s:
            return None
        return timedelta(seconds=within_s - self.remaining_s)


@dataclass(frozen=True, slots=True)
class Target:
    """One target of one tier and priority: ``within_s`` of counted time on ``calendar``.

    ``within_s`` is None when the target is measured without a deadline (commitment
    ``none``, or no target configured for that priority). ``pausable`` targets stop
    counting while the ticket is paused (waiting on the customer).
    """

    name: str
    within_s: int | None
    calendar: Calendar
    pausable: bool


@dataclass(frozen=True, slots=True)
class Tier:
    """A support tier: its commitment, objective, default calendar, targets and warnings.

    ``targets`` maps each target name in :data:`TARGETS` to ``{priority: Target}`` for the
    priorities that have one (possibly none). ``objective`` is None and ``warnings`` empty
    for ``commitment: none``; otherwise ``warnings`` is the tier's own list or the policy's.
    """

    name: str
    commitment: str
    objective: float | None
    calendar: Calendar
    targets: Mapping[str, Mapping[str, Target]]
    warnings: tuple[WarningThreshold, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy file (docs/policy.md).

    ``calendars`` holds the built-in ``24x7`` and every calendar the file defines, by name;
    ``sha256`` identifies the policy (empty when not read from a file): the hex digest of the
    file's bytes, followed, when ``holiday_data`` is set, by a NUL byte and its text.
    ``holiday_data`` names the holiday data country calendars use (``holidays 0.109``), and is
    empty when no calendar names a country.
    """

    version: int
    name: str
    priorities: tuple[str, ...]
    calendars: Mapping[str, Calendar]
    warnings: tuple[WarningThreshold, ...]
    tiers: Mapping[str, Tier]
    sha256: str
    holiday_data: str = ""

    def target_for(self, tier: str, priority: str, target: str) -> Target | None:
        """Return the target a ticket of ``tier`` and ``priority`` has for ``target``.

        Return None for an unknown tier, priority or target name (such events are
        dead-lettered). A known tier without a target for that priority, or with
        ``commitment: none``, gets a measured target without a deadline (``within_s`` None)
        on the tier's calendar, with the target's default ``pausable``.
        """
        found = self.tiers.get(tier)
        if found is None or priority not in self.priorities or target not in TARGETS:
            return None
        configured = found.targets[target].get(priority)
        if configured is not None:
            return configured
        return Target(target, None, found.calendar, DEFAULT_PAUSABLE[target])


# --- validation ----------------------------------------------------------------------------


class _Problems:
    """Collects ``(place, message)`` pairs so that every problem is reported at once."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, place: str, message: str) -> None:
        self.items.append((place, message))

    def count(self) -> int:
        return len(self.items)


def _at(place: str, key: object) -> str:
    """Return the dotted place of ``key`` (a mapping key or list index) inside ``place``."""
    return f"{place}.{key}" if place else str(key)


def _kind(value: object) -> str:
    """Name the YAML kind of ``value`` for messages: 'a list', 'a number', ..."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, datetime):
        return f"the timestamp {value.isoformat()}"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _mapping(value: object, place: str, what: str, out: _Problems) -> dict[object, object] | None:
    """Return ``value`` if it is a mapping, else record a problem and return None."""
    if isinstance(value, dict):
        return value
    out.add(place, f"expected a mapping of {what}, got {_kind(value)}")
    return None


def _list(value: object, place: str, what: str, out: _Problems) -> list[object] | None:
    """Return ``value`` if it is a list, else record a problem and return None."""
    if isinstance(value, list):
        return value
    out.add(place, f"expected a list of {what}, got {_kind(value)}")
    return None


def _unknown_keys(
    data: dict[object, object], place: str, allowed: tuple[str, ...], out: _Problems
) -> None:
    """Record every key of ``data`` not in ``allowed``, suggesting the closest known one."""
    for key in data:
        if key in allowed:
            continue
        message = f"unknown key {key!r} (expected: {', '.join(allowed)})"
        close = difflib.get_close_matches(str(key), allowed, n=1) if isinstance(key, str) else []
        if close:
            message = (
                f"unknown key {key!r}: did you mean {close[0]!r}? (expected: {', '.join(allowed)})"
            )
        out.add(_at(place, key), message)


def _name(value: object, place: str, what: str, out: _Problems) -> str | None:
    """Return ``value`` if it is a valid name (see ``_NAME``), else record a problem."""
    if not isinstance(value, str):
        out.add(place, f"{what} must be text, got {_kind(value)}")
        return None
    if _NAME.fullmatch(value) is None:
        out.add(place, f"invalid {what} {value!r}: use {_NAME_RULE}")
        return None
    return value


def _duration(value: object, place: str, out: _Problems) -> int | None:
    """Return the seconds of a duration text such as ``1h30m``, else record a problem."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        example = f"{value}m" if isinstance(value, int) else "1h30m"
        out.add(place, f"got the number {value}: write a duration with a unit, such as {example!r}")
        return None
    if not isinstance(value, str):
        out.add(place, f"expected a duration such as '4h' or '1h30m', got {_kind(value)}")
        return None
    try:
        return parse_duration(value)
    except DurationError as error:
        out.add(place, str(error))
        return None


def _parse_version(data: dict[object, object], out: _Problems) -> int:
    if "version" not in data:
        out.add("version", f"missing: every policy file starts with 'version: {POLICY_VERSION}'")
        return POLICY_VERSION
    version = data["version"]
    if isinstance(version, bool) or version != POLICY_VERSION:
        out.add("version", f"unsupported version {version!r}: this sla-worker reads version 1 only")
    return POLICY_VERSION


def _parse_priorities(data: dict[object, object], out: _Problems) -> tuple[str, ...] | None:
    """Return the priorities (each once), or None if any is unusable (checks then skip them)."""
    if "priorities" not in data:
        out.add("priorities", "missing: list every valid priority, most urgent first")
        return None
    items = _list(data["priorities"], "priorities", "priority names", out)
    if items is None:
        return None
    if not items:
        out.add("priorities", "empty: list every valid priority, most urgent first")
        return None
    usable = True
    names: list[str] = []
    for index, item in enumerate(items):
        place = _at("priorities", index)
        name = _name(item, place, "priority", out)
        if name is None:
            usable = False
        elif name in names:
            out.add(place, f"priority {name!r} is listed twice")
        else:
            names.append(name)
    return tuple(names) if usable else None


def _parse_days(key: object, place: str, out: _Problems) -> list[int] | None:
    """Return the weekday numbers (0 = Monday) a ``weekly`` key names: ``mon`` or ``mon-fri``."""
    hint = "use mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri"
    if not isinstance(key, str):
        out.add(place, f"unknown day {key!r}: {hint}")
        return None
    first, dash, last = key.partition("-")
    if first not in DAYS or (dash and last not in DAYS):
        out.add(place, f"unknown day {key!r}: {hint}")
        return None
    start = DAYS.index(first)
    if not dash:
        return [start]
    end = DAYS.index(last)
    if end <= start:
        out.add(
            place,
            f"day range {key!r} must run forward from mon to sun; "
            "write a range across the weekend as two keys, e.g. 'fri-sun' and 'mon'",
        )
        return None
    return list(range(start, end + 1))


def _parse_window(value: object, place: str, out: _Problems) -> tuple[int, int] | None:
    """Return ``(start_s, end_s)`` after local midnight for a window text ``HH:MM-HH:MM``."""
    match = _WINDOW.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        out.add(
            place,
            f"invalid window {value!r}: expected 'HH:MM-HH:MM' such as '09:00-17:00' "
            "('24:00' may end a day)",
        )
        return None
    start_h, start_m, end_h, end_m = match.groups()
    start_s = int(start_h) * 3600 + int(start_m) * 60
    end_s = _DAY_S if end_h is None else int(end_h) * 3600 + int(end_m) * 60
    if end_s <= start_s:
        out.add(
            place,
            f"window {value!r} ends before it starts; split a window past midnight "
            "across two days (e.g. '22:00-24:00' and '00:00-06:00')",
        )
        return None
    return start_s, end_s


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _parse_weekly(
    value: object, place: str, out: _Problems
) -> dict[int, list[tuple[int, int]]] | None:
    """Return ``{weekday: [(start_s, end_s), ...]}`` from a ``weekly`` mapping."""
    weekly = _mapping(value, place, "days to windows, such as mon-fri: ['09:00-17:00']", out)
    if weekly is None:
        return None
    before = out.count()
    result: dict[int, list[tuple[int, int]]] = {}
    given_by: dict[int, object] = {}
    for key, windows_value in weekly.items():
        key_place = _at(place, key)
        days = _parse_days(key, key_place, out)
        windows_list = _list(windows_value, key_place, "windows such as '09:00-17:00'", out)
        windows: list[tuple[int, int]] = []
        for index, item in enumerate(windows_list or []):
            window = _parse_window(item, _at(key_place, index), out)
            if window is not None:
                windows.append(window)
        windows.sort()
        for earlier, later in pairwise(windows):
            if later[0] < earlier[1]:
                out.add(
                    key_place,
                    f"windows '{_clock(earlier[0])}-{_clock(earlier[1])}' and "
                    f"'{_clock(later[0])}-{_clock(later[1])}' overlap",
                )
        for day in days or []:
            if day in given_by:
                out.add(key_place, f"{DAYS[day]} is already given by {given_by[day]!r}")
                continue
            given_by[day] = key
            result[day] = windows
    if out.count() != before:
        return None
    if not any(result.values()):
        out.add(place, "no open hours: give at least one window, such as mon-fri: ['09:00-17:00']")
        return None
    return result


def _parse_dates(value: object, place: str, what: str, out: _Problems) -> list[tuple[str, date]]:
    """Return ``(place, date)`` for each valid date of a list of dates (ISO text or YAML dates)."""
    items = _list(value, place, "dates such as '2026-12-25'", out)
    days: list[tuple[str, date]] = []
    seen: set[date] = set()  # why: a list of 100,000 dates is checked in linear time
    for index, item in enumerate(items or []):
        item_place = _at(place, index)
        day: date | None = None
        if isinstance(item, date) and not isinstance(item, datetime):
            day = item
        elif isinstance(item, str) and _DATE.fullmatch(item):
            try:
                day = date.fromisoformat(item)
            except ValueError:
                out.add(item_place, f"{item!r} is not a calendar date")
                continue
        else:
            out.add(item_place, f"expected a date such as '2026-12-25', got {_kind(item)}")
            continue
        if day in seen:
            out.add(item_place, f"{what} {day.isoformat()} is listed twice")
            continue
        seen.add(day)
        days.append((item_place, day))
    return days


@dataclass(frozen=True, slots=True)
class _Holidays:
    """What a calendar's ``holidays`` says: listed dates, public holidays, worked ones."""

    dates: tuple[date, ...]
    public: HolidaySource | None = None
    worked: tuple[date, ...] = ()


def _parse_country(
    value: object, place: str, catalog: HolidayCatalog, out: _Problems
) -> str | None:
    """Return the country code of ``holidays.country`` if the catalog knows it."""
    if not isinstance(value, str):
        out.add(place, f"expected a country code such as 'US', got {_kind(value)}")
        return None
    known = catalog.countries()
    if value in known:
        return value
    hint = f": did you mean {value.upper()!r}?" if value.upper() in known else ""
    out.add(
        place,
        f"unknown country {value!r}{hint} (ISO 3166-1 alpha-2 codes in {catalog.version}: "
        f"{', '.join(sorted(known))})",
    )
    return None


def _parse_subdivision(
    value: object, place: str, country: str, catalog: HolidayCatalog, out: _Problems
) -> str | None:
    """Return the subdivision code of ``holidays.subdivision`` if the catalog knows it."""
    spellings = catalog.subdivisions(country)
    if not spellings:
        out.add(place, f"{country} has no subdivisions in {catalog.version}: remove subdivision")
        return None
    if not isinstance(value, str):
        hint = f": write it as text, '{value}'" if str(value) in spellings else ""
        out.add(place, f"expected a subdivision code such as 'CA', got {_kind(value)}{hint}")
        return None
    if spellings.get(value) == value:
        return value
    # A name or another spelling of a code ('Bayern', 'by', 'US-CA'): suggest the code.
    folded = {spelling.casefold(): code for spelling, code in spellings.items()}
    text = value.casefold()
    code = folded.get(text) or folded.get(text.removeprefix(f"{country.casefold()}-"))
    hint = f": did you mean {code!r}?" if code else ""
    out.add(
        place,
        f"unknown subdivision {value!r} of {country}{hint} (subdivisions in {catalog.version}: "
        f"{', '.join(sorted(set(spellings.values())))})",
    )
    return None


def _check_worked(
    worked: list[tuple[str, date]],
    dates: list[tuple[str, date]],
    public: HolidaySource,
    catalog: HolidayCatalog,
    out: _Problems,
) -> None:
    """Record each ``except`` date that is also under ``dates`` or is no public holiday."""
    closed = {day for _, day in dates}
    years: dict[int, Mapping[date, str]] = {}  # why: asked once a year, not once a date
    for place, day in worked:
        if day in closed:
            out.add(place, f"{day.isoformat()} is also under dates: a day is closed or worked")
            continue
        names = years.get(day.year)
        if names is None:
            names = years[day.year] = public.closed_days(day.year)
        if day not in names:
            month = [
                f"{other.isoformat()} {name}"
                for other, name in sorted(names.items())
                if other.month == day.month
            ]
            out.add(
                place,
                f"{day.isoformat()} is not a public holiday in {public.name} "
                f"({catalog.version})" + (f"; that month: {', '.join(month)}" if month else ""),
            )


def _parse_holidays(
    value: object, place: str, catalog: HolidayCatalog | None, out: _Problems
) -> _Holidays | None:
    """Return a calendar's holidays: a list of dates, or ``{country, subdivision, dates, except}``.

    Return None when the mapping form has a problem (recorded).
    """
    if not isinstance(value, dict):
        return _Holidays(tuple(day for _, day in _parse_dates(value, place, "holiday", out)))
    before = out.count()
    _unknown_keys(value, place, _HOLIDAYS_KEYS, out)
    dates = _parse_dates(value.get("dates", []), _at(place, "dates"), "holiday", out)
    worked = _parse_dates(value.get("except", []), _at(place, "except"), "worked holiday", out)
    country_place = _at(place, "country")
    if "country" not in value:
        out.add(
            country_place,
            "missing: the ISO 3166-1 code of the country whose public holidays close the "
            "calendar, such as US (a calendar without one lists its dates: holidays: [...])",
        )
        return None
    if catalog is None:
        out.add(
            country_place,
            "this loader has no holiday data: load the policy with sla-worker "
            "(worker.edge.policy_file), which reads it from the holidays package",
        )
        return None
    country = _parse_country(value["country"], country_place, catalog, out)
    subdivision = None
    if country is not None and "subdivision" in value:
        subdivision = _parse_subdivision(
            value["subdivision"], _at(place, "subdivision"), country, catalog, out
        )
    if out.count() != before or country is None:
        return None
    public = catalog.source(country, subdivision)
    _check_worked(worked, dates, public, catalog, out)
    if out.count() != before:
        return None
    return _Holidays(tuple(day for _, day in dates), public, tuple(day for _, day in worked))


def _parse_timezone(value: object, place: str, out: _Problems) -> ZoneInfo | None:
    hint = "use an IANA name such as 'America/Los_Angeles', 'Europe/Berlin' or 'UTC'"
    if not isinstance(value, str):
        out.add(place, f"expected a time zone name, got {_kind(value)}: {hint}")
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        out.add(place, f"unknown time zone {value!r}: {hint}")
        return None


def _parse_calendar(
    name: str, value: object, place: str, catalog: HolidayCatalog | None, out: _Problems
) -> Calendar | None:
    """Return the business calendar a ``calendars.<name>`` entry defines."""
    spec = _mapping(value, place, "timezone, weekly and holidays", out)
    if spec is None:
        return None
    before = out.count()
    _unknown_keys(spec, place, _CALENDAR_KEYS, out)
    timezone: ZoneInfo | None = None
    weekly: dict[int, list[tuple[int, int]]] | None = None
    if "timezone" in spec:
        timezone = _parse_timezone(spec["timezone"], _at(place, "timezone"), out)
    else:
        out.add(_at(place, "timezone"), "missing: the IANA time zone of the weekly windows")
    if "weekly" in spec:
        weekly = _parse_weekly(spec["weekly"], _at(place, "weekly"), out)
    else:
        out.add(_at(place, "weekly"), "missing: the open windows, such as mon-fri: ['09:00-17:00']")
    holidays = _parse_holidays(spec.get("holidays", []), _at(place, "holidays"), catalog, out)
    if out.count() != before or timezone is None or weekly is None or holidays is None:
        return None
    try:
        return BusinessCalendar(
            name,
            timezone,
            weekly,
            holidays.dates,
            public_holidays=holidays.public,
            worked_holidays=holidays.worked,
        )
    except ValueError as error:  # defensive: everything it refuses is checked above
        out.add(place, str(error))
        return None


def _parse_calendars(
    data: dict[object, object], catalog: HolidayCatalog | None, out: _Problems
) -> tuple[dict[str, Calendar], set[str] | None]:
    """Return the valid calendars by name (24x7 included) and every name the file defines.

    The names are None when the ``calendars`` section is not a mapping: references to
    calendars are then not checked (the one problem is the section itself).
    """
    calendars: dict[str, Calendar] = {_BUILT_IN_CALENDAR: TWENTY_FOUR_SEVEN}
    defined: set[str] = {_BUILT_IN_CALENDAR}
    specs = _mapping(data.get("calendars", {}), "calendars", "calendar names to calendars", out)
    if specs is None:
        return calendars, None
    for key, value in specs.items():
        place = _at("calendars", key)
        defined.add(str(key))  # even if invalid: tiers naming it add no second problem
        if key == _BUILT_IN_CALENDAR:
            out.add(place, f"{_BUILT_IN_CALENDAR!r} is built in (always open); choose another name")
            continue
        name = _name(key, place, "calendar name", out)
        if name is None:
            continue
        calendar = _parse_calendar(name, value, place, catalog, out)
        if calendar is not None:
            calendars[name] = calendar
    return calendars, defined


def _parse_warnings(value: object, place: str, out: _Problems) -> tuple[WarningThreshold, ...]:
    """Return the thresholds of a ``warnings`` list: ``"75%"`` or a duration like ``"15m"``."""
    items = _list(value, place, "thresholds such as '75%' or '15m'", out)
    thresholds: list[WarningThreshold] = []
    seen: dict[tuple[Fraction | None, int | None], str] = {}
    for index, item in enumerate(items or []):
        item_place = _at(place, index)
        if not isinstance(item, str):
            out.add(item_place, f"expected a threshold such as '75%' or '15m', got {_kind(item)}")
            continue
        threshold: WarningThreshold
        key: tuple[Fraction | None, int | None]
        if item.endswith("%"):
            if _PERCENT.fullmatch(item) is None:
                out.add(
                    item_place,
                    f"invalid threshold {item!r}: a share of the budget must be more than 0% "
                    "and less than 100%, such as '75%' or '87.5%'",
                )
                continue
            ratio = Fraction(item.removesuffix("%")) / 100
            threshold = WarningThreshold(item, float(ratio), None)
            key = (ratio, None)
        else:
            remaining_s = _duration(item, item_place, out)
            if remaining_s is None:
                continue
            if remaining_s == 0:
                out.add(
                    item_place,
                    f"threshold {item!r} would fire at the breach itself: use more than 0s",
                )
                continue
            threshold = WarningThreshold(item, None, remaining_s)
            key = (None, remaining_s)
        if key in seen:
            out.add(item_place, f"threshold {item!r} repeats {seen[key]!r}")
            continue
        seen[key] = item
        thresholds.append(threshold)
    return tuple(thresholds)


@dataclass(slots=True)
class _Context:
    """What tiers refer to: priorities (None if invalid) and calendars."""

    priorities: tuple[str, ...] | None
    calendars: dict[str, Calendar]
    defined_calendars: set[str] | None
    warnings: tuple[WarningThreshold, ...]


def _calendar_ref(value: object, place: str, ctx: _Context, out: _Problems) -> Calendar | None:
    """Return the calendar a tier or target names; None (maybe with a problem) otherwise."""
    if not isinstance(value, str):
        out.add(place, f"expected a calendar name, got {_kind(value)}")
        return None
    if ctx.defined_calendars is None:
        return ctx.calendars.get(value)  # the calendars section is invalid (reported)
    if value not in ctx.defined_calendars:
        names = ", ".join(
            [*sorted(ctx.defined_calendars - {_BUILT_IN_CALENDAR}), _BUILT_IN_CALENDAR]
        )
        out.add(place, f"unknown calendar {value!r} (defined: {names})")
        return None
    return ctx.calendars.get(value)  # None: the calendar is defined but invalid (reported)


def _parse_target(
    target: str,
    value: object,
    place: str,
    tier_calendar: Calendar | None,
    ctx: _Context,
    out: _Problems,
) -> Target | None:
    """Return the target a duration or a ``{within, calendar, pausable}`` mapping gives."""
    if not isinstance(value, dict):
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            within_s = _duration(value, place, out)
        else:
            out.add(
                place,
                "expected a duration such as '4h' or a mapping {within, calendar, pausable}, "
                f"got {_kind(value)}",
            )
            within_s = None
        if within_s is None or tier_calendar is None:
            return None
        return Target(target, within_s, tier_calendar, DEFAULT_PAUSABLE[target])
    before = out.count()
    _unknown_keys(value, place, _TARGET_KEYS, out)
    within_s = None
    if "within" in value:
        within_s = _duration(value["within"], _at(place, "within"), out)
    else:
        out.add(_at(place, "within"), "missing: the duration of the target, such as '4h'")
    calendar = tier_calendar
    if "calendar" in value:
        calendar = _calendar_ref(value["calendar"], _at(place, "calendar"), ctx, out)
    pausable = value.get("pausable", DEFAULT_PAUSABLE[target])
    if not isinstance(pausable, bool):
        out.add(_at(place, "pausable"), f"expected true or false, got {_kind(pausable)}")
    if (
        out.count() != before
        or within_s is None
        or calendar is None
        or not isinstance(pausable, bool)
    ):
        return None
    return Target(target, within_s, calendar, pausable)


def _parse_targets(
    value: object, place: str, tier_calendar: Calendar | None, ctx: _Context, out: _Problems
) -> tuple[dict[str, dict[str, Target]], bool]:
    """Return ``{target: {priority: Target}}`` from a tier's ``targets`` mapping.

    The flag says whether the mapping is well formed yet gives no target at all.
    """
    result: dict[str, dict[str, Target]] = {name: {} for name in TARGETS}
    targets = _mapping(value, place, f"target names ({', '.join(TARGETS)}) to priorities", out)
    if targets is None:
        return result, False
    given = 0
    well_formed = True
    for target, per_priority in targets.items():
        target_place = _at(place, target)
        if not isinstance(target, str) or target not in TARGETS:
            out.add(target_place, f"unknown target {target!r} (targets: {', '.join(TARGETS)})")
            well_formed = False
            continue
        entries = _mapping(per_priority, target_place, "priorities to durations", out)
        if entries is None:
            well_formed = False
            continue
        given += len(entries)
        for priority, spec in entries.items():
            entry_place = _at(target_place, priority)
            if ctx.priorities is not None and priority not in ctx.priorities:
                out.add(
                    entry_place,
                    f"unknown priority {priority!r} (priorities: {', '.join(ctx.priorities)})",
                )
                continue
            parsed = _parse_target(target, spec, entry_place, tier_calendar, ctx, out)
            if parsed is not None:
                result[target][str(priority)] = parsed
    return result, well_formed and given == 0


def _parse_objective(value: object, place: str, out: _Problems) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        out.add(place, f"expected a share such as 0.99, got {_kind(value)}")
        return None
    if not 0 < value <= 1:
        out.add(place, f"objective {value} must be more than 0 and at most 1, such as 0.99")
        return None
    return float(value)


def _parse_tier(name: str, value: object, place: str, ctx: _Context, out: _Problems) -> Tier | None:
    """Return the tier a ``tiers.<name>`` entry defines."""
    spec = _mapping(value, place, f"tier settings ({', '.join(_TIER_KEYS)})", out)
    if spec is None:
        return None
    before = out.count()
    _unknown_keys(spec, place, _TIER_KEYS, out)
    commitment = spec.get("commitment")
    if "commitment" not in spec:
        out.add(_at(place, "commitment"), f"missing: choose one of {', '.join(COMMITMENTS)}")
    elif commitment not in COMMITMENTS:
        out.add(
            _at(place, "commitment"),
            f"unknown commitment {commitment!r} (choose one of {', '.join(COMMITMENTS)})",
        )
    measured_only = commitment == "none"
    objective: float | None = None
    if "objective" in spec:
        if measured_only:
            out.add(
                _at(place, "objective"), "a tier with commitment none has no objective: remove it"
            )
        else:
            objective = _parse_objective(spec["objective"], _at(place, "objective"), out)
    elif commitment in ("sla", "slo"):
        out.add(
            _at(place, "objective"),
            f"missing: a tier with commitment {commitment} needs the share of targets "
            "that must be met, such as 0.99",
        )
    calendar = _calendar_ref(
        spec.get("calendar", _BUILT_IN_CALENDAR), _at(place, "calendar"), ctx, out
    )
    targets: dict[str, dict[str, Target]] = {target: {} for target in TARGETS}
    no_targets = "targets" not in spec
    if "targets" in spec:
        if measured_only:
            out.add(
                _at(place, "targets"),
                "a tier with commitment none sets no deadlines: remove its targets "
                "or make it sla or slo",
            )
        else:
            targets, no_targets = _parse_targets(
                spec["targets"], _at(place, "targets"), calendar, ctx, out
            )
    warnings = ctx.warnings
    if "warnings" in spec:
        if measured_only:
            out.add(
                _at(place, "warnings"), "a tier with commitment none sends no warnings: remove them"
            )
        else:
            warnings = _parse_warnings(spec["warnings"], _at(place, "warnings"), out)
    if commitment in ("sla", "slo") and no_targets:
        out.add(
            _at(place, "targets"),
            f"missing: a tier with commitment {commitment} needs at least one target, "
            "such as first_response: {P1: 1h}",
        )
    if out.count() != before or calendar is None or not isinstance(commitment, str):
        return None
    return Tier(
        name=name,
        commitment=commitment,
        objective=objective,
        calendar=calendar,
        targets=MappingProxyType(
            {target: MappingProxyType(entries) for target, entries in targets.items()}
        ),
        warnings=() if measured_only else warnings,
    )


def parse_policy(
    data: object,
    *,
    source: str = "<policy>",
    sha256: str = "",
    holiday_catalog: HolidayCatalog | None = None,
) -> Policy:
    """Validate a parsed policy file and return it as a :class:`Policy`.

    ``source`` names the file in the error; ``sha256`` is stored on the policy as given;
    ``holiday_catalog`` answers for calendars that name a country (without one, such a
    calendar is a problem), and its version becomes the policy's ``holiday_data``. Raise
    :class:`~worker.core.errors.PolicyError` listing every problem found, each with its dotted
    place, when anything is wrong: an invalid policy is refused as a whole.
    """
    out = _Problems()
    if not isinstance(data, dict):
        out.add(
            "(document)",
            "expected a mapping with version, name, priorities and tiers, got " + _kind(data),
        )
        raise PolicyError(source, out.items)
    _unknown_keys(data, "", _TOP_KEYS, out)
    version = _parse_version(data, out)
    name = None
    if "name" in data:
        name = _name(data["name"], "name", "policy name", out)
    else:
        out.add("name", "missing: the policy's name, shown in metrics and output events")
    priorities = _parse_priorities(data, out)
    calendars, defined = _parse_calendars(data, holiday_catalog, out)
    warnings = _parse_warnings(data.get("warnings", []), "warnings", out)
    ctx = _Context(priorities, calendars, defined, warnings)
    tiers: dict[str, Tier] = {}
    specs = None
    if "tiers" in data:
        specs = _mapping(data["tiers"], "tiers", "tier names to tiers", out)
        if specs == {}:
            out.add("tiers", "empty: define at least one tier")
    else:
        out.add("tiers", "missing: define at least one tier")
    for key, value in (specs or {}).items():
        place = _at("tiers", key)
        tier_name = _name(key, place, "tier name", out)
        if tier_name is not None:
            tier = _parse_tier(tier_name, value, place, ctx, out)
            if tier is not None:
                tiers[tier_name] = tier
    if out.items or name is None or priorities is None:
        raise PolicyError(source, out.items)
    countries = any(
        isinstance(calendar, BusinessCalendar) and calendar.public_holidays is not None
        for calendar in calendars.values()
    )
    return Policy(
        version=version,
        name=name,
        priorities=priorities,
        calendars=MappingProxyType(calendars),
        warnings=warnings,
        tiers=MappingProxyType(tiers),
        sha256=sha256,
        holiday_data=holiday_catalog.version if countries and holiday_catalog else "",
    )

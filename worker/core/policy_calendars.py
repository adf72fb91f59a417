"""Validating a policy's ``calendars`` section into business calendars: ``parse_calendars``.

Core module: the standard library and the core modules ``calendars``, ``policy``,
``policy_checks`` only; it must not import YAML, the ``holidays`` package, ``os``, the shell or
the streaming stack. Each ``calendars.<name>`` entry gives a time zone, weekly windows and
holidays; problems are recorded with their places (``calendars.us.weekly.mon-fri.0``), and a
calendar with any problem is left out (tiers naming it add no second problem).

A calendar's ``holidays`` is a list of dates, or a mapping naming a country (and a
subdivision) whose public holidays close it, with extra ``dates`` and the public holidays
worked anyway (``except``). Which countries and subdivisions exist, and their holidays, come
from a :class:`HolidayCatalog` the caller passes in (the edge adapts the ``holidays`` package:
``worker/edge/holiday_calendars.py``); an ``except`` date must be one of the public holidays.
"""

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worker.core.calendars import TWENTY_FOUR_SEVEN, BusinessCalendar, Calendar, HolidaySource
from worker.core.policy import DAYS
from worker.core.policy_checks import (
    Problems,
    at,
    checked_name,
    kind,
    list_of,
    mapping_of,
    unknown_keys,
)

__all__ = ["HolidayCatalog", "parse_calendars"]

_BUILT_IN_CALENDAR = TWENTY_FOUR_SEVEN.name
_CALENDAR_KEYS = ("timezone", "weekly", "holidays")
_HOLIDAYS_KEYS = ("country", "subdivision", "dates", "except")
_WINDOW = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-(?:([01][0-9]|2[0-3]):([0-5][0-9])|24:00)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAY_S = 86_400


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


def _parse_days(key: object, place: str, out: Problems) -> list[int] | None:
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


def _parse_window(value: object, place: str, out: Problems) -> tuple[int, int] | None:
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
    value: object, place: str, out: Problems
) -> dict[int, list[tuple[int, int]]] | None:
    """Return ``{weekday: [(start_s, end_s), ...]}`` from a ``weekly`` mapping."""
    weekly = mapping_of(value, place, "days to windows, such as mon-fri: ['09:00-17:00']", out)
    if weekly is None:
        return None
    before = out.count()
    result: dict[int, list[tuple[int, int]]] = {}
    given_by: dict[int, object] = {}
    for key, windows_value in weekly.items():
        key_place = at(place, key)
        days = _parse_days(key, key_place, out)
        windows_list = list_of(windows_value, key_place, "windows such as '09:00-17:00'", out)
        windows: list[tuple[int, int]] = []
        for index, item in enumerate(windows_list or []):
            window = _parse_window(item, at(key_place, index), out)
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


def _parse_dates(value: object, place: str, what: str, out: Problems) -> list[tuple[str, date]]:
    """Return ``(place, date)`` for each valid date of a list of dates (ISO text or YAML dates)."""
    items = list_of(value, place, "dates such as '2026-12-25'", out)
    days: list[tuple[str, date]] = []
    seen: set[date] = set()  # why: a list of 100,000 dates is checked in linear time
    for index, item in enumerate(items or []):
        item_place = at(place, index)
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
            out.add(item_place, f"expected a date such as '2026-12-25', got {kind(item)}")
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


def _parse_country(value: object, place: str, catalog: HolidayCatalog, out: Problems) -> str | None:
    """Return the country code of ``holidays.country`` if the catalog knows it."""
    if not isinstance(value, str):
        out.add(place, f"expected a country code such as 'US', got {kind(value)}")
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
    value: object, place: str, country: str, catalog: HolidayCatalog, out: Problems
) -> str | None:
    """Return the subdivision code of ``holidays.subdivision`` if the catalog knows it."""
    spellings = catalog.subdivisions(country)
    if not spellings:
        out.add(place, f"{country} has no subdivisions in {catalog.version}: remove subdivision")
        return None
    if not isinstance(value, str):
        hint = f": write it as text, '{value}'" if str(value) in spellings else ""
        out.add(place, f"expected a subdivision code such as 'CA', got {kind(value)}{hint}")
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
    out: Problems,
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
    value: object, place: str, catalog: HolidayCatalog | None, out: Problems
) -> _Holidays | None:
    """Return a calendar's holidays: a list of dates, or ``{country, subdivision, dates, except}``.

    Return None when the mapping form has a problem (recorded).
    """
    if not isinstance(value, dict):
        return _Holidays(tuple(day for _, day in _parse_dates(value, place, "holiday", out)))
    before = out.count()
    unknown_keys(value, place, _HOLIDAYS_KEYS, out)
    dates = _parse_dates(value.get("dates", []), at(place, "dates"), "holiday", out)
    worked = _parse_dates(value.get("except", []), at(place, "except"), "worked holiday", out)
    country_place = at(place, "country")
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
            value["subdivision"], at(place, "subdivision"), country, catalog, out
        )
    if out.count() != before or country is None:
        return None
    public = catalog.source(country, subdivision)
    _check_worked(worked, dates, public, catalog, out)
    if out.count() != before:
        return None
    return _Holidays(tuple(day for _, day in dates), public, tuple(day for _, day in worked))


def _parse_timezone(value: object, place: str, out: Problems) -> ZoneInfo | None:
    hint = "use an IANA name such as 'America/Los_Angeles', 'Europe/Berlin' or 'UTC'"
    if not isinstance(value, str):
        out.add(place, f"expected a time zone name, got {kind(value)}: {hint}")
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        out.add(place, f"unknown time zone {value!r}: {hint}")
        return None


def _parse_calendar(
    name: str, value: object, place: str, catalog: HolidayCatalog | None, out: Problems
) -> Calendar | None:
    """Return the business calendar a ``calendars.<name>`` entry defines."""
    spec = mapping_of(value, place, "timezone, weekly and holidays", out)
    if spec is None:
        return None
    before = out.count()
    unknown_keys(spec, place, _CALENDAR_KEYS, out)
    timezone: ZoneInfo | None = None
    weekly: dict[int, list[tuple[int, int]]] | None = None
    if "timezone" in spec:
        timezone = _parse_timezone(spec["timezone"], at(place, "timezone"), out)
    else:
        out.add(at(place, "timezone"), "missing: the IANA time zone of the weekly windows")
    if "weekly" in spec:
        weekly = _parse_weekly(spec["weekly"], at(place, "weekly"), out)
    else:
        out.add(at(place, "weekly"), "missing: the open windows, such as mon-fri: ['09:00-17:00']")
    holidays = _parse_holidays(spec.get("holidays", []), at(place, "holidays"), catalog, out)
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


def parse_calendars(
    data: dict[object, object], catalog: HolidayCatalog | None, out: Problems
) -> tuple[dict[str, Calendar], set[str] | None]:
    """Return the valid calendars by name (24x7 included) and every name the file defines.

    The names are None when the ``calendars`` section is not a mapping: references to
    calendars are then not checked (the one problem is the section itself).
    """
    calendars: dict[str, Calendar] = {_BUILT_IN_CALENDAR: TWENTY_FOUR_SEVEN}
    defined: set[str] = {_BUILT_IN_CALENDAR}
    specs = mapping_of(data.get("calendars", {}), "calendars", "calendar names to calendars", out)
    if specs is None:
        return calendars, None
    for key, value in specs.items():
        place = at("calendars", key)
        defined.add(str(key))  # even if invalid: tiers naming it add no second problem
        if key == _BUILT_IN_CALENDAR:
            out.add(place, f"{_BUILT_IN_CALENDAR!r} is built in (always open); choose another name")
            continue
        name = checked_name(key, place, "calendar name", out)
        if name is None:
            continue
        calendar = _parse_calendar(name, value, place, catalog, out)
        if calendar is not None:
            calendars[name] = calendar
    return calendars, defined

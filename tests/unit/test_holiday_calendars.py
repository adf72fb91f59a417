"""Country calendars on real dates: the holidays package behind the core's HolidaySource."""

from datetime import UTC, date, datetime, timedelta

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.core.calendars import BusinessCalendar, ClosedDay, HolidaySource
from worker.edge.holiday_calendars import CountryHolidays, HolidaysPackage

H = 3600
MON_FRI = {day: [(9 * H, 17 * H)] for day in range(5)}
US_CA = CountryHolidays("US", "CA")
DE_BY = CountryHolidays("DE", "BY")


def z(text: str) -> datetime:
    """Return the UTC instant written as ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def los_angeles(source: HolidaySource | None = None, **kwargs: object) -> BusinessCalendar:
    return BusinessCalendar(
        "us-business", "America/Los_Angeles", MON_FRI, public_holidays=source, **kwargs
    )


def test_the_package_is_the_pinned_one() -> None:
    """The catalog names the installed package's version, the one pyproject.toml pins."""
    assert HolidaysPackage().version == f"holidays {holidays.__version__}" == "holidays 0.109"
    assert repr(HolidaysPackage()) == "HolidaysPackage('holidays 0.109')"


def test_us_california_skips_thanksgiving_and_the_day_after() -> None:
    """In US-CA, Thursday 2026-11-26 and Friday 2026-11-27 are closed."""
    calendar = los_angeles(US_CA)
    wednesday = z("2026-11-26 00:00")  # Wednesday 16:00 PST
    assert calendar.deadline(wednesday, timedelta(hours=2)) == z("2026-11-30 18:00")
    assert calendar.named_holidays(wednesday, z("2026-11-30 18:00")) == (
        ClosedDay(date(2026, 11, 26), "Thanksgiving Day (US)"),
        ClosedDay(date(2026, 11, 27), "Day After Thanksgiving (US-CA)"),
    )
    # Without the subdivision, Friday is open.
    assert los_angeles(CountryHolidays("US")).deadline(wednesday, timedelta(hours=2)) == z(
        "2026-11-27 18:00"
    )


def test_except_reopens_a_public_holiday_and_dates_add_one() -> None:
    """worked_holidays re-open Friday after Thanksgiving; listed dates close Christmas Eve."""
    calendar = los_angeles(US_CA, worked_holidays=[date(2026, 11, 27)])
    assert calendar.deadline(z("2026-11-26 00:00"), timedelta(hours=2)) == z("2026-11-27 18:00")
    plain = los_angeles(US_CA)
    eve = los_angeles(US_CA, holidays=[date(2026, 12, 24)])
    wednesday = z("2026-12-24 00:00")  # Wednesday 16:00 PST
    assert plain.deadline(wednesday, timedelta(hours=2)) == z("2026-12-24 18:00")
    assert eve.deadline(wednesday, timedelta(hours=2)) == z("2026-12-28 18:00")
    assert [str(day) for day in eve.named_holidays(wednesday, z("2026-12-28 18:00"))] == [
        "2026-12-24 listed holiday",
        "2026-12-25 Christmas Day (US)",
    ]


def test_bavaria_skips_epiphany() -> None:
    """In DE-BY, Wednesday 2027-01-06 (Epiphany) is closed; elsewhere in Germany it is open."""
    weekly = {day: [(9 * H, 18 * H)] for day in range(5)}
    bavaria = BusinessCalendar("by", "Europe/Berlin", weekly, public_holidays=DE_BY)
    germany = BusinessCalendar("de", "Europe/Berlin", weekly, public_holidays=CountryHolidays("DE"))
    tuesday = z("2027-01-05 16:00")  # 17:00 CET
    assert bavaria.deadline(tuesday, timedelta(hours=2)) == z("2027-01-07 09:00")
    assert germany.deadline(tuesday, timedelta(hours=2)) == z("2027-01-06 09:00")
    assert bavaria.named_holidays(tuesday, z("2027-01-07 09:00")) == (
        ClosedDay(date(2027, 1, 6), "Epiphany (DE-BY)"),
    )


def test_a_deadline_across_the_new_year() -> None:
    """A 3-business-day target started 2026-12-30 in the US skips New Year's Day 2027."""
    calendar = los_angeles(CountryHolidays("US"))
    start = z("2026-12-30 18:00")  # Wednesday 10:00 PST
    # Wednesday 7h, Thursday 8h, Friday 1 January closed, Monday 8h, Tuesday 1h.
    deadline = calendar.deadline(start, timedelta(hours=24))
    assert deadline == z("2027-01-05 18:00")
    assert los_angeles().deadline(start, timedelta(hours=24)) == z("2027-01-04 18:00")
    assert [str(day) for day in calendar.named_holidays(start, deadline)] == [
        "2027-01-01 New Year's Day (US)"
    ]
    assert calendar.elapsed(start, deadline) == timedelta(hours=24)


def test_names_say_where_a_holiday_comes_from() -> None:
    """A country-wide holiday is labelled with the country, a subdivision's own with both."""
    days = US_CA.closed_days(2026)
    assert days[date(2026, 12, 25)] == "Christmas Day (US)"
    assert days[date(2026, 3, 31)] == "Cesar Chavez Day (US-CA)"
    assert days[date(2026, 7, 3)] == "Independence Day (observed) (US)"
    assert all(day.year == 2026 for day in days)
    assert CountryHolidays("US").closed_days(2027)[date(2027, 12, 31)] == (
        "New Year's Day (observed) (US)"
    )
    assert US_CA.name == "US-CA"
    assert repr(US_CA) == "CountryHolidays('US', 'CA')"
    assert isinstance(US_CA, HolidaySource)


def test_the_catalog_lists_countries_and_subdivisions() -> None:
    """Countries are ISO alpha-2 codes; a subdivision's names map to its code."""
    catalog = HolidaysPackage()
    countries = catalog.countries()
    assert {"US", "DE", "GB", "FR"} <= countries
    assert "USA" not in countries
    assert all(len(code) == 2 for code in countries)
    bavaria = catalog.subdivisions("DE")
    assert bavaria["BY"] == "BY"
    assert bavaria["Bayern"] == "BY"
    assert "CA" in set(catalog.subdivisions("US").values())
    assert catalog.subdivisions("AF") == {}  # no subdivisions
    assert catalog.subdivisions("XX") == {}  # unknown
    assert catalog.source("US", "CA").name == "US-CA"


def test_an_unknown_place_is_refused_by_the_package() -> None:
    """CountryHolidays is built for known places only (the policy checks them first)."""
    with pytest.raises(NotImplementedError):
        CountryHolidays("XX")
    with pytest.raises(NotImplementedError):
        CountryHolidays("US", "ZZ")


LISTED_US_CA = BusinessCalendar(
    "listed",
    "America/Los_Angeles",
    MON_FRI,
    [day for year in range(2019, 2037) for day in US_CA.closed_days(year)],
)
COUNTRY_US_CA = los_angeles(US_CA)
FROM_2020 = z("2020-01-01 00:00")


@settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.integers(0, 15 * 365 * 86_400).map(lambda s: FROM_2020 + timedelta(seconds=s)),
    budget=st.integers(0, 200 * H).map(lambda s: timedelta(seconds=s)),
)
def test_a_country_calendar_and_the_same_days_listed_agree(
    start: datetime, budget: timedelta
) -> None:
    """US-CA from the package gives the deadlines of a calendar listing the same days."""
    assert COUNTRY_US_CA.deadline(start, budget) == LISTED_US_CA.deadline(start, budget)

"""Counted time: deadlines, elapsed time and spans of the 24x7 and business calendars.

Expected values are worked out by hand and written as literal UTC instants; the properties
compare the calendars against a slow reference that walks local days and windows naively.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.core.calendars import (
    LISTED_HOLIDAY,
    TWENTY_FOUR_SEVEN,
    BusinessCalendar,
    Calendar,
    ClosedDay,
    HolidaySource,
    Pause,
)

H = 3600
M = 60
DAY = 86_400
WEEKDAYS = range(5)
ALL_DAYS = range(7)
BERLIN = ZoneInfo("Europe/Berlin")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def z(text: str) -> datetime:
    """Return the UTC instant written as ``YYYY-MM-DD HH:MM[:SS]``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def every(days: Sequence[int], *windows: tuple[int, int]) -> dict[int, list[tuple[int, int]]]:
    return {day: list(windows) for day in days}


US = BusinessCalendar(
    "us-business",
    "America/Los_Angeles",
    every(WEEKDAYS, (9 * H, 17 * H)),
    holidays=[date(2026, 11, 26), date(2026, 12, 25)],
)
US_SUMMER_BREAK = BusinessCalendar(
    "us-summer-break",
    LOS_ANGELES,
    every(WEEKDAYS, (9 * H, 17 * H)),
    holidays=[date(2026, 7, 4) + timedelta(days=n) for n in range(16)],  # Sat 4 .. Sun 19 July
)
SPLIT = BusinessCalendar(
    "split", "Europe/Berlin", every(WEEKDAYS, (13 * H, 17 * H), (9 * H, 12 * H))
)
NIGHT = BusinessCalendar("night", "UTC", {0: [(22 * H, 24 * H)], 1: [(0, 6 * H)]})
KOLKATA = BusinessCalendar("india", "Asia/Kolkata", every(WEEKDAYS, (9 * H + 30 * M, 18 * H)))


def all_day(zone: str) -> BusinessCalendar:
    return BusinessCalendar(f"all-day-{zone}", zone, every(ALL_DAYS, (0, DAY)))


def sundays(zone: str, *windows: tuple[int, int]) -> BusinessCalendar:
    return BusinessCalendar(f"sundays-{zone}", zone, {6: list(windows)})


# --- deadlines, worked out by hand -----------------------------------------------------------

DEADLINES = [
    # A start before opening counts from the opening (09:00 PDT = 16:00Z).
    pytest.param(US, z("2026-06-16 14:00"), hours(1), (), z("2026-06-16 17:00"), id="before-open"),
    # A start after closing counts from the next morning's opening.
    pytest.param(US, z("2026-06-17 01:00"), hours(1), (), z("2026-06-17 17:00"), id="after-close"),
    # A start on a Saturday counts from Monday's opening.
    pytest.param(US, z("2026-06-20 19:00"), hours(2), (), z("2026-06-22 18:00"), id="weekend"),
    # A start on a holiday (Thanksgiving) counts from the next working day (PST, -8).
    pytest.param(US, z("2026-11-26 18:00"), hours(1), (), z("2026-11-27 18:00"), id="holiday"),
    # A budget crossing a holiday skips the whole holiday.
    pytest.param(
        US, z("2026-11-26 00:00"), hours(2), (), z("2026-11-27 18:00"), id="across-holiday"
    ),
    # A budget running out exactly at closing time ends at the next opening.
    pytest.param(US, z("2026-06-16 16:00"), hours(8), (), z("2026-06-17 16:00"), id="at-closing"),
    # Running out at Friday's closing ends at Monday's opening.
    pytest.param(
        US, z("2026-06-19 20:00"), hours(4), (), z("2026-06-22 16:00"), id="at-friday-closing"
    ),
    # A zero budget inside open hours is the start itself.
    pytest.param(US, z("2026-06-16 17:00"), hours(0), (), z("2026-06-16 17:00"), id="zero-open"),
    # A zero budget outside open hours is the next opening.
    pytest.param(US, z("2026-06-20 19:00"), hours(0), (), z("2026-06-22 16:00"), id="zero-closed"),
    # 72h on an 8h/day calendar is nine working days, ending at a closing: the next opening.
    pytest.param(US, z("2026-06-15 16:00"), hours(72), (), z("2026-06-26 16:00"), id="72h"),
    # 200h is five whole working weeks.
    pytest.param(US, z("2026-06-01 16:00"), hours(200), (), z("2026-07-06 16:00"), id="5-weeks"),
    # Across the spring-forward weekend Friday is PST (-8) and Monday PDT (-7).
    pytest.param(US, z("2026-03-07 00:00"), hours(2), (), z("2026-03-09 17:00"), id="us-dst"),
    # A 72h target across a two-week holiday: 8h before, then 64h from 20 July.
    pytest.param(
        US_SUMMER_BREAK, z("2026-07-03 16:00"), hours(72), (), z("2026-07-30 16:00"), id="break"
    ),
    # Split shift: running out at the lunch break ends when the afternoon opens (CEST, +2).
    pytest.param(SPLIT, z("2026-06-16 09:00"), hours(1), (), z("2026-06-16 11:00"), id="lunch"),
    # Split shift: the lunch hour does not count.
    pytest.param(SPLIT, z("2026-06-16 09:00"), hours(2), (), z("2026-06-16 12:00"), id="split"),
    # Split shift: a start during lunch counts from 13:00.
    pytest.param(
        SPLIT,
        z("2026-06-16 10:30"),
        timedelta(minutes=30),
        (),
        z("2026-06-16 11:30"),
        id="in-lunch",
    ),
    # Split shift: a full day's 7h from the morning opening ends at next morning's opening.
    pytest.param(SPLIT, z("2026-06-16 07:00"), hours(7), (), z("2026-06-17 07:00"), id="full-day"),
    # A window ending at 24:00 and one starting at 00:00 are one span: no jump to next week.
    pytest.param(NIGHT, z("2026-06-15 22:00"), hours(2), (), z("2026-06-16 00:00"), id="24:00"),
    # Counting carries on past midnight into the 00:00 window.
    pytest.param(NIGHT, z("2026-06-15 22:00"), hours(3), (), z("2026-06-16 01:00"), id="00:00"),
    # Running out at the end of the week's only span ends at next week's opening.
    pytest.param(NIGHT, z("2026-06-15 21:00"), hours(8), (), z("2026-06-22 22:00"), id="weekly"),
    # Half-hour offset (IST, +05:30): a start before 09:30 counts from 09:30 = 04:00Z.
    pytest.param(KOLKATA, z("2026-06-15 03:30"), hours(1), (), z("2026-06-15 05:00"), id="ist"),
    # Half-hour offset: a full 8.5h day ends at the next day's opening.
    pytest.param(
        KOLKATA,
        z("2026-06-15 04:00"),
        timedelta(hours=8, minutes=30),
        (),
        z("2026-06-16 04:00"),
        id="ist-day",
    ),
    # 24x7 counts real time, not wall time: 01:30 CEST + 2h is 01:30Z (not 03:30 CET).
    pytest.param(
        TWENTY_FOUR_SEVEN,
        datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN),
        hours(2),
        (),
        z("2026-10-25 01:30"),
        id="24x7-real-time",
    ),
    # 24x7 reads fold=1 inputs as the second pass of the repeated hour (02:30 CET = 01:30Z).
    pytest.param(
        TWENTY_FOUR_SEVEN,
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN),
        hours(1),
        (),
        z("2026-10-25 02:30"),
        id="24x7-fold",
    ),
    # 24x7 multi-week target is plain addition.
    pytest.param(
        TWENTY_FOUR_SEVEN,
        z("2026-06-01 10:00"),
        timedelta(days=30),
        (),
        z("2026-07-01 10:00"),
        id="24x7-30d",
    ),
    # 24x7: a budget running out at a pause's start ends at the pause's end.
    pytest.param(
        TWENTY_FOUR_SEVEN,
        z("2026-06-16 10:00"),
        hours(1),
        [(z("2026-06-16 11:00"), z("2026-06-16 12:00"))],
        z("2026-06-16 12:00"),
        id="at-pause",
    ),
    # 24x7: a start inside a pause counts from the pause's end.
    pytest.param(
        TWENTY_FOUR_SEVEN,
        z("2026-06-16 10:00"),
        hours(1),
        [(z("2026-06-16 09:00"), z("2026-06-16 10:30"))],
        z("2026-06-16 11:30"),
        id="in-pause",
    ),
    # Unsorted, overlapping pauses are joined; a reversed pause is ignored.
    pytest.param(
        TWENTY_FOUR_SEVEN,
        z("2026-06-16 10:00"),
        hours(3),
        [
            (z("2026-06-16 12:00"), z("2026-06-16 13:00")),
            (z("2026-06-16 11:00"), z("2026-06-16 12:30")),
            (z("2026-06-16 14:00"), z("2026-06-16 13:00")),
        ],
        z("2026-06-16 15:00"),
        id="pauses-joined",
    ),
    # A pause reaching into closed hours: 30m Tuesday, then from Wednesday 10:00 PDT.
    pytest.param(
        US,
        z("2026-06-16 23:00"),
        hours(2),
        [(z("2026-06-16 23:30"), z("2026-06-17 17:00"))],
        z("2026-06-17 18:30"),
        id="pause-over-night",
    ),
    # Running out at a pause that lasts past closing: resume at the next opening.
    pytest.param(
        US,
        z("2026-06-16 16:00"),
        hours(7),
        [(z("2026-06-16 23:00"), z("2026-06-17 00:30"))],
        z("2026-06-17 16:00"),
        id="pause-past-closing",
    ),
    # A pause entirely in closed hours changes nothing.
    pytest.param(
        US,
        z("2026-06-16 16:00"),
        hours(9),
        [(z("2026-06-17 02:00"), z("2026-06-17 10:00"))],
        z("2026-06-17 17:00"),
        id="pause-closed",
    ),
]


@pytest.mark.parametrize(("calendar", "start", "budget", "pauses", "expected"), DEADLINES)
def test_deadline(
    calendar: Calendar,
    start: datetime,
    budget: timedelta,
    pauses: Sequence[Pause],
    expected: datetime,
) -> None:
    deadline = calendar.deadline(start, budget, pauses)
    assert deadline == expected
    assert deadline.tzinfo is UTC
    assert calendar.elapsed(start, deadline, pauses) == budget


# --- counted time across daylight-saving changes and holidays -------------------------------

ELAPSED = [
    # Berlin's spring-forward day really is 23 hours long.
    pytest.param(
        all_day("Europe/Berlin"), "2026-03-28 23:00", "2026-03-29 22:00", 23, id="ber-23h"
    ),
    # Berlin's fall-back day really is 25 hours long.
    pytest.param(
        all_day("Europe/Berlin"), "2026-10-24 22:00", "2026-10-25 23:00", 25, id="ber-25h"
    ),
    # Los Angeles' spring-forward day (PST -8 to PDT -7) is 23 hours long.
    pytest.param(
        all_day("America/Los_Angeles"), "2026-03-08 08:00", "2026-03-09 07:00", 23, id="la-23h"
    ),
    # Los Angeles' fall-back day is 25 hours long.
    pytest.param(
        all_day("America/Los_Angeles"), "2026-11-01 07:00", "2026-11-02 08:00", 25, id="la-25h"
    ),
    # Sydney's fall-back day (AEDT +11 to AEST +10, 5 April) is 25 hours long.
    pytest.param(
        all_day("Australia/Sydney"), "2026-04-04 13:00", "2026-04-05 14:00", 25, id="syd-25h"
    ),
    # Sydney's spring-forward day (4 October) is 23 hours long.
    pytest.param(
        all_day("Australia/Sydney"), "2026-10-03 14:00", "2026-10-04 13:00", 23, id="syd-23h"
    ),
    # Tehran 2021: midnight of 22 March did not exist; the day runs 01:00 +04:30 to midnight.
    pytest.param(all_day("Asia/Tehran"), "2021-03-21 20:30", "2021-03-22 19:30", 23, id="teh-23h"),
    # Tehran 2021: 21 September repeated 23:00-24:00, so it ran 25 hours.
    pytest.param(all_day("Asia/Tehran"), "2021-09-20 19:30", "2021-09-21 20:30", 25, id="teh-25h"),
    # A window 01:00-04:00 over Berlin's spring-forward loses the skipped hour: 2h.
    pytest.param(
        sundays("Europe/Berlin", (1 * H, 4 * H)),
        "2026-03-28 12:00",
        "2026-03-29 12:00",
        2,
        id="ber-window-spring",
    ),
    # A window 01:00-04:00 over Berlin's fall-back counts the repeated hour twice: 4h.
    pytest.param(
        sundays("Europe/Berlin", (1 * H, 4 * H)),
        "2026-10-24 12:00",
        "2026-10-25 12:00",
        4,
        id="ber-window-fall",
    ),
    # A window ending inside the repeated hour closes at its first pass (01:00-02:30 = 1.5h).
    pytest.param(
        sundays("Europe/Berlin", (1 * H, 2 * H + 30 * M)),
        "2026-10-24 12:00",
        "2026-10-25 12:00",
        1.5,
        id="ber-end-in-repeat",
    ),
    # A window starting inside the repeated hour opens at its first pass (02:30-04:00 = 2.5h).
    pytest.param(
        sundays("Europe/Berlin", (2 * H + 30 * M, 4 * H)),
        "2026-10-24 12:00",
        "2026-10-25 12:00",
        2.5,
        id="ber-start-in-repeat",
    ),
    # A window inside the repeated hour counts its first pass only (02:15-02:45 = 30m).
    pytest.param(
        sundays("Europe/Berlin", (2 * H + 15 * M, 2 * H + 45 * M)),
        "2026-10-24 12:00",
        "2026-10-25 12:00",
        0.5,
        id="ber-inside-repeat",
    ),
    # A window starting in the spring-forward gap opens when the gap ends (02:30-04:00 = 1h).
    pytest.param(
        sundays("Europe/Berlin", (2 * H + 30 * M, 4 * H)),
        "2026-03-28 12:00",
        "2026-03-29 12:00",
        1,
        id="ber-start-in-gap",
    ),
    # A window ending in the spring-forward gap closes when the gap ends (01:00-02:30 = 1h).
    pytest.param(
        sundays("Europe/Berlin", (1 * H, 2 * H + 30 * M)),
        "2026-03-28 12:00",
        "2026-03-29 12:00",
        1,
        id="ber-end-in-gap",
    ),
    # Los Angeles window 00:00-04:00 on the spring-forward Sunday: 3h.
    pytest.param(
        sundays("America/Los_Angeles", (0, 4 * H)),
        "2026-03-08 00:00",
        "2026-03-09 00:00",
        3,
        id="la-window-spring",
    ),
    # Los Angeles window 00:00-04:00 on the fall-back Sunday: 5h.
    pytest.param(
        sundays("America/Los_Angeles", (0, 4 * H)),
        "2026-11-01 00:00",
        "2026-11-02 00:00",
        5,
        id="la-window-fall",
    ),
    # Sydney window 01:00-04:00 over the fall-back at 03:00 AEDT: 4h.
    pytest.param(
        sundays("Australia/Sydney", (1 * H, 4 * H)),
        "2026-04-04 00:00",
        "2026-04-05 00:00",
        4,
        id="syd-window-fall",
    ),
    # Sydney window 01:00-04:00 over the spring-forward at 02:00 AEST: 2h.
    pytest.param(
        sundays("Australia/Sydney", (1 * H, 4 * H)),
        "2026-10-03 00:00",
        "2026-10-04 00:00",
        2,
        id="syd-window-spring",
    ),
    # Tehran: 22:00-24:00 then 00:00-02:00 across the missing midnight: 2h + 1h, one span.
    pytest.param(
        BusinessCalendar("teh", "Asia/Tehran", every(ALL_DAYS, (22 * H, DAY), (0, 2 * H))),
        "2021-03-21 17:00",
        "2021-03-22 00:00",
        3,
        id="teh-night-spring",
    ),
    # Tehran: 22:00-24:00 over the repeated 23:00-24:00, then 00:00-02:00: 3h + 2h.
    pytest.param(
        BusinessCalendar("teh", "Asia/Tehran", every(ALL_DAYS, (22 * H, DAY), (0, 2 * H))),
        "2021-09-21 17:00",
        "2021-09-22 00:00",
        5,
        id="teh-night-fall",
    ),
    # Wednesday 8h, Thanksgiving closed, Friday 8h.
    pytest.param(US, "2026-11-25 17:00", "2026-11-30 17:00", 16, id="thanksgiving"),
    # Over a two-week holiday only the Friday before and the Monday after count.
    pytest.param(US_SUMMER_BREAK, "2026-07-03 16:00", "2026-07-21 16:00", 16, id="two-weeks"),
    # An end before the start counts nothing.
    pytest.param(US, "2026-06-17 16:00", "2026-06-16 16:00", 0, id="reversed"),
]


@pytest.mark.parametrize(("calendar", "start", "end", "expected_h"), ELAPSED)
def test_elapsed(calendar: Calendar, start: str, end: str, expected_h: float) -> None:
    assert calendar.elapsed(z(start), z(end)) == hours(expected_h)


SPANS = [
    # Berlin's fall-back window runs from 01:00 CEST to 04:00 CET in one piece.
    pytest.param(
        sundays("Europe/Berlin", (1 * H, 4 * H)),
        "2026-10-24 12:00",
        "2026-10-25 12:00",
        (),
        [("2026-10-24 23:00", "2026-10-25 03:00")],
        id="fall-back",
    ),
    # Berlin's spring-forward window runs from 01:00 CET to 04:00 CEST.
    pytest.param(
        sundays("Europe/Berlin", (1 * H, 4 * H)),
        "2026-03-28 12:00",
        "2026-03-29 12:00",
        (),
        [("2026-03-29 00:00", "2026-03-29 02:00")],
        id="spring-forward",
    ),
    # Windows touching at midnight come out as one span.
    pytest.param(
        NIGHT,
        "2026-06-15 21:00",
        "2026-06-16 07:00",
        (),
        [("2026-06-15 22:00", "2026-06-16 06:00")],
        id="midnight",
    ),
    # Split shifts give two spans a day; spans are clipped to [start, end).
    pytest.param(
        SPLIT,
        "2026-06-16 08:00",
        "2026-06-16 14:00",
        (),
        [("2026-06-16 08:00", "2026-06-16 10:00"), ("2026-06-16 11:00", "2026-06-16 14:00")],
        id="split",
    ),
    # A pause cuts a span in two; pauses outside the range change nothing.
    pytest.param(
        SPLIT,
        "2026-06-16 07:00",
        "2026-06-16 10:00",
        [("2026-06-16 08:00", "2026-06-16 08:30"), ("2026-06-16 20:00", "2026-06-16 21:00")],
        [("2026-06-16 07:00", "2026-06-16 08:00"), ("2026-06-16 08:30", "2026-06-16 10:00")],
        id="pause",
    ),
    # Holidays are gaps: the end of Tuesday, Wednesday, then Friday.
    pytest.param(
        US,
        "2026-11-25 00:00",
        "2026-11-28 00:00",
        (),
        [
            ("2026-11-25 00:00", "2026-11-25 01:00"),
            ("2026-11-25 17:00", "2026-11-26 01:00"),
            ("2026-11-27 17:00", "2026-11-28 00:00"),
        ],
        id="holiday",
    ),
    # 24x7 is one span less its pauses.
    pytest.param(
        TWENTY_FOUR_SEVEN,
        "2026-06-16 10:00",
        "2026-06-16 12:00",
        [("2026-06-16 09:00", "2026-06-16 10:30"), ("2026-06-16 11:00", "2026-06-16 13:00")],
        [("2026-06-16 10:30", "2026-06-16 11:00")],
        id="24x7",
    ),
    # An empty range has no spans.
    pytest.param(TWENTY_FOUR_SEVEN, "2026-06-16 10:00", "2026-06-16 10:00", (), [], id="empty"),
]


@pytest.mark.parametrize(("calendar", "start", "end", "pauses", "expected"), SPANS)
def test_spans(
    calendar: Calendar,
    start: str,
    end: str,
    pauses: Sequence[tuple[str, str]],
    expected: list[tuple[str, str]],
) -> None:
    spans = calendar.spans(z(start), z(end), [(z(a), z(b)) for a, b in pauses])
    assert list(spans) == [(z(a), z(b)) for a, b in expected]


DST_DEADLINES = [
    # Budget running out as Berlin's clocks jump forward: counting goes on (01:00Z = 03:00 CEST).
    pytest.param("2026-03-28 12:00", 1, "2026-03-29 01:00", id="spring-at-jump"),
    # 90 minutes of the spring-forward window end at 03:30 CEST.
    pytest.param("2026-03-28 12:00", 1.5, "2026-03-29 01:30", id="spring-after-jump"),
    # Two hours of the fall-back window end as the clocks go back (03:00 CEST = 01:00Z).
    pytest.param("2026-10-24 12:00", 2, "2026-10-25 01:00", id="fall-at-turn"),
    # 2.5 hours end in the repeated hour's second pass (02:30 CET = 01:30Z).
    pytest.param("2026-10-24 12:00", 2.5, "2026-10-25 01:30", id="fall-second-pass"),
    # Three hours end after the repeated hour (03:00 CET = 02:00Z).
    pytest.param("2026-10-24 12:00", 3, "2026-10-25 02:00", id="fall-after-repeat"),
    # Four hours end at the window's closing: next Sunday 01:00 CET.
    pytest.param("2026-10-24 12:00", 4, "2026-11-01 00:00", id="fall-closing"),
]


@pytest.mark.parametrize(("start", "budget_h", "expected"), DST_DEADLINES)
def test_deadline_across_berlin_transitions(start: str, budget_h: float, expected: str) -> None:
    calendar = sundays("Europe/Berlin", (1 * H, 4 * H))
    assert calendar.deadline(z(start), hours(budget_h)) == z(expected)


def test_next_open() -> None:
    """next_open is the start itself when open, else the next opening, after any pause."""
    assert US.next_open(z("2026-06-16 17:00")) == z("2026-06-16 17:00")
    assert US.next_open(z("2026-06-16 00:30")) == z("2026-06-16 16:00")
    pause = (z("2026-06-16 16:00"), z("2026-06-17 02:00"))
    assert US.next_open(z("2026-06-16 17:00"), [pause]) == z("2026-06-17 16:00")
    assert TWENTY_FOUR_SEVEN.next_open(z("2026-06-16 17:00"), [pause]) == z("2026-06-17 02:00")


def test_elapsed_with_pauses_over_holidays() -> None:
    """Pauses subtract only open time, and only the part inside [start, end)."""
    pauses = [
        (z("2026-11-24 00:00"), z("2026-11-25 18:00")),  # covers Wednesday's first hour
        (z("2026-11-26 17:00"), z("2026-11-27 19:00")),  # holiday, then Friday's first 2h
        (z("2026-11-27 23:00"), z("2026-12-01 00:00")),  # Friday's last hour and beyond the end
    ]
    # Open: Wednesday 8h + Friday 7h (until 16:00 PST); paused: 1h + 2h + 1h.
    assert US.elapsed(z("2026-11-25 17:00"), z("2026-11-28 00:00"), pauses) == hours(11)


def test_answers_do_not_depend_on_earlier_queries() -> None:
    """The offset changes a calendar learns lazily give the same answers in any query order."""
    windows = every(ALL_DAYS, (1 * H, 4 * H), (9 * H, 17 * H))
    starts = [
        z("2026-10-24 12:00"),
        z("2025-03-29 12:00"),  # earlier than known: extends the known range back
        z("2029-10-27 12:00"),  # later than known: extends it forward
        z("2090-03-25 12:00"),  # far away: a new range
        z("1990-09-29 12:00"),  # far before: a new range
    ]
    shared = BusinessCalendar("shared", "Europe/Berlin", windows)
    for start in starts:
        fresh = BusinessCalendar("fresh", "Europe/Berlin", windows)
        assert shared.deadline(start, hours(30)) == fresh.deadline(start, hours(30))
        assert shared.elapsed(start, start + hours(60)) == fresh.elapsed(start, start + hours(60))


def test_counting_past_year_9999_overflows() -> None:
    """A deadline beyond what datetime can hold is an OverflowError, not a wrong answer."""
    late = z("9999-12-20 00:00")
    with pytest.raises(OverflowError):
        US.deadline(late, hours(200))
    with pytest.raises(OverflowError):
        TWENTY_FOUR_SEVEN.deadline(late, timedelta(days=30))


NAIVE = datetime(2026, 6, 16, 10, 0)  # noqa: DTZ001 - a naive datetime is the point


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: US.deadline(NAIVE, hours(1)), id="deadline"),
        pytest.param(lambda: TWENTY_FOUR_SEVEN.deadline(NAIVE, hours(1)), id="24x7-deadline"),
        pytest.param(lambda: US.elapsed(z("2026-06-16 10:00"), NAIVE), id="elapsed-end"),
        pytest.param(lambda: US.next_open(NAIVE), id="next-open"),
        pytest.param(lambda: US.spans(NAIVE, z("2026-06-17 10:00")), id="spans"),
        pytest.param(
            lambda: US.deadline(z("2026-06-16 10:00"), hours(1), [(NAIVE, z("2026-06-17 00:00"))]),
            id="pause",
        ),
    ],
)
def test_naive_datetimes_are_refused(call: Callable[[], object]) -> None:
    """Every entry point refuses naive datetimes, eagerly (spans too)."""
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


@pytest.mark.parametrize("calendar", [US, TWENTY_FOUR_SEVEN])
def test_negative_budget_is_refused(calendar: Calendar) -> None:
    """A budget below zero is a caller's bug."""
    with pytest.raises(ValueError, match="negative"):
        calendar.deadline(z("2026-06-16 10:00"), timedelta(seconds=-1))


@pytest.mark.parametrize(
    ("timezone", "weekly", "message"),
    [
        # Overlapping windows of one day are refused, naming them.
        pytest.param(
            "UTC",
            {0: [(13 * H, 17 * H), (9 * H, 13 * H + 1)]},
            r"09:00-13:00:01 and 13:00-17:00 on Monday overlap",
            id="overlap",
        ),
        # A window must lie within the day.
        pytest.param("UTC", {2: [(9 * H, DAY + 1)]}, "on Wednesday is not", id="past-24:00"),
        # A window must end after it starts.
        pytest.param("UTC", {2: [(9 * H, 9 * H)]}, "on Wednesday is not", id="empty-window"),
        # A window is two integers.
        pytest.param("UTC", {2: [(9.5, 10 * H)]}, "on Wednesday is not", id="float"),
        # A window is a pair.
        pytest.param("UTC", {2: [(9 * H, 10 * H, 11 * H)]}, "on Wednesday is not", id="triple"),
        # A window is a sequence of two numbers.
        pytest.param("UTC", {2: [9 * H]}, "on Wednesday is not", id="number"),
        # Weekdays are 0..6.
        pytest.param("UTC", {7: [(9 * H, 10 * H)]}, "weekday 7 is not", id="weekday"),
        # A calendar that never opens is refused.
        pytest.param("UTC", {}, "has no open hours", id="never-open"),
        # Days listed without windows are closed, so this one never opens either.
        pytest.param("UTC", {0: [], 6: []}, "has no open hours", id="no-windows"),
        # The time zone must be in the database.
        pytest.param("Mars/Olympus_Mons", {0: [(0, H)]}, "unknown time zone", id="zone"),
        # A directory of the database is not a zone.
        pytest.param("America", {0: [(0, H)]}, "unknown time zone", id="zone-directory"),
    ],
)
def test_invalid_calendars_are_refused(
    timezone: str, weekly: Mapping[int, Sequence[tuple[int, int]]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar("bad", timezone, weekly)


@pytest.mark.parametrize(
    "holiday",
    [
        # A holiday is a local date; a datetime would leave its zone unclear.
        pytest.param(datetime(2026, 12, 25, tzinfo=UTC), id="datetime"),
        # Text must be parsed into a date by the caller.
        pytest.param("2026-12-25", id="text"),
    ],
)
def test_invalid_holidays_are_refused(holiday: object) -> None:
    with pytest.raises(ValueError, match="is not a date"):
        BusinessCalendar("bad", "UTC", {0: [(0, H)]}, [holiday])  # type: ignore[list-item]


def test_calendar_attributes() -> None:
    """Calendars show their name, zone, sorted windows and holidays; both meet the protocol."""
    assert US.name == "us-business"
    assert US.timezone == LOS_ANGELES
    assert SPLIT.weekly[0] == ((9 * H, 12 * H), (13 * H, 17 * H))
    assert US.holidays == (date(2026, 11, 26), date(2026, 12, 25))
    assert repr(US) == "BusinessCalendar('us-business', 'America/Los_Angeles')"
    assert TWENTY_FOUR_SEVEN.name == "24x7"
    assert repr(TWENTY_FOUR_SEVEN) == "TWENTY_FOUR_SEVEN"
    assert isinstance(US, Calendar)
    assert isinstance(TWENTY_FOUR_SEVEN, Calendar)


def test_holidays_on_closed_days_change_nothing() -> None:
    """A holiday on a weekend removes no open time."""
    with_weekend_holiday = BusinessCalendar(
        "x", "America/Los_Angeles", every(WEEKDAYS, (9 * H, 17 * H)), [date(2026, 6, 20)]
    )
    start = z("2026-06-19 20:00")
    assert with_weekend_holiday.deadline(start, hours(6)) == US.deadline(start, hours(6))


# --- properties against a slow reference ----------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A calendar written plainly, for the reference to read."""

    zone: str
    weekly: Mapping[int, Sequence[tuple[int, int]]]
    holidays: frozenset[date] = field(default_factory=frozenset)


def first_instant(zone: ZoneInfo, day: date, seconds: int) -> datetime:
    """Return the first UTC instant at which the local clock reads day + seconds or later."""
    wall = datetime.combine(day, time()) + timedelta(seconds=seconds)
    candidate = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if candidate.astimezone(zone).replace(tzinfo=None) == wall:
        return candidate  # the wall time exists; fold=0 is its first occurrence
    # The wall time falls in a gap: walk minute by minute from before the gap until the clock
    # reads it or later; every transition of the zones used here is on a whole minute, so the
    # walk starts on one.
    instant = wall.replace(tzinfo=zone, fold=1).astimezone(UTC).replace(second=0, microsecond=0)
    while instant.astimezone(zone).replace(tzinfo=None) < wall:
        instant += timedelta(minutes=1)
    return instant


def reference_spans(spec: Spec, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
    """Return the open UTC spans of every local day around [lo, hi), joined, in order."""
    zone = ZoneInfo(spec.zone)
    day = lo.astimezone(zone).date() - timedelta(days=2)
    last = hi.astimezone(zone).date() + timedelta(days=2)
    spans: list[tuple[datetime, datetime]] = []
    while day <= last:
        if day not in spec.holidays:
            for start_s, end_s in spec.weekly.get(day.weekday(), ()):
                a = first_instant(zone, day, start_s)
                b = first_instant(zone, day, end_s)
                if a < b:
                    spans.append((a, b))
        day += timedelta(days=1)
    spans.sort()
    joined: list[tuple[datetime, datetime]] = []
    for a, b in spans:
        if joined and a <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(b, joined[-1][1]))
        else:
            joined.append((a, b))
    return joined


def reference_counted(
    spec: Spec, start: datetime, pauses: Sequence[Pause], horizon: timedelta
) -> list[tuple[datetime, datetime]]:
    """Return the counted UTC spans from ``start`` to ``start + horizon``: open, not paused.

    Everything is converted to UTC first: arithmetic on datetimes of one zone is wall-clock
    arithmetic, which is exactly the trap counted time must avoid.
    """
    start = start.astimezone(UTC)
    pauses = [(p0.astimezone(UTC), p1.astimezone(UTC)) for p0, p1 in pauses]
    result = []
    for a, b in reference_spans(spec, start, start + horizon):
        pieces = [(max(a, start), b)]
        for p0, p1 in pauses:
            if p0 < p1:  # an empty or reversed pause is ignored
                cut = [((s, min(e, p0)), (max(s, p1), e)) for s, e in pieces]
                pieces = [part for parts in cut for part in parts]
        result.extend(piece for piece in pieces if piece[0] < piece[1])
    return sorted(result)


def reference_deadline(
    spec: Spec, start: datetime, budget: timedelta, pauses: Sequence[Pause]
) -> datetime:
    """Walk the counted spans: the budget ends inside one, or at the start of a later one."""
    remaining = budget
    for a, b in reference_counted(spec, start, pauses, timedelta(days=80)):
        if remaining < b - a:
            return a + remaining
        remaining -= b - a
    raise AssertionError("the reference horizon is too short")


def reference_elapsed(
    spec: Spec, start: datetime, end: datetime, pauses: Sequence[Pause]
) -> timedelta:
    """Sum the counted spans inside [start, end)."""
    total = timedelta(0)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    for a, b in reference_counted(spec, start, pauses, max(end - start, timedelta(0))):
        total += max(min(b, end) - a, timedelta(0))
    return total


CASES: dict[str, tuple[Calendar, Spec]] = {}


def case(name: str, spec: Spec, calendar: Calendar | None = None) -> None:
    CASES[name] = (
        calendar or BusinessCalendar(name, spec.zone, spec.weekly, spec.holidays),
        spec,
    )


case("24x7", Spec("UTC", every(ALL_DAYS, (0, DAY))), TWENTY_FOUR_SEVEN)
case(
    "us-business",
    Spec(
        "America/Los_Angeles",
        every(WEEKDAYS, (9 * H, 17 * H)),
        frozenset(
            [date(2026, 3, 9), date(2026, 11, 26), date(2026, 12, 25)]
            + [date(2026, 7, 6) + timedelta(days=n) for n in range(12)]
        ),
    ),
)
case(
    "berlin-dst",
    Spec(
        "Europe/Berlin",
        {
            **every(WEEKDAYS, (9 * H, 12 * H), (13 * H, 17 * H)),
            0: [(0, 2 * H), (9 * H, 12 * H), (13 * H, 17 * H)],
            5: [(1 * H, 2 * H + 30 * M)],
            6: [(0, 4 * H), (22 * H, DAY)],
        },
        frozenset([date(2026, 3, 30), date(2026, 10, 26), date(2026, 10, 27)]),
    ),
)
case("berlin-all-day", Spec("Europe/Berlin", every(ALL_DAYS, (0, DAY))))
case(
    "sydney",
    Spec(
        "Australia/Sydney",
        every(ALL_DAYS, (1 * H, 3 * H + 30 * M), (8 * H, DAY)),
        frozenset([date(2026, 4, 6)]),
    ),
)
case(
    "tehran",
    Spec(
        "Asia/Tehran",
        {
            **every(ALL_DAYS, (0, 2 * H), (22 * H, DAY)),
            **every([5, 6, 0, 1, 2], (0, 2 * H), (8 * H, 16 * H), (22 * H, DAY)),
        },
        frozenset([date(2021, 3, 23)]),
    ),
)
case("kolkata", Spec("Asia/Kolkata", every(WEEKDAYS, (9 * H + 30 * M, 18 * H))))

# Instants near the offset changes of the zones above, and a few ordinary ones.
ANCHORS = [
    z(text)
    for text in (
        "2026-03-08 10:00",
        "2026-11-01 09:00",
        "2026-03-29 01:00",
        "2026-10-25 01:00",
        "2026-04-04 16:00",
        "2026-10-03 16:00",
        "2021-03-21 20:30",
        "2021-09-21 19:30",
        "2026-07-03 16:00",
        "2026-11-25 12:00",
        "2026-06-16 08:00",
    )
]
MINUTE_US = 60_000_000
DAY_US = DAY * 1_000_000

offsets = st.one_of(
    st.integers(-4 * 1440, 4 * 1440).map(lambda n: timedelta(minutes=n)),
    st.integers(-4 * DAY_US, 4 * DAY_US).map(lambda n: timedelta(microseconds=n)),
)
starts = st.builds(
    lambda anchor, offset, zone: (anchor + offset).astimezone(zone),
    st.sampled_from(ANCHORS),
    offsets,
    st.sampled_from([UTC, BERLIN, ZoneInfo("Asia/Kolkata")]),
)
budgets = st.one_of(
    st.integers(0, 40 * 60).map(lambda n: timedelta(minutes=n)),
    st.integers(0, 40 * 3600 * 1_000_000).map(lambda n: timedelta(microseconds=n)),
)
pause_parts = st.lists(
    st.tuples(st.integers(-3 * 60, 60 * 60), st.integers(-60, 12 * 60)), max_size=3
)


def make_pauses(start: datetime, parts: list[tuple[int, int]]) -> list[Pause]:
    origin = start.astimezone(UTC)
    return [
        (origin + timedelta(minutes=at), origin + timedelta(minutes=at + length))
        for at, length in parts
    ]


ALL_DAY = {
    zone: all_day(zone)
    for zone in ("Europe/Berlin", "America/Los_Angeles", "Australia/Sydney", "Asia/Tehran")
}
PROPERTY = settings(deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])
names = pytest.mark.parametrize("name", sorted(CASES))


@names
@PROPERTY
@given(start=starts, budget=budgets, parts=pause_parts)
def test_elapsed_to_deadline_is_the_budget(
    name: str, start: datetime, budget: timedelta, parts: list[tuple[int, int]]
) -> None:
    """Counted time up to the deadline is exactly the budget, and any later instant exceeds it."""
    calendar, _ = CASES[name]
    pauses = make_pauses(start, parts)
    deadline = calendar.deadline(start, budget, pauses)
    assert deadline >= start
    assert calendar.elapsed(start, deadline, pauses) == budget
    assert calendar.elapsed(start, deadline + timedelta(seconds=1), pauses) > budget
    assert calendar.elapsed(start, deadline + timedelta(microseconds=1), pauses) > budget


@names
@PROPERTY
@given(start=starts, budgets=st.tuples(budgets, budgets), parts=pause_parts)
def test_deadline_is_monotonic_in_the_budget(
    name: str, start: datetime, budgets: tuple[timedelta, timedelta], parts: list[tuple[int, int]]
) -> None:
    """A larger budget never gives an earlier deadline; a zero budget gives next_open."""
    calendar, _ = CASES[name]
    pauses = make_pauses(start, parts)
    small, large = sorted(budgets)
    assert calendar.deadline(start, small, pauses) <= calendar.deadline(start, large, pauses)
    assert calendar.deadline(start, timedelta(0), pauses) == calendar.next_open(start, pauses)


@names
@PROPERTY
@given(start=starts, budget=budgets, parts=pause_parts)
def test_deadline_matches_the_reference(
    name: str, start: datetime, budget: timedelta, parts: list[tuple[int, int]]
) -> None:
    """The deadline equals the one found by walking local days and windows naively."""
    calendar, spec = CASES[name]
    pauses = make_pauses(start, parts)
    assert calendar.deadline(start, budget, pauses) == reference_deadline(
        spec, start, budget, pauses
    )


@names
@PROPERTY
@given(start=starts, length=budgets, parts=pause_parts)
def test_elapsed_and_spans_match_the_reference(
    name: str, start: datetime, length: timedelta, parts: list[tuple[int, int]]
) -> None:
    """Elapsed time equals the reference's, and the spans are ordered, apart, and sum to it."""
    calendar, spec = CASES[name]
    pauses = make_pauses(start, parts)
    end = start + length * 2
    elapsed = calendar.elapsed(start, end, pauses)
    assert elapsed == reference_elapsed(spec, start, end, pauses)
    spans = list(calendar.spans(start, end, pauses))
    assert sum((b - a for a, b in spans), timedelta(0)) == elapsed
    assert all(start <= a < b <= end for a, b in spans)
    assert all(b1 < a2 for (_, b1), (a2, _) in pairwise(spans))


@PROPERTY
@given(start=starts, budget=budgets, parts=pause_parts)
def test_all_day_calendars_count_like_24x7(
    start: datetime, budget: timedelta, parts: list[tuple[int, int]]
) -> None:
    """A calendar open 00:00-24:00 every day counts exactly like 24x7 across any DST change."""
    pauses = make_pauses(start, parts)
    for zone in ("Europe/Berlin", "America/Los_Angeles", "Australia/Sydney", "Asia/Tehran"):
        calendar = ALL_DAY[zone]
        assert calendar.deadline(start, budget, pauses) == TWENTY_FOUR_SEVEN.deadline(
            start, budget, pauses
        )
        end = start + budget
        assert calendar.elapsed(start, end, pauses) == TWENTY_FOUR_SEVEN.elapsed(start, end, pauses)


@st.composite
def random_specs(draw: st.DrawFn) -> Spec:
    """Draw a calendar: a DST zone, a few windows on some days (edges on a 15-minute grid or
    any second), and a few holidays near the anchors."""
    zone = draw(
        st.sampled_from(
            ["Europe/Berlin", "America/Los_Angeles", "Australia/Sydney", "Asia/Tehran", "UTC"]
        )
    )
    edge = st.one_of(st.integers(0, 96).map(lambda n: n * 900), st.integers(0, DAY))
    weekly: dict[int, list[tuple[int, int]]] = {}
    for day in draw(st.sets(st.sampled_from(ALL_DAYS), min_size=1)):
        points = sorted(draw(st.sets(edge, min_size=2, max_size=6)))
        weekly[day] = list(pairwise(points))[::2]
    anchor = draw(st.sampled_from(ANCHORS)).date()
    offsets_d = st.integers(-10, 10).map(lambda n: anchor + timedelta(days=n))
    return Spec(zone, weekly, frozenset(draw(st.lists(offsets_d, max_size=4))))


@PROPERTY
@given(spec=random_specs(), start=starts, budget=budgets, parts=pause_parts)
def test_random_calendars_match_the_reference(
    spec: Spec, start: datetime, budget: timedelta, parts: list[tuple[int, int]]
) -> None:
    """Any weekly pattern, in any of the DST zones, gives the reference's deadline and elapsed."""
    calendar = BusinessCalendar("random", spec.zone, spec.weekly, spec.holidays)
    week_open_s = sum(end - begin for windows in spec.weekly.values() for begin, end in windows)
    budget = min(budget, timedelta(seconds=week_open_s * 3))  # within the reference's horizon
    pauses = make_pauses(start, parts)
    deadline = calendar.deadline(start, budget, pauses)
    assert deadline == reference_deadline(spec, start, budget, pauses)
    assert calendar.elapsed(start, deadline, pauses) == budget
    end = start.astimezone(UTC) + budget * 2
    assert calendar.elapsed(start, end, pauses) == reference_elapsed(spec, start, end, pauses)


def test_spans_skip_a_repeated_hour_while_closed() -> None:
    """Spans over a fall-back night, closed while the clocks repeat an hour, count nothing then."""
    berlin = BusinessCalendar("night", "Europe/Berlin", {6: [(3 * 3600, 4 * 3600)]})
    start = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # Sunday 00:00 CEST
    end = datetime(2026, 10, 25, 4, 0, tzinfo=UTC)  # Sunday 05:00 CET
    assert list(berlin.spans(start, end)) == [
        (datetime(2026, 10, 25, 2, 0, tzinfo=UTC), datetime(2026, 10, 25, 3, 0, tzinfo=UTC))
    ]


def test_round_the_clock_calendar_stops_at_a_holidays_midnight() -> None:
    """An always-open calendar's one long window is cut where a holiday begins and ends."""
    always = BusinessCalendar(
        "always", "UTC", {day: [(0, 86_400)] for day in range(7)}, holidays=[date(2026, 11, 26)]
    )
    start = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    end = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert list(always.spans(start, end)) == [
        (start, datetime(2026, 11, 26, tzinfo=UTC)),
        (datetime(2026, 11, 27, tzinfo=UTC), end),
    ]
    assert always.elapsed(start, end) == timedelta(hours=24)
    assert always.deadline(start, timedelta(hours=13)) == datetime(2026, 11, 27, 1, tzinfo=UTC)


# --- public holidays from a HolidaySource ---------------------------------------------------


class FakeSource:
    """A HolidaySource over fixed days, recording the years it is asked for."""

    def __init__(self, days: Mapping[date, str], name: str = "XX") -> None:
        self.name = name
        self.days = dict(days)
        self.asked: list[int] = []

    def closed_days(self, year: int) -> dict[date, str]:
        self.asked.append(year)
        return {day: name for day, name in self.days.items() if day.year == year}


def yearly(month: int, day: int, name: str, years: range) -> dict[date, str]:
    return {date(year, month, day): name for year in years}


def test_a_source_meets_the_protocol() -> None:
    """A class with name and closed_days(year) is a HolidaySource."""
    assert isinstance(FakeSource({}), HolidaySource)


def test_public_holidays_are_loaded_per_year_on_first_use_and_kept() -> None:
    """A calendar asks its source for the years a query touches (and the next), once each."""
    source = FakeSource(yearly(11, 26, "Thanksgiving Day (XX)", range(2000, 3100)))
    calendar = BusinessCalendar(
        "x", "America/Los_Angeles", every(WEEKDAYS, (9 * H, 17 * H)), public_holidays=source
    )
    assert source.asked == []  # nothing before the first query
    start = z("2026-11-25 23:00")  # Wednesday 15:00 PST
    assert calendar.deadline(start, hours(4)) == z("2026-11-27 19:00")  # Thursday skipped
    assert source.asked == [2026, 2027]
    calendar.deadline(start, hours(4))
    calendar.elapsed(start, z("2027-06-01 00:00"))
    assert source.asked == [2026, 2027]  # kept
    calendar.deadline(z("2028-06-01 16:00"), hours(4))
    assert source.asked == [2026, 2027, 2028, 2029]
    calendar.elapsed(z("2026-03-01 00:00"), z("2029-06-01 00:00"))  # 2026-2029, one range
    assert source.asked == [2026, 2027, 2028, 2029]
    # Any year is covered, however far: 3000 has its own Thanksgiving.
    assert calendar.deadline(z("3000-11-25 23:00"), hours(4)) == z("3000-11-27 19:00")
    assert source.asked == [2026, 2027, 2028, 2029, 3000, 3001]


def test_a_deadline_past_the_known_years_is_computed_again() -> None:
    """A deadline that lands in a year not yet loaded is recomputed with that year's holidays."""
    closed = {
        **yearly(1, 5, "a", range(2026, 2032)),
        **{date(2028, 3, 1) + timedelta(days=n): "long break" for n in range(20)},
    }
    source = FakeSource(closed)
    weekly = every(WEEKDAYS, (9 * H, 17 * H))
    country = BusinessCalendar("x", "UTC", weekly, public_holidays=source)
    listed = BusinessCalendar("y", "UTC", weekly, list(closed))
    start, budget = z("2026-06-01 09:00"), hours(8 * 450)  # about 21 months of workdays
    assert country.deadline(start, budget) == listed.deadline(start, budget)
    assert country.deadline(start, budget).year == 2028
    assert source.asked == [2026, 2027, 2028, 2029]
    assert country.elapsed(start, z("2030-01-01 00:00")) == listed.elapsed(
        start, z("2030-01-01 00:00")
    )
    assert list(country.spans(z("2028-02-27 00:00"), z("2028-03-31 00:00"))) == list(
        listed.spans(z("2028-02-27 00:00"), z("2028-03-31 00:00"))
    )


def test_worked_holidays_reopen_and_listed_dates_add() -> None:
    """worked_holidays re-open public holidays; listed holidays close more days."""
    source = FakeSource({date(2026, 11, 26): "Thanksgiving Day (XX)", date(2026, 11, 27): "b"})
    weekly = every(WEEKDAYS, (9 * H, 17 * H))
    plain = BusinessCalendar("x", "UTC", weekly, public_holidays=source)
    worked = BusinessCalendar(
        "x", "UTC", weekly, public_holidays=source, worked_holidays=[date(2026, 11, 27)]
    )
    more = BusinessCalendar("x", "UTC", weekly, [date(2026, 11, 30)], public_holidays=source)
    start = z("2026-11-25 16:00")
    assert plain.deadline(start, hours(2)) == z("2026-11-30 10:00")
    assert worked.deadline(start, hours(2)) == z("2026-11-27 10:00")
    assert more.deadline(start, hours(2)) == z("2026-12-01 10:00")
    assert worked.public_holidays is source
    assert worked.worked_holidays == (date(2026, 11, 27),)


def test_days_a_source_gives_for_another_year_are_ignored() -> None:
    """closed_days(year) answers for that year only: a date of another year changes nothing."""

    class Sloppy(FakeSource):
        def closed_days(self, year: int) -> dict[date, str]:
            return {date(year - 1, 12, 28): "stray", date(year, 6, 1): "real"}

    calendar = BusinessCalendar("x", "UTC", every(ALL_DAYS, (0, DAY)), public_holidays=Sloppy({}))
    start = z("2026-12-27 00:00")
    assert calendar.elapsed(start, z("2026-12-30 00:00")) == hours(72)
    assert calendar.elapsed(z("2026-06-01 00:00"), z("2026-06-02 00:00")) == hours(0)


def test_named_holidays_between_two_instants() -> None:
    """named_holidays lists the closed days that removed open time, with their names, in order."""
    source = FakeSource(
        {
            date(2026, 12, 25): "Christmas Day (XX)",
            date(2026, 12, 26): "Saturday holiday (XX)",  # closed anyway
            date(2027, 1, 1): "New Year's Day (XX)",
            date(2027, 1, 6): "Epiphany (XX-BY)",
        }
    )
    calendar = BusinessCalendar(
        "x",
        "America/Los_Angeles",
        every(WEEKDAYS, (9 * H, 17 * H)),
        [date(2026, 12, 24)],
        public_holidays=source,
        worked_holidays=[date(2027, 1, 6)],
    )
    start = z("2026-12-23 20:00")  # Wednesday 12:00 PST
    deadline = calendar.deadline(start, hours(40))
    assert deadline == z("2027-01-04 20:00")
    named = calendar.named_holidays(start, deadline)
    assert named == (
        ClosedDay(date(2026, 12, 24), LISTED_HOLIDAY),
        ClosedDay(date(2026, 12, 25), "Christmas Day (XX)"),
        ClosedDay(date(2027, 1, 1), "New Year's Day (XX)"),
    )
    assert [str(day) for day in named] == [
        "2026-12-24 listed holiday",
        "2026-12-25 Christmas Day (XX)",
        "2027-01-01 New Year's Day (XX)",
    ]
    # Only the part of a holiday inside [start, end) counts: the evening of the 24th is closed.
    assert calendar.named_holidays(z("2026-12-25 02:00"), z("2026-12-25 18:00")) == (
        ClosedDay(date(2026, 12, 25), "Christmas Day (XX)"),
    )
    assert calendar.named_holidays(z("2026-12-25 02:00"), z("2026-12-25 16:00")) == ()
    assert calendar.named_holidays(deadline, start) == ()
    assert calendar.named_holidays(z("2027-01-06 00:00"), z("2027-02-01 00:00")) == ()
    assert TWENTY_FOUR_SEVEN.named_holidays(start, deadline) == ()


def test_named_holidays_load_the_years_they_need() -> None:
    """named_holidays asks the source for years no deadline has reached yet."""
    source = FakeSource(yearly(7, 1, "Canada Day (CA)", range(2020, 2040)))
    calendar = BusinessCalendar(
        "x", "UTC", every(ALL_DAYS, (9 * H, 17 * H)), public_holidays=source
    )
    named = calendar.named_holidays(z("2030-06-01 00:00"), z("2031-08-01 00:00"))
    assert [day.day for day in named] == [date(2030, 7, 1), date(2031, 7, 1)]
    assert source.asked == [2030, 2031, 2032]


def test_years_at_the_edges_of_datetime() -> None:
    """Queries near year 1 and year 9999 load what exists and fail only past 9999."""
    source = FakeSource({date(1, 1, 3): "early", date(9999, 12, 20): "late"})
    calendar = BusinessCalendar("x", "UTC", every(ALL_DAYS, (0, DAY)), public_holidays=source)
    start = datetime(1, 1, 1, tzinfo=UTC)
    assert calendar.deadline(start, hours(72)) == datetime(1, 1, 5, tzinfo=UTC)
    assert calendar.deadline(start, hours(72)) == datetime(1, 1, 5, tzinfo=UTC)
    with pytest.raises(OverflowError):
        calendar.deadline(z("9999-12-18 00:00"), hours(24 * 20))
    assert source.asked == [1, 2, 9999]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"worked_holidays": [date(2026, 11, 27)]},
            "worked holidays re-open public holidays, but the calendar has none",
            id="worked-without-source",
        ),
        pytest.param(
            {
                "public_holidays": FakeSource({}),
                "worked_holidays": [date(2026, 12, 24)],
                "holidays": [date(2026, 12, 24)],
            },
            "2026-12-24 is both a holiday and a worked holiday",
            id="both",
        ),
        pytest.param(
            {"public_holidays": FakeSource({}), "worked_holidays": ["2026-11-27"]},
            "worked holiday '2026-11-27' is not a date",
            id="worked-text",
        ),
    ],
)
def test_invalid_public_holiday_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar("bad", "UTC", {0: [(0, H)]}, **kwargs)


holiday_days = st.dictionaries(
    st.dates(date(2025, 10, 1), date(2029, 3, 1)), st.just(LISTED_HOLIDAY), max_size=60
)


@PROPERTY
@given(
    days=holiday_days,
    start=st.integers(0, 3 * 365 * DAY).map(lambda n: z("2025-12-01 00:00") + timedelta(seconds=n)),
    budget=st.integers(0, 400 * 3600).map(lambda n: timedelta(seconds=n)),
    zone=st.sampled_from(["America/Los_Angeles", "Europe/Berlin", "Pacific/Kiritimati"]),
)
def test_a_source_and_a_list_of_the_same_days_agree(
    days: dict[date, str], start: datetime, budget: timedelta, zone: str
) -> None:
    """A calendar whose holidays come from a source counts exactly as one listing the days."""
    weekly = every(WEEKDAYS, (9 * H, 17 * H))
    country = BusinessCalendar("c", zone, weekly, public_holidays=FakeSource(days))
    listed = BusinessCalendar("l", zone, weekly, list(days))
    deadline = listed.deadline(start, budget)
    assert country.deadline(start, budget) == deadline
    assert country.elapsed(start, deadline) == budget
    assert country.named_holidays(start, deadline) == listed.named_holidays(start, deadline)

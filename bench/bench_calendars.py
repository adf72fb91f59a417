"""Benchmark deadlines of worker.core.calendars against the businesstimedelta package.

Prints deadlines per second for the 24x7 calendar and for a business calendar
(America/Los_Angeles, Monday to Friday 09:00-17:00, US holidays) with 8h and 72h budgets and a
72h budget across a two-week holiday, and the same inputs through businesstimedelta
(``WorkDayRule`` + ``HolidayRule`` in the same pytz zone), with the ratio. It also checks that
both give the same deadlines, allowing for one documented difference: when a budget runs out
exactly at closing time businesstimedelta answers the closing time, sla-worker the next
opening. Figures only; no timing is asserted.

Run: ``python bench/bench_calendars.py`` (with the package installed, as ``make bench`` does).
"""

import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock

import businesstimedelta
import pytz

from worker.core.calendars import TWENTY_FOUR_SEVEN, BusinessCalendar, Calendar

ZONE = "America/Los_Angeles"
HOLIDAYS = [
    date(2026, 1, 1),
    date(2026, 1, 19),
    date(2026, 2, 16),
    date(2026, 5, 25),
    date(2026, 7, 3),
    date(2026, 9, 7),
    date(2026, 11, 26),
    date(2026, 11, 27),
    date(2026, 12, 25),
    date(2027, 1, 1),
]
# Two weeks closed, Monday 3 to Sunday 16 August 2026.
SUMMER_BREAK = [date(2026, 8, 3) + timedelta(days=n) for n in range(14)]
# Starts per case; each figure is the best of REPEATS passes over them.
STARTS = 1_000
REPEATS = 5


def starts_between(first: datetime, last: datetime, rng: random.Random) -> list[datetime]:
    """Return STARTS instants spread uniformly (to the second) over [first, last)."""
    span_s = int((last - first).total_seconds())
    return [first + timedelta(seconds=rng.randrange(span_s)) for _ in range(STARTS)]


def best_rate(deadline: Callable[[datetime], datetime], starts: Sequence[datetime]) -> float:
    """Return the best deadlines-per-second over REPEATS passes of ``deadline`` over ``starts``."""
    best = float("inf")
    for _ in range(REPEATS):
        began = time.perf_counter()
        for start in starts:
            deadline(start)
        best = min(best, time.perf_counter() - began)
    return len(starts) / best


def agreement(
    calendar: Calendar, budget: timedelta, starts: Sequence[datetime], rules: object
) -> tuple[int, int]:
    """Return (equal deadlines, deadlines differing only by the closing-time rule)."""
    equal = closing = 0
    delta = businesstimedelta.BusinessTimeDelta(rules, hours=int(budget / timedelta(hours=1)))
    for start in starts:
        ours = calendar.deadline(start, budget)
        theirs = (start + delta).astimezone(UTC)
        if ours == theirs:
            equal += 1
        elif calendar.elapsed(start, theirs) == budget and ours == calendar.next_open(theirs):
            closing += 1
    return equal, closing


def main() -> None:
    """Run every case and print its figures."""
    rng = random.Random(20260616)  # fixed: the same inputs on every run
    tz = pytz.timezone(ZONE)
    weekly = {day: [(9 * 3600, 17 * 3600)] for day in range(5)}
    business = BusinessCalendar("us-business", ZONE, weekly, HOLIDAYS + SUMMER_BREAK)
    workday = businesstimedelta.WorkDayRule(
        start_time=clock(9), end_time=clock(17), working_days=[0, 1, 2, 3, 4], tz=tz
    )
    holidays = businesstimedelta.HolidayRule(set(HOLIDAYS + SUMMER_BREAK), tz=tz)
    rules = businesstimedelta.Rules([workday, holidays])

    year = starts_between(datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), rng)
    # Starts in the week before the break: every 72h target runs across it.
    before_break = starts_between(
        datetime(2026, 7, 27, 16, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC), rng
    )

    began = time.perf_counter()
    cold = BusinessCalendar("cold", ZONE, weekly, HOLIDAYS)
    cold.deadline(year[0], timedelta(hours=8))
    cold_ms = (time.perf_counter() - began) * 1000
    print(
        f"first deadline of a new business calendar (learns ~3 years of offsets): {cold_ms:.2f} ms"
    )

    eight, seventy_two = timedelta(hours=8), timedelta(hours=72)
    rate = best_rate(lambda s: TWENTY_FOUR_SEVEN.deadline(s, eight), year)
    print(f"24x7 8h: {rate:,.0f} deadlines/s ({1e6 / rate:.2f} us each)")
    paused = [(year[0], year[0] + timedelta(hours=1))]
    rate = best_rate(lambda s: TWENTY_FOUR_SEVEN.deadline(s, eight, paused), year)
    print(f"24x7 8h with a pause: {rate:,.0f} deadlines/s ({1e6 / rate:.2f} us each)")

    print(f"{'business case':<28}{'sla-worker/s':>14}{'btd/s':>12}{'ratio':>8}  agreement")
    rates: dict[str, float] = {}
    for label, budget, starts in (
        ("8h", eight, year),
        ("72h", seventy_two, year),
        ("72h across 2-week holiday", seventy_two, before_break),
    ):
        ours = best_rate(lambda s, b=budget: business.deadline(s, b), starts)
        delta = businesstimedelta.BusinessTimeDelta(rules, hours=int(budget / timedelta(hours=1)))
        theirs = best_rate(lambda s, d=delta: s + d, starts)
        equal, closing = agreement(business, budget, starts, rules)
        rates[label] = ours
        print(
            f"{label:<28}{ours:>14,.0f}{theirs:>12,.0f}{ours / theirs:>7.1f}x  "
            f"{equal} equal, {closing} closing-time rule, "
            f"{len(starts) - equal - closing} other of {len(starts)}"
        )
    print(f"cost of 72h relative to 8h: {rates['8h'] / rates['72h']:.2f}x")
    print(
        "cost of 72h across the holiday relative to 8h: "
        f"{rates['8h'] / rates['72h across 2-week holiday']:.2f}x"
    )

    week = timedelta(days=7)
    ours = best_rate(lambda s: s + business.elapsed(s, s + week), year)
    theirs = best_rate(lambda s: s + rules.difference(s, s + week).timedelta, year)
    print(f"elapsed over a week: {ours:,.0f}/s vs btd {theirs:,.0f}/s ({ours / theirs:.1f}x)")


if __name__ == "__main__":
    main()

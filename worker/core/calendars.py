"""Counted time: when a target's clock runs, how much of it has run, and its deadline.

Core module: standard library and ``worker.core.zone_offsets`` only. It must not import
sla-worker's edges (codec, metrics, settings, app...), asyncio, faust, aiokafka,
prometheus_client, ``os`` or ``logging``; it does no I/O and never reads the clock: every
instant is an argument.

A calendar says when time counts. ``TWENTY_FOUR_SEVEN`` always counts; a
``BusinessCalendar`` counts inside weekly windows of local wall-clock time in its time zone,
except on holidays (whole local days). Pauses are ``[from, to)`` spans during which nothing
counts.

Holidays are listed dates, and optionally the public holidays of a place: a
:class:`HolidaySource` (an edge adapts a holiday library to it; this module imports none)
answers year by year, and the calendar asks it lazily for every year a query reaches, then
keeps the answer. ``worked_holidays`` re-open public holidays the team works anyway.
``named_holidays(start, end)`` names the closed days that removed open time in between.

Counted time is real elapsed time, exact to the microsecond: for every calendar, start,
budget and pauses, ``elapsed(start, deadline(start, budget)) == budget``.

Rules:

- Inputs must be timezone-aware (``ValueError`` otherwise); every returned instant is UTC.
- ``deadline(start, budget)`` is the latest instant ``t`` such that the time counted from
  ``start`` to ``t`` is at most ``budget``. When the budget runs out exactly at a closing
  time or at the start of a pause, that is the next instant at which counting resumes; a
  zero budget gives ``next_open(start)``.
- ``elapsed(start, end)`` is the time counted in ``[start, end)``; ``spans`` lists it.

Wall-clock rule (daylight-saving and other offset changes): a wall-clock time of a day (a
window's start or end, a holiday's midnight, ``24:00``) stands for the *first instant at
which the calendar's local clock reads that time or later*. So a time skipped by a
spring-forward change stands for the instant the clocks jump (the end of the gap), and a
time repeated by a fall-back change stands for its first occurrence. Equivalently: an instant
counts when the furthest reading the local clock has reached so far lies in an open window
of a non-holiday day, so while a fall-back repeats an hour the calendar stays open or closed
as it was when the clocks went back. Counted time is real time, hence in Europe/Berlin a
window 01:00-04:00 counts 2h on the spring-forward day and 4h on the fall-back day (the
repeated hour counts twice), a window ending inside the repeated hour closes at its first
pass, and a day open 00:00-24:00 counts 23h or 25h.

How it stays fast: a business calendar keeps a merged list of its weekly windows with a prefix
sum of their open microseconds, and a prefix sum over its holiday runs. Between two UTC-offset
changes, local wall time is UTC plus a constant, so the open time up to any wall instant is one
division by the week and two bisections, and a deadline is the inverse: whole weeks, closed
nights, weekends and holidays are jumped over, never stepped through. The offset changes of the
zone are found once per range of years by probing the zone and bisecting to the second, and kept
(``worker/core/zone_offsets.py``). Holidays work the same way: each query first checks (two
comparisons) that the holidays of the local days it touches are known, and only when they are
not loads the missing years and rebuilds the prefix sums. A deadline is computed with what is
known, and computed again if it lands past that (each pass knows at least one more year).
"""

from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import NamedTuple, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from worker.core.zone_offsets import LOOKBACK_US, ZoneOffsets

__all__ = [
    "LISTED_HOLIDAY",
    "TWENTY_FOUR_SEVEN",
    "BusinessCalendar",
    "Calendar",
    "ClosedDay",
    "HolidaySource",
    "Pause",
]

Pause = tuple[datetime, datetime]
"""A ``[from, to)`` span of real time during which counting stops."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SECOND_US = 1_000_000
_DAY_S = 86_400
_DAY_US = _DAY_S * _SECOND_US
_WEEK_US = 7 * _DAY_US
# Weekly positions count from a Monday midnight: 1970-01-05 is the first Monday after the
# epoch, four days after it.
_MONDAY_US = 4 * _DAY_US
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MAX_ORDINAL = date.max.toordinal()
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Why two days: an instant's local date is within a day of its UTC date (no UTC offset
# reaches 24 hours), and the fall-back rule looks up to a day behind; so the holidays of the
# local days within two days of a query's UTC instants are all it can depend on.
_MARGIN_US = 2 * _DAY_US
# Beyond any instant: the known range of holidays before anything is known.
_FAR_US = 1 << 62

# How counting behaves on a piece of the UTC timeline (see BusinessCalendar._piece).
_LINEAR = 0  # local wall time runs with UTC at a fixed offset
_FROZEN_OPEN = 1  # a fall-back repeats wall time the calendar was open at: all of it counts
_FROZEN_CLOSED = 2  # a fall-back repeats wall time the calendar was closed at: none counts


LISTED_HOLIDAY = "listed holiday"
"""The name of a holiday given as a date (``holidays``), not by a :class:`HolidaySource`."""


class ClosedDay(NamedTuple):
    """A local date closed all day, and its name; as text ``2026-12-25 Christmas Day (US)``."""

    day: date
    name: str

    def __str__(self) -> str:
        return f"{self.day.isoformat()} {self.name}"


@runtime_checkable
class HolidaySource(Protocol):
    """The public holidays of a place, year by year; a ``BusinessCalendar`` closes on them.

    ``name`` says which place (``US``, ``US-CA``). ``closed_days(year)`` returns that year's
    public holidays (local dates of ``year``; others are ignored) with the name a person reads,
    saying where each comes from (``Christmas Day (US)``). It must always give the same answer
    for a year: the calendar asks once per year and keeps it.
    """

    name: str

    def closed_days(self, year: int) -> Mapping[date, str]:
        """Return the public holidays of ``year`` with their names."""


@runtime_checkable
class Calendar(Protocol):
    """When time counts for a target: ``TWENTY_FOUR_SEVEN`` or a ``BusinessCalendar``."""

    name: str

    def deadline(
        self, start: datetime, budget: timedelta, pauses: Sequence[Pause] = ()
    ) -> datetime:
        """Return the latest UTC instant by which at most ``budget`` has counted since ``start``."""

    def elapsed(self, start: datetime, end: datetime, pauses: Sequence[Pause] = ()) -> timedelta:
        """Return the time counted in ``[start, end)`` (zero when ``end <= start``)."""

    def spans(
        self, start: datetime, end: datetime, pauses: Sequence[Pause] = ()
    ) -> Iterator[tuple[datetime, datetime]]:
        """Yield the counted ``[from, to)`` UTC spans between ``start`` and ``end``, in order."""

    def next_open(self, at: datetime, pauses: Sequence[Pause] = ()) -> datetime:
        """Return the UTC instant at or after ``at`` at which counting (re)starts."""

    def named_holidays(self, start: datetime, end: datetime) -> tuple[ClosedDay, ...]:
        """Return the holidays that close open hours within ``[start, end)``, in order."""


class _CountingCalendar(ABC):
    """The public methods of a calendar, built on three primitives over UTC microseconds.

    Instants inside are integers: microseconds since 1970-01-01 UTC, so all arithmetic is
    exact. Subclasses provide the calendar's own open time (pauses are applied here).
    """

    name: str

    @abstractmethod
    def _open_us(self, a: int, b: int) -> int:
        """Return the calendar's open microseconds in ``[a, b)``, for ``a < b``."""

    @abstractmethod
    def _latest_us(self, a: int, budget: int) -> int:
        """Return the latest instant by which at most ``budget`` open time has run since ``a``."""

    @abstractmethod
    def _spans_us(self, a: int, b: int) -> Iterator[tuple[int, int]]:
        """Yield the calendar's open spans within ``[a, b)`` in order (adjacent ones allowed)."""

    def deadline(
        self, start: datetime, budget: timedelta, pauses: Sequence[Pause] = ()
    ) -> datetime:
        """Return the latest UTC instant by which at most ``budget`` has counted since ``start``.

        When the budget runs out exactly at a closing time or at the start of a pause, this
        is the next instant counting resumes; a zero budget gives ``next_open(start)``.
        """
        a = _to_us(start, "start")
        return _from_us(self._deadline_us(a, _budget_us(budget), _merge_pauses(pauses, a)))

    def elapsed(self, start: datetime, end: datetime, pauses: Sequence[Pause] = ()) -> timedelta:
        """Return the time counted in ``[start, end)`` (zero when ``end <= start``)."""
        a = _to_us(start, "start")
        b = _to_us(end, "end")
        merged = _merge_pauses(pauses, a)
        if b <= a:
            return timedelta(0)
        total = self._open_us(a, b)
        for p0, p1 in merged:
            if p0 >= b:
                break
            total -= self._open_us(max(p0, a), min(p1, b))
        return timedelta(microseconds=total)

    def spans(
        self, start: datetime, end: datetime, pauses: Sequence[Pause] = ()
    ) -> Iterator[tuple[datetime, datetime]]:
        """Yield the counted ``[from, to)`` UTC spans between ``start`` and ``end``, in order.

        Touching spans are joined, so a window ending at 24:00 and the next day's window
        starting at 00:00 come out as one span.
        """
        a = _to_us(start, "start")
        b = _to_us(end, "end")
        merged = _merge_pauses(pauses, a)
        return (
            (_from_us(s), _from_us(e))
            for s, e in _join(_subtract(self._spans_us(a, b) if a < b else iter(()), merged))
        )

    def next_open(self, at: datetime, pauses: Sequence[Pause] = ()) -> datetime:
        """Return the UTC instant at or after ``at`` at which counting (re)starts."""
        a = _to_us(at, "at")
        return _from_us(self._deadline_us(a, 0, _merge_pauses(pauses, a)))

    def _deadline_us(self, a: int, budget: int, pauses: Sequence[tuple[int, int]]) -> int:
        """Return the deadline from ``a``: walk the gaps between pauses, then the calendar."""
        u = a
        for p0, p1 in pauses:
            if p0 > u:
                available = self._open_us(u, p0)
                if budget < available:
                    return self._latest_us(u, budget)
                budget -= available
            u = p1
        return self._latest_us(u, budget)


class _AlwaysOpen(_CountingCalendar):
    """The built-in ``24x7`` calendar: every instant counts, only pauses stop the clock."""

    def __init__(self) -> None:
        self.name = "24x7"

    def __repr__(self) -> str:
        return "TWENTY_FOUR_SEVEN"

    def deadline(
        self, start: datetime, budget: timedelta, pauses: Sequence[Pause] = ()
    ) -> datetime:
        """Return ``start + budget`` in UTC, pushed back by the pauses it overlaps."""
        if pauses:
            return super().deadline(start, budget, pauses)
        _to_us(start, "start")
        _budget_us(budget)
        return start.astimezone(UTC) + budget

    def _open_us(self, a: int, b: int) -> int:
        return b - a

    def _latest_us(self, a: int, budget: int) -> int:
        return a + budget

    def _spans_us(self, a: int, b: int) -> Iterator[tuple[int, int]]:
        yield a, b

    def named_holidays(self, start: datetime, end: datetime) -> tuple[ClosedDay, ...]:
        """Return no holidays: ``24x7`` has none."""
        _to_us(start, "start")
        _to_us(end, "end")
        return ()


TWENTY_FOUR_SEVEN: Calendar = _AlwaysOpen()
"""The built-in calendar named ``24x7``: time always counts (except during pauses)."""


class BusinessCalendar(_CountingCalendar):
    """A calendar open in weekly windows of local wall-clock time, closed on holidays.

    ``weekly`` maps a weekday (0 = Monday .. 6 = Sunday) to its windows, each a pair of
    seconds after local midnight ``(start_s, end_s)`` with ``0 <= start_s < end_s <= 86400``
    (86400 is ``24:00``); a missing day is closed, the windows of a day may come in any
    order but must not overlap. A window ending at 24:00 and the next day's window starting
    at 00:00 form one continuous open span. ``holidays`` are local dates closed all day.
    ``public_holidays`` closes the calendar on a place's public holidays too, except on the
    ``worked_holidays`` (a worked day that is not a public holiday changes nothing).
    ``ValueError`` names the problem with any of these, including a calendar with no open
    hours at all, worked holidays without public holidays, and a date both closed and worked.
    """

    timezone: ZoneInfo
    weekly: Mapping[int, tuple[tuple[int, int], ...]]
    holidays: tuple[date, ...]
    public_holidays: HolidaySource | None
    worked_holidays: tuple[date, ...]

    def __init__(
        self,
        name: str,
        timezone: str | ZoneInfo,
        weekly: Mapping[int, Sequence[tuple[int, int]]],
        holidays: Iterable[date] = (),
        *,
        public_holidays: HolidaySource | None = None,
        worked_holidays: Iterable[date] = (),
    ) -> None:
        self.name = name
        self.timezone = _zone(name, timezone)
        self.weekly = MappingProxyType(_check_weekly(name, weekly))
        self.holidays = _check_holidays(name, holidays)
        self.public_holidays = public_holidays
        self.worked_holidays = _check_holidays(name, worked_holidays, "worked holiday")
        if self.worked_holidays and public_holidays is None:
            raise ValueError(
                f"calendar {name!r}: worked holidays re-open public holidays, "
                "but the calendar has none"
            )
        both = sorted(set(self.holidays) & set(self.worked_holidays))
        if both:
            raise ValueError(
                f"calendar {name!r}: {both[0].isoformat()} is both a holiday and a worked holiday"
            )

        # The week's windows as positions in microseconds after Monday 00:00, touching ones
        # joined, with the open time before each (``_cum``) and up to its end (``_cum_end``).
        week: list[tuple[int, int]] = []
        for day in sorted(self.weekly):
            for start_s, end_s in self.weekly[day]:
                s = day * _DAY_US + start_s * _SECOND_US
                e = day * _DAY_US + end_s * _SECOND_US
                if week and week[-1][1] == s:
                    week[-1] = (week[-1][0], e)
                else:
                    week.append((s, e))
        if not week:
            raise ValueError(f"calendar {name!r} has no open hours")
        self._starts = tuple(s for s, _ in week)
        self._ends = tuple(e for _, e in week)
        cum = [0]
        for s, e in week:
            cum.append(cum[-1] + e - s)
        self._cum = tuple(cum[:-1])
        self._cum_end = tuple(cum[1:])
        self._week_open = cum[-1]

        # Every closed day known so far, with its name; the years asked of the public holidays
        # (even of a calendar without them: a year with nothing to add costs nothing more);
        # and the range of UTC instants, margin included, whose local days' holidays are all
        # known. Nothing is known yet: the first query loads the years it touches.
        self._closed: dict[date, str] = dict.fromkeys(self.holidays, LISTED_HOLIDAY)
        self._worked = frozenset(self.worked_holidays)
        self._years: set[int] = set()
        self._known_lo = _FAR_US
        self._known_hi = -_FAR_US
        self._index_holidays()
        self._offsets = ZoneOffsets(self.timezone)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name!r}, {self.timezone.key!r})"

    # --- holidays ------------------------------------------------------------------------------

    def _index_holidays(self) -> None:
        """Rebuild the prefix sums over the runs of the closed days known so far."""
        # Holidays as runs of consecutive local days ``[start, end)`` in wall microseconds,
        # dropping runs with no open time (they change nothing), with the open time the runs
        # before each remove (``_hol_before``) and the open time counted up to each start
        # (``_hol_count``): from the end of run k to the start of run k+1, the open time before
        # wall instant w is ``_week_count(w) - _hol_before[k + 1]``.
        self._days = tuple(sorted(self._closed))
        runs: list[tuple[int, int]] = []
        for day_ in self._days:
            s = (day_.toordinal() - _EPOCH_ORDINAL) * _DAY_US
            if runs and runs[-1][1] == s:
                runs[-1] = (runs[-1][0], s + _DAY_US)
            else:
                runs.append((s, s + _DAY_US))
        runs = [(s, e) for s, e in runs if self._week_count(e) > self._week_count(s)]
        self._hol_start = tuple(s for s, _ in runs)
        self._hol_end = tuple(e for _, e in runs)
        before = [0]
        for s, e in runs:
            before.append(before[-1] + self._week_count(e) - self._week_count(s))
        self._hol_before = tuple(before)
        self._hol_count = tuple(
            self._week_count(s) - removed for (s, _), removed in zip(runs, before, strict=False)
        )

    def _know(self, a: int, b: int) -> None:
        """Learn the holidays of every local day within ``_MARGIN_US`` of UTC ``[a, b]``.

        Loads each missing year (and the year after the last: a deadline late in a year often
        ends in the next), then widens the known range to the run of loaded years around.
        """
        first = _year_at(a - _MARGIN_US)
        last = _year_at(b + _MARGIN_US)
        source = self.public_holidays
        added = False
        for year in range(first, min(last + 1, date.max.year) + 1):
            if year in self._years:
                continue
            self._years.add(year)
            if source is None:
                continue
            for day, name in source.closed_days(year).items():
                if day.year == year and day not in self._worked:
                    self._closed[day] = name
                    added = True
        while first - 1 in self._years:
            first -= 1
        while last + 1 in self._years:
            last += 1
        self._known_lo = (date(first, 1, 1).toordinal() - _EPOCH_ORDINAL) * _DAY_US + _MARGIN_US
        self._known_hi = (
            date(last, 12, 31).toordinal() + 1 - _EPOCH_ORDINAL
        ) * _DAY_US - _MARGIN_US
        if added:
            self._index_holidays()

    def named_holidays(self, start: datetime, end: datetime) -> tuple[ClosedDay, ...]:
        """Return the holidays that close open hours within ``[start, end)``, in order.

        A holiday on a day the weekly windows keep closed anyway (a Saturday) is left out, as
        is a worked public holiday; a listed date's name is :data:`LISTED_HOLIDAY`.
        """
        a = _to_us(start, "start")
        b = _to_us(end, "end")
        if b <= a:
            return ()
        if not (self._known_lo <= a and b <= self._known_hi):
            self._know(a, b)
        wa = _wall_us(start, self.timezone)
        wb = _wall_us(end, self.timezone)
        found: list[ClosedDay] = []
        days = self._days
        for i in range(bisect_left(days, _day_at(wa)), len(days)):
            s = (days[i].toordinal() - _EPOCH_ORDINAL) * _DAY_US
            if s >= wb:
                break
            if self._week_count(min(s + _DAY_US, wb)) > self._week_count(max(s, wa)):
                found.append(ClosedDay(days[i], self._closed[days[i]]))
        return tuple(found)

    # --- counting in local wall time (microseconds since 1970-01-01 00:00 local) -------------

    def _week_count(self, w: int) -> int:
        """Return the weekly windows' open time before wall instant ``w`` (from any origin)."""
        q, r = divmod(w - _MONDAY_US, _WEEK_US)
        i = bisect_right(self._starts, r) - 1
        if i < 0:
            return q * self._week_open
        return q * self._week_open + min(self._cum[i] + r - self._starts[i], self._cum_end[i])

    def _count(self, w: int) -> int:
        """Return the open time before wall instant ``w``, holidays excluded (from any origin)."""
        k = bisect_right(self._hol_start, w) - 1
        if k < 0:
            return self._week_count(w)
        if w < self._hol_end[k]:
            return self._hol_count[k]
        return self._week_count(w) - self._hol_before[k + 1]

    def _latest_wall(self, c: int) -> int:
        """Return the latest wall instant ``w`` with ``_count(w) <= c``: the inverse of _count.

        When ``c`` is reached at a closing time this is the next opening, not the closing.
        """
        k = bisect_right(self._hol_count, c)
        x = c + self._hol_before[k]
        q, rc = divmod(x, self._week_open)
        i = bisect_right(self._cum, rc) - 1
        return _MONDAY_US + q * _WEEK_US + self._starts[i] + rc - self._cum[i]

    def _is_open_wall(self, w: int) -> bool:
        """Return whether the calendar is open at wall instant ``w``."""
        return self._count(w + 1) > self._count(w)

    def _wall_spans(self, wa: int, wb: int) -> Iterator[tuple[int, int]]:
        """Yield the open wall spans within ``[wa, wb)`` in order, jumping over holidays."""
        starts, ends, hol_start, hol_end = self._starts, self._ends, self._hol_start, self._hol_end
        windows, runs = len(starts), len(hol_start)
        pos = wa
        k = bisect_right(hol_end, pos)
        q, r = divmod(pos - _MONDAY_US, _WEEK_US)
        i = bisect_right(ends, r)
        while True:
            if i == windows:
                q, i = q + 1, 0
            base = _MONDAY_US + q * _WEEK_US
            s = max(base + starts[i], pos)
            if s >= wb:
                return
            while k < runs and hol_end[k] <= s:
                k += 1
            if k < runs and hol_start[k] <= s:
                pos = hol_end[k]
                q, r = divmod(pos - _MONDAY_US, _WEEK_US)
                i = bisect_right(ends, r)
                continue
            e = min(base + ends[i], wb)
            if k < runs and hol_start[k] < e:
                e = hol_start[k]
            else:
                i += 1
            yield s, e
            pos = e

    def _piece(self, u: int) -> tuple[int, int, int]:
        """Return ``(end, offset, mode)`` for the piece of UTC time from ``u`` to ``end``.

        On the piece the offset is fixed. ``_LINEAR``: the local clock reads ``t + offset``
        and counting follows the calendar's windows. Otherwise a fall-back has set the clock
        back below a reading it already reached, and until it catches up the calendar stays
        as it was at that furthest reading (``_FROZEN_OPEN`` or ``_FROZEN_CLOSED``).
        """
        known = self._offsets.cover(u)
        at = known.at
        i = bisect_right(at, u)
        offset = known.after[i - 1] if i else known.offset_lo
        end = at[i] if i < len(at) else known.hi
        if end <= u:
            raise OverflowError(f"calendar {self.name!r}: counting runs past the year 9999")
        furthest = u + offset
        j = i - 1
        while j >= 0 and at[j] > u - LOOKBACK_US:
            furthest = max(furthest, at[j] - 1 + known.before[j])
            j -= 1
        if furthest == u + offset:
            return end, offset, _LINEAR
        mode = _FROZEN_OPEN if self._is_open_wall(furthest) else _FROZEN_CLOSED
        return min(end, furthest - offset), offset, mode

    # --- the primitives ------------------------------------------------------------------------

    def _open_us(self, a: int, b: int) -> int:
        if not (self._known_lo <= a and b <= self._known_hi):
            self._know(a, b)
        total = 0
        u = a
        while u < b:
            end, offset, mode = self._piece(u)
            stop = min(end, b)
            if mode == _LINEAR:
                total += self._count(stop + offset) - self._count(u + offset)
            elif mode == _FROZEN_OPEN:
                total += stop - u
            u = stop
        return total

    def _latest_us(self, a: int, budget: int) -> int:
        if not (self._known_lo <= a <= self._known_hi):
            self._know(a, a)
        while True:
            latest = self._latest_known(a, budget)
            if latest <= self._known_hi:
                return latest
            self._know(a, latest)  # holidays past what was known may push it later

    def _latest_known(self, a: int, budget: int) -> int:
        """Return ``_latest_us`` as far as the holidays known so far tell."""
        u = a
        while True:
            end, offset, mode = self._piece(u)
            if mode == _LINEAR:
                target = self._count(u + offset) + budget
                at_end = self._count(end + offset)
                if target < at_end:
                    return self._latest_wall(target) - offset
                budget = target - at_end
            elif mode == _FROZEN_OPEN:
                if budget < end - u:
                    return u + budget
                budget -= end - u
            u = end

    def _spans_us(self, a: int, b: int) -> Iterator[tuple[int, int]]:
        if not (self._known_lo <= a and b <= self._known_hi):
            self._know(a, b)
        u = a
        while u < b:
            end, offset, mode = self._piece(u)
            stop = min(end, b)
            if mode == _LINEAR:
                for s, e in self._wall_spans(u + offset, stop + offset):
                    yield s - offset, e - offset
            elif mode == _FROZEN_OPEN:
                yield u, stop
            u = stop


# --- helpers ---------------------------------------------------------------------------------


def _to_us(moment: datetime, what: str) -> int:
    """Return an aware datetime as microseconds since the epoch; refuse a naive one."""
    if moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return (moment - _EPOCH) // _US


def _from_us(instant: int) -> datetime:
    """Return microseconds since the epoch as a UTC datetime."""
    return _EPOCH + timedelta(microseconds=instant)


def _wall_us(moment: datetime, zone: ZoneInfo) -> int:
    """Return the local wall-clock reading of an aware ``moment`` in ``zone``, in microseconds."""
    return (moment.astimezone(zone).replace(tzinfo=UTC) - _EPOCH) // _US


def _day_at(instant: int) -> date:
    """Return the date of ``instant`` microseconds since 1970-01-01 (clamped to 1..9999)."""
    return date.fromordinal(min(max(_EPOCH_ORDINAL + instant // _DAY_US, 1), _MAX_ORDINAL))


def _year_at(instant: int) -> int:
    """Return the year of ``instant`` microseconds since 1970-01-01 (clamped to 1..9999)."""
    return _day_at(instant).year


def _budget_us(budget: timedelta) -> int:
    """Return a budget in microseconds; refuse a negative one."""
    if budget < timedelta(0):
        raise ValueError(f"budget must not be negative, got {budget}")
    return budget // _US


def _merge_pauses(pauses: Iterable[Pause], a: int) -> list[tuple[int, int]]:
    """Return the pauses that end after ``a`` as sorted, disjoint, non-touching spans.

    Empty or reversed pauses are ignored; overlapping and touching ones are joined.
    """
    spans = []
    for pause_from, pause_to in pauses:
        p0 = _to_us(pause_from, "pause start")
        p1 = _to_us(pause_to, "pause end")
        if p0 < p1 and p1 > a:
            spans.append((p0, p1))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for p0, p1 in spans:
        if merged and p0 <= merged[-1][1]:
            if p1 > merged[-1][1]:
                merged[-1] = (merged[-1][0], p1)
        else:
            merged.append((p0, p1))
    return merged


def _subtract(
    spans: Iterator[tuple[int, int]], pauses: Sequence[tuple[int, int]]
) -> Iterator[tuple[int, int]]:
    """Yield ``spans`` (in order) minus the sorted, disjoint ``pauses``."""
    j = 0
    for span_from, e in spans:
        s = span_from
        while j < len(pauses) and pauses[j][1] <= s:
            j += 1
        while j < len(pauses) and pauses[j][0] < e:
            if pauses[j][0] > s:
                yield s, pauses[j][0]
            s = pauses[j][1]
            if s >= e:
                break
            j += 1
        if s < e:
            yield s, e


def _join(spans: Iterator[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Yield ordered ``spans`` with touching ones joined into one."""
    pending: tuple[int, int] | None = None
    for s, e in spans:
        if pending is None:
            pending = (s, e)
        elif s == pending[1]:
            pending = (pending[0], e)
        else:
            yield pending
            pending = (s, e)
    if pending is not None:
        yield pending


def _zone(name: str, zone: str | ZoneInfo) -> ZoneInfo:
    """Return the ``ZoneInfo`` for ``zone``; refuse a name the time zone database lacks."""
    if isinstance(zone, ZoneInfo):
        return zone
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"calendar {name!r}: unknown time zone {zone!r}, expected an IANA name "
            "such as 'America/Los_Angeles'"
        ) from None


def _clock(seconds: int) -> str:
    """Return seconds after midnight as ``HH:MM`` (``HH:MM:SS`` when not a whole minute)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _check_weekly(
    name: str, weekly: Mapping[int, Sequence[tuple[int, int]]]
) -> dict[int, tuple[tuple[int, int], ...]]:
    """Return the weekly windows validated, each day's sorted; raise ValueError naming a fault."""
    checked: dict[int, tuple[tuple[int, int], ...]] = {}
    for day, windows in weekly.items():
        if type(day) is not int or not 0 <= day <= 6:
            raise ValueError(f"calendar {name!r}: weekday {day!r} is not 0 (Monday) .. 6 (Sunday)")
        spans: list[tuple[int, int]] = []
        for window in windows:
            if (
                not isinstance(window, Sequence)
                or len(window) != 2
                or any(type(edge) is not int for edge in window)
                or not 0 <= window[0] < window[1] <= _DAY_S
            ):
                raise ValueError(
                    f"calendar {name!r}: window {window!r} on {_DAY_NAMES[day]} is not "
                    "(start_s, end_s) with 0 <= start_s < end_s <= 86400"
                )
            spans.append((window[0], window[1]))
        spans.sort()
        for (s0, e0), (s1, e1) in pairwise(spans):
            if s1 < e0:
                raise ValueError(
                    f"calendar {name!r}: windows {_clock(s0)}-{_clock(e0)} and "
                    f"{_clock(s1)}-{_clock(e1)} on {_DAY_NAMES[day]} overlap"
                )
        if spans:
            checked[day] = tuple(spans)
    return checked


def _check_holidays(name: str, holidays: Iterable[date], what: str = "holiday") -> tuple[date, ...]:
    """Return the holidays sorted, without repeats; raise ValueError on anything but a date."""
    days = set()
    for day in holidays:
        if not isinstance(day, date) or isinstance(day, datetime):
            raise ValueError(f"calendar {name!r}: {what} {day!r} is not a date")
        days.add(day)
    return tuple(sorted(days))

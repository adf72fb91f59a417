"""The UTC-offset changes of a time zone, found once per range of years and kept.

Core module: standard library only (``zoneinfo``: the time-zone database is fixed data); it
must not import sla-worker's edges, ``os``, ``logging`` or anything that reads the clock. A
business calendar (``worker/core/calendars.py``) counts local wall time; between two offset
changes that is UTC plus a constant, so it asks :class:`ZoneOffsets` for the changes around an
instant. They are found by probing the zone once a day and bisecting each change to the
second, for a range reaching a year past the instant asked about, and kept: the probing (about
1.5 microseconds per day) is paid once per year of time touched.

Instants are integers: microseconds since 1970-01-01 UTC.
"""

from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

__all__ = ["LOOKBACK_US", "Transitions", "ZoneOffsets"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_SECOND_US = 1_000_000
_DAY_S = 86_400
_DAY_US = _DAY_S * _SECOND_US

# Why a day: every UTC-offset change in tzdata stays in force for at least two days (checked
# against all 598 zones of tzdata 2026.6), so probing the zone once a day sees each one.
_PROBE_S = _DAY_S
# Why three days: the largest backward offset change in tzdata is 23 hours (Kwajalein
# 1969), so a clock's furthest reading can only stay ahead of it for less than that.
LOOKBACK_US = 3 * _DAY_US
# Why a year: a walk knows the offset changes at least this far ahead of where it is, so a
# deadline weeks away costs one piece of arithmetic, and the one-off probing of a new range
# (about 1.5 microseconds per probed day) is paid once per year of time touched.
_HORIZON_US = 366 * _DAY_US
# Why eight years: a query this far from the known range starts a new range instead of
# probing every day in between (a replay of old history, a test jumping across decades).
_REBUILD_GAP_US = 8 * _HORIZON_US
# The instants a zone is probed at stay two days inside what ``datetime`` can represent.
_MIN_US = (datetime(1, 1, 3, tzinfo=UTC) - _EPOCH) // _US
_MAX_US = (datetime(9999, 12, 29, tzinfo=UTC) - _EPOCH) // _US


class Transitions(NamedTuple):
    """The UTC-offset changes of a zone over a known range ``[lo, hi)`` of UTC microseconds."""

    lo: int
    hi: int
    offset_lo: int  # the offset in force at ``lo``
    at: tuple[int, ...]  # the instants the offset changes, ascending
    before: tuple[int, ...]  # the offset in force just before each
    after: tuple[int, ...]  # the offset in force from each on


_NO_TRANSITIONS = Transitions(lo=0, hi=0, offset_lo=0, at=(), before=(), after=())


class ZoneOffsets:
    """The offset changes of one zone, over a known range that grows as instants are asked."""

    def __init__(self, timezone: ZoneInfo) -> None:
        self.timezone = timezone
        self._transitions = _NO_TRANSITIONS

    def _offset_us(self, second: int) -> int:
        """Return the zone's UTC offset at ``second`` seconds since the epoch, in microseconds."""
        utc = datetime(1970, 1, 1) + timedelta(seconds=second)  # noqa: DTZ001 - naive UTC on purpose
        local = utc.replace(tzinfo=UTC).astimezone(self.timezone).replace(tzinfo=None)
        return (local - utc) // _US

    def _scan(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Return ``(instant, offset before, offset after)`` for each change in ``(lo, hi]``.

        ``lo`` and ``hi`` are whole seconds; the zone is probed once a day and each change
        found is located to the second by bisection.
        """
        found: list[tuple[int, int, int]] = []
        x, off_x = lo, self._offset_us(lo)
        while x < hi:
            y = min(x + _PROBE_S, hi)
            off_y = self._offset_us(y)
            while off_y != off_x:
                a, b = x, y
                while b - a > 1:
                    m = (a + b) // 2
                    if self._offset_us(m) == off_x:
                        a = m
                    else:
                        b = m
                off_b = self._offset_us(b)
                found.append((b * _SECOND_US, off_x, off_b))
                x, off_x = b, off_b
            x, off_x = y, off_y
        return found

    def cover(self, u: int) -> Transitions:
        """Return the known offset changes, first extending them to cover around ``u``."""
        known = self._transitions
        want_lo = max(u - LOOKBACK_US, _MIN_US)
        want_hi = min(u + _HORIZON_US, _MAX_US)
        if known.lo <= want_lo and want_hi <= known.hi:
            return known
        if (
            known.hi <= known.lo
            or want_hi < known.lo - _REBUILD_GAP_US
            or (want_lo > known.hi + _REBUILD_GAP_US)
        ):
            lo = max(want_lo - _HORIZON_US, _MIN_US) // _SECOND_US
            hi = min(want_hi + _HORIZON_US, _MAX_US) // _SECOND_US
            changes = self._scan(lo, hi)
            offset_lo = self._offset_us(lo)
        else:
            lo, hi = known.lo // _SECOND_US, known.hi // _SECOND_US
            offset_lo = known.offset_lo
            changes = list(zip(known.at, known.before, known.after, strict=True))
            if want_lo < known.lo:
                lo = max(want_lo - _HORIZON_US, _MIN_US) // _SECOND_US
                changes = self._scan(lo, known.lo // _SECOND_US) + changes
                offset_lo = self._offset_us(lo)
            if want_hi > known.hi:
                new_hi = min(want_hi + _HORIZON_US, _MAX_US) // _SECOND_US
                changes += self._scan(hi, new_hi)
                hi = new_hi
        known = Transitions(
            lo=lo * _SECOND_US,
            hi=hi * _SECOND_US,
            offset_lo=offset_lo,
            at=tuple(c[0] for c in changes),
            before=tuple(c[1] for c in changes),
            after=tuple(c[2] for c in changes),
        )
        self._transitions = known
        return known

"""The clock that decides breaches, per partition (docs/events.md, the clock).

Core module: standard library only; the wall clock is an argument, never read here.

While a partition is behind (after a restart, or replaying history) its clock is the newest
event time processed on it, so a replay produces exactly the breaches its history contains.
Once caught up, the wall clock (less ``grace``) decides, so live breaches fire on time. The
event-time clock never runs ahead of the wall clock: an event stamped in the future cannot
breach other tickets early.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["PartitionClock"]


class PartitionClock:
    """What "now" is for the tickets of one partition."""

    __slots__ = ("_behind", "newest")

    def __init__(self) -> None:
        self.newest: datetime | None = None
        self._behind: dict[str, bool] = {}

    def observe(self, occurred_at: datetime) -> None:
        """Record that an event stamped ``occurred_at`` was processed."""
        if self.newest is None or occurred_at > self.newest:
            self.newest = occurred_at

    def set_behind(self, topic: str, behind: bool) -> None:
        """Record whether this partition of input ``topic`` has unprocessed messages."""
        self._behind[topic] = behind

    @property
    def caught_up(self) -> bool:
        """Whether every input topic's partition is processed to its end."""
        return not any(self._behind.values())

    def now(self, wall: datetime, grace: timedelta = timedelta(0)) -> datetime | None:
        """Return the clock at wall time ``wall``; None while behind with nothing processed."""
        live = wall - grace
        if self.caught_up:
            return live
        if self.newest is None:
            return None
        return min(self.newest, live)

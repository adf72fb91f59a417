"""The per-partition clock that decides breaches (docs/events.md, the clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.core.clock import PartitionClock

WALL = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def test_caught_up_partition_uses_the_wall_clock_less_grace() -> None:
    """Once caught up, live time decides: the wall clock minus the grace."""
    clock = PartitionClock()
    assert clock.caught_up
    assert clock.now(WALL) == WALL
    assert clock.now(WALL, grace=5 * S) == WALL - 5 * S


def test_behind_partition_uses_the_newest_event_time() -> None:
    """While behind, the newest processed event time is the clock; nothing before one."""
    clock = PartitionClock()
    clock.set_behind("in", True)
    assert not clock.caught_up
    assert clock.now(WALL) is None
    clock.observe(WALL - 3600 * S)
    clock.observe(WALL - 7200 * S)  # an older event does not move the clock back
    assert clock.now(WALL) == WALL - 3600 * S
    clock.set_behind("in", False)
    assert clock.now(WALL) == WALL


def test_event_time_clock_never_runs_ahead_of_live_time() -> None:
    """An event stamped in the future cannot make other tickets breach early."""
    clock = PartitionClock()
    clock.set_behind("in", True)
    clock.observe(WALL + 600 * S)
    assert clock.now(WALL, grace=2 * S) == WALL - 2 * S


def test_every_input_topic_must_be_caught_up() -> None:
    """With several input topics, one behind keeps the partition on event time."""
    clock = PartitionClock()
    clock.set_behind("a", False)
    clock.set_behind("b", True)
    clock.observe(WALL - 60 * S)
    assert clock.now(WALL) == WALL - 60 * S

"""Whether the worker is alive and ready: the state /healthz and /readyz judge, and the verdicts.

The agent, the tick timer and the recovery record what happened (at ``time.monotonic()``);
the HTTP handlers ask for a verdict at a monotonic instant they pass in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Final

__all__ = ["Health"]

# Ticks make a round trip through Kafka; /readyz reports an outage when none has come back
# for this long (a few hundred ticks normally would have).
_TICK_SILENCE_S: Final = 10.0
# /healthz fails when the deadline timer has not run for this many tick intervals.
_HEALTH_TICKS: Final = 20


@dataclass(slots=True)
class Health:
    """What the worker last did: recovered its partitions, ran the timer, saw a tick."""

    tick_interval_s: float
    ready: bool = False
    ready_at: float = field(default_factory=time.monotonic)
    timer_ran_at: float = field(default_factory=time.monotonic)
    tick_seen_at: float = field(default_factory=time.monotonic)

    def set_ready(self, ready: bool) -> None:
        """Record whether the owned partitions are assigned and recovered, from now on."""
        if ready and not self.ready:
            self.ready_at = time.monotonic()
        self.ready = ready

    def timer_ran(self) -> None:
        """Record that the deadline timer ran just now."""
        self.timer_ran_at = time.monotonic()

    def tick_seen(self) -> None:
        """Record that a tick came back through Kafka just now (or recovery just ended)."""
        self.tick_seen_at = time.monotonic()

    def liveness_problem(self, now: float) -> str | None:
        """Return why the worker is not alive at monotonic time ``now`` (None: it is).

        The timer's silence counts from when the worker became ready at the earliest: faust
        starts timers only once the first recovery is done.
        """
        stale_s = now - max(self.timer_ran_at, self.ready_at)
        if self.ready and stale_s > _HEALTH_TICKS * self.tick_interval_s:
            return f"deadline timer stalled {stale_s:.1f}s"
        return None

    def readiness_problem(self, now: float) -> str | None:
        """Return why the worker is not ready at monotonic time ``now`` (None: it is)."""
        if not self.ready:
            return "not ready: partitions not assigned or not recovered"
        silent_s = now - self.tick_seen_at
        if silent_s > _TICK_SILENCE_S:
            return (
                f"not ready: no deadline tick came back through Kafka for "
                f"{silent_s:.0f}s (broker unreachable, or the worker overloaded)"
            )
        return None

"""Offline replay: the tracker driven by event time alone (``sla-worker simulate``).

The same state machine and deadline index as the worker, with a perfect clock: events are
replayed in event-time order, and every due warning or breach fires at its own instant
before any later event applies. For one event log the worker in replay emits the same
warnings, breaches and outcomes (``detected_at`` aside). Never imports the streaming stack.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from worker.codec import Rejected, check_references, decode_event
from worker.events import InputEvent, OutputEvent, SlaOutcome, TargetFulfilled
from worker.policy import Policy
from worker.schedule import DeadlineIndex
from worker.tracker import TicketState, Tracker, event_order

__all__ = ["InvalidLine", "Simulation", "TargetStats", "read_events"]


@dataclass(frozen=True, slots=True)
class InvalidLine:
    """A line of the event log that is not a valid event for this policy."""

    line: int
    reason: str
    error: str


@dataclass(slots=True)
class TargetStats:
    """Compliance figures of one tier and target."""

    met: int = 0
    breached: int = 0
    response_s: list[float] = field(default_factory=list)

    @property
    def compliance(self) -> float | None:
        """``met / (met + breached)``, or None before any outcome."""
        total = self.met + self.breached
        return self.met / total if total else None

    def percentile(self, q: int) -> float | None:
        """Return the q-th percentile of counted response time, or None without responses."""
        if not self.response_s:
            return None
        if len(self.response_s) == 1:
            return self.response_s[0]
        return statistics.quantiles(self.response_s, n=100, method="inclusive")[q - 1]


def read_events(
    lines: Iterable[bytes], policy: Policy
) -> tuple[list[InputEvent], list[InvalidLine]]:
    """Decode a JSON-lines log; blank lines are skipped, invalid ones reported by number."""
    events: list[InputEvent] = []
    invalid: list[InvalidLine] = []
    tiers, priorities = frozenset(policy.tiers), frozenset(policy.priorities)
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        decoded = decode_event(line)
        if isinstance(decoded, Rejected):
            invalid.append(InvalidLine(number, decoded.reason, decoded.error))
            continue
        problem = check_references(decoded, tiers=tiers, priorities=priorities)
        if problem is not None:
            invalid.append(InvalidLine(number, problem.reason, problem.error))
            continue
        events.append(decoded)
    return events, invalid


class Simulation:
    """Replays events in event-time order through a :class:`Tracker`."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.states: dict[str, TicketState] = {}
        self.index = DeadlineIndex()
        self.stats: dict[tuple[str, str], TargetStats] = {}
        self.clock: datetime | None = None

    def run(
        self, events: Iterable[InputEvent], until: datetime | None = None
    ) -> Iterator[OutputEvent]:
        """Yield every output, in time order, of ``events`` replayed up to ``until``.

        Without ``until`` the clock stops at the newest event, as the worker's does while it
        replays history; with it, time runs on to ``until`` (breaching what is still open).
        """
        for event in sorted(events, key=event_order):
            if until is not None and event.occurred_at > until:
                break
            yield from self._fire_due(before=event.occurred_at)
            self.clock = event.occurred_at
            state, outputs = self.tracker.apply(
                self.states.get(event.ticket_id), event, event.occurred_at
            )
            self._store(event.ticket_id, state)
            yield from self._count(outputs)
        if until is not None:
            yield from self._fire_due(before=until, inclusive=True)
            self.clock = until

    def _fire_due(self, before: datetime, *, inclusive: bool = False) -> Iterator[OutputEvent]:
        """Advance every ticket due before (or at, when inclusive) ``before``, in due order."""
        index = self.index
        while (due_at := index.next_due()) is not None and (
            due_at < before or (inclusive and due_at == before)
        ):
            for ticket_id in index.pop_due(due_at):
                state, outputs = self.tracker.advance(self.states[ticket_id], due_at)
                self._store(ticket_id, state)
                yield from self._count(outputs)

    def _store(self, ticket_id: str, state: TicketState | None) -> None:
        if state is None:
            self.states.pop(ticket_id, None)
            self.index.set(ticket_id, None)
        else:
            self.states[ticket_id] = state
            self.index.set(ticket_id, state.due_at)

    def _count(self, outputs: list[OutputEvent]) -> Iterator[OutputEvent]:
        for output in outputs:
            stats = self.stats.setdefault((output.tier, output.target), TargetStats())
            if isinstance(output, SlaOutcome):
                if output.outcome == "met":
                    stats.met += 1
                else:
                    stats.breached += 1
            if isinstance(output, TargetFulfilled):
                stats.response_s.append(output.elapsed_seconds)
            yield output

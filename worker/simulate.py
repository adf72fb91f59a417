"""Offline replay: the tracker driven by event time alone (``sla-worker simulate``).

The same state machine as the worker, with a perfect clock: events are replayed in
event-time order, and every due warning or breach fires at its own instant before any later
event applies. For one event log the worker in replay emits the same warnings, breaches and
outcomes (``detected_at`` aside). Never imports the streaming stack.
"""

from __future__ import annotations

import gc
import statistics
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from worker.core.events import InputEvent, OutputEvent, SlaOutcome, TargetFulfilled
from worker.core.policy import Policy
from worker.core.schedule import COMPACT_FACTOR, COMPACT_MIN, DueQueue
from worker.core.status import TicketStatus, status_of
from worker.core.ticket_state import TicketState, event_order
from worker.core.tracker import Tracker
from worker.edge.codec import InvalidLine, Rejected, check_references, decode_event

__all__ = ["Simulation", "TargetStats", "read_events"]


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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (as it was before, after it).

    Why: decoding a log and replaying it allocate millions of objects that stay alive (the
    events, then every ticket's state), none of them in a reference cycle. The collector
    would traverse them all again and again for nothing: a third of the time of a replay,
    and pausing it frees no less memory (what it would free is freed when it resumes). The
    objects the block leaves behind join the oldest generation, where only a full
    collection looks at them again.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Move what the block allocated to the oldest generation without a collection
        # (freeze then unfreeze does that, and resets the youngest generation's count). Left
        # in the youngest, the first allocation after enable() would make the collector
        # traverse it all for nothing: 0.7s after a million events.
        gc.freeze()
        gc.unfreeze()
        if collecting:
            gc.enable()


def read_events(
    lines: Iterable[bytes], policy: Policy
) -> tuple[list[InputEvent], list[InvalidLine]]:
    """Decode a JSON-lines log; blank lines are skipped, invalid ones reported by number.

    The garbage collector is paused meanwhile.
    """
    events: list[InputEvent] = []
    invalid: list[InvalidLine] = []
    tiers, priorities = frozenset(policy.tiers), frozenset(policy.priorities)
    with _collector_paused():
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
    """Replays events in event-time order through a :class:`Tracker`.

    ``states`` holds every ticket's state and ``queue`` an entry each time a ticket gets a new
    due instant. The worker's :class:`~worker.core.schedule.DeadlineIndex` keeps a second map of
    ticket to due instant to tell a live entry from a stale one; here the state itself says
    when the ticket is due, which saves that map (a dict entry per ticket, and a lookup and
    an update per event). Stale entries are skipped when they surface, and dropped when they
    outnumber the states.
    """

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.states: dict[str, TicketState] = {}
        self.queue = DueQueue()
        self.stats: dict[tuple[str, str], TargetStats] = {}
        self.clock: datetime | None = None

    def run(
        self, events: Iterable[InputEvent], until: datetime | None = None
    ) -> Iterator[OutputEvent]:
        """Yield every output, in time order, of ``events`` replayed up to ``until``.

        Without ``until`` the clock stops at the newest event, as the worker's does while it
        replays history; with it, time runs on to ``until`` (breaching what is still open).
        The garbage collector is paused until the iterator ends or is closed.
        """
        with _collector_paused():
            yield from self._replay(events, until)

    def _replay(
        self, events: Iterable[InputEvent], until: datetime | None
    ) -> Iterator[OutputEvent]:
        apply = self.tracker.apply
        count = self._count
        states = self.states
        queue = self.queue
        # Nothing is due before this instant: the queue's first when last asked, lowered by
        # what was queued since (it saves asking the queue before every event).
        head = queue.first()
        horizon = None if head is None else head[0]
        for event in sorted(events, key=event_order):
            at = event.occurred_at
            if until is not None and at > until:
                break
            if horizon is not None and horizon < at:
                yield from self._fire_due(before=at)
                head = queue.first()
                horizon = None if head is None else head[0]
            self.clock = at
            ticket_id = event.ticket_id
            state = states.get(ticket_id)
            new, outputs = apply(state, event, at)
            queued = self._store(ticket_id, state, new)
            if queued is not None and (horizon is None or queued < horizon):
                horizon = queued
            for output in outputs:
                count(output)
                yield output
        if until is not None:
            yield from self._fire_due(before=until, inclusive=True)
            self.clock = until

    def statuses(self) -> Iterator[TicketStatus]:
        """Yield the status of every ticket held, by ticket id, at the replay's clock.

        Forgotten tickets have none (the worker publishes their tombstone), nor do orphans.
        """
        clock = self.clock
        if clock is None:
            return
        for ticket_id in sorted(self.states):
            status = status_of(self.tracker, self.states[ticket_id], clock)
            if status is not None:
                yield status

    def _fire_due(self, before: datetime, *, inclusive: bool = False) -> Iterator[OutputEvent]:
        """Advance every ticket due before (or at, when inclusive) ``before``, in due order.

        Tickets due at one instant advance in ticket id order, as the worker's index has them.
        """
        queue = self.queue
        states = self.states
        advance = self.tracker.advance
        while (head := queue.first()) is not None and (
            head[0] < before or (inclusive and head[0] == before)
        ):
            queue.pop_us()  # taken as ``head`` already: no second conversion to a datetime
            due_at, ticket_id = head
            state = states.get(ticket_id)
            if state is None or state.due_at != due_at:
                continue  # a stale entry: the ticket is due at another instant, or forgotten
            new, outputs = advance(state, due_at)
            self._store(ticket_id, state, new)
            for output in outputs:
                self._count(output)
                yield output

    def _store(
        self, ticket_id: str, old: TicketState | None, new: TicketState | None
    ) -> datetime | None:
        """Keep ``new`` as the ticket's state (forget it if None); return the instant queued."""
        if new is None:
            self.states.pop(ticket_id, None)
            return None
        if new is old:
            return None
        states = self.states
        states[ticket_id] = new
        due_at = new.due_at
        if due_at is None or (old is not None and old.due_at == due_at):
            return None  # nothing due, or queued already
        queue = self.queue
        queue.push(due_at, ticket_id)
        # Compacted by the worker's index rule: stale entries then cost memory proportional
        # to the tickets, not the events.
        if len(queue) > COMPACT_MIN and len(queue) > COMPACT_FACTOR * len(states):
            queue.rebuild(
                (state.due_at, key) for key, state in states.items() if state.due_at is not None
            )
        return due_at

    def _count(self, output: OutputEvent) -> None:
        """Count ``output`` in the compliance figures (a method, not a generator: cheaper)."""
        stats = self.stats.get((output.tier, output.target))
        if stats is None:
            stats = self.stats[output.tier, output.target] = TargetStats()
        if isinstance(output, SlaOutcome):
            if output.outcome == "met":
                stats.met += 1
            else:
                stats.breached += 1
        elif isinstance(output, TargetFulfilled):
            stats.response_s.append(output.elapsed_seconds)

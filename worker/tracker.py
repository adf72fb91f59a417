"""The per-ticket SLA state machine: which warnings, breaches and outcomes a ticket has earned.

Core module: standard library only (no asyncio, faust, aiokafka, prometheus_client, os,
logging, and no clock reading: the shell passes ``clock`` in).

Design: a ticket's state is the set of its input events (unique by ``event_id``, kept in
event-time order) plus the keys of the outputs already emitted. Every transition folds the
events in event-time order through the explicit per-target transitions below and emits the
outputs that history has earned by ``clock`` and that were not emitted before. So

- duplicates are no-ops (same ``event_id``), and redelivered outputs carry the same ``id``;
- events arriving out of order give the outcome they would have in order (a response that
  arrives before its creation is held until the creation arrives);
- emitted outputs are final: a late event never takes a breach back.

Clock rules (CONTRACTS.md section 2): a warning fires once its instant is reached
(``clock >= warn_at``); a breach needs the clock to pass the deadline (``clock > deadline``);
at an event's own instant the event applies first, so a response at exactly the deadline is
met. Targets of tiers with ``commitment: none`` (or without a target for the priority) are
measured (:class:`TargetFulfilled`) but never warn, breach or get an outcome.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

from worker.calendars import TWENTY_FOUR_SEVEN, Calendar, Pause
from worker.events import (
    Commitment,
    InputEvent,
    OutputEvent,
    SlaBreached,
    SlaOutcome,
    SlaWarning,
    TargetFulfilled,
    TicketCreated,
    TicketPaused,
    TicketReopened,
    TicketResolved,
    TicketResponded,
    TicketResumed,
    TicketUpdated,
)
from worker.policy import Policy, Target, WarningThreshold

__all__ = [
    "DEFAULT_RETENTION",
    "MAX_EVENTS_PER_TICKET",
    "RunningTarget",
    "TicketState",
    "Tracker",
    "event_order",
]

# Finished and orphan tickets are forgotten this long after their last activity, so state
# stays bounded; long enough to absorb late duplicates and late responses.
DEFAULT_RETENTION: Final = timedelta(days=7)
# A ticket keeps at most this many distinct events; real tickets have a handful, and the
# cap bounds what a misbehaving producer can make one ticket cost. Events past it are ignored.
MAX_EVENTS_PER_TICKET: Final = 512
# The clock of a fold that must see every fact its history holds.
_END_OF_TIME: Final = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
# A breach needs the clock strictly past the deadline: the first instant that is.
_AFTER: Final = timedelta(microseconds=1)

# Ties in event time resolve in this order (then by event_id), so a ticket created and
# answered in the same second is answered after it is created, and a pause and resume at
# one instant make an empty pause rather than a pause that never ends.
_RANK: Final[dict[type, int]] = {
    TicketCreated: 0,
    TicketUpdated: 1,
    TicketPaused: 2,
    TicketResumed: 3,
    TicketResponded: 4,
    TicketResolved: 5,
    TicketReopened: 6,
}
_FIRST_RESPONSE: Final = "first_response"
_RESOLUTION: Final = "resolution"


def event_order(event: InputEvent) -> tuple[datetime, int, str]:
    """Sort key that puts a ticket's events in event-time order, deterministically."""
    return (event.occurred_at, _RANK[type(event)], event.event_id)


class RunningTarget(NamedTuple):
    """A target cycle still waiting for its fulfilment, as metrics see it.

    ``deadline`` is None when it has none (no commitment), is paused, or already breached.
    """

    tier: str
    priority: str
    target: str
    deadline: datetime | None
    paused: bool


@dataclass(frozen=True, slots=True)
class TicketState:
    """What is stored per ticket: its events in event-time order and what was emitted.

    ``due_at`` is the next instant at which :meth:`Tracker.advance` has something to do (a
    warning, a breach, or forgetting the ticket); ``None`` when nothing is scheduled.
    ``running`` lists the target cycles still open (derived; kept for metrics).
    """

    ticket_id: str
    events: tuple[InputEvent, ...]
    emitted: frozenset[str] = frozenset()
    due_at: datetime | None = None
    running: tuple[RunningTarget, ...] = ()


@dataclass(frozen=True, slots=True)
class _Fact:
    """An output that a ticket's history has earned: emitted once the clock reaches ``due``."""

    due: datetime
    at: datetime
    seq: int
    key: str
    kind: type[OutputEvent]
    fields: dict[str, object]


@dataclass(slots=True)
class _Cycle:
    """Scratch state of one target cycle while a ticket's history is folded."""

    target: str
    number: int
    start: datetime
    tier: str
    priority: str
    spec: Target | None
    commitment: Commitment
    thresholds: tuple[WarningThreshold, ...]
    # Derived from spec and pauses by _Fold.plan(); None while paused or without a budget.
    deadline: datetime | None = None
    pending: list[tuple[datetime, WarningThreshold]] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)
    breached: bool = False
    fulfilled_at: datetime | None = None

    @property
    def running(self) -> bool:
        """Still waiting for its fulfilment."""
        return self.fulfilled_at is None

    @property
    def within_s(self) -> int | None:
        """The budget in counted seconds, or None when the target sets no deadline."""
        return None if self.spec is None else self.spec.within_s

    @property
    def calendar(self) -> Calendar:
        """The calendar that counts this target's time."""
        return TWENTY_FOUR_SEVEN if self.spec is None else self.spec.calendar

    @property
    def key(self) -> str:
        """``<target>:<cycle>``: the stem of every output key of this cycle."""
        return f"{self.target}:{self.number}"


class _Fold:
    """Folds one ticket's events in event-time order and collects the outputs earned."""

    def __init__(self, policy: Policy, clock: datetime, emitted: frozenset[str]) -> None:
        self.policy = policy
        self.clock = clock
        self.emitted = emitted
        self.facts: list[_Fact] = []
        self.pauses: list[Pause] = []
        self.paused_since: datetime | None = None
        self.tier = ""
        self.priority = ""
        self.cycles: list[_Cycle] = []
        self.last_at: datetime | None = None
        self.ticket_id = ""

    # --- building cycles ----------------------------------------------------------------

    def new_cycle(self, target: str, number: int, start: datetime) -> _Cycle:
        """Start a cycle of ``target`` at ``start`` under the ticket's tier and priority."""
        cycle = _Cycle(
            target=target,
            number=number,
            start=start,
            tier=self.tier,
            priority=self.priority,
            spec=None,
            commitment="none",
            thresholds=(),
        )
        self.respec(cycle)
        self.cycles.append(cycle)
        return cycle

    def respec(self, cycle: _Cycle) -> None:
        """Take the ticket's current tier and priority for ``cycle`` and plan it anew."""
        cycle.tier, cycle.priority = self.tier, self.priority
        tier = self.policy.tiers.get(self.tier)
        cycle.spec = self.policy.target_for(self.tier, self.priority, cycle.target)
        tracked = tier is not None and tier.commitment != "none" and cycle.within_s is not None
        cycle.commitment = tier.commitment if tier is not None else "none"  # type: ignore[assignment]
        cycle.thresholds = tier.warnings if tracked and tier is not None else ()
        self.plan(cycle)

    def plan(self, cycle: _Cycle) -> None:
        """Compute the deadline and unfired warning instants from spec and closed pauses."""
        cycle.deadline = None
        cycle.pending = []
        budget_s = cycle.within_s
        if budget_s is None or cycle.commitment == "none" or self.is_paused(cycle):
            return
        pauses = self.pauses_of(cycle)
        cycle.deadline = cycle.calendar.deadline(cycle.start, timedelta(seconds=budget_s), pauses)
        for threshold in cycle.thresholds:
            if threshold.text in cycle.fired:
                continue
            after = threshold.fires_after(budget_s)
            if after is not None:
                warn_at = cycle.calendar.deadline(cycle.start, after, pauses)
                cycle.pending.append((warn_at, threshold))
        cycle.pending.sort(key=lambda item: item[0])

    def is_paused(self, cycle: _Cycle) -> bool:
        """Whether ``cycle`` is stopped by an open pause."""
        return self.paused_since is not None and cycle.spec is not None and cycle.spec.pausable

    def pauses_of(self, cycle: _Cycle) -> list[Pause]:
        """Return the closed pauses that apply to ``cycle``."""
        return self.pauses if cycle.spec is not None and cycle.spec.pausable else []

    def counted(self, cycle: _Cycle, end: datetime) -> timedelta:
        """Return the counted time of ``cycle`` from its start to ``end``."""
        pauses = list(self.pauses_of(cycle))
        if self.is_paused(cycle) and self.paused_since is not None:
            pauses.append((self.paused_since, end))
        return cycle.calendar.elapsed(cycle.start, end, pauses)

    # --- time passing ---------------------------------------------------------------------

    def reach(self, until: datetime, *, inclusive: bool) -> None:
        """Let time pass up to ``until``: fire the warnings and breaches it reaches.

        At an event's instant (``inclusive=False``) the event applies first; at the final
        clock (``inclusive=True``) a warning due exactly then fires. Breaches always need the
        clock strictly past the deadline.
        """
        for cycle in self.cycles:
            if not cycle.running or cycle.breached or cycle.deadline is None:
                continue
            while cycle.pending and (
                cycle.pending[0][0] < until or (inclusive and cycle.pending[0][0] == until)
            ):
                warn_at, threshold = cycle.pending.pop(0)
                self.warn(cycle, warn_at, threshold)
            if cycle.deadline < until:
                self.breach(cycle, cycle.deadline)

    def warn(self, cycle: _Cycle, at: datetime, threshold: WarningThreshold) -> None:
        """Record that ``threshold`` fired for ``cycle`` at ``at``."""
        cycle.fired.add(threshold.text)
        budget_s = cycle.within_s or 0
        after = threshold.fires_after(budget_s) or timedelta(0)
        remaining_s = (timedelta(seconds=budget_s) - after).total_seconds()
        self.fact(
            at,
            at,
            f"{cycle.key}:{threshold.text}",
            SlaWarning,
            {**self.common(cycle), "threshold": threshold.text, "remaining_seconds": remaining_s},
        )

    def breach(self, cycle: _Cycle, at: datetime, *, at_once: bool = False) -> None:
        """Record that ``cycle`` breached at ``at`` (final): the breach and its outcome.

        A deadline breach is due once the clock is past the deadline; one caused by a
        re-evaluation whose new deadline is already past (``at_once``) is due at once.
        """
        cycle.breached = True
        cycle.pending = []
        due = at if at_once else at + _AFTER
        fields = self.common(cycle)
        elapsed_s = self.counted(cycle, at).total_seconds()
        self.fact(due, at, f"{cycle.key}:breached", SlaBreached, fields)
        self.fact(
            due,
            at,
            f"{cycle.key}:outcome",
            SlaOutcome,
            {**fields, "outcome": "breached", "fulfilled_at": None, "elapsed_seconds": elapsed_s},
        )

    def fulfil(self, cycle: _Cycle, at: datetime) -> None:
        """Record the fulfilment of ``cycle`` at ``at``: met unless it already breached."""
        if not cycle.running:
            return
        elapsed_s = self.counted(cycle, at).total_seconds()
        has_deadline = cycle.within_s is not None and cycle.commitment != "none"
        met = not cycle.breached if has_deadline else None
        fields = self.common(cycle)
        if self.is_paused(cycle) and cycle.within_s is not None and self.paused_since:
            # fulfilled while paused: the deadline as if the pause ended now
            pauses = [*self.pauses, (self.paused_since, at)]
            budget = timedelta(seconds=cycle.within_s)
            fields["deadline"] = cycle.calendar.deadline(cycle.start, budget, pauses)
        cycle.fulfilled_at = at
        cycle.pending = []
        if met:
            self.fact(
                at,
                at,
                f"{cycle.key}:outcome",
                SlaOutcome,
                {**fields, "outcome": "met", "fulfilled_at": at, "elapsed_seconds": elapsed_s},
            )
        self.fact(
            at,
            at,
            f"{cycle.key}:fulfilled",
            TargetFulfilled,
            {**fields, "fulfilled_at": at, "elapsed_seconds": elapsed_s, "met": met},
        )

    def common(self, cycle: _Cycle) -> dict[str, object]:
        """Return the fields every output of ``cycle`` carries, as of this instant in the fold."""
        return {
            "ticket_id": self.ticket_id,
            "tier": cycle.tier,
            "priority": cycle.priority,
            "target": cycle.target,
            "cycle": cycle.number,
            "commitment": cycle.commitment,
            "started_at": cycle.start,
            "deadline": cycle.deadline,
            "target_seconds": cycle.within_s if cycle.commitment != "none" else None,
            "policy": self.policy.name,
        }

    def fact(
        self,
        due: datetime,
        at: datetime,
        key: str,
        kind: type[OutputEvent],
        fields: dict[str, object],
    ) -> None:
        """Record an output that history earned at ``at``, to be emitted once ``due``."""
        if key not in self.emitted:
            self.facts.append(_Fact(due, at, len(self.facts), key, kind, fields))

    # --- the fold -------------------------------------------------------------------------

    def run(self, ticket_id: str, events: tuple[InputEvent, ...]) -> None:
        """Fold ``events`` (already in event-time order) and then let time reach the clock."""
        self.ticket_id = ticket_id
        created = next((e for e in events if isinstance(e, TicketCreated)), None)
        self.last_at = max((e.occurred_at for e in events), default=None)
        if created is None:
            return  # an orphan: held until its creation arrives
        self.tier, self.priority = created.tier, created.priority
        opened = created.occurred_at
        self.new_cycle(_FIRST_RESPONSE, 1, opened)
        self.new_cycle(_RESOLUTION, 1, opened)
        for event in events:
            if event is created or isinstance(event, TicketCreated):
                continue  # a second creation of the same ticket changes nothing
            at = max(event.occurred_at, opened)  # events "before" creation count at creation
            self.reach(at, inclusive=False)
            self.step(event, at)
        self.reach(self.clock, inclusive=True)

    def step(self, event: InputEvent, at: datetime) -> None:
        """Apply one event at instant ``at``: the transition table of a ticket."""
        resolution = self.cycles[-1]
        first_response = self.cycles[0]
        if isinstance(event, TicketResponded):
            self.fulfil(first_response, at)
        elif isinstance(event, TicketResolved):
            self.close_pause(at)
            self.fulfil(first_response, at)
            self.fulfil(resolution, at)
        elif isinstance(event, TicketReopened) and not resolution.running:
            self.close_pause(at)
            self.new_cycle(_RESOLUTION, resolution.number + 1, at)
        elif isinstance(event, TicketUpdated):
            self.tier = event.tier or self.tier
            self.priority = event.priority or self.priority
            for cycle in self.cycles:
                if cycle.running and not cycle.breached:
                    self.respec(cycle)
                    if cycle.deadline is not None and cycle.deadline < at:
                        self.breach(cycle, at, at_once=True)  # the new deadline is past
                    else:
                        self.reach_cycle_warnings(cycle, at)
        elif isinstance(event, TicketPaused) and self.paused_since is None and resolution.running:
            self.paused_since = at
            for cycle in self.cycles:
                if cycle.running and not cycle.breached and self.is_paused(cycle):
                    self.plan(cycle)
        elif isinstance(event, TicketResumed):
            self.close_pause(at)

    def reach_cycle_warnings(self, cycle: _Cycle, at: datetime) -> None:
        """After a re-evaluation, fire at once the warnings whose instant is already past."""
        while cycle.pending and cycle.pending[0][0] < at:
            _, threshold = cycle.pending.pop(0)
            self.warn(cycle, at, threshold)

    def close_pause(self, at: datetime) -> None:
        """End an open pause at ``at`` and re-plan the cycles it stopped."""
        if self.paused_since is None:
            return
        stopped = [c for c in self.cycles if c.running and not c.breached and self.is_paused(c)]
        self.pauses.append((self.paused_since, at))
        self.paused_since = None
        for cycle in stopped:
            self.plan(cycle)

    # --- results --------------------------------------------------------------------------

    def running(self) -> tuple[RunningTarget, ...]:
        """Return the cycles still waiting for their fulfilment."""
        return tuple(
            RunningTarget(
                cycle.tier,
                cycle.priority,
                cycle.target,
                None if cycle.breached else cycle.deadline,
                self.is_paused(cycle),
            )
            for cycle in self.cycles
            if cycle.running
        )

    @property
    def finished(self) -> bool:
        """No target cycle is running: the ticket is done, or an orphan with no creation."""
        return not any(cycle.running for cycle in self.cycles)

    def next_due(self, retention: timedelta) -> datetime | None:
        """Return the next instant at which something fires, or the ticket is forgotten.

        Open tickets are never forgotten (their outcome is still to come); finished and
        orphan ones are, ``retention`` after their last event.
        """
        if self.finished:
            return None if self.last_at is None else self.last_at + retention
        dues = []
        for cycle in self.cycles:
            if not cycle.running or cycle.breached or cycle.deadline is None:
                continue
            if cycle.pending:
                dues.append(cycle.pending[0][0])
            dues.append(cycle.deadline + _AFTER)
        return min(dues, default=None)


def _build(fact: _Fact, detected_at: datetime) -> OutputEvent:
    """Turn a fact into its output event, detected at ``detected_at``."""
    extra = {"detected_at": detected_at} if fact.kind in (SlaWarning, SlaBreached) else {}
    return fact.kind(**fact.fields, **extra)  # type: ignore[arg-type]


class Tracker:
    """Applies events and the passing of time to ticket states, under one policy."""

    def __init__(
        self,
        policy: Policy,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        max_events: int = MAX_EVENTS_PER_TICKET,
    ) -> None:
        self.policy = policy
        self.retention = retention
        self.max_events = max_events

    def apply(
        self, state: TicketState | None, event: InputEvent, clock: datetime
    ) -> tuple[TicketState | None, list[OutputEvent]]:
        """Add ``event`` to the ticket and return the new state and the outputs it earns.

        ``clock`` is the instant the shell considers "now"; what history earns after it
        (e.g. for an event stamped in the future) is emitted by a later :meth:`advance`.
        A duplicate ``event_id`` changes nothing.
        """
        if state is None:
            state = TicketState(ticket_id=event.ticket_id, events=())
        elif len(state.events) >= self.max_events or any(
            known.event_id == event.event_id for known in state.events
        ):
            return state, []
        events = list(state.events)
        insort(events, event, key=event_order)
        return self._settle(state.ticket_id, tuple(events), state.emitted, clock)

    def advance(
        self, state: TicketState, clock: datetime
    ) -> tuple[TicketState | None, list[OutputEvent]]:
        """Let time pass to ``clock``: the warnings and breaches due, or forgetting the ticket.

        Returns ``None`` as the state when the ticket is finished (or an orphan) and its
        retention has passed: the shell deletes it.
        """
        if state.due_at is None or clock < state.due_at:
            return state, []
        return self._settle(state.ticket_id, state.events, state.emitted, clock)

    def emitted_outputs(self, state: TicketState, *, detected_at: datetime) -> list[OutputEvent]:
        """Rebuild the outputs already emitted for a ticket, to publish them again (same ids).

        After a crash the table may record outputs as emitted that never reached Kafka; the
        shell republishes recent ones. ``detected_at`` stamps the rebuilt warnings/breaches.
        """
        fold = _Fold(self.policy, _END_OF_TIME, frozenset())
        fold.run(state.ticket_id, state.events)
        return [
            _build(fact, detected_at)
            for fact in sorted(fold.facts, key=lambda f: (f.at, f.seq))
            if fact.key in state.emitted
        ]

    def _settle(
        self,
        ticket_id: str,
        events: tuple[InputEvent, ...],
        emitted: frozenset[str],
        clock: datetime,
    ) -> tuple[TicketState | None, list[OutputEvent]]:
        """Fold the events, emit the facts due by ``clock`` and schedule the next one."""
        fold = _Fold(self.policy, clock, emitted)
        fold.run(ticket_id, events)
        outputs: list[OutputEvent] = []
        new_keys: set[str] = set()
        later: list[datetime] = []
        for fact in sorted(fold.facts, key=lambda f: (f.at, f.seq)):
            if fact.due > clock:
                later.append(fact.due)
                continue
            new_keys.add(fact.key)
            outputs.append(_build(fact, clock))
        due_at = fold.next_due(self.retention)
        if later:
            due_at = min(later) if due_at is None or fold.finished else min(due_at, *later)
        elif fold.finished and due_at is not None and clock >= due_at:
            return None, outputs
        state = TicketState(
            ticket_id=ticket_id,
            events=events,
            emitted=emitted | new_keys if new_keys else emitted,
            due_at=due_at,
            running=fold.running(),
        )
        return state, outputs

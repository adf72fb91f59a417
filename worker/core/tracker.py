"""The per-ticket SLA state machine: which warnings, breaches and outcomes a ticket has earned.

Core module: standard library and ``worker.core`` only (no asyncio, faust, aiokafka,
prometheus_client, os, logging, and no clock reading: the shell passes ``clock`` in).

Design: a ticket's state is the set of its input events (unique by ``event_id``, kept in
event-time order) plus the keys of the outputs already emitted. Every transition folds the
events in event-time order through the explicit per-target transitions below and emits the
outputs that history has earned by ``clock`` and that were not emitted before. So

- duplicates are no-ops (same ``event_id``), and redelivered outputs carry the same ``id``;
- events arriving out of order give the outcome they would have in order (a response that
  arrives before its creation is held until the creation arrives);
- emitted outputs are final: a late event never takes a breach back.

Clock rules (docs/policy.md, counted time): a warning fires once its instant is reached
(``clock >= warn_at``); a breach needs the clock to pass the deadline (``clock > deadline``);
at an event's own instant the event applies first, so a response at exactly the deadline is
met. Targets of tiers with ``commitment: none`` (or without a target for the priority) are
measured (:class:`TargetFulfilled`) but never warn, breach or get an outcome.

How the fold stays cheap (it runs on every event, so a ticket of n events costs O(n) per
event; real tickets have a handful):

- What a target cycle does under a tier and priority (its budget, calendar, commitment, and
  its warnings already converted to counted time and put in firing order) is derived from
  the policy once per ``(tier, priority)`` and shared by every cycle (``Plan``, in
  ``worker/core/cycle_plans.py``).
- On the 24x7 calendar without pauses, a deadline is ``start + budget``, a warning instant
  ``start + after`` (computed when the previous one fires) and counted time ``end - start``:
  plain ``datetime`` arithmetic, no calendar walk.
- An output is built only when it is due and was never emitted, and then slot by slot
  (``cycle_plans.positional``); the facts a fold finds again (the warnings of a ticket answered
  later, say) cost a key lookup.
- The state is compact: output keys are shared strings kept in a sorted tuple, and the
  running targets without a deadline are shared tuples.
"""

from __future__ import annotations

from bisect import insort
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Final

from worker.core.calendars import Pause
from worker.core.cycle_plans import (
    OutputKeys,
    Plan,
    WarningPlan,
    build_breach,
    build_fulfilled,
    build_outcome,
    build_running,
    build_warning,
    make_plan,
)
from worker.core.events import (
    InputEvent,
    OutputEvent,
    TicketCreated,
    TicketPaused,
    TicketResolved,
    TicketResponded,
    TicketResumed,
    TicketUpdated,
)
from worker.core.policy import Policy
from worker.core.ticket_state import RunningTarget, TicketState, event_order

__all__ = [
    "DEFAULT_OPEN_RETENTION",
    "DEFAULT_RETENTION",
    "MAX_EVENTS_PER_TICKET",
    "Tracker",
]

# Finished and orphan tickets are forgotten this long after their last activity, so state
# stays bounded; long enough to absorb late duplicates and late responses.
DEFAULT_RETENTION: Final = timedelta(days=7)
# Open tickets are forgotten this long after their last event: a lost ticket.resolved (or a
# tier without commitment, whose tickets nobody closes) must not keep a state forever.
DEFAULT_OPEN_RETENTION: Final = timedelta(days=90)
# A ticket keeps at most this many distinct events; real tickets have a handful, and the
# cap bounds what a misbehaving producer can make one ticket cost. Past it, the events no
# decision needs make room (see ``_compact``); the others are always kept, and the shell's
# bound on a stored state's size is what finally limits them.
MAX_EVENTS_PER_TICKET: Final = 512
# The clock of a fold that must see every fact its history holds.
_END_OF_TIME: Final = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
# A breach needs the clock strictly past the deadline: the first instant that is. Instants
# are whole microseconds, so "at or before t" is also "before t + _AFTER".
_AFTER: Final = timedelta(microseconds=1)
# The first item of a pair: sorts (instant, x) pairs by instant alone, stably.
_INSTANT: Final = itemgetter(0)
_FIRST_RESPONSE: Final = "first_response"
_RESOLUTION: Final = "resolution"


class _Cycle:
    """Scratch state of one target cycle while a ticket's history is folded."""

    __slots__ = (
        "breached",
        "deadline",
        "fired",
        "fulfilled_at",
        "instants",
        "keys",
        "next",
        "next_at",
        "number",
        "plan",
        "priority",
        "start",
        "target",
        "tier",
        "warnings",
    )

    def __init__(
        self, target: str, number: int, start: datetime, tier: str, priority: str, plan: Plan
    ) -> None:
        self.target = target
        self.number = number
        self.start = start
        self.keys: OutputKeys | None = None  # looked up when the cycle first earns an output
        self.tier = tier
        self.priority = priority
        self.plan = plan
        # Derived from the plan and pauses by _Fold.schedule(): the deadline (None while
        # paused or without a budget) and the warnings still to fire, in firing order, from
        # ``next`` on; ``next_at`` is the instant of the next one (None: no more). Their
        # instants are ``start + after`` on the fast path (``instants`` None), else listed.
        self.deadline: datetime | None = None
        self.warnings: tuple[WarningPlan, ...] = ()
        self.instants: tuple[datetime, ...] | None = None
        self.next = 0
        self.next_at: datetime | None = None
        # The texts of the warnings fired under earlier schedules (see _Fold.schedule).
        self.fired: tuple[str, ...] = ()
        self.breached = False
        self.fulfilled_at: datetime | None = None

    def pop_warning(self) -> WarningPlan:
        """Return the next warning to fire and move ``next_at`` on to the one after it."""
        warnings = self.warnings
        warning = warnings[self.next]
        self.next += 1
        if self.next == len(warnings):
            self.next_at = None
        elif self.instants is None:
            self.next_at = self.start + warnings[self.next].after
        else:
            self.next_at = self.instants[self.next]
        return warning

    def stop(self) -> None:
        """Forget the warnings still to fire: the cycle is paused, fulfilled or breached."""
        self.warnings = ()
        self.next = 0
        self.next_at = None


class _Fold:
    """Folds one ticket's events in event-time order and collects the outputs earned.

    Outputs due by ``clock`` whose key is wanted (by default: not in ``emitted``) are built
    at once, stamped ``detected_at``; the due instants of those that are not due yet are
    kept in ``later``.
    """

    __slots__ = (
        "clock",
        "customer_id",
        "cycles",
        "detected_at",
        "emitted",
        "events",
        "instants",
        "last_at",
        "later",
        "new_keys",
        "outputs",
        "paused_since",
        "pauses",
        "plans",
        "policy_name",
        "priority",
        "rebuild",
        "ticket_id",
        "tier",
        "tracker",
        "unordered",
    )

    def __init__(
        self,
        tracker: Tracker,
        clock: datetime,
        emitted: tuple[str, ...],
        *,
        rebuild: bool = False,
        detected_at: datetime | None = None,
    ) -> None:
        self.tracker = tracker
        self.policy_name = tracker.policy.name
        self.clock = clock
        self.emitted = emitted
        # Rebuild mode: build only the outputs whose key is in ``emitted``.
        self.rebuild = rebuild
        self.detected_at = clock if detected_at is None else detected_at
        # The outputs built and the instants they were earned at (in step; sorted at the end
        # if ``unordered``), the keys they add, and the due instants of those not due yet.
        self.outputs: list[OutputEvent] = []
        self.instants: list[datetime] = []
        self.unordered = False
        self.new_keys: list[str] = []
        self.later: list[datetime] = []
        self.pauses: list[Pause] = []
        self.paused_since: datetime | None = None
        # Set by run(): the ticket's, and its tier and priority as the fold goes with the plans
        # of first_response and resolution under them (once it has a creation).
        self.ticket_id: str
        self.events: tuple[InputEvent, ...] = ()
        self.customer_id: str | None = None
        self.last_at: datetime | None
        self.tier: str
        self.priority: str
        self.plans: tuple[Plan, Plan]
        self.cycles: list[_Cycle] = []

    # --- building cycles ----------------------------------------------------------------

    def new_cycle(self, target: str, number: int, start: datetime) -> None:
        """Start a cycle of ``target`` at ``start`` under the ticket's tier and priority."""
        plan = self.plans[0] if target == _FIRST_RESPONSE else self.plans[1]
        cycle = _Cycle(target, number, start, self.tier, self.priority, plan)
        if plan.budget is not None:  # else it has no deadline, as it starts
            self.schedule(cycle)
        self.cycles.append(cycle)

    def respec(self, cycle: _Cycle) -> None:
        """Take the ticket's current tier and priority for ``cycle`` and plan it anew."""
        cycle.tier, cycle.priority = self.tier, self.priority
        cycle.plan = self.plans[0] if cycle.target == _FIRST_RESPONSE else self.plans[1]
        self.schedule(cycle)

    def schedule(self, cycle: _Cycle) -> None:
        """Compute the deadline and the warnings to fire from the plan and closed pauses.

        A warning fired under an earlier schedule of the cycle does not fire again.
        """
        if cycle.next:
            fired = (warning.text for warning in cycle.warnings[: cycle.next])
            cycle.fired = (*cycle.fired, *fired)
        plan = cycle.plan
        budget = plan.budget
        if budget is None or (plan.pausable and self.paused_since is not None):
            cycle.deadline = None
            cycle.stop()
            return
        start = cycle.start
        warnings = plan.warnings
        if cycle.fired:
            warnings = tuple(warning for warning in warnings if warning.text not in cycle.fired)
        cycle.next = 0
        if plan.always_open and not (plan.pausable and self.pauses) and start.tzinfo is UTC:
            # 24x7 without pauses, the fast path: every instant is the start plus counted time.
            cycle.deadline = start + budget
            cycle.warnings = warnings
            cycle.instants = None
            cycle.next_at = start + warnings[0].after if warnings else None
            return
        pauses = self.pauses if plan.pausable else []
        calendar = plan.calendar
        cycle.deadline = calendar.deadline(start, budget, pauses)
        timed = sorted(
            ((calendar.deadline(start, warning.after, pauses), warning) for warning in warnings),
            key=_INSTANT,  # stable: warnings due at one instant keep the policy's order
        )
        cycle.warnings = tuple(warning for _, warning in timed)
        cycle.instants = tuple(instant for instant, _ in timed)
        cycle.next_at = timed[0][0] if timed else None

    def counted_s(self, cycle: _Cycle, end: datetime) -> float:
        """Return the counted seconds of ``cycle`` from its start to ``end``."""
        plan = cycle.plan
        if not plan.pausable or (not self.pauses and self.paused_since is None):
            if plan.always_open:
                return (end - cycle.start).total_seconds() if end > cycle.start else 0.0
            return plan.calendar.elapsed(cycle.start, end).total_seconds()
        pauses = list(self.pauses)
        if self.paused_since is not None:
            pauses.append((self.paused_since, end))
        return plan.calendar.elapsed(cycle.start, end, pauses).total_seconds()

    # --- time passing ---------------------------------------------------------------------

    def reach(self, until: datetime, *, inclusive: bool) -> None:
        """Let time pass up to ``until``: fire the warnings and breaches it reaches.

        At an event's instant (``inclusive=False``) the event applies first; at the final
        clock (``inclusive=True``) a warning due exactly then fires. Breaches always need the
        clock strictly past the deadline.
        """
        limit = until + _AFTER if inclusive else until
        for cycle in self.cycles:
            deadline = cycle.deadline
            if deadline is None or cycle.breached or cycle.fulfilled_at is not None:
                continue
            if cycle.next_at is not None and cycle.next_at < limit:
                self.warn(cycle, limit)
            if deadline < until:
                self.breach(cycle, deadline)

    def due(self, due: datetime, key: str) -> bool:
        """Whether the output ``key``, due at ``due``, is to be built now.

        Not if it is not wanted (already emitted; when rebuilding, not emitted), nor if it is
        not due by the clock yet (its instant is then kept in ``later``).
        """
        if (key in self.emitted) is not self.rebuild:
            return False
        if due > self.clock:
            self.later.append(due)
            return False
        self.new_keys.append(key)
        return True

    def output(self, at: datetime, output: OutputEvent) -> None:
        """Keep ``output``, earned at ``at``: outputs come out in the order history earned them."""
        instants = self.instants
        if instants and at < instants[-1]:
            self.unordered = True
        instants.append(at)
        self.outputs.append(output)

    def keys(self, cycle: _Cycle) -> OutputKeys:
        """Return the output keys of ``cycle``."""
        keys = cycle.keys
        if keys is None:
            keys = cycle.keys = self.tracker._keys_for(cycle.target, cycle.number)
        return keys

    def common(self, cycle: _Cycle, deadline: datetime | None) -> tuple[object, ...]:
        """Return the fields every output of ``cycle`` starts with, in their order.

        ``ticket_id, customer_id, tier, priority, target, cycle, commitment, started_at,
        deadline, target_seconds, policy``: as of this instant in the fold.
        """
        plan = cycle.plan
        return (
            self.ticket_id,
            self.customer_id,
            cycle.tier,
            cycle.priority,
            cycle.target,
            cycle.number,
            plan.commitment,
            cycle.start,
            deadline,
            plan.target_seconds,
            self.policy_name,
        )

    def warn(self, cycle: _Cycle, limit: datetime, at: datetime | None = None) -> None:
        """Fire the warnings of ``cycle`` whose instant is before ``limit``.

        Each fires at its own instant, or at ``at`` when given (a re-evaluation fires the
        warnings whose new instant is already past at once).
        """
        keys = self.keys(cycle)
        while cycle.next_at is not None and cycle.next_at < limit:
            when = cycle.next_at if at is None else at
            warning = cycle.pop_warning()
            if self.due(when, keys.warning(warning.text)):
                # ...threshold, detected_at, remaining_seconds
                fields = (warning.text, self.detected_at, warning.remaining_s)
                self.output(when, build_warning(*self.common(cycle, cycle.deadline), *fields))

    def breach(self, cycle: _Cycle, at: datetime, *, at_once: bool = False) -> None:
        """Record that ``cycle`` breached at ``at`` (final): the breach and its outcome.

        A deadline breach is due once the clock is past the deadline; one caused by a
        re-evaluation whose new deadline is already past (``at_once``) is due at once.
        """
        cycle.breached = True
        cycle.stop()
        due = at if at_once else at + _AFTER
        keys = self.keys(cycle)
        if self.due(due, keys.breached):
            # ...detected_at
            self.output(at, build_breach(*self.common(cycle, cycle.deadline), self.detected_at))
        if self.due(due, keys.outcome):
            # ...outcome, fulfilled_at, elapsed_seconds
            fields = ("breached", None, self.counted_s(cycle, at))
            self.output(at, build_outcome(*self.common(cycle, cycle.deadline), *fields))

    def fulfil(self, cycle: _Cycle, at: datetime) -> None:
        """Record the fulfilment of ``cycle`` at ``at``: met unless it already breached."""
        if cycle.fulfilled_at is not None:
            return
        plan = cycle.plan
        keys = self.keys(cycle)
        met = not cycle.breached if plan.budget is not None else None
        new_outcome = bool(met) and self.due(at, keys.outcome)
        new_fulfilled = self.due(at, keys.fulfilled)
        if new_outcome or new_fulfilled:
            elapsed_s = self.counted_s(cycle, at)
            deadline = cycle.deadline
            if self.paused_since is not None and plan.pausable and plan.within_s is not None:
                # fulfilled while paused: the deadline as if the pause ended now
                pauses = [*self.pauses, (self.paused_since, at)]
                budget = timedelta(seconds=plan.within_s)
                deadline = plan.calendar.deadline(cycle.start, budget, pauses)
            common = self.common(cycle, deadline)
            if new_outcome:
                # ...outcome, fulfilled_at, elapsed_seconds
                self.output(at, build_outcome(*common, "met", at, elapsed_s))
            if new_fulfilled:
                # ...fulfilled_at, elapsed_seconds, met
                self.output(at, build_fulfilled(*common, at, elapsed_s, met))
        cycle.fulfilled_at = at
        cycle.stop()

    # --- the fold -------------------------------------------------------------------------

    def run(self, ticket_id: str, events: tuple[InputEvent, ...]) -> None:
        """Fold ``events`` (already in event-time order) and then let time reach the clock."""
        self.ticket_id = ticket_id
        self.events = events
        # In event-time order, the last event is the newest.
        self.last_at = events[-1].occurred_at if events else None
        created = None
        for event in events:
            if type(event) is TicketCreated:
                created = event
                break
        if created is None:
            return  # an orphan: held until its creation arrives
        self.tier, self.priority = created.tier, created.priority
        self.customer_id = created.customer_id
        self.plans = self.tracker._plans_for(self.tier, self.priority)
        opened = created.occurred_at
        self.new_cycle(_FIRST_RESPONSE, 1, opened)
        self.new_cycle(_RESOLUTION, 1, opened)
        for event in events:
            if type(event) is TicketCreated:
                continue  # the creation, or a second one of the same ticket: changes nothing
            at = event.occurred_at
            if at < opened:
                at = opened  # events "before" creation count at creation
            self.reach(at, inclusive=False)
            self.step(event, at)
        self.reach(self.clock, inclusive=True)

    def step(self, event: InputEvent, at: datetime) -> None:
        """Apply one event at instant ``at``: the transition table of a ticket."""
        kind = type(event)
        resolution = self.cycles[-1]
        if kind is TicketResponded:
            self.fulfil(self.cycles[0], at)
        elif kind is TicketResolved:
            self.close_pause(at)
            self.fulfil(self.cycles[0], at)
            self.fulfil(resolution, at)
        elif isinstance(event, TicketUpdated):
            self.tier = event.tier or self.tier
            self.priority = event.priority or self.priority
            self.plans = self.tracker._plans_for(self.tier, self.priority)
            for cycle in self.cycles:
                if cycle.fulfilled_at is None and not cycle.breached:
                    self.respec(cycle)
                    if cycle.deadline is not None and cycle.deadline < at:
                        self.breach(cycle, at, at_once=True)  # the new deadline is past
                    else:
                        self.warn(cycle, at, at)  # those whose instant is already past
        elif kind is TicketPaused:
            if self.paused_since is None and resolution.fulfilled_at is None:
                self.paused_since = at
                for cycle in self.cycles:
                    if cycle.fulfilled_at is None and not cycle.breached and cycle.plan.pausable:
                        self.schedule(cycle)
        elif kind is TicketResumed:
            self.close_pause(at)
        elif resolution.fulfilled_at is not None:  # TicketReopened, of a resolved ticket
            self.close_pause(at)
            self.new_cycle(_RESOLUTION, resolution.number + 1, at)

    def close_pause(self, at: datetime) -> None:
        """End an open pause at ``at`` and re-plan the cycles it stopped."""
        if self.paused_since is None:
            return
        stopped = [
            cycle
            for cycle in self.cycles
            if cycle.fulfilled_at is None and not cycle.breached and cycle.plan.pausable
        ]
        self.pauses.append((self.paused_since, at))
        self.paused_since = None
        for cycle in stopped:
            self.schedule(cycle)

    # --- results --------------------------------------------------------------------------

    def ordered_outputs(self) -> list[OutputEvent]:
        """Return the outputs built, in the order history earned them (then fold order)."""
        if not self.unordered:
            return self.outputs
        # stable: the outputs of one instant keep the fold's order
        pairs = sorted(zip(self.instants, self.outputs, strict=True), key=_INSTANT)
        return [output for _, output in pairs]

    def close(
        self, retention: timedelta, open_retention: timedelta
    ) -> tuple[tuple[RunningTarget, ...], datetime | None]:
        """Return the cycles still waiting for their fulfilment, and when the fold is next due.

        Next due: the next instant at which a warning or breach fires; for a finished ticket
        (no cycle running, or an orphan with no creation) the instant it is forgotten,
        ``retention`` after its last event; for an open ticket, ``open_retention`` after its
        last event at the latest (it is forgotten then: see ``Tracker.expired``).
        """
        running: list[RunningTarget] = []
        first: datetime | None = None
        for cycle in self.cycles:
            if cycle.fulfilled_at is not None:
                continue
            plan = cycle.plan
            deadline = cycle.deadline
            paused = self.paused_since is not None and plan.pausable
            if cycle.breached or deadline is None:
                # Without a deadline the entry is one of two per plan: shared by every ticket.
                running.append(plan.idle[paused])
                continue
            running.append(
                build_running(
                    RunningTarget, (cycle.tier, cycle.priority, cycle.target, deadline, paused)
                )
            )
            due = deadline + _AFTER
            if cycle.next_at is not None and cycle.next_at < due:
                due = cycle.next_at
            if first is None or due < first:
                first = due
        last_at = self.last_at
        if last_at is not None and not running:
            first = last_at + retention
        elif last_at is not None and (first is None or last_at + open_retention < first):
            first = last_at + open_retention
        return tuple(running), first


def _compact(events: tuple[InputEvent, ...], excess: int) -> tuple[InputEvent, ...]:
    """Drop up to ``excess`` events that no decision needs, the newest first.

    Those are the responses after a ticket's first one in event time (only the first fulfils
    ``first_response``; a resolution fulfils both targets itself) and the creations after its
    first (a second creation changes nothing). Resolutions, reopenings, pauses, resumptions
    and updates are never dropped: each may change a decision.
    """
    droppable: list[int] = []
    seen_response = seen_created = False
    for position, event in enumerate(events):
        kind = type(event)
        if kind is TicketResponded:
            if seen_response:
                droppable.append(position)
            seen_response = True
        elif kind is TicketCreated:
            if seen_created:
                droppable.append(position)
            seen_created = True
    dropped = set(droppable[-excess:])
    return tuple(event for position, event in enumerate(events) if position not in dropped)


class Tracker:
    """Applies events and the passing of time to ticket states, under one policy."""

    def __init__(
        self,
        policy: Policy,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        open_retention: timedelta = DEFAULT_OPEN_RETENTION,
        max_events: int = MAX_EVENTS_PER_TICKET,
    ) -> None:
        self.policy = policy
        self.retention = retention
        self.open_retention = open_retention
        self.max_events = max_events
        # Derived from the (frozen) policy on first use and kept: a handful of entries each.
        self._plans: dict[tuple[str, str], tuple[Plan, Plan]] = {}
        self._keys: dict[tuple[str, int], OutputKeys] = {}
        # The fold of the latest apply/advance: a status of its new state at the same clock
        # reads it instead of folding the events again (worker.core.status.status_of).
        self.last_fold: _Fold | None = None

    def _plans_for(self, tier: str, priority: str) -> tuple[Plan, Plan]:
        """Return the plans of ``first_response`` and ``resolution`` for a tier and priority."""
        key = (tier, priority)
        plans = self._plans.get(key)
        if plans is None:
            plans = self._plans[key] = (
                make_plan(self.policy, tier, priority, _FIRST_RESPONSE),
                make_plan(self.policy, tier, priority, _RESOLUTION),
            )
        return plans

    def _keys_for(self, target: str, number: int) -> OutputKeys:
        """Return the output keys of cycle ``number`` of ``target``."""
        key = (target, number)
        keys = self._keys.get(key)
        if keys is None:
            keys = self._keys[key] = OutputKeys(target, number)
        return keys

    def apply(
        self, state: TicketState | None, event: InputEvent, clock: datetime
    ) -> tuple[TicketState | None, list[OutputEvent]]:
        """Add ``event`` to the ticket and return the new state and the outputs it earns.

        ``clock`` is the instant the shell considers "now"; what history earns after it
        (e.g. for an event stamped in the future) is emitted by a later :meth:`advance`.
        A duplicate ``event_id`` changes nothing.
        """
        if state is None:
            return self._settle(event.ticket_id, (event,), (), clock)
        known = state.events
        event_id = event.event_id
        for other in known:
            if other.event_id == event_id:
                return state, []
        last = known[-1] if known else None
        if (
            last is None
            or last.occurred_at < event.occurred_at
            or (last.occurred_at == event.occurred_at and event_order(last) < event_order(event))
        ):
            events = (*known, event)  # the usual case: the newest event of its ticket
        else:
            ordered = list(known)
            insort(ordered, event, key=event_order)
            events = tuple(ordered)
        if len(events) > self.max_events:
            events = _compact(events, len(events) - self.max_events)
            if not any(kept is event for kept in events):
                return state, []  # the event itself was one no decision needs
        return self._settle(state.ticket_id, events, state.emitted, clock)

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

    @staticmethod
    def expired(old: TicketState | None, new: TicketState | None) -> bool:
        """Whether a transition from ``old`` to ``new`` forgot a ticket still open.

        Only open-ticket retention does that (a finished ticket has no running target); the
        shell counts it (``sla_tickets_expired_total``) and logs it.
        """
        return new is None and old is not None and bool(old.running)

    def emitted_outputs(self, state: TicketState, *, detected_at: datetime) -> list[OutputEvent]:
        """Rebuild the outputs already emitted for a ticket, to publish them again (same ids).

        After a crash the table may record outputs as emitted that never reached Kafka; the
        shell republishes recent ones. ``detected_at`` stamps the rebuilt warnings/breaches.
        """
        fold = _Fold(self, _END_OF_TIME, state.emitted, rebuild=True, detected_at=detected_at)
        fold.run(state.ticket_id, state.events)
        return fold.ordered_outputs()

    def _settle(
        self,
        ticket_id: str,
        events: tuple[InputEvent, ...],
        emitted: tuple[str, ...],
        clock: datetime,
    ) -> tuple[TicketState | None, list[OutputEvent]]:
        """Fold the events, emit the facts due by ``clock`` and schedule the next one."""
        fold = _Fold(self, clock, emitted)
        fold.run(ticket_id, events)
        self.last_fold = fold
        outputs = fold.ordered_outputs()
        running, due_at = fold.close(self.retention, self.open_retention)
        if running and fold.last_at is not None and clock >= fold.last_at + self.open_retention:
            return None, outputs  # open, but silent for too long: forgotten (see expired)
        finished = not running
        later = fold.later
        if later:
            due_at = min(later) if due_at is None or finished else min(due_at, *later)
        elif finished and due_at is not None and clock >= due_at:
            return None, outputs
        if fold.new_keys:
            # a fold earns each key once, and only keys not emitted before
            emitted = tuple(sorted((*emitted, *fold.new_keys)))
        return TicketState(ticket_id, events, emitted, due_at, running), outputs

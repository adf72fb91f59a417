"""Synthetic ticket traffic for demos and benchmarks (``sla-worker loadgen``).

Top-level driver (imports ``worker.stream.producer`` lazily to send; never faust). Two halves:

- The **plan** is a pure, deterministic function of a :class:`LoadProfile` (seed included),
  the policy and the start instant: :func:`plan_tickets` draws tickets in creation order,
  each with its whole life (creation, maybe an escalation, the first response on time, late
  or never, maybe a pause, the resolution, maybe a reopen and a second resolution);
  :func:`timeline` merges the tickets' events into event-time order through a heap of
  pending events. Nothing here reads the clock or does I/O, so tests and benchmarks use it
  without Kafka.
- :func:`play` sends a timeline through a sink when each event's time comes (immediately
  for events already in the past, such as backdated history), so live traffic breaches and
  meets in real time. It is driven by an injected clock and sleep; :func:`send_traffic`
  runs it with the real ones, to Kafka (``worker.stream.producer``) and/or a JSON-lines file,
  with a progress bar, until done or stopped by SIGINT/SIGTERM.

How a ticket's first response is placed, relative to the first-response deadline in effect
when it is answered (the policy calendar's ``deadline(created, within)``; after an
escalation, the new priority's deadline counted from the original creation):
``on_time`` between 5% and 95% of the way from the creation (or the escalation) to the
deadline; ``late`` after the deadline by 5% to 100% of the target; ``never`` not at all
(nor resolved). Targets without a deadline (``commitment: none``, or no target for the
priority) are answered within ``spread_s``; their fate is ``unmeasured``. Escalations
happen before the response, early enough (10% to 50% of the way to the earlier of both
deadlines) that neither has passed, so a fate holds whatever the escalation.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import itertools
import math
import random
import signal
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Literal

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from worker.core.events import (
    InputEvent,
    TicketCreated,
    TicketPaused,
    TicketReopened,
    TicketResolved,
    TicketResponded,
    TicketResumed,
    TicketUpdated,
)
from worker.core.policy import Policy
from worker.edge.codec import encode_input

if TYPE_CHECKING:
    from rich.console import Console

    from worker.edge.settings import Settings

__all__ = [
    "EVENT_TYPES",
    "Fate",
    "LoadProfile",
    "LoadStats",
    "TicketPlan",
    "generate_events",
    "plan_tickets",
    "play",
    "send_traffic",
    "timeline",
]

Fate = Literal["on_time", "late", "never", "unmeasured"]

# Every input type, in the order summaries list them.
EVENT_TYPES: Final = (
    TicketCreated.type,
    TicketResponded.type,
    TicketUpdated.type,
    TicketPaused.type,
    TicketResumed.type,
    TicketResolved.type,
    TicketReopened.type,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
# On-time responses land in this part of the way to the deadline: never at the very start
# (not a real agent) nor right at the deadline (a fulfilment at the deadline is met, but
# producer latency could make a live one late).
_ON_TIME: Final = (0.05, 0.95)
# Late responses come this share of the target after the deadline.
_LATE_BY: Final = (0.05, 1.0)
# Escalations happen this part of the way to the earlier deadline (see the module doc).
_ESCALATE_AT: Final = (0.1, 0.5)
# Resolution this share of the resolution target after creation (some resolutions breach).
_RESOLVE_AT: Final = (0.3, 1.1)
# Without a resolution target (or after a late response), the resolution comes this share
# of the target (or of the spread) after the response.
_WORK_ON: Final = (0.1, 0.6)
# Customers this many distinct ids: enough that tickets share customers, as in real traffic.
_CUSTOMERS: Final = 1_000
# Agents answering, for the ``actor`` field.
_AGENTS: Final = 40


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """What traffic to generate; with the policy and the start, it fixes every event.

    ``rate`` is tickets created per second (each ticket brings about four events).
    ``tickets`` and ``duration_s`` bound the creations (neither: endless). Shares are
    fractions of tickets: ``late`` and ``never`` of the first responses (together at most
    1), ``updates`` escalated (priority changed before the response), ``pauses`` waiting
    on the customer once, ``reopens`` reopened after resolution. Weights map tier or
    priority names of the policy to relative frequencies (None: uniform over the policy's).
    """

    rate: float = 2.0
    tickets: int | None = None
    duration_s: float | None = None
    seed: int = 0
    late: float = 0.2
    never: float = 0.05
    updates: float = 0.1
    pauses: float = 0.1
    reopens: float = 0.05
    tier_weights: Mapping[str, float] | None = None
    priority_weights: Mapping[str, float] | None = None
    spread_s: float = 300.0
    prefix: str | None = None

    def __post_init__(self) -> None:
        """Refuse impossible parameters with a message naming the option."""
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"rate must be a positive number of tickets/s, not {self.rate}")
        if self.tickets is not None and self.tickets < 0:
            raise ValueError(f"tickets must not be negative, not {self.tickets}")
        if self.duration_s is not None and self.duration_s < 0:
            raise ValueError(f"duration must not be negative, not {self.duration_s}")
        for name in ("late", "never", "updates", "pauses", "reopens"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1 (or 0% and 100%)")
        if self.late + self.never > 1.0:
            raise ValueError("late and never together must not exceed 100% of the tickets")
        if not self.spread_s > 0:
            raise ValueError(f"spread must be positive, not {self.spread_s}")

    @property
    def ticket_prefix(self) -> str:
        """The ticket id prefix: ``prefix``, or ``T-<seed>-`` so seeds never share ids."""
        return f"T-{self.seed}-" if self.prefix is None else self.prefix


@dataclass(frozen=True, slots=True)
class TicketPlan:
    """One ticket's life: its events in event-time order, and what it was drawn to show.

    ``deadline`` is the first-response deadline in effect when the ticket is (or would
    be) answered, None without one; ``priority`` is the final priority.
    """

    ticket_id: str
    tier: str
    priority: str
    fate: Fate
    deadline: datetime | None
    events: tuple[InputEvent, ...]

    @property
    def created_at(self) -> datetime:
        """When the ticket was created (its first event)."""
        return self.events[0].occurred_at


def _at(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _ms(moment: datetime) -> int:
    """Return ``moment`` in whole milliseconds since the epoch, rounded down."""
    return (moment - _EPOCH) // _MS


class _Weighted:
    """A weighted choice among names, by cumulative weights (one random draw)."""

    def __init__(self, weights: Mapping[str, float], what: str) -> None:
        names = [name for name, weight in weights.items() if weight > 0]
        if not names:
            raise ValueError(f"{what} weights are all zero: give at least one a weight")
        self.names = names
        self.cumulative = list(itertools.accumulate(weights[name] for name in names))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> str:
        """Return a name; ``random() < 1`` keeps the index within the list."""
        return self.names[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


def _weights(
    given: Mapping[str, float] | None, known: Sequence[str], what: str
) -> Mapping[str, float]:
    if given is None:
        return dict.fromkeys(known, 1.0)
    unknown = [name for name in given if name not in known]
    if unknown:
        raise ValueError(
            f"unknown {what} {', '.join(map(repr, unknown))} (the policy has {', '.join(known)})"
        )
    if any(not (weight >= 0 and math.isfinite(weight)) for weight in given.values()):
        raise ValueError(f"{what} weights must be non-negative numbers")
    return given


class _Planner:
    """Draws one ticket after another from a single seeded random stream."""

    def __init__(self, policy: Policy, profile: LoadProfile, start: datetime) -> None:
        if start.utcoffset() is None:
            raise ValueError("start must be an aware datetime")
        self.policy = policy
        self.profile = profile
        self.rng = random.Random(profile.seed)  # noqa: S311 - simulated traffic, not secrets
        self.tiers = _Weighted(_weights(profile.tier_weights, list(policy.tiers), "tier"), "tier")
        self.priorities = _Weighted(
            _weights(profile.priority_weights, policy.priorities, "priority"), "priority"
        )
        self.prefix = profile.ticket_prefix
        self.clock_ms = _ms(start)
        self.spread_ms = round(profile.spread_s * 1000)
        self.count = 0

    def _deadline_ms(self, tier: str, priority: str, target: str, start_ms: int) -> int | None:
        """Return the deadline (ms, rounded down) of a target started at ``start_ms``."""
        found = self.policy.target_for(tier, priority, target)
        if found is None or found.within_s is None:
            return None
        deadline = found.calendar.deadline(_at(start_ms), timedelta(seconds=found.within_s))
        return _ms(deadline)

    def _within_ms(self, tier: str, priority: str, target: str) -> int | None:
        found = self.policy.target_for(tier, priority, target)
        return None if found is None or found.within_s is None else found.within_s * 1000

    def next_plan(self) -> TicketPlan:
        """Draw the next ticket: its arrival, attributes, fate and events."""
        rng = self.rng
        # Poisson arrivals: exponential gaps with mean 1/rate, at least a millisecond.
        self.clock_ms += max(1, round(rng.expovariate(self.profile.rate) * 1000))
        self.count += 1
        created = self.clock_ms
        ticket_id = f"{self.prefix}{self.count:05d}"
        tier = self.tiers.pick(rng)
        priority = self.priorities.pick(rng)
        draw = rng.random()
        escalate = rng.random() < self.profile.updates and len(self.policy.priorities) > 1
        pause = rng.random() < self.profile.pauses
        reopen = rng.random() < self.profile.reopens

        events: list[InputEvent] = []

        def add(kind: type[InputEvent], at_ms: int, **fields: Any) -> None:
            events.append(
                kind(
                    event_id=f"{ticket_id}-{len(events) + 1}",
                    ticket_id=ticket_id,
                    occurred_at=_at(at_ms),
                    **fields,
                )
            )

        add(
            TicketCreated,
            created,
            tier=tier,
            priority=priority,
            customer_id=f"C-{rng.randrange(_CUSTOMERS):04d}",
        )

        deadline = self._deadline_ms(tier, priority, "first_response", created)
        base = created
        if escalate:
            others = [p for p in self.policy.priorities if p != priority]
            new_priority = others[rng.randrange(len(others))]
            new_deadline = self._deadline_ms(tier, new_priority, "first_response", created)
            ends = [d for d in (deadline, new_deadline) if d is not None]
            horizon = min(ends) - created if ends else self.spread_ms
            base = created + math.floor(rng.uniform(*_ESCALATE_AT) * horizon)
            add(TicketUpdated, base, priority=new_priority)
            priority, deadline = new_priority, new_deadline

        fate: Fate
        if draw < self.profile.never:
            fate = "never"
        elif deadline is None:
            fate = "unmeasured"
        elif draw < self.profile.never + self.profile.late:
            fate = "late"
        else:
            fate = "on_time"

        if fate != "never":
            if fate == "on_time" and deadline is not None:
                span = max(0, deadline - base)
                responded = base + math.floor(rng.uniform(*_ON_TIME) * span)
            elif fate == "late" and deadline is not None:
                within = self._within_ms(tier, priority, "first_response") or 0
                responded = deadline + max(1, math.ceil(rng.uniform(*_LATE_BY) * within))
            else:
                responded = base + max(1, math.floor(rng.uniform(0.05, 1.0) * self.spread_ms))
            add(TicketResponded, responded, actor=f"agent-{rng.randrange(_AGENTS) + 1:02d}")
            self._resolution(rng, add, tier, priority, created, responded, pause, reopen)

        return TicketPlan(
            ticket_id=ticket_id,
            tier=tier,
            priority=priority,
            fate=fate,
            deadline=None if deadline is None else _at(deadline),
            events=tuple(events),
        )

    def _resolution(
        self,
        rng: random.Random,
        add: Callable[..., None],
        tier: str,
        priority: str,
        created: int,
        responded: int,
        pause: bool,
        reopen: bool,
    ) -> None:
        """Add the pause, resolution and reopen events of an answered ticket."""
        target = self._within_ms(tier, priority, "resolution")
        within = target or self.spread_ms
        resolved = created + math.floor(rng.uniform(*_RESOLVE_AT) * within) if target else 0
        if resolved <= responded + 1:  # no target, or answered late: work on a while yet
            resolved = responded + 2 + math.floor(rng.uniform(*_WORK_ON) * within)
        if pause:
            # Waiting on the customer between the response and the resolution; the time
            # paused is added to the resolution, as a pausable target's deadline moves too.
            paused = responded + 1 + math.floor(rng.uniform(0.1, 0.5) * (resolved - responded))
            length = 1 + math.floor(rng.uniform(0.1, 0.5) * within)
            add(TicketPaused, paused)
            add(TicketResumed, paused + length)
            resolved = max(resolved + length, paused + length + 1)
        add(TicketResolved, resolved)
        if reopen:
            reopened = resolved + 1 + math.floor(rng.uniform(0.05, 0.5) * within)
            add(TicketReopened, reopened)
            add(TicketResolved, reopened + 1 + math.floor(rng.uniform(0.2, 1.0) * within))


def plan_tickets(policy: Policy, profile: LoadProfile, start: datetime) -> Iterator[TicketPlan]:
    """Yield the tickets of ``profile`` under ``policy``, in creation order, from ``start``.

    The same policy, profile and start always give the same tickets. The first ticket is
    created one random gap after ``start``; creations stop after ``profile.tickets``
    tickets or at ``start + profile.duration_s`` (whichever comes first), else never.
    Raise ValueError naming the problem when weights name unknown tiers or priorities.
    """
    planner = _Planner(policy, profile, start)
    end_ms = None
    if profile.duration_s is not None:
        end_ms = _ms(start) + round(profile.duration_s * 1000)
    return _plans(planner, profile.tickets, end_ms)


def _plans(planner: _Planner, tickets: int | None, end_ms: int | None) -> Iterator[TicketPlan]:
    while tickets is None or planner.count < tickets:
        plan = planner.next_plan()
        if end_ms is not None and _ms(plan.created_at) >= end_ms:
            return
        yield plan


def timeline(plans: Iterable[TicketPlan]) -> Iterator[tuple[InputEvent, TicketPlan]]:
    """Yield every event of ``plans`` in event-time order, each with its ticket's plan.

    ``plans`` must come in creation order (as :func:`plan_tickets` yields them); it is read
    lazily, one ticket ahead of the events yielded, so an endless plan works. Ties keep the
    order the events were planned in.
    """
    pending: list[tuple[datetime, int, InputEvent, TicketPlan]] = []
    sequence = 0
    for plan in plans:
        created_at = plan.created_at
        while pending and pending[0][0] <= created_at:
            _, _, event, owner = heapq.heappop(pending)
            yield event, owner
        for event in plan.events:
            sequence += 1
            heapq.heappush(pending, (event.occurred_at, sequence, event, plan))
    while pending:
        _, _, event, owner = heapq.heappop(pending)
        yield event, owner


def generate_events(policy: Policy, profile: LoadProfile, start: datetime) -> Iterator[InputEvent]:
    """Yield the events of :func:`plan_tickets` in event-time order (see :func:`timeline`)."""
    for event, _ in timeline(plan_tickets(policy, profile, start)):
        yield event


# --- playing a timeline in real time -------------------------------------------------------


@dataclass(slots=True)
class LoadStats:
    """What a run sent: tickets created, events per type, and what the tickets should show."""

    tickets: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    fates: Counter[str] = field(default_factory=Counter)
    planned: int = 0

    @property
    def events(self) -> int:
        """Events sent, all types together."""
        return sum(self.sent.values())

    @property
    def unsent(self) -> int:
        """Events planned for the tickets created that were not sent (stopped early)."""
        return self.planned - self.events

    def count(self, event: InputEvent, plan: TicketPlan) -> None:
        """Record that ``event`` of ``plan`` was sent."""
        self.sent[event.type] += 1
        if isinstance(event, TicketCreated):
            self.tickets += 1
            self.fates[plan.fate] += 1
            self.planned += len(plan.events)


Sink = Callable[[InputEvent], Awaitable[None]]


async def play(
    events: Iterable[tuple[InputEvent, TicketPlan]],
    sink: Sink,
    *,
    now: Callable[[], datetime],
    sleep: Callable[[float], Awaitable[object]],
    stats: LoadStats,
    realtime: bool = True,
) -> LoadStats:
    """Send each event through ``sink`` once ``now()`` reaches its time; return ``stats``.

    Events already due (backdated history) go at once, as fast as the sink takes them.
    Without ``realtime`` nothing waits (a log file is written at once). Cancel the task to
    stop early: ``stats`` then holds what was sent.
    """
    for event, plan in events:
        at = event.occurred_at
        if realtime:
            while (wait_s := (at - now()).total_seconds()) > 0:
                await sleep(wait_s)
        await sink(event)
        stats.count(event, plan)
    return stats


# --- the run: Kafka and/or a log file, with a progress bar ---------------------------------


def _watch_creations(plans: Iterable[TicketPlan], done: list[bool]) -> Iterator[TicketPlan]:
    """Yield ``plans``; set ``done[0]`` once they are exhausted (every ticket planned)."""
    yield from plans
    done[0] = True


async def send_traffic(
    plans: Iterable[TicketPlan],
    *,
    settings: Settings | None,
    topic: str,
    out: BinaryIO | None,
    realtime: bool,
    total_tickets: int | None,
    console: Console,
) -> tuple[LoadStats, bool]:
    """Play ``plans`` to Kafka (``settings``, ``topic``) and/or ``out``; return stats, stopped.

    Live (``realtime``) each event goes when its time comes; otherwise all at once. A
    progress bar goes to ``console``. SIGINT or SIGTERM stops the run early: what was
    queued is still flushed, and ``stopped`` is True. Raise StartupError or PublishError
    (from :mod:`worker.stream.producer`) when Kafka cannot be used.
    """
    stats = LoadStats()
    created_all = [False]
    events = timeline(_watch_creations(plans, created_all))
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tickets  {task.fields[events]} events"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task("creating tickets", total=total_tickets, events=0)
    refreshed = [0.0]
    loop_time = asyncio.get_running_loop().time

    def show(final: bool = False) -> None:
        if not final and loop_time() - refreshed[0] < 0.1:  # ~10 updates/s is plenty
            return
        refreshed[0] = loop_time()
        described = "follow-ups" if created_all[0] else "creating tickets"
        progress.update(task, completed=stats.tickets, events=stats.events, description=described)

    async with contextlib.AsyncExitStack() as stack:
        publisher = None
        if settings is not None:
            # Imported here: planning and writing files never load the Kafka client.
            from worker.stream.producer import open_publisher

            publisher = await stack.enter_async_context(open_publisher(settings, topic))

        async def sink(event: InputEvent) -> None:
            value = encode_input(event)
            if publisher is not None:
                await publisher.send(event.ticket_id.encode(), value)
            if out is not None:
                out.write(value + b"\n")
            show()

        loop = asyncio.get_running_loop()
        playing = asyncio.ensure_future(
            play(events, sink, now=_utc_now, sleep=asyncio.sleep, stats=stats, realtime=realtime)
        )
        stopped = False

        def stop() -> None:
            nonlocal stopped
            stopped = True
            playing.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop)
        try:
            with progress:
                try:
                    await playing
                except asyncio.CancelledError:
                    if not stopped:  # cancelled from outside, not by a signal
                        raise
                show(final=True)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            if out is not None:
                out.flush()
    return stats, stopped


def _utc_now() -> datetime:
    return datetime.now(UTC)

"""A ticket's current SLA status: per target cycle its state, deadline and counted time.

Core module: standard library only (no I/O, no clock reading: ``as_of`` is an argument).

:func:`status_of` reads the tracker's own fold of a ticket's stored state at ``as_of``
(the one state machine: a status can never disagree with the outputs): the fold that just
made the state when the caller has it, else a fold of its events once more; and it reads
each cycle: ``running``, ``paused``, ``met``, ``breached`` (final, even if fulfilled
later) or ``not_tracked`` (a tier without commitment, or no target for the priority). The
warnings fired are those the state records as emitted. The fold builds no output: it wants
none (rebuild mode over an empty set of keys).

What depends on ``as_of`` alone (``as_of``, and the counted time used and left of a cycle
still counting) is left out of :meth:`TicketStatus.same_as`, so the shell publishes a
status when something else changed, not at every tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from worker.core.events import TicketCreated
from worker.core.policy import Policy
from worker.core.ticket_state import TicketState
from worker.core.tracker import Tracker, _Fold

__all__ = ["STATES", "TargetState", "TargetStatus", "TicketStatus", "status_of"]

TargetState = Literal["running", "paused", "met", "breached", "not_tracked"]
STATES: Final[tuple[TargetState, ...]] = ("running", "paused", "met", "breached", "not_tracked")
# The suffixes of output keys that are not warnings (``<target>:<cycle>:<what>``).
_NOT_WARNINGS: Final = frozenset({"breached", "outcome", "fulfilled"})


@dataclass(slots=True)
class TargetStatus:
    """One target cycle's status at ``as_of`` (a value: nothing changes one once made).

    Not frozen for speed alone, as ``TicketState``: compiled, a frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__`` (the status stream builds
    three of these per changed ticket).

    ``deadline`` is None while paused (the time left is then fixed) and without a
    commitment; ``elapsed_seconds`` is the counted time from the start to the fulfilment,
    to the pause while paused, or else to ``as_of``; ``remaining_seconds`` is
    ``target_seconds`` less that (negative once over), None without a target.
    ``warnings`` are the thresholds fired, sorted.
    """

    target: str
    cycle: int
    state: TargetState
    commitment: str
    started_at: datetime
    deadline: datetime | None
    target_seconds: int | None
    elapsed_seconds: float
    remaining_seconds: float | None
    fulfilled_at: datetime | None
    warnings: tuple[str, ...]

    @property
    def counting(self) -> bool:
        """Whether its counted time still moves with ``as_of`` (unfulfilled and not paused)."""
        return self.fulfilled_at is None and self.state != "paused"


@dataclass(slots=True)
class TicketStatus:
    """A ticket's status at ``as_of``, under the policy ``policy`` (sha256 ``policy_sha256``).

    A value, not frozen for speed alone (see :class:`TargetStatus`).
    """

    ticket_id: str
    customer_id: str | None
    tier: str
    priority: str
    as_of: datetime
    policy: str
    policy_sha256: str
    targets: tuple[TargetStatus, ...]

    def same_as(self, other: TicketStatus | None) -> bool:
        """Whether ``other`` says the same, what moves with ``as_of`` alone aside."""
        if other is None:
            return False
        mine, theirs = _stable(self), _stable(other)
        return mine == theirs


def _stable(status: TicketStatus) -> tuple[object, ...]:
    """Return what a status says that does not move with ``as_of`` alone."""
    targets = tuple(
        (t.target, t.cycle, t.state, t.commitment, t.started_at, t.deadline, t.target_seconds)
        + (t.fulfilled_at, t.warnings)
        + (() if t.counting else (t.elapsed_seconds, t.remaining_seconds))
        for t in status.targets
    )
    return (
        status.ticket_id,
        status.customer_id,
        status.tier,
        status.priority,
        status.policy,
        status.policy_sha256,
        targets,
    )


def status_of(
    tracker: Tracker, state: TicketState, as_of: datetime, *, settled: _Fold | None = None
) -> TicketStatus | None:
    """Return the status of the ticket ``state`` at ``as_of``; None for an orphan.

    An orphan (no ``ticket.created`` yet) has no target running and no status. ``settled``
    may be the fold that made ``state`` (``Tracker.last_fold`` after the apply or advance
    that returned it): when it folded these very events up to ``as_of``, its cycles are
    read instead of folding again (which outputs a fold builds never changes its cycles).
    """
    if not any(type(event) is TicketCreated for event in state.events):
        return None
    fold = settled
    if fold is None or fold.events is not state.events or fold.clock != as_of:
        fold = _Fold(tracker, as_of, (), rebuild=True)  # wants no output: builds none
        fold.run(state.ticket_id, state.events)
    fired = _fired(state.emitted)
    since = fold.paused_since
    policy: Policy = tracker.policy
    targets = []
    for cycle in fold.cycles:
        plan = cycle.plan
        fulfilled_at = cycle.fulfilled_at
        # Counted to the fulfilment, to the pause (fixed while it lasts), or else to as_of.
        end = as_of if fulfilled_at is None else fulfilled_at
        state_name: TargetState
        if plan.budget is None:
            state_name = "not_tracked"
        elif cycle.breached:
            state_name = "breached"
        elif fulfilled_at is not None:
            state_name = "met"
        elif since is not None and plan.pausable:
            state_name = "paused"
            end = since
        else:
            state_name = "running"
        elapsed_s = fold.counted_s(cycle, end) if end > cycle.start else 0.0
        target_s = plan.target_seconds
        targets.append(
            TargetStatus(
                target=cycle.target,
                cycle=cycle.number,
                state=state_name,
                commitment=plan.commitment,
                started_at=cycle.start,
                deadline=cycle.deadline,
                target_seconds=target_s,
                elapsed_seconds=elapsed_s,
                remaining_seconds=None if target_s is None else target_s - elapsed_s,
                fulfilled_at=fulfilled_at,
                warnings=fired.get(f"{cycle.target}:{cycle.number}", ()),
            )
        )
    return TicketStatus(
        ticket_id=state.ticket_id,
        customer_id=fold.customer_id,
        tier=fold.tier,
        priority=fold.priority,
        as_of=as_of,
        policy=policy.name,
        policy_sha256=policy.sha256,
        targets=tuple(targets),
    )


def _fired(emitted: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Return the warning thresholds fired per ``<target>:<cycle>``, from emitted output keys."""
    fired: dict[str, list[str]] = {}
    for key in emitted:
        target, number, what = key.split(":", 2)
        if what not in _NOT_WARNINGS:
            fired.setdefault(f"{target}:{number}", []).append(what)
    return {stem: tuple(sorted(texts)) for stem, texts in fired.items()}

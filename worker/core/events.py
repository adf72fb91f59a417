"""Frozen, slotted dataclasses for every input and output event.

Core module: standard library only. The wire format (JSON field names, timestamps as
RFC 3339 text) lives in ``worker/edge/codec.py``; here instants are timezone-aware ``datetime``
values (UTC for everything the core creates) and durations are seconds.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final, Literal, get_args

__all__ = [
    "DEAD_LETTER_REASONS",
    "INPUT_TYPES",
    "OUTPUT_TYPES",
    "Commitment",
    "DeadLetter",
    "DeadLetterReason",
    "InputEvent",
    "Outcome",
    "OutputEvent",
    "PublishedOutput",
    "SlaBreached",
    "SlaLateFulfilment",
    "SlaOutcome",
    "SlaWarning",
    "TargetFulfilled",
    "TicketCreated",
    "TicketEvent",
    "TicketPaused",
    "TicketReopened",
    "TicketResolved",
    "TicketResponded",
    "TicketResumed",
    "TicketUpdated",
    "published",
]

Commitment = Literal["sla", "slo", "none"]
Outcome = Literal["met", "breached"]

# Why an input message goes to the dead-letter topic (docs/events.md). The one list: the
# codec's rejections, the dead-letter event and the ``sla_dead_letters`` metric's label
# values all derive from it.
DeadLetterReason = Literal[
    "invalid_json",
    "invalid_event",
    "unknown_tier",
    "unknown_priority",
    "key_mismatch",
    "too_large",
    "processing_error",
    "state_too_large",
]
DEAD_LETTER_REASONS: Final[tuple[DeadLetterReason, ...]] = get_args(DeadLetterReason)
"""Every dead-letter reason, in the order above."""


# --- input ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketEvent:
    """Fields every input event carries."""

    type: ClassVar[str]
    event_id: str
    ticket_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketCreated(TicketEvent):
    """A ticket was opened: starts ``first_response`` and the first ``resolution`` cycle."""

    type: ClassVar[str] = "ticket.created"
    tier: str
    priority: str
    customer_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketResponded(TicketEvent):
    """An agent answered; the first one fulfils ``first_response``."""

    type: ClassVar[str] = "ticket.responded"
    actor: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketUpdated(TicketEvent):
    """Tier and/or priority changed: running targets are re-evaluated from their start."""

    type: ClassVar[str] = "ticket.updated"
    tier: str | None = None
    priority: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketPaused(TicketEvent):
    """Waiting on the customer: pausable targets stop counting."""

    type: ClassVar[str] = "ticket.paused"


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketResumed(TicketEvent):
    """The customer answered: pausable targets count again."""

    type: ClassVar[str] = "ticket.resumed"


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketResolved(TicketEvent):
    """Fulfils ``resolution``, and ``first_response`` if it is still running."""

    type: ClassVar[str] = "ticket.resolved"


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketReopened(TicketEvent):
    """A resolved ticket came back: starts a new ``resolution`` cycle."""

    type: ClassVar[str] = "ticket.reopened"


InputEvent = (
    TicketCreated
    | TicketResponded
    | TicketUpdated
    | TicketPaused
    | TicketResumed
    | TicketResolved
    | TicketReopened
)

INPUT_TYPES: dict[str, type[TicketEvent]] = {
    cls.type: cls
    for cls in (
        TicketCreated,
        TicketResponded,
        TicketUpdated,
        TicketPaused,
        TicketResumed,
        TicketResolved,
        TicketReopened,
    )
}


# --- output --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaEvent:
    """Fields every SLA output carries (docs/events.md).

    ``customer_id`` is the ticket's, from its creation (None when it had none): consumers
    route an output to the customer's account team by it.
    """

    type: ClassVar[str]
    ticket_id: str
    customer_id: str | None = None
    tier: str
    priority: str
    target: str
    cycle: int
    commitment: Commitment
    started_at: datetime
    deadline: datetime | None
    target_seconds: int | None
    policy: str

    @property
    def id(self) -> str:
        """Deterministic id ``<ticket>:<target>:<cycle>`` that consumers deduplicate by."""
        return f"{self.ticket_id}:{self.target}:{self.cycle}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaWarning(SlaEvent):
    """An impending-breach warning: ``threshold`` of the budget is used."""

    type: ClassVar[str] = "sla.warning"
    threshold: str
    detected_at: datetime
    remaining_seconds: float

    @property
    def id(self) -> str:
        """Deterministic id ``<ticket>:<target>:<cycle>:<threshold>``."""
        return f"{self.ticket_id}:{self.target}:{self.cycle}:{self.threshold}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaBreached(SlaEvent):
    """The clock passed the deadline with the target unfulfilled. Final once emitted."""

    type: ClassVar[str] = "sla.breached"
    detected_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaOutcome(SlaEvent):
    """The final outcome of one target cycle: ``met`` at fulfilment, ``breached`` at breach."""

    type: ClassVar[str] = "sla.outcome"
    outcome: Outcome
    fulfilled_at: datetime | None
    elapsed_seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetFulfilled(SlaEvent):
    """Internal observation: a target cycle was fulfilled.

    Emitted once per fulfilled cycle, on time or late, and for tiers without a deadline
    too; metrics observe ``elapsed_seconds`` (counted time) from it. Published only when late
    (``met is False``), as an :class:`SlaLateFulfilment` (see :func:`published`).
    """

    type: ClassVar[str] = "sla.fulfilled"
    fulfilled_at: datetime
    elapsed_seconds: float
    met: bool | None  # None when the target had no deadline


OutputEvent = SlaWarning | SlaBreached | SlaOutcome | TargetFulfilled


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaLateFulfilment(SlaEvent):
    """A breached target cycle was fulfilled after all: when, and how far over its target.

    Published on the outcome topic after the cycle's ``breached`` outcome; built from the
    internal :class:`TargetFulfilled` by :func:`published`, never by the tracker.
    """

    type: ClassVar[str] = "sla.late_fulfilment"
    fulfilled_at: datetime
    elapsed_seconds: float  # counted seconds from the start to the fulfilment
    over_seconds: float  # counted seconds past the target: elapsed - target, at least 0

    @property
    def id(self) -> str:
        """Deterministic id ``<ticket>:<target>:<cycle>:late``."""
        return f"{self.ticket_id}:{self.target}:{self.cycle}:late"

    @property
    def outcome_id(self) -> str:
        """The id of the cycle's ``breached`` outcome, ``<ticket>:<target>:<cycle>``."""
        return f"{self.ticket_id}:{self.target}:{self.cycle}"


PublishedOutput = SlaWarning | SlaBreached | SlaOutcome | SlaLateFulfilment
"""What the worker publishes (and ``simulate`` prints) of the tracker's outputs."""


def published(output: OutputEvent) -> PublishedOutput | None:
    """Return what ``output`` is published as, or None when it stays internal.

    The one place that decides it, for the worker and ``simulate`` alike: warnings, breaches
    and outcomes are published as they are; a fulfilment of a cycle that had breached
    (``met is False``) as an :class:`SlaLateFulfilment`; every other fulfilment (met on
    time, or of a target without a deadline) is an internal observation only.
    """
    if not isinstance(output, TargetFulfilled):
        return output
    if output.met is not False:
        return None
    elapsed_s = output.elapsed_seconds
    return SlaLateFulfilment(
        ticket_id=output.ticket_id,
        customer_id=output.customer_id,
        tier=output.tier,
        priority=output.priority,
        target=output.target,
        cycle=output.cycle,
        commitment=output.commitment,
        started_at=output.started_at,
        deadline=output.deadline,
        target_seconds=output.target_seconds,
        policy=output.policy,
        fulfilled_at=output.fulfilled_at,
        elapsed_seconds=elapsed_s,
        over_seconds=max(0.0, elapsed_s - (output.target_seconds or 0)),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """An input message that could not be processed, kept with its exact bytes."""

    type: ClassVar[str] = "sla.dead_letter"
    reason: DeadLetterReason
    error: str
    topic: str
    partition: int
    offset: int
    timestamp: datetime | None
    key: bytes | None
    payload: bytes


OUTPUT_TYPES: dict[str, type] = {
    cls.type: cls for cls in (SlaWarning, SlaBreached, SlaOutcome, SlaLateFulfilment, DeadLetter)
}

"""A ticket's state as a value (:class:`TicketState`), and the event-time order of its events.

Core module: standard library and ``worker.core.events`` only (no asyncio, faust, os, logging,
no clock reading). The tracker (``worker/core/tracker.py``) returns these values and the shell
stores them (``worker/edge/state_codec.py``); :class:`RunningTarget` is what metrics see of a
target cycle still open. Compiled with mypyc with the tracker (``make native``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, NamedTuple

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

__all__ = ["RunningTarget", "TicketState", "event_order"]

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


@dataclass(slots=True, init=False)
class TicketState:
    """What is stored per ticket: its events in event-time order and what was emitted.

    ``emitted`` holds the keys of the outputs already emitted (``<target>:<cycle>:<what>``),
    sorted. ``due_at`` is the next instant at which ``Tracker.advance`` has something to do
    (a warning, a breach, or forgetting the ticket); ``None`` when nothing is scheduled.
    ``running`` lists the target cycles still open (derived; kept for metrics).

    A value: transitions return a new state and never change one, and nothing else may.
    It is not a frozen dataclass for speed alone: a frozen dataclass's ``__init__`` sets each
    field through ``object.__setattr__``, which cost a microsecond per state once the
    tracker is compiled (``make native``), 25 times this plain ``__init__``; and a state is
    made for nearly every event.
    """

    ticket_id: str
    events: tuple[InputEvent, ...]
    emitted: tuple[str, ...]
    due_at: datetime | None
    running: tuple[RunningTarget, ...]

    def __init__(
        self,
        ticket_id: str,
        events: tuple[InputEvent, ...],
        emitted: tuple[str, ...] = (),
        due_at: datetime | None = None,
        running: tuple[RunningTarget, ...] = (),
    ) -> None:
        self.ticket_id = ticket_id
        self.events = events
        self.emitted = emitted
        self.due_at = due_at
        self.running = running

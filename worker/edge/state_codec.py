"""The stored-state codec: a ticket's ``TicketState`` <-> the bytes of its table value.

Edge module: the state changelog's format lives here, and only here. Documents are
versioned (``{"v": 1, ...}``) so a stored state survives an upgrade; the event codec
(``worker.edge.codec``) owns the wire format of Kafka messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import msgspec

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
from worker.core.ticket_state import RunningTarget, TicketState
from worker.edge.documents import StateDocument, StateSummaryDocument

__all__ = [
    "STATE_VERSION",
    "LastEmission",
    "StateSummary",
    "decode_state",
    "encode_state",
    "peek_state",
]

_JSON_ENCODER: Final = msgspec.json.Encoder()

# --- tracker state -------------------------------------------------------------------------
# The per-ticket state stored in the changelog-backed table, as versioned documents
# ``{"v": 1, ...}`` so a stored state survives an upgrade (docs/architecture.md). Instants are
# integer microseconds since the epoch (exact, compact); events are short arrays. Beside
# the tracker's state the document carries what the shell needs without decoding it all:
# the partition ``p``, the due instant, when the ticket last emitted (``emit_at``, epoch
# seconds) and which input message or tick made it emit (``src``: topic and offset; absent in
# states written before it was added), and its running targets (for the index, the gauges
# and the re-publication rebuilt after a rebalance).

STATE_VERSION: Final = 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_EVENT_CODES: Final[dict[type, int]] = {
    TicketCreated: 0,
    TicketResponded: 1,
    TicketUpdated: 2,
    TicketPaused: 3,
    TicketResumed: 4,
    TicketResolved: 5,
    TicketReopened: 6,
}
_PLAIN_BY_CODE: Final[dict[int, type]] = {
    3: TicketPaused,
    4: TicketResumed,
    5: TicketResolved,
    6: TicketReopened,
}


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _event_row(event: InputEvent) -> list[object]:
    row: list[object] = [_EVENT_CODES[type(event)], event.event_id, _micros(event.occurred_at)]
    if isinstance(event, TicketCreated):
        row += [event.tier, event.priority, event.customer_id]
    elif isinstance(event, TicketResponded):
        row.append(event.actor)
    elif isinstance(event, TicketUpdated):
        row += [event.tier, event.priority]
    return row


def _event_from_row(ticket_id: str, row: list[Any]) -> InputEvent:
    code, event_id, micros = row[0], row[1], row[2]
    at = _instant(micros)
    if code == 0:
        return TicketCreated(
            event_id=event_id,
            ticket_id=ticket_id,
            occurred_at=at,
            tier=row[3],
            priority=row[4],
            customer_id=row[5],
        )
    if code == 1:
        return TicketResponded(event_id=event_id, ticket_id=ticket_id, occurred_at=at, actor=row[3])
    if code == 2:
        return TicketUpdated(
            event_id=event_id, ticket_id=ticket_id, occurred_at=at, tier=row[3], priority=row[4]
        )
    kind = _PLAIN_BY_CODE[code]
    event: InputEvent = kind(event_id=event_id, ticket_id=ticket_id, occurred_at=at)
    return event


class LastEmission(NamedTuple):
    """When a ticket last emitted outputs, and the message that made it (see ``encode_state``).

    ``topic`` and ``offset`` name the input message or deadline tick whose processing emitted
    them, on the ticket's partition; both are None in states stored before they were kept.
    """

    at: float  # epoch seconds
    topic: str | None = None
    offset: int | None = None


def encode_state(state: TicketState, *, partition: int, emitted: LastEmission | None) -> bytes:
    """Return the table value of a ticket's state (versioned, compact JSON)."""
    source = None
    if emitted is not None and emitted.topic is not None and emitted.offset is not None:
        source = [emitted.topic, emitted.offset]
    document = {
        "v": STATE_VERSION,
        "p": partition,
        "due": None if state.due_at is None else _micros(state.due_at),
        "emit_at": None if emitted is None else emitted.at,
        "src": source,
        "run": [
            [
                r.tier,
                r.priority,
                r.target,
                None if r.deadline is None else _micros(r.deadline),
                r.paused,
            ]
            for r in state.running
        ],
        "id": state.ticket_id,
        "emitted": sorted(state.emitted),
        "events": [_event_row(event) for event in state.events],
    }
    return _JSON_ENCODER.encode(document)


_SUMMARY_DECODER: Final = msgspec.json.Decoder(StateSummaryDocument)
_STATE_DECODER: Final = msgspec.json.Decoder(StateDocument)


@dataclass(frozen=True, slots=True)
class StateSummary:
    """What the shell reads of a stored state without decoding its events."""

    partition: int
    due_at: datetime | None
    emitted: LastEmission | None
    running: tuple[RunningTarget, ...]


def _check_version(version: int) -> None:
    if version != STATE_VERSION:
        raise ValueError(
            f"stored ticket state has version {version}; this worker reads {STATE_VERSION}: "
            "upgrade the worker"
        )


def _running(rows: list[tuple[str, str, str, int | None, bool]]) -> tuple[RunningTarget, ...]:
    return tuple(
        RunningTarget(tier, priority, target, None if at is None else _instant(at), paused)
        for tier, priority, target, at, paused in rows
    )


def peek_state(value: bytes) -> StateSummary:
    """Return the partition, due instant, last emission and running targets of a state."""
    summary = _SUMMARY_DECODER.decode(value)
    _check_version(summary.v)
    return StateSummary(
        partition=summary.p,
        due_at=None if summary.due is None else _instant(summary.due),
        emitted=_last_emission(summary),
        running=_running(summary.run),
    )


def _last_emission(summary: StateSummaryDocument) -> LastEmission | None:
    if summary.emit_at is None:
        return None
    if summary.src is None:
        return LastEmission(summary.emit_at)
    return LastEmission(summary.emit_at, *summary.src)


def decode_state(value: bytes) -> tuple[TicketState, LastEmission | None]:
    """Return a stored ticket state and its last emission (None if it never emitted)."""
    document = _STATE_DECODER.decode(value)
    _check_version(document.v)
    state = TicketState(
        ticket_id=document.id,
        events=tuple(_event_from_row(document.id, row) for row in document.events),
        emitted=tuple(sorted(set(document.emitted))),
        due_at=None if document.due is None else _instant(document.due),
        running=_running(document.run),
    )
    return state, _last_emission(document)

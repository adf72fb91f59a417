"""The msgspec Struct types of the codecs' typed decoding: outcomes and stored states.

Edge module, no I/O. Kept apart from ``worker.edge.codec`` and ``worker.edge.state_codec``,
which mypyc compiles (``make native``) and which cannot define Struct classes (their class
keywords); the codecs decode into these types and own the formats they describe.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = ["LateFields", "OutcomeFields", "StateDocument", "StateSummaryDocument"]


class _CommonFields(msgspec.Struct):
    """The fields every SLA output carries (``customer_id`` aside: see the subclasses)."""

    ticket_id: str
    tier: str
    priority: str
    target: str
    cycle: int
    commitment: Literal["sla", "slo", "none"]
    started_at: str
    deadline: str | None
    target_seconds: int | None
    policy: str


class OutcomeFields(_CommonFields):
    """The fields of an ``sla.outcome`` message that make an :class:`SlaOutcome` (typed)."""

    outcome: Literal["met", "breached"]
    fulfilled_at: str | None
    elapsed_seconds: float
    customer_id: str | None = None  # absent from outcomes written before it existed


class LateFields(_CommonFields):
    """The fields of an ``sla.late_fulfilment`` message (typed; ``customer_id`` required)."""

    customer_id: str | None
    fulfilled_at: str
    elapsed_seconds: float
    over_seconds: float


class StateSummaryDocument(msgspec.Struct, frozen=True):
    """What ``peek_state`` reads of a stored state (worker.edge.state_codec)."""

    v: int
    p: int
    due: int | None
    emit_at: float | None
    run: list[tuple[str, str, str, int | None, bool]]
    src: tuple[str, int] | None = None


class StateDocument(StateSummaryDocument, frozen=True, kw_only=True):
    """A whole stored state (worker.edge.state_codec)."""

    id: str
    emitted: list[str]
    events: list[list[Any]]

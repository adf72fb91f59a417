"""The wire codec: Kafka message bytes <-> ``worker.core.events`` values.

This edge is the only module that knows the wire format (docs/events.md and the JSON
Schemas under ``schemas/``). It decodes input messages into the frozen event dataclasses,
or into a :class:`Rejected` value saying which dead-letter reason applies and why; it
encodes SLA outputs, dead letters and (for ``produce``, ``loadgen`` and tests) input events.
It never raises on bad input: a bad message is a value, routed to the dead-letter topic.

Decisions (the schemas say the same, and ``tests/unit/test_event_schemas.py`` checks that
the codec accepts exactly what they accept):

- Inputs are UTF-8 JSON objects. Unknown extra fields are ignored; nothing else is lenient.
- ``event_id``, ``ticket_id``, ``tier`` and ``priority`` are strings of 1 to 256 characters
  without control characters (U+0000-U+001F, U+007F); ``customer_id`` and ``actor`` are
  strings of at most 256 characters, or null.
- Timestamps are RFC 3339 with an offset (``Z`` or ``+hh:mm``/``-hh:mm``; ``T``/``t`` and
  ``Z``/``z`` both accepted), a real calendar date with a year from 1970 to 2999 as written,
  no leap second. Fractional seconds may have any number of digits (Go and Java write
  nanoseconds); digits past the microsecond are truncated. Decoded instants are UTC.
- ``schema_version`` is optional; when present it must be 1.
- Decoded ticket ids, tiers, priorities, customer ids and actors are interned
  (``sys.intern``): the events a worker or a replay holds then share one copy of each,
  where each event used to carry its own.
- A message without a Kafka key is a ``key_mismatch``: the key is what places all of a
  ticket's events on one partition, so a keyless event could be tracked on the wrong one.
- Outputs are compact JSON with a fixed key order (``customer_id`` right after
  ``ticket_id``, null when the ticket's creation had none); instants are UTC ``...Z`` with
  microseconds (6 digits) only when not on a whole second; second counts are integers when
  whole, otherwise rounded to the microsecond.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from sys import intern
from typing import Any, Final, TypeVar, overload

import msgspec

from worker.core.events import (
    DeadLetter,
    DeadLetterReason,
    InputEvent,
    PublishedOutput,
    SlaBreached,
    SlaLateFulfilment,
    SlaOutcome,
    SlaWarning,
    TicketCreated,
    TicketPaused,
    TicketReopened,
    TicketResolved,
    TicketResponded,
    TicketResumed,
    TicketUpdated,
)
from worker.core.status import TicketStatus
from worker.edge.documents import LateFields, OutcomeFields

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_NAME_LENGTH",
    "MAX_YEAR",
    "MIN_YEAR",
    "SCHEMA_VERSION",
    "InvalidLine",
    "RejectReason",
    "Rejected",
    "Unreadable",
    "check_references",
    "decode_event",
    "decode_message",
    "decode_outcome",
    "encode_dead_letter",
    "encode_input",
    "encode_output",
    "encode_status",
    "format_timestamp",
    "outcome_lines",
    "output_to_dict",
    "parse_timestamp",
    "status_to_dict",
    "wire_instant",
]

# Kafka's default broker and topic limit (message.max.bytes) is about 1 MiB, so a larger
# value was produced against raised limits and is no ticket event; the bound also caps the
# memory and time a single hostile message can cost. Checked before any byte is parsed.
MAX_MESSAGE_BYTES: Final = 1_048_576
# Ids, tiers and priorities end up in state keys, logs and (tier, priority) metric labels;
# 256 characters is far above any real id and keeps one bad producer from bloating them.
MAX_NAME_LENGTH: Final = 256
# Event times outside these years are producer bugs (a seconds/milliseconds mix-up, a
# "0001-01-01" or "9999-12-31" placeholder); rejecting them also keeps every deadline the
# core computes far from the limits of ``datetime``.
MIN_YEAR: Final = 1970
MAX_YEAR: Final = 2999
# The only version of the input and output formats this worker reads and writes.
SCHEMA_VERSION: Final = 1
# Quoted values in rejection messages are cut to this many characters: enough to recognise
# the value, short enough that a dead letter's ``error`` stays one readable line.
_QUOTE_LIMIT: Final = 60

RejectReason = DeadLetterReason
"""Why a message is rejected: a dead-letter reason (defined once, in ``worker.core.events``)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that is not a valid event: the dead-letter ``reason`` and a one-line ``error``.

    ``error`` names the field first (``"occurred_at: timestamp without an offset: '...'"``),
    quotes at most 60 characters of a bad value and escapes control characters.
    """

    reason: RejectReason
    error: str


@dataclass(frozen=True, slots=True)
class InvalidLine:
    """A line of an event log (JSON lines) that is not a valid event for the policy."""

    line: int
    reason: str
    error: str


# --- timestamps ----------------------------------------------------------------------------

# RFC 3339 date-time with an offset. Field ranges are checked here, the calendar (February
# 30th) and the year range after the match. [0-9], not \d: \d also matches other scripts'
# digits. The schemas' pattern is the same, with the calendar spelled out.
_LOCAL_PART = (
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
)
_TIMESTAMP = re.compile(_LOCAL_PART + r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
_LOCAL_TIMESTAMP = re.compile(_LOCAL_PART)


def parse_timestamp(text: str) -> datetime:
    """Return the UTC instant an RFC 3339 timestamp with an offset denotes.

    Raise ValueError with a one-line message (quoting ``text``) when it is not one, lacks an
    offset, names a day that does not exist or a year outside 1970..2999.
    """
    if _TIMESTAMP.fullmatch(text) is None:
        if _LOCAL_TIMESTAMP.fullmatch(text) is not None:
            raise ValueError(f"timestamp without an offset: {_quote(text)}")
        raise ValueError(
            "not an RFC 3339 timestamp with an offset "
            f"(YYYY-MM-DDThh:mm:ss[.fraction] then Z or +hh:mm): {_quote(text)}"
        )
    year = int(text[:4])
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year {year} is outside {MIN_YEAR}..{MAX_YEAR}: {_quote(text)}")
    if text[-1] == "z":
        # The only lower-case letter fromisoformat does not take; the match put it last.
        text = text[:-1] + "Z"
    try:
        # The match above admits only RFC 3339, which fromisoformat reads in C, truncating
        # fractions past microseconds. It still rejects days a month does not have.
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"invalid date ({exc}): {_quote(text)}") from None
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    """Return ``moment`` as UTC RFC 3339 text ending in ``Z``, with microseconds if non-zero.

    Raise ValueError for a naive datetime: it names no instant.
    """
    if moment.tzinfo is not UTC:
        if moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment.isoformat()!r} has no offset")
        moment = moment.astimezone(UTC)
    # isoformat() of a datetime in UTC always ends in "+00:00".
    return moment.isoformat()[:-6] + "Z"


def wire_instant(moment: datetime) -> datetime:
    """Return ``moment`` in UTC, for an encoder to write: the text of :func:`format_timestamp`.

    msgspec writes a UTC datetime in C as RFC 3339 ending in ``Z``, with microseconds if
    non-zero: the same text, without building a string per instant in Python (the status
    of a ticket has up to a dozen instants). Raise ValueError for a naive datetime.
    """
    if moment.tzinfo is UTC:
        return moment
    if moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()!r} has no offset")
    return moment.astimezone(UTC)


# --- input: decoding -------------------------------------------------------------------------

# One decoder, built once: msgspec parses into plain dicts in C, validating UTF-8 and JSON
# syntax. The field checks below are ours, in one place, so that every rejection names its
# field and quotes its value. (Typed msgspec Structs measured only ~15% faster end to end:
# the timestamp and the frozen dataclasses cost the same either way, and a second
# validator would be needed to explain their errors.)
_JSON_DECODER: Final = msgspec.json.Decoder()
_JSON_ENCODER: Final = msgspec.json.Encoder()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MISSING: Final[Any] = object()

_JSON_TYPES: Final = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


class _FieldError(Exception):
    """A field of the event is invalid; ``str()`` is the one-line rejection message."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")


def decode_event(value: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> InputEvent | Rejected:
    """Decode one input message into its event, or say why it must be dead-lettered.

    Checks the size before reading anything (``too_large``), then the JSON (``invalid_json``),
    then the fields of the event's type (``invalid_event``). Never raises for any ``value``.
    Policy references and the Kafka key are checked by :func:`decode_message`.
    """
    if len(value) > max_bytes:
        return Rejected("too_large", f"message of {len(value)} bytes exceeds {max_bytes} bytes")
    try:
        document = _JSON_DECODER.decode(value)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return Rejected("invalid_json", _json_problem(value, exc))
    except RecursionError:
        return Rejected("invalid_json", "not JSON: nested too deeply")
    if type(document) is not dict:
        return Rejected("invalid_json", f"expected a JSON object, got {_json_type(document)}")
    try:
        return _read_event(document)
    except _FieldError as exc:
        return Rejected("invalid_event", str(exc))


def _json_problem(value: bytes, exc: Exception) -> str:
    """Say why ``value`` could not be parsed: not UTF-8 (where), or not JSON (msgspec's why)."""
    try:
        value.decode()
    except UnicodeDecodeError as bad:
        return f"not UTF-8: {bad.reason} at byte {bad.start}"
    return f"not JSON: {_one_line(str(exc)).removeprefix('JSON is malformed: ')}"


def decode_message(
    key: bytes | None,
    value: bytes,
    *,
    tiers: Container[str],
    priorities: Container[str],
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> InputEvent | Rejected:
    """Decode a Kafka message as :func:`decode_event` does, then check its key and policy.

    The key must be the event's ``ticket_id`` encoded in UTF-8; a missing key is a
    ``key_mismatch`` too. Then :func:`check_references` applies.
    """
    event = decode_event(value, max_bytes=max_bytes)
    if isinstance(event, Rejected):
        return event
    if key is None:
        return Rejected(
            "key_mismatch", f"key: missing; expected the ticket_id {_quote(event.ticket_id)}"
        )
    if key != event.ticket_id.encode():
        shown = _quote(key.decode(errors="backslashreplace"))
        return Rejected(
            "key_mismatch", f"key: {shown} is not the ticket_id {_quote(event.ticket_id)}"
        )
    return check_references(event, tiers=tiers, priorities=priorities) or event


def check_references(
    event: InputEvent, *, tiers: Container[str], priorities: Container[str]
) -> Rejected | None:
    """Return the rejection of an event naming a tier or priority the policy lacks, else None.

    Only ``ticket.created`` and ``ticket.updated`` name them; the tier is checked first.
    """
    if isinstance(event, TicketCreated | TicketUpdated):
        if event.tier is not None and event.tier not in tiers:
            return Rejected(
                "unknown_tier", f"tier: {_quote(event.tier)} is not a tier of the policy"
            )
        if event.priority is not None and event.priority not in priorities:
            return Rejected(
                "unknown_priority",
                f"priority: {_quote(event.priority)} is not a priority of the policy",
            )
    return None


def _read_event(document: dict[str, Any]) -> InputEvent:
    """Build the event ``document`` describes; raise _FieldError naming the first bad field.

    Fields are checked in a fixed order: ``schema_version``, ``type``, ``event_id``,
    ``ticket_id``, ``occurred_at``, then those of the type.
    """
    version = document.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION or type(version) is bool:
        raise _FieldError(
            "schema_version",
            f"unsupported version {_show(version)}; this worker reads {SCHEMA_VERSION}",
        )
    kind = document.get("type", _MISSING)
    reader = _READERS.get(kind) if type(kind) is str else None
    if reader is None:
        raise _FieldError("type", _type_problem(kind))
    return reader(
        document,
        _name(document, "event_id"),
        intern(_name(document, "ticket_id")),
        _timestamp(document, "occurred_at"),
    )


def _type_problem(kind: object) -> str:
    if kind is _MISSING:
        return "missing"
    if type(kind) is not str:
        return f"expected a string, got {_json_type(kind)}"
    return f"unknown event type {_quote(kind)} (expected one of {', '.join(_READERS)})"


def _name(document: dict[str, Any], field: str) -> str:
    """Return the id-like string ``field`` (1..256 characters, no control characters)."""
    value = document.get(field)
    if (
        type(value) is str
        and 0 < len(value) <= MAX_NAME_LENGTH
        # In ASCII the only unprintable characters are the controls, and isprintable() is
        # several times faster than the regular expression, which non-ASCII names need.
        and (value.isprintable() if value.isascii() else _CONTROL.search(value) is None)
    ):
        return value
    raise _FieldError(field, _name_problem(document.get(field, _MISSING)))


def _name_problem(value: object) -> str:
    if value is _MISSING:
        return "missing"
    if type(value) is not str:
        return f"expected a string, got {_json_type(value)}"
    if not value:
        return "empty"
    if len(value) > MAX_NAME_LENGTH:
        return f"{len(value)} characters, more than {MAX_NAME_LENGTH}: {_quote(value)}"
    return f"contains a control character: {_quote(value)}"


def _optional_text(document: dict[str, Any], field: str) -> str | None:
    """Return the optional string-or-null ``field`` (None when absent), interned.

    At most 256 characters, as names: the value is kept in the ticket's stored state, and an
    unbounded one would make the state (and its changelog record) as large as the message.
    """
    value: object = document.get(field)
    if value is None:
        return None
    if type(value) is str:
        if len(value) > MAX_NAME_LENGTH:
            raise _FieldError(
                field, f"{len(value)} characters, more than {MAX_NAME_LENGTH}: {_quote(value)}"
            )
        return intern(value)
    raise _FieldError(field, f"expected a string or null, got {_json_type(value)}")


def _timestamp(document: dict[str, Any], field: str) -> datetime:
    """Return the RFC 3339 timestamp ``field`` as a UTC datetime."""
    value = document.get(field, _MISSING)
    if type(value) is not str:
        raise _FieldError(
            field, "missing" if value is _MISSING else f"expected a string, got {_json_type(value)}"
        )
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise _FieldError(field, str(exc)) from None


def _created(document: dict[str, Any], event_id: str, ticket_id: str, at: datetime) -> InputEvent:
    return TicketCreated(
        event_id=event_id,
        ticket_id=ticket_id,
        occurred_at=at,
        tier=intern(_name(document, "tier")),
        priority=intern(_name(document, "priority")),
        customer_id=_optional_text(document, "customer_id"),
    )


def _responded(document: dict[str, Any], event_id: str, ticket_id: str, at: datetime) -> InputEvent:
    return TicketResponded(
        event_id=event_id,
        ticket_id=ticket_id,
        occurred_at=at,
        actor=_optional_text(document, "actor"),
    )


def _updated(document: dict[str, Any], event_id: str, ticket_id: str, at: datetime) -> InputEvent:
    tier = intern(_name(document, "tier")) if "tier" in document else None
    priority = intern(_name(document, "priority")) if "priority" in document else None
    if tier is None and priority is None:
        raise _FieldError("tier/priority", "missing; ticket.updated needs at least one of them")
    return TicketUpdated(
        event_id=event_id, ticket_id=ticket_id, occurred_at=at, tier=tier, priority=priority
    )


def _plain(
    cls: type[TicketPaused | TicketResumed | TicketResolved | TicketReopened],
) -> Callable[[dict[str, Any], str, str, datetime], InputEvent]:
    """Return the reader of a type that carries only the common fields."""

    def read(_document: dict[str, Any], event_id: str, ticket_id: str, at: datetime) -> InputEvent:
        return cls(event_id=event_id, ticket_id=ticket_id, occurred_at=at)

    return read


_READERS: Final[dict[str, Callable[[dict[str, Any], str, str, datetime], InputEvent]]] = {
    TicketCreated.type: _created,
    TicketResponded.type: _responded,
    TicketUpdated.type: _updated,
    TicketPaused.type: _plain(TicketPaused),
    TicketResumed.type: _plain(TicketResumed),
    TicketResolved.type: _plain(TicketResolved),
    TicketReopened.type: _plain(TicketReopened),
}


# --- input: encoding -------------------------------------------------------------------------


def encode_input(event: InputEvent) -> bytes:
    """Return the wire JSON of an input event (for ``produce``, ``loadgen`` and tests).

    Optional fields that are None are left out; ``occurred_at`` is written in UTC. The
    event is not validated: :func:`decode_event` is the judge of what is valid.
    """
    document: dict[str, object] = {
        "type": event.type,
        "schema_version": SCHEMA_VERSION,
        "event_id": event.event_id,
        "ticket_id": event.ticket_id,
        "occurred_at": format_timestamp(event.occurred_at),
    }
    if isinstance(event, TicketCreated):
        document["tier"] = event.tier
        document["priority"] = event.priority
        if event.customer_id is not None:
            document["customer_id"] = event.customer_id
    elif isinstance(event, TicketResponded):
        if event.actor is not None:
            document["actor"] = event.actor
    elif isinstance(event, TicketUpdated):
        if event.tier is not None:
            document["tier"] = event.tier
        if event.priority is not None:
            document["priority"] = event.priority
    return _JSON_ENCODER.encode(document)


# --- output ----------------------------------------------------------------------------------


def output_to_dict(event: PublishedOutput) -> dict[str, object]:
    """Return the JSON-ready content of an output event, keys in wire order.

    Raise TypeError for anything else (``TargetFulfilled`` has no wire form: a late one is
    published as the ``SlaLateFulfilment`` that ``worker.core.events.published`` makes).
    """
    return _output_document(event, format_timestamp)


def encode_output(event: PublishedOutput) -> bytes:
    """Return the wire JSON of an output event: compact, keys in a fixed order, UTC ``Z``.

    The instants go to the encoder as UTC datetimes (:func:`wire_instant`): the text of
    :func:`output_to_dict`, written in C.
    """
    return _JSON_ENCODER.encode(_output_document(event, wire_instant))


def _output_document(
    event: PublishedOutput, instant: Callable[[datetime], object]
) -> dict[str, object]:
    if not isinstance(event, SlaWarning | SlaBreached | SlaOutcome | SlaLateFulfilment):
        raise TypeError(f"not a published output event: {type(event).__name__}")
    document: dict[str, object] = {
        "id": event.id,
        "type": event.type,
        "ticket_id": event.ticket_id,
        "customer_id": event.customer_id,
        "tier": event.tier,
        "priority": event.priority,
        "target": event.target,
        "cycle": event.cycle,
        "commitment": event.commitment,
        "started_at": instant(event.started_at),
        "deadline": None if event.deadline is None else instant(event.deadline),
        "target_seconds": event.target_seconds,
        "policy": event.policy,
    }
    if isinstance(event, SlaWarning):
        document["threshold"] = event.threshold
        document["detected_at"] = instant(event.detected_at)
        document["remaining_seconds"] = _seconds(event.remaining_seconds)
    elif isinstance(event, SlaBreached):
        document["detected_at"] = instant(event.detected_at)
    elif isinstance(event, SlaLateFulfilment):
        document["fulfilled_at"] = instant(event.fulfilled_at)
        document["elapsed_seconds"] = _seconds(event.elapsed_seconds)
        document["over_seconds"] = _seconds(event.over_seconds)
    else:
        document["outcome"] = event.outcome
        document["fulfilled_at"] = (
            None if event.fulfilled_at is None else instant(event.fulfilled_at)
        )
        document["elapsed_seconds"] = _seconds(event.elapsed_seconds)
    return document


def status_to_dict(status: TicketStatus) -> dict[str, object]:
    """Return the content of a ticket's status (``sla.status``), keys in wire order.

    Instants are UTC datetimes (:func:`wire_instant`), which the msgspec encoder writes as
    :func:`format_timestamp` would.
    """
    return {
        "type": "sla.status",
        "ticket_id": status.ticket_id,
        "customer_id": status.customer_id,
        "tier": status.tier,
        "priority": status.priority,
        "as_of": wire_instant(status.as_of),
        "policy": status.policy,
        "policy_sha256": status.policy_sha256 or None,
        "targets": [
            {
                "target": t.target,
                "cycle": t.cycle,
                "state": t.state,
                "commitment": t.commitment,
                "started_at": wire_instant(t.started_at),
                "deadline": None if t.deadline is None else wire_instant(t.deadline),
                "target_seconds": t.target_seconds,
                "elapsed_seconds": _seconds(t.elapsed_seconds),
                "remaining_seconds": (
                    None if t.remaining_seconds is None else _seconds(t.remaining_seconds)
                ),
                "fulfilled_at": (None if t.fulfilled_at is None else wire_instant(t.fulfilled_at)),
                "warnings": list(t.warnings),
            }
            for t in status.targets
        ],
    }


def encode_status(status: TicketStatus) -> bytes:
    """Return the wire JSON of a ticket's status: compact, keys in a fixed order, UTC ``Z``.

    The Kafka key is the ticket id; a ticket forgotten is a tombstone (no value), which the
    shell publishes itself.
    """
    return _JSON_ENCODER.encode(status_to_dict(status))


def encode_dead_letter(dead_letter: DeadLetter, *, detected_at: datetime) -> bytes:
    """Return the wire JSON of a dead letter, keeping the original key and payload exactly.

    Key and payload are written as text when they are valid UTF-8, otherwise in base64
    with ``key_encoding`` / ``payload_encoding`` set to ``"base64"``.
    """
    timestamp = dead_letter.timestamp
    document: dict[str, object] = {
        "type": dead_letter.type,
        "reason": dead_letter.reason,
        "error": dead_letter.error,
        "source": {
            "topic": dead_letter.topic,
            "partition": dead_letter.partition,
            "offset": dead_letter.offset,
            "timestamp": None if timestamp is None else format_timestamp(timestamp),
        },
    }
    _put_bytes(document, "key", dead_letter.key)
    _put_bytes(document, "payload", dead_letter.payload)
    document["detected_at"] = format_timestamp(detected_at)
    return _JSON_ENCODER.encode(document)


# --- output: decoding outcomes (for ``sla-worker report``) ------------------------------------


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message or line that is not an output this codec wrote: where it is, and why."""

    where: str
    error: str


_Fields = TypeVar("_Fields", bound=msgspec.Struct)


def decode_outcome(value: bytes) -> SlaOutcome | SlaLateFulfilment | None:
    """Return the outcome or late fulfilment a message of the outcome topic holds.

    None for a warning or a breach. Reads what :func:`encode_output` writes, and the outcomes
    of earlier versions (without ``customer_id``); unknown extra fields are ignored. Raise
    ValueError with a one-line message naming the problem for anything else.
    """
    try:
        document = _JSON_DECODER.decode(value)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(_json_problem(value, exc)) from None
    if type(document) is not dict:
        raise ValueError(f"expected a JSON object, got {_json_type(document)}")
    kind = document.get("type")
    if kind == SlaLateFulfilment.type:
        late = _convert(document, LateFields)
        return SlaLateFulfilment(
            ticket_id=late.ticket_id,
            customer_id=late.customer_id,
            tier=late.tier,
            priority=late.priority,
            target=late.target,
            cycle=late.cycle,
            commitment=late.commitment,
            started_at=_output_instant("started_at", late.started_at),
            deadline=_output_instant("deadline", late.deadline),
            target_seconds=late.target_seconds,
            policy=late.policy,
            fulfilled_at=_output_instant("fulfilled_at", late.fulfilled_at),
            elapsed_seconds=late.elapsed_seconds,
            over_seconds=late.over_seconds,
        )
    if kind != SlaOutcome.type:
        if kind in (SlaWarning.type, SlaBreached.type):
            return None
        raise ValueError(f"type: not an SLA output: {_show(kind)}")
    fields = _convert(document, OutcomeFields)
    return SlaOutcome(
        ticket_id=fields.ticket_id,
        customer_id=fields.customer_id,
        tier=fields.tier,
        priority=fields.priority,
        target=fields.target,
        cycle=fields.cycle,
        commitment=fields.commitment,
        started_at=_output_instant("started_at", fields.started_at),
        deadline=_output_instant("deadline", fields.deadline),
        target_seconds=fields.target_seconds,
        policy=fields.policy,
        outcome=fields.outcome,
        fulfilled_at=_output_instant("fulfilled_at", fields.fulfilled_at),
        elapsed_seconds=fields.elapsed_seconds,
    )


def _convert(document: dict[str, Any], kind: type[_Fields]) -> _Fields:
    """Return ``document``'s fields as ``kind``; raise ValueError naming the bad field first."""
    try:
        return msgspec.convert(document, kind)
    except msgspec.ValidationError as exc:
        text, found, where = str(exc).rpartition(" - at `$.")
        raise ValueError(f"{where[:-1]}: {text}" if found else str(exc)) from None


@overload
def _output_instant(field: str, text: str) -> datetime: ...
@overload
def _output_instant(field: str, text: str | None) -> datetime | None: ...
def _output_instant(field: str, text: str | None) -> datetime | None:
    """Return the instant ``text`` of an output's ``field`` (None stays None).

    Raise ValueError naming the field when it is not a timestamp.
    """
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None


def outcome_lines(
    lines: Iterable[bytes],
) -> Iterator[SlaOutcome | SlaLateFulfilment | Unreadable]:
    """Yield the outcomes and late fulfilments of a JSON-lines file, and what is unreadable.

    Warnings and breaches (``simulate --json`` prints them too) and blank lines are skipped;
    a line that is no output is an :class:`Unreadable` naming its number.
    """
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            outcome = decode_outcome(line)
        except ValueError as exc:
            yield Unreadable(f"line {number}", str(exc))
            continue
        if outcome is not None:
            yield outcome


def _put_bytes(document: dict[str, object], field: str, data: bytes | None) -> None:
    """Store ``data`` under ``field``: as text if UTF-8, else base64 and ``<field>_encoding``."""
    if data is None:
        document[field] = None
        return
    try:
        document[field] = data.decode()
    except UnicodeDecodeError:
        document[field] = base64.b64encode(data).decode("ascii")
        document[f"{field}_encoding"] = "base64"


def _seconds(value: float) -> float | int:
    """Return a second count for the wire: an integer when whole, else microsecond-rounded."""
    whole = int(value)
    if value == whole:  # most counts are whole seconds: no rounding to do
        return whole
    rounded = round(float(value), 6)
    return int(rounded) if rounded.is_integer() else rounded


# --- messages --------------------------------------------------------------------------------


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _quote(text: str) -> str:
    """Return ``text`` quoted for a one-line message: escaped, cut to 60 characters."""
    if len(text) > _QUOTE_LIMIT:
        return f"{text[:_QUOTE_LIMIT]!r}..."
    return repr(text)


def _show(value: object) -> str:
    """Return a decoded JSON value for a one-line message: strings quoted, scalars as JSON."""
    if type(value) is str:
        return _quote(value)
    if type(value) is list or type(value) is dict:
        return f"of type {_json_type(value)}"
    text = _JSON_ENCODER.encode(value).decode()  # null, true, false or a number: one line
    return text if len(text) <= _QUOTE_LIMIT else f"{text[:_QUOTE_LIMIT]}..."


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text)

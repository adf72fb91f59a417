"""The wire codec: every rejection reason with its field, round trips, exact output bytes."""

import base64
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.events import (
    DeadLetter,
    InputEvent,
    SlaBreached,
    SlaLateFulfilment,
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
from worker.edge import codec
from worker.edge.codec import (
    MAX_MESSAGE_BYTES,
    Rejected,
    RejectReason,
    check_references,
    decode_event,
    decode_message,
    decode_outcome,
    encode_dead_letter,
    encode_input,
    encode_output,
    format_timestamp,
    outcome_lines,
    output_to_dict,
    parse_timestamp,
)

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TIERS = {"premium-enterprise", "enterprise", "business"}
PRIORITIES = {"P1", "P2", "P3", "P4"}
REASONS = set(get_args(RejectReason))
DROP = object()


def doc(kind: str = "ticket.created", **fields: Any) -> dict[str, Any]:
    """A valid input document of ``kind``; ``fields`` override (``DROP`` removes)."""
    base: dict[str, Any] = {
        "type": kind,
        "event_id": "evt-1",
        "ticket_id": "TCK-1",
        "occurred_at": "2026-11-23T10:00:00Z",
    }
    if kind == "ticket.created":
        base |= {"tier": "enterprise", "priority": "P1"}
    if kind == "ticket.updated":
        base |= {"priority": "P2"}
    for name, value in fields.items():
        if value is DROP:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def raw(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def rejected(value: bytes) -> Rejected:
    result = decode_event(value)
    assert isinstance(result, Rejected), result
    return result


# --- rejections: reason and message ---------------------------------------------------------

INVALID_JSON = [
    pytest.param(b"", "not JSON: Input data was truncated", id="empty"),
    pytest.param(b"{", "not JSON: Input data was truncated", id="truncated"),
    pytest.param(b"ticket", "not JSON: invalid character (byte 4)", id="bare-word"),
    pytest.param(b'{"a":1} x', "not JSON: trailing characters (byte 9)", id="trailing"),
    pytest.param(b'{"a":NaN}', "not JSON: invalid character (byte 5)", id="nan"),
    pytest.param(b"\xef\xbb\xbf{}", "not JSON: invalid character (byte 0)", id="utf8-bom"),
    pytest.param(b"\xff{}", "not UTF-8: invalid start byte at byte 0", id="not-utf8-outside"),
    pytest.param(b'{"a":"\xc3("}', "not UTF-8: invalid continuation byte at byte 6", id="bad-utf8"),
    pytest.param(
        b'{"a":"\xed\xa0\x80"}', "not UTF-8: invalid continuation byte at byte 6", id="surrogate"
    ),
    pytest.param(b'{"\xfe":1}', "not UTF-8: invalid start byte at byte 2", id="bad-utf8-key"),
    pytest.param(b'{"a":1e999}', "not JSON: Number out of range - at `$[...]`", id="huge-float"),
    pytest.param(b"[]", "expected a JSON object, got array", id="array"),
    pytest.param(b"null", "expected a JSON object, got null", id="null"),
    pytest.param(b'"ticket"', "expected a JSON object, got string", id="string"),
    pytest.param(b"12", "expected a JSON object, got integer", id="integer"),
    pytest.param(b"1.5", "expected a JSON object, got number", id="number"),
    pytest.param(b"true", "expected a JSON object, got boolean", id="boolean"),
]


@pytest.mark.parametrize(("value", "error"), INVALID_JSON)
def test_invalid_json_is_rejected_with_why(value: bytes, error: str) -> None:
    """Bytes that are not one UTF-8 JSON object are invalid_json, saying what is wrong."""
    assert decode_event(value) == Rejected("invalid_json", error)


def test_unknown_fields_may_hold_invalid_utf8_only_as_invalid_json() -> None:
    """Invalid UTF-8 is refused even inside a field the codec would otherwise ignore."""
    value = raw(doc())[:-1] + b',"note":"caf\xe9"}'
    assert rejected(value).reason == "invalid_json"
    assert rejected(value).error.startswith("not UTF-8: invalid continuation byte at byte ")


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_nesting_is_rejected_not_raised(depth: int) -> None:
    """Nesting deeper than the recursion limit is invalid_json, never a RecursionError."""
    nested = b"[" * depth + b"]" * depth
    assert decode_event(b'{"x":' + nested + b"}") == Rejected(
        "invalid_json", "not JSON: nested too deeply"
    )
    assert decode_event(nested).reason == "invalid_json"  # type: ignore[union-attr]


LONG = "x" * 257
READS_1 = "; this worker reads 1"
TYPES = (
    " (expected one of ticket.created, ticket.responded, ticket.updated, ticket.paused,"
    " ticket.resumed, ticket.resolved, ticket.reopened)"
)
NOT_RFC3339 = (
    "not an RFC 3339 timestamp with an offset (YYYY-MM-DDThh:mm:ss[.fraction] then Z or +hh:mm)"
)
INVALID_EVENT = [
    # schema_version comes first, then type
    pytest.param(doc(schema_version=2), "schema_version: unsupported version 2" + READS_1),
    pytest.param(doc(schema_version="1"), "schema_version: unsupported version '1'" + READS_1),
    pytest.param(doc(schema_version=True), "schema_version: unsupported version true" + READS_1),
    pytest.param(doc(schema_version=None), "schema_version: unsupported version null" + READS_1),
    pytest.param(doc(schema_version=1.5), "schema_version: unsupported version 1.5" + READS_1),
    pytest.param(
        doc(schema_version=[1]), "schema_version: unsupported version of type array" + READS_1
    ),
    pytest.param(
        doc(schema_version=10**70),
        "schema_version: unsupported version " + "1" + "0" * 59 + "..." + READS_1,
    ),
    pytest.param(doc(type=DROP), "type: missing"),
    pytest.param(doc(type=7), "type: expected a string, got integer"),
    pytest.param(doc(type=None), "type: expected a string, got null"),
    pytest.param(doc(type="ticket.deleted"), "type: unknown event type 'ticket.deleted'" + TYPES),
    pytest.param(doc(type="Ticket.Created"), "type: unknown event type 'Ticket.Created'" + TYPES),
    # common fields, in order
    pytest.param(doc(event_id=DROP), "event_id: missing"),
    pytest.param(doc(event_id=None), "event_id: expected a string, got null"),
    pytest.param(doc(event_id=17), "event_id: expected a string, got integer"),
    pytest.param(doc(event_id=""), "event_id: empty"),
    pytest.param(doc(event_id=LONG), f"event_id: 257 characters, more than 256: {LONG[:60]!r}..."),
    pytest.param(doc(event_id="evt\n1"), "event_id: contains a control character: 'evt\\n1'"),
    pytest.param(doc(ticket_id=DROP), "ticket_id: missing"),
    pytest.param(doc(ticket_id=["TCK-1"]), "ticket_id: expected a string, got array"),
    pytest.param(doc(ticket_id={"id": 1}), "ticket_id: expected a string, got object"),
    pytest.param(doc(ticket_id=1.5), "ticket_id: expected a string, got number"),
    pytest.param(doc(ticket_id=True), "ticket_id: expected a string, got boolean"),
    pytest.param(doc(ticket_id="TCK\x001"), "ticket_id: contains a control character: 'TCK\\x001'"),
    pytest.param(doc(ticket_id="TCK\x7f"), "ticket_id: contains a control character: 'TCK\\x7f'"),
    pytest.param(doc(ticket_id="\tTCK"), "ticket_id: contains a control character: '\\tTCK'"),
    pytest.param(doc(tier="é\x1f"), "tier: contains a control character: 'é\\x1f'"),
    pytest.param(doc(occurred_at=DROP), "occurred_at: missing"),
    pytest.param(doc(occurred_at=1_700_000_000), "occurred_at: expected a string, got integer"),
    pytest.param(
        doc(occurred_at="2026-11-23T10:00:00"),
        "occurred_at: timestamp without an offset: '2026-11-23T10:00:00'",
    ),
    pytest.param(
        doc(occurred_at="2026-11-23T10:00:00.5"),
        "occurred_at: timestamp without an offset: '2026-11-23T10:00:00.5'",
    ),
    pytest.param(
        doc(occurred_at="2026-02-29T10:00:00Z"),
        "occurred_at: invalid date (day is out of range for month): '2026-02-29T10:00:00Z'",
    ),
    pytest.param(
        doc(occurred_at="3026-11-23T10:00:00Z"),
        "occurred_at: year 3026 is outside 1970..2999: '3026-11-23T10:00:00Z'",
    ),
    pytest.param(
        doc(occurred_at="1969-12-31T23:59:59Z"),
        "occurred_at: year 1969 is outside 1970..2999: '1969-12-31T23:59:59Z'",
    ),
    pytest.param(
        doc(occurred_at="2026-11-23 10:00:00Z"),
        f"occurred_at: {NOT_RFC3339}: '2026-11-23 10:00:00Z'",
    ),
    # type-specific fields
    pytest.param(doc(tier=DROP), "tier: missing"),
    pytest.param(doc(tier=""), "tier: empty"),
    pytest.param(doc(priority=DROP), "priority: missing"),
    pytest.param(doc(priority=1), "priority: expected a string, got integer"),
    pytest.param(doc(customer_id=42), "customer_id: expected a string or null, got integer"),
    pytest.param(
        doc(customer_id=LONG), f"customer_id: 257 characters, more than 256: {LONG[:60]!r}..."
    ),
    pytest.param(
        doc("ticket.responded", actor=LONG),
        f"actor: 257 characters, more than 256: {LONG[:60]!r}...",
    ),
    pytest.param(
        doc("ticket.responded", actor={"id": 1}), "actor: expected a string or null, got object"
    ),
    pytest.param(
        doc("ticket.updated", priority=DROP),
        "tier/priority: missing; ticket.updated needs at least one of them",
    ),
    pytest.param(doc("ticket.updated", tier=None), "tier: expected a string, got null"),
    pytest.param(doc("ticket.updated", priority=""), "priority: empty"),
]


@pytest.mark.parametrize(("document", "error"), INVALID_EVENT)
def test_invalid_event_names_the_field(document: dict[str, Any], error: str) -> None:
    """A JSON object that breaks its schema is invalid_event; the message names the field."""
    assert decode_event(raw(document)) == Rejected("invalid_event", error)


BAD_TIMESTAMPS = [
    "",
    "2026-11-23",
    "10:00:00Z",
    "2026-11-23T10:00Z",
    "2026-11-23T10:00:00+0100",
    "2026-11-23T10:00:00+01",
    "2026-11-23T10:00:00+24:00",
    "2026-11-23T10:00:00+01:60",
    "2026-11-23T10:00:00 Z",
    "2026-11-23T10:00:00.Z",
    "2026-11-23T10:00:00,5Z",
    "2026-11-23T24:00:00Z",
    "2026-11-23T10:60:00Z",
    "2026-12-31T23:59:60Z",
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-11-00T00:00:00Z",
    "2026-11-32T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2100-02-29T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "26-11-23T10:00:00Z",
    "+2026-11-23T10:00:00Z",
    "20261123T100000Z",
    "2026-W48-1T10:00:00Z",
    "2026-11-23T10:00:00Z\n",
    " 2026-11-23T10:00:00Z",
    "2026-11-23T10:00:00UTC",
    "2026-11-23T10:00:00GMT+1",
    "\u0662\u0660\u0662\u0666-11-23T10:00:00Z",  # Arabic-Indic digits are not [0-9]
    "2026-11-23T10:00:00.123456+05:30[Asia/Kolkata]",
    "Mon, 23 Nov 2026 10:00:00 GMT",
]


@pytest.mark.parametrize("text", BAD_TIMESTAMPS)
def test_bad_timestamps_are_invalid_events(text: str) -> None:
    """Anything but RFC 3339 with an offset, a real date and a year in range is refused."""
    result = rejected(raw(doc(occurred_at=text)))
    assert result.reason == "invalid_event"
    assert result.error.startswith("occurred_at: ")
    with pytest.raises(ValueError, match=r"^[^\n]+$"):
        parse_timestamp(text)


GOOD_TIMESTAMPS = [
    ("2026-11-23T10:00:00Z", datetime(2026, 11, 23, 10, tzinfo=UTC)),
    ("2026-11-23t10:00:00z", datetime(2026, 11, 23, 10, tzinfo=UTC)),
    ("2026-11-23T10:00:00+00:00", datetime(2026, 11, 23, 10, tzinfo=UTC)),
    ("2026-11-23T10:00:00-00:00", datetime(2026, 11, 23, 10, tzinfo=UTC)),
    ("2026-11-23T15:30:00+05:30", datetime(2026, 11, 23, 10, tzinfo=UTC)),
    ("2026-11-23T02:00:00-08:00", datetime(2026, 11, 23, 10, tzinfo=UTC)),
    ("2026-11-23t02:00:00-08:00", datetime(2026, 11, 23, 10, tzinfo=UTC)),
    ("2026-11-23T10:00:00.5Z", datetime(2026, 11, 23, 10, 0, 0, 500_000, tzinfo=UTC)),
    ("2026-11-23T10:00:00.000001Z", datetime(2026, 11, 23, 10, 0, 0, 1, tzinfo=UTC)),
    ("2026-11-23T10:00:00.1234Z", datetime(2026, 11, 23, 10, 0, 0, 123_400, tzinfo=UTC)),
    # beyond microseconds: truncated, never rounded into the next second (or day)
    ("2026-11-23T10:00:00.1234567Z", datetime(2026, 11, 23, 10, 0, 0, 123_456, tzinfo=UTC)),
    ("2026-12-31T23:59:59.999999999Z", datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
    ("2026-11-23T10:00:00.0000001+01:00", datetime(2026, 11, 23, 9, tzinfo=UTC)),
    ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
    ("2000-02-29T00:00:00Z", datetime(2000, 2, 29, tzinfo=UTC)),
    # the year range applies to the year as written
    ("1970-01-01T00:30:00+01:00", datetime(1969, 12, 31, 23, 30, tzinfo=UTC)),
    ("2999-12-31T23:00:00-12:00", datetime(3000, 1, 1, 11, tzinfo=UTC)),
    ("2026-11-23T10:00:00+23:59", datetime(2026, 11, 22, 10, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize(("text", "expected"), GOOD_TIMESTAMPS)
def test_good_timestamps_decode_to_utc(text: str, expected: datetime) -> None:
    """RFC 3339 timestamps with any offset decode to the same instant, in UTC."""
    moment = parse_timestamp(text)
    assert moment == expected
    assert moment.tzinfo is UTC
    event = decode_event(raw(doc(occurred_at=text)))
    assert isinstance(event, TicketCreated)
    assert event.occurred_at == expected
    assert event.occurred_at.tzinfo is UTC


def test_too_large_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    """A message over the limit is too_large before a single byte is parsed."""

    class Unreachable:
        def decode(self, value: bytes) -> object:
            raise AssertionError("parsed a message that is too large")

    monkeypatch.setattr(codec, "_JSON_DECODER", Unreachable())
    ten_mib = b"[" * (10 * 1024 * 1024)
    assert decode_event(ten_mib) == Rejected(
        "too_large", f"message of {len(ten_mib)} bytes exceeds {MAX_MESSAGE_BYTES} bytes"
    )
    assert decode_message(b"k", ten_mib, tiers=TIERS, priorities=PRIORITIES).reason == (  # type: ignore[union-attr]
        "too_large"
    )


def test_size_limit_is_inclusive_and_configurable() -> None:
    """Exactly max_bytes is read; one byte more is too_large."""
    value = raw(doc())
    assert isinstance(decode_event(value, max_bytes=len(value)), TicketCreated)
    assert decode_event(value, max_bytes=len(value) - 1) == Rejected(
        "too_large", f"message of {len(value)} bytes exceeds {len(value) - 1} bytes"
    )


def test_quoted_values_are_cut_and_escaped() -> None:
    """Rejection messages stay one line: values are cut at 60 characters and escaped."""
    value = "\n" * 300
    result = rejected(raw(doc(event_id=value)))
    escaped = "\\n" * 60
    assert result.error == f"event_id: 300 characters, more than 256: '{escaped}'..."
    assert "\n" not in result.error
    separator = rejected(raw(doc(type="ticket.\u2028created")))
    assert "\u2028" not in separator.error
    assert "\\u2028" in separator.error


# --- decode_message: key and policy references ------------------------------------------------

MESSAGE_CASES = [
    pytest.param(
        None,
        doc(),
        Rejected("key_mismatch", "key: missing; expected the ticket_id 'TCK-1'"),
        id="no-key",
    ),
    pytest.param(
        b"TCK-2",
        doc(),
        Rejected("key_mismatch", "key: 'TCK-2' is not the ticket_id 'TCK-1'"),
        id="other-key",
    ),
    pytest.param(
        b"tck-1",
        doc(),
        Rejected("key_mismatch", "key: 'tck-1' is not the ticket_id 'TCK-1'"),
        id="case",
    ),
    pytest.param(
        b"TCK-1 ",
        doc(),
        Rejected("key_mismatch", "key: 'TCK-1 ' is not the ticket_id 'TCK-1'"),
        id="space",
    ),
    pytest.param(
        b"TCK\xff",
        doc(),
        Rejected("key_mismatch", "key: 'TCK\\\\xff' is not the ticket_id 'TCK-1'"),
        id="not-utf8",
    ),
    pytest.param(
        b"", doc(), Rejected("key_mismatch", "key: '' is not the ticket_id 'TCK-1'"), id="empty"
    ),
    pytest.param(
        b"TCK-1",
        doc(tier="gold"),
        Rejected("unknown_tier", "tier: 'gold' is not a tier of the policy"),
        id="tier",
    ),
    pytest.param(
        b"TCK-1",
        doc(priority="P0"),
        Rejected("unknown_priority", "priority: 'P0' is not a priority of the policy"),
        id="priority",
    ),
    pytest.param(
        b"TCK-1",
        doc(tier="gold", priority="P0"),
        Rejected("unknown_tier", "tier: 'gold' is not a tier of the policy"),
        id="tier-first",
    ),
    pytest.param(
        b"TCK-2",
        doc(tier="gold"),
        Rejected("key_mismatch", "key: 'TCK-2' is not the ticket_id 'TCK-1'"),
        id="key-first",
    ),
    pytest.param(
        None, doc(ticket_id=""), Rejected("invalid_event", "ticket_id: empty"), id="schema-first"
    ),
    pytest.param(
        b"TCK-1",
        doc("ticket.updated", tier="gold", priority=DROP),
        Rejected("unknown_tier", "tier: 'gold' is not a tier of the policy"),
        id="updated-tier",
    ),
    pytest.param(
        b"TCK-1",
        doc("ticket.updated", priority="urgent"),
        Rejected("unknown_priority", "priority: 'urgent' is not a priority of the policy"),
        id="updated-priority",
    ),
]


@pytest.mark.parametrize(("key", "document", "expected"), MESSAGE_CASES)
def test_decode_message_checks_key_then_policy(
    key: bytes | None, document: dict[str, Any], expected: Rejected
) -> None:
    """Schema first, then the key (the ticket id in UTF-8), then tier, then priority."""
    assert decode_message(key, raw(document), tiers=TIERS, priorities=PRIORITIES) == expected


@pytest.mark.parametrize(
    "document",
    [
        doc(),
        doc("ticket.updated"),
        doc("ticket.updated", tier="business", priority=DROP),
        doc("ticket.responded"),
        doc("ticket.resolved", tier="gold", priority="P0"),  # ignored: not this type's fields
    ],
)
def test_decode_message_accepts_known_references(document: dict[str, Any]) -> None:
    """A keyed event whose tier and priority the policy knows is returned as decoded."""
    event = decode_message(b"TCK-1", raw(document), tiers=TIERS, priorities=PRIORITIES)
    assert event == decode_event(raw(document))
    assert not isinstance(event, Rejected)


def test_unicode_ticket_id_key_is_its_utf8() -> None:
    """The key is compared with the UTF-8 bytes of the ticket id."""
    value = raw(doc(ticket_id="工单-7"))
    assert isinstance(
        decode_message("工单-7".encode(), value, tiers=TIERS, priorities=PRIORITIES), TicketCreated
    )
    assert (
        decode_message("工单-7".encode("utf-16"), value, tiers=TIERS, priorities=PRIORITIES).reason
        == "key_mismatch"
    )  # type: ignore[union-attr]


def test_check_references_ignores_types_without_tier_or_priority() -> None:
    """Only created and updated events name a tier or a priority."""
    event = TicketResolved(event_id="e", ticket_id="t", occurred_at=AT)
    assert check_references(event, tiers=(), priorities=()) is None


# --- accepted documents ----------------------------------------------------------------------

ACCEPTED = [
    pytest.param(
        doc(customer_id="c-1", subject="x", nested={"a": [1, {"b": None}]}),
        TicketCreated(
            event_id="evt-1",
            ticket_id="TCK-1",
            occurred_at=AT,
            tier="enterprise",
            priority="P1",
            customer_id="c-1",
        ),
        id="created-extra-fields",
    ),
    pytest.param(
        doc(customer_id=None, schema_version=1),
        TicketCreated(
            event_id="evt-1", ticket_id="TCK-1", occurred_at=AT, tier="enterprise", priority="P1"
        ),
        id="created-null-customer",
    ),
    pytest.param(
        doc(schema_version=1.0),
        TicketCreated(
            event_id="evt-1", ticket_id="TCK-1", occurred_at=AT, tier="enterprise", priority="P1"
        ),
        id="version-1.0-is-1",
    ),
    pytest.param(
        doc("ticket.responded", actor="agent-7"),
        TicketResponded(event_id="evt-1", ticket_id="TCK-1", occurred_at=AT, actor="agent-7"),
        id="responded-actor",
    ),
    pytest.param(
        doc("ticket.responded", actor=None),
        TicketResponded(event_id="evt-1", ticket_id="TCK-1", occurred_at=AT),
        id="responded-null-actor",
    ),
    pytest.param(
        doc("ticket.updated", tier="business", priority=DROP),
        TicketUpdated(event_id="evt-1", ticket_id="TCK-1", occurred_at=AT, tier="business"),
        id="updated-tier",
    ),
    pytest.param(
        doc("ticket.updated", tier="business", priority="P3"),
        TicketUpdated(
            event_id="evt-1", ticket_id="TCK-1", occurred_at=AT, tier="business", priority="P3"
        ),
        id="updated-both",
    ),
    pytest.param(
        doc("ticket.paused", tier=5),
        TicketPaused(event_id="evt-1", ticket_id="TCK-1", occurred_at=AT),
        id="paused",
    ),
    pytest.param(
        doc("ticket.resumed"),
        TicketResumed(event_id="evt-1", ticket_id="TCK-1", occurred_at=AT),
        id="resumed",
    ),
    pytest.param(
        doc("ticket.resolved"),
        TicketResolved(event_id="evt-1", ticket_id="TCK-1", occurred_at=AT),
        id="resolved",
    ),
    pytest.param(
        doc("ticket.reopened"),
        TicketReopened(event_id="evt-1", ticket_id="TCK-1", occurred_at=AT),
        id="reopened",
    ),
    pytest.param(
        doc(event_id="x" * 256, ticket_id="é\u2028 ☃", tier=" ", priority="\x80"),
        TicketCreated(
            event_id="x" * 256, ticket_id="é\u2028 ☃", occurred_at=AT, tier=" ", priority="\x80"
        ),
        id="names-only-refuse-c0-controls",
    ),
]


@pytest.mark.parametrize(("document", "expected"), ACCEPTED)
def test_valid_documents_decode_to_their_dataclass(
    document: dict[str, Any], expected: InputEvent
) -> None:
    """Each input type decodes to its dataclass; unknown extra fields are ignored."""
    assert decode_event(raw(document)) == expected
    assert decode_event(json.dumps(document).encode()) == expected  # \u-escaped text too


# --- encode_input round trip -----------------------------------------------------------------

names = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="".join(map(chr, range(32)))),
    min_size=1,
    max_size=20,
).filter(lambda s: "\x7f" not in s)
offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - bounds are naive, hypothesis adds the zone
    max_value=datetime(2999, 12, 30),  # noqa: DTZ001
    timezones=offsets,
)
optional_text = st.none() | st.text(st.characters(exclude_categories=("Cs",)), max_size=10)
common = {"event_id": names, "ticket_id": names, "occurred_at": instants}
input_events = st.one_of(
    st.builds(TicketCreated, **common, tier=names, priority=names, customer_id=optional_text),
    st.builds(TicketResponded, **common, actor=optional_text),
    st.builds(TicketUpdated, **common, tier=names, priority=st.none() | names),
    st.builds(TicketUpdated, **common, tier=st.none(), priority=names),
    *(
        st.builds(cls, **common)
        for cls in (TicketPaused, TicketResumed, TicketResolved, TicketReopened)
    ),
)


@given(input_events)
def test_encode_input_round_trips(event: InputEvent) -> None:
    """decode_event(encode_input(e)) == e, with occurred_at in UTC."""
    decoded = decode_event(encode_input(event))
    assert decoded == event
    assert decoded.occurred_at.tzinfo is UTC  # type: ignore[union-attr]


def test_encode_input_is_compact_json_with_version_and_utc() -> None:
    """Inputs are written with schema_version 1, UTC occurred_at and no null optionals."""
    paris = ZoneInfo("Europe/Paris")
    event = TicketCreated(
        event_id="e-1",
        ticket_id="T-1",
        occurred_at=datetime(2026, 11, 23, 11, 0, 0, 250_000, tzinfo=paris),
        tier="gold",
        priority="P1",
    )
    assert encode_input(event) == (
        b'{"type":"ticket.created","schema_version":1,"event_id":"e-1","ticket_id":"T-1",'
        b'"occurred_at":"2026-11-23T10:00:00.250000Z","tier":"gold","priority":"P1"}'
    )
    assert json.loads(
        encode_input(TicketResponded(event_id="e", ticket_id="t", occurred_at=AT, actor=None))
    ) == {
        "type": "ticket.responded",
        "schema_version": 1,
        "event_id": "e",
        "ticket_id": "t",
        "occurred_at": "2026-11-23T10:00:00Z",
    }


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 23, 10, tzinfo=UTC), "2026-11-23T10:00:00Z"),
        (datetime(2026, 11, 23, 10, 0, 0, 1, tzinfo=UTC), "2026-11-23T10:00:00.000001Z"),
        (datetime(2026, 11, 23, 10, 0, 0, 500_000, tzinfo=UTC), "2026-11-23T10:00:00.500000Z"),
        (datetime(2026, 11, 23, 2, tzinfo=ZoneInfo("America/Los_Angeles")), "2026-11-23T10:00:00Z"),
        (
            datetime(2026, 11, 23, 15, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "2026-11-23T10:00:00Z",
        ),
        (datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")), "2026-03-29T01:30:00Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
    ],
)
def test_format_timestamp_is_utc_z(moment: datetime, text: str) -> None:
    """Instants are written in UTC with Z, with 6 fractional digits only when not whole."""
    assert format_timestamp(moment) == text


def test_format_timestamp_refuses_naive_datetimes() -> None:
    """A naive datetime names no instant: formatting it is a bug, not a guess."""
    with pytest.raises(ValueError, match="naive datetime '2026-11-23T10:00:00' has no offset"):
        format_timestamp(datetime(2026, 11, 23, 10))  # noqa: DTZ001


@given(instants)
def test_parse_inverts_format(moment: datetime) -> None:
    """parse_timestamp(format_timestamp(t)) == t for every instant in range."""
    assert parse_timestamp(format_timestamp(moment)) == moment
    assert parse_timestamp(moment.isoformat()) == moment


# --- outputs ---------------------------------------------------------------------------------

SLA_FIELDS: dict[str, Any] = {
    "ticket_id": "TCK-1",
    "tier": "enterprise",
    "priority": "P1",
    "target": "first_response",
    "cycle": 1,
    "commitment": "sla",
    "started_at": datetime(2026, 11, 23, 11, tzinfo=timezone(timedelta(hours=1))),
    "deadline": datetime(2026, 11, 23, 11, tzinfo=UTC),
    "target_seconds": 3600,
    "policy": "cloudflare-support",
}
HEAD = (
    '"ticket_id":"TCK-1","customer_id":null,"tier":"enterprise","priority":"P1","target":"first_response",'
    '"cycle":1,"commitment":"sla","started_at":"2026-11-23T10:00:00Z",'
    '"deadline":"2026-11-23T11:00:00Z","target_seconds":3600,"policy":"cloudflare-support"'
)

OUTPUTS = [
    pytest.param(
        SlaWarning(
            **SLA_FIELDS,
            threshold="75%",
            detected_at=datetime(2026, 11, 23, 10, 45, 0, 412, tzinfo=UTC),
            remaining_seconds=899.999588,
        ),
        '{"id":"TCK-1:first_response:1:75%","type":"sla.warning",'
        + HEAD
        + ',"threshold":"75%","detected_at":"2026-11-23T10:45:00.000412Z",'
        + '"remaining_seconds":899.999588}',
        id="warning",
    ),
    pytest.param(
        SlaWarning(
            **SLA_FIELDS,
            threshold="15m",
            detected_at=datetime(2026, 11, 23, 10, 45, tzinfo=UTC),
            remaining_seconds=900.0,
        ),
        '{"id":"TCK-1:first_response:1:15m","type":"sla.warning",'
        + HEAD
        + ',"threshold":"15m","detected_at":"2026-11-23T10:45:00Z","remaining_seconds":900}',
        id="warning-whole-seconds",
    ),
    pytest.param(
        SlaBreached(
            **SLA_FIELDS, detected_at=datetime(2026, 11, 23, 11, 0, 0, 250_000, tzinfo=UTC)
        ),
        '{"id":"TCK-1:first_response:1","type":"sla.breached",'
        + HEAD
        + ',"detected_at":"2026-11-23T11:00:00.250000Z"}',
        id="breached",
    ),
    pytest.param(
        SlaOutcome(
            **SLA_FIELDS,
            outcome="met",
            fulfilled_at=datetime(2026, 11, 23, 10, 42, tzinfo=UTC),
            elapsed_seconds=2520.0,
        ),
        '{"id":"TCK-1:first_response:1","type":"sla.outcome",'
        + HEAD
        + ',"outcome":"met","fulfilled_at":"2026-11-23T10:42:00Z","elapsed_seconds":2520}',
        id="outcome-met",
    ),
    pytest.param(
        SlaOutcome(
            **SLA_FIELDS, outcome="breached", fulfilled_at=None, elapsed_seconds=3600.0000004
        ),
        '{"id":"TCK-1:first_response:1","type":"sla.outcome",'
        + HEAD
        + ',"outcome":"breached","fulfilled_at":null,"elapsed_seconds":3600}',
        id="outcome-breached",
    ),
    pytest.param(
        SlaOutcome(
            **{
                **SLA_FIELDS,
                "target": "resolution",
                "cycle": 3,
                "commitment": "none",
                "deadline": None,
                "target_seconds": None,
            },
            outcome="met",
            fulfilled_at=AT,
            elapsed_seconds=0.1 + 0.2,
        ),
        '{"id":"TCK-1:resolution:3","type":"sla.outcome","ticket_id":"TCK-1","customer_id":null,'
        '"tier":"enterprise","priority":"P1","target":"resolution","cycle":3,"commitment":"none",'
        '"started_at":"2026-11-23T10:00:00Z","deadline":null,"target_seconds":null,'
        '"policy":"cloudflare-support","outcome":"met","fulfilled_at":"2026-11-23T10:00:00Z",'
        '"elapsed_seconds":0.3}',
        id="outcome-without-deadline",
    ),
    pytest.param(
        SlaBreached(
            **{**SLA_FIELDS, "customer_id": "cust-\u00e9"},
            detected_at=datetime(2026, 11, 23, 11, 0, 1, tzinfo=UTC),
        ),
        '{"id":"TCK-1:first_response:1","type":"sla.breached",'
        + HEAD.replace('"customer_id":null', '"customer_id":"cust-\u00e9"')
        + ',"detected_at":"2026-11-23T11:00:01Z"}',
        id="breached-with-customer",
    ),
    pytest.param(
        SlaLateFulfilment(
            **SLA_FIELDS,
            fulfilled_at=datetime(2026, 11, 23, 11, 45, 0, 500_000, tzinfo=UTC),
            elapsed_seconds=6300.5,
            over_seconds=2700.5,
        ),
        '{"id":"TCK-1:first_response:1:late","type":"sla.late_fulfilment",'
        + HEAD
        + ',"fulfilled_at":"2026-11-23T11:45:00.500000Z","elapsed_seconds":6300.5,'
        '"over_seconds":2700.5}',
        id="late-fulfilment",
    ),
]


@pytest.mark.parametrize(("event", "expected"), OUTPUTS)
def test_encode_output_exact_bytes(event: SlaWarning, expected: str) -> None:
    """Outputs are compact JSON, id and type first, customer_id after ticket_id, fixed key order."""
    assert encode_output(event) == expected.encode()
    assert output_to_dict(event) == json.loads(expected)
    assert list(output_to_dict(event)) == list(json.loads(expected))
    assert output_to_dict(event)["id"] == event.id


def test_output_ids_are_deterministic() -> None:
    """Ids are <ticket>:<target>:<cycle>, plus :<threshold> for warnings."""
    assert SlaBreached(**SLA_FIELDS, detected_at=AT).id == "TCK-1:first_response:1"
    warning = SlaWarning(**SLA_FIELDS, threshold="90%", detected_at=AT, remaining_seconds=1)
    assert json.loads(encode_output(warning))["id"] == "TCK-1:first_response:1:90%"
    assert encode_output(warning) == encode_output(warning)


def test_target_fulfilled_is_never_encoded() -> None:
    """The internal TargetFulfilled observation has no wire form."""
    fulfilled = TargetFulfilled(**SLA_FIELDS, fulfilled_at=AT, elapsed_seconds=1.0, met=True)
    with pytest.raises(TypeError, match="not a published output event: TargetFulfilled"):
        encode_output(fulfilled)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "wire"),
    [
        (0.0, "0"),
        (1.5, "1.5"),
        (2520.0, "2520"),
        (1e-7, "0"),
        (0.0000016, "2e-6"),
        (-12.25, "-12.25"),
        (86400 * 365.0, "31536000"),
        (7, "7"),
    ],
)
def test_second_counts_are_ints_when_whole(seconds: float, wire: str) -> None:
    """Second counts: integers when whole, else rounded to the microsecond."""
    warning = SlaWarning(**SLA_FIELDS, threshold="t", detected_at=AT, remaining_seconds=seconds)
    assert encode_output(warning).endswith(f'"remaining_seconds":{wire}}}'.encode())


# --- outcomes read back (sla-worker report) ---------------------------------------------------

PUBLISHED = [param.values[0] for param in OUTPUTS]


@pytest.mark.parametrize(
    "event",
    [o for o in PUBLISHED if isinstance(o, SlaOutcome)],
    ids=lambda o: f"{o.outcome}-{o.target}",
)
def test_outcomes_read_back_as_written(event: SlaOutcome) -> None:
    """decode_outcome reads what encode_output writes: the same outcome, instants in UTC."""
    decoded = decode_outcome(encode_output(event))
    assert decoded is not None
    assert encode_output(decoded) == encode_output(event)
    with_customer = replace(decoded, customer_id="acme")
    assert decode_outcome(encode_output(with_customer)) == with_customer


def test_outcomes_of_earlier_versions_read_without_customer_id() -> None:
    """An outcome written before customer_id existed reads with None; extra keys are ignored."""
    document = json.loads(encode_output(PUBLISHED[3]))
    del document["customer_id"]
    decoded = decode_outcome(json.dumps(document | {"later": 1}).encode())
    assert decoded is not None
    assert decoded.customer_id is None
    assert decoded.elapsed_seconds == 2520.0


def test_late_fulfilments_read_back_as_written() -> None:
    """decode_outcome reads an sla.late_fulfilment as encode_output wrote it (instants UTC)."""
    [late] = [o for o in PUBLISHED if isinstance(o, SlaLateFulfilment)]
    decoded = decode_outcome(encode_output(late))
    assert decoded == late
    assert isinstance(decoded, SlaLateFulfilment)
    assert decoded.started_at.tzinfo is UTC
    assert encode_output(decoded) == encode_output(late)
    with_customer = replace(late, customer_id="acme", over_seconds=0.0)
    assert decode_outcome(encode_output(with_customer)) == with_customer


def late_document(**changes: Any) -> bytes:
    [late] = [o for o in PUBLISHED if isinstance(o, SlaLateFulfilment)]
    document = json.loads(encode_output(late)) | changes
    return json.dumps({k: v for k, v in document.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param(
            late_document(over_seconds=...),
            "Object missing required field `over_seconds`",
            id="no-over",
        ),
        pytest.param(
            late_document(fulfilled_at=None), "fulfilled_at: Expected `str`, got `null`", id="open"
        ),
        pytest.param(
            late_document(fulfilled_at="2026-11-23T11:45:00"),
            "fulfilled_at: timestamp without an offset",
            id="no-offset",
        ),
    ],
)
def test_unreadable_late_fulfilments_say_why(value: bytes, error: str) -> None:
    """A malformed late fulfilment raises ValueError naming the field first, in one line."""
    with pytest.raises(ValueError, match="^" + re.escape(error)):
        decode_outcome(value)


def test_warnings_and_breaches_are_no_outcomes() -> None:
    """The other published outputs decode to None: a file of every output can be read."""
    assert [decode_outcome(encode_output(o)) for o in PUBLISHED[:3]] == [None, None, None]


def outcome_document(**changes: Any) -> bytes:
    document = json.loads(encode_output(PUBLISHED[3])) | changes
    return json.dumps({k: v for k, v in document.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param(b"{", "not JSON: Input data was truncated", id="not-json"),
        pytest.param(b"[1]", "expected a JSON object, got array", id="array"),
        pytest.param(b'{"a":"\xff"}', "not UTF-8: invalid start byte at byte 6", id="not-utf8"),
        pytest.param(
            outcome_document(type="ticket.created"),
            "type: not an SLA output: 'ticket.created'",
            id="input",
        ),
        pytest.param(outcome_document(type=...), "type: not an SLA output: null", id="no-type"),
        pytest.param(
            outcome_document(tier=...), "Object missing required field `tier`", id="missing"
        ),
        pytest.param(outcome_document(cycle="1"), "cycle: Expected `int`, got `str`", id="cycle"),
        pytest.param(
            outcome_document(outcome="late"),
            "outcome: Invalid enum value 'late'",
            id="outcome",
        ),
        pytest.param(
            outcome_document(fulfilled_at="2026-11-23 10:42:00Z"),
            "fulfilled_at: not an RFC 3339 timestamp with an offset",
            id="timestamp",
        ),
        pytest.param(
            outcome_document(started_at="2026-11-23T10:00:00"),
            "started_at: timestamp without an offset",
            id="no-offset",
        ),
    ],
)
def test_unreadable_outcomes_say_why(value: bytes, error: str) -> None:
    """Anything but an output raises ValueError naming the field first, in one line."""
    with pytest.raises(ValueError, match="^" + re.escape(error)) as raised:
        decode_outcome(value)
    assert "\n" not in str(raised.value)


def test_outcome_lines_skip_other_outputs_and_blank_lines_and_number_the_rest() -> None:
    """A JSON-lines file of outputs yields its outcomes, and what is no output by line."""
    met, breached = PUBLISHED[3], PUBLISHED[4]
    lines = [
        encode_output(PUBLISHED[0]) + b"\n",
        encode_output(met) + b"\r\n",
        b"\n",
        b"  \n",
        b"oops\n",
        encode_output(breached),
    ]
    read = list(outcome_lines(lines))
    assert read[0] == met
    assert read[1] == codec.Unreadable("line 5", "not JSON: invalid character (byte 0)")
    assert isinstance(read[2], SlaOutcome)
    assert encode_output(read[2]) == encode_output(breached)  # seconds to the microsecond
    assert len(read) == 3
    late = PUBLISHED[-1]
    assert list(outcome_lines([encode_output(late), b"\n"])) == [late]


# --- dead letters ----------------------------------------------------------------------------


def dead_letter(**fields: Any) -> DeadLetter:
    defaults: dict[str, Any] = {
        "reason": "invalid_event",
        "error": "occurred_at: timestamp without an offset: '2026-11-23T10:00:00'",
        "topic": "ticket-events",
        "partition": 3,
        "offset": 18234,
        "timestamp": datetime(2026, 11, 23, 10, 0, 0, 123_000, tzinfo=UTC),
        "key": b"TCK-1",
        "payload": b'{"type":"ticket.created"}',
    }
    return DeadLetter(**(defaults | fields))


def test_dead_letter_exact_bytes_for_utf8() -> None:
    """UTF-8 key and payload are written as text, without *_encoding fields."""
    encoded = encode_dead_letter(
        dead_letter(), detected_at=datetime(2026, 11, 23, 10, 0, 1, tzinfo=UTC)
    )
    assert encoded == (
        b'{"type":"sla.dead_letter","reason":"invalid_event",'
        b'"error":"occurred_at: timestamp without an offset: \'2026-11-23T10:00:00\'",'
        b'"source":{"topic":"ticket-events","partition":3,"offset":18234,'
        b'"timestamp":"2026-11-23T10:00:00.123000Z"},"key":"TCK-1",'
        b'"payload":"{\\"type\\":\\"ticket.created\\"}","detected_at":"2026-11-23T10:00:01Z"}'
    )


def test_dead_letter_base64_for_non_utf8() -> None:
    """Key and payload that are not UTF-8 are base64 with key_encoding/payload_encoding."""
    payload = b"\xff\xfe{\x00\x80"
    encoded = json.loads(
        encode_dead_letter(
            dead_letter(key=b"\xc3", payload=payload, timestamp=None, reason="invalid_json"),
            detected_at=AT,
        )
    )
    assert encoded["key"] == "ww=="
    assert encoded["key_encoding"] == "base64"
    assert base64.b64decode(encoded["payload"]) == payload
    assert encoded["payload_encoding"] == "base64"
    assert encoded["source"]["timestamp"] is None
    assert list(encoded) == [
        "type",
        "reason",
        "error",
        "source",
        "key",
        "key_encoding",
        "payload",
        "payload_encoding",
        "detected_at",
    ]


def test_dead_letter_without_key() -> None:
    """A message without a key has "key": null and no key_encoding."""
    encoded = json.loads(encode_dead_letter(dead_letter(key=None), detected_at=AT))
    assert encoded["key"] is None
    assert "key_encoding" not in encoded
    assert "payload_encoding" not in encoded


def original(encoded: dict[str, Any], field: str) -> bytes | None:
    """Recover the original bytes from a dead letter, as a consumer would."""
    value = encoded[field]
    if value is None:
        return None
    if encoded.get(f"{field}_encoding") == "base64":
        return base64.b64decode(value)
    return str(value).encode()


@given(key=st.none() | st.binary(max_size=50), payload=st.binary(max_size=300))
def test_dead_letter_keeps_any_bytes_exactly(key: bytes | None, payload: bytes) -> None:
    """Whatever the bytes, a consumer gets back exactly the original key and payload."""
    encoded = msgspec.json.decode(
        encode_dead_letter(dead_letter(key=key, payload=payload), detected_at=AT)
    )
    assert original(encoded, "key") == key
    assert original(encoded, "payload") == payload


@given(payload=st.text(st.characters(exclude_categories=("Cs",)), max_size=200))
def test_dead_letter_keeps_utf8_text_as_text(payload: str) -> None:
    """Valid UTF-8, control characters included, stays readable text."""
    encoded = json.loads(encode_dead_letter(dead_letter(payload=payload.encode()), detected_at=AT))
    assert encoded["payload"] == payload
    assert "payload_encoding" not in encoded


# --- never raises ----------------------------------------------------------------------------


def check_total(value: bytes) -> None:
    """decode_message too gives an event or a Rejected with a known reason and one line."""
    result = decode_message(value[:8] or None, value, tiers=TIERS, priorities=PRIORITIES)
    if isinstance(result, Rejected):
        assert result.reason in REASONS
        assert result.error.splitlines() == [result.error]


@given(st.binary(max_size=500))
def test_arbitrary_bytes_never_raise(value: bytes) -> None:
    """Any bytes at all give an event or a Rejected with a one-line error, never an exception."""
    result = decode_event(value)
    assert isinstance(
        result,
        Rejected
        | TicketCreated
        | TicketUpdated
        | TicketResponded
        | TicketPaused
        | TicketResumed
        | TicketResolved
        | TicketReopened,
    )
    check_total(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "type",
        "event_id",
        "ticket_id",
        "occurred_at",
        "schema_version",
        "tier",
        "priority",
        "customer_id",
        "actor",
    ]
) | st.text(max_size=8)


@given(st.dictionaries(field_names, json_values, max_size=8), st.booleans())
def test_arbitrary_json_objects_never_raise(document: dict[str, Any], ascii_only: bool) -> None:
    """Any JSON object (infinities included) gives an event or a one-line Rejected."""
    value = json.dumps(document, ensure_ascii=ascii_only).encode()
    result = decode_event(value)
    if isinstance(result, Rejected):
        assert result.reason in {"invalid_json", "invalid_event"}
        assert result.error.splitlines() == [result.error]
    check_total(value)

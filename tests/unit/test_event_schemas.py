"""The JSON Schemas under schemas/ are valid, match their examples, and agree with the codec.

"The codec accepts exactly what the schemas accept" is pinned by a table of tricky documents
and by a hypothesis strategy that mutates the valid examples.
"""

import calendar
import copy
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from worker.core.events import (
    INPUT_TYPES,
    OUTPUT_TYPES,
    DeadLetter,
    InputEvent,
    SlaBreached,
    SlaLateFulfilment,
    SlaOutcome,
    SlaWarning,
    TicketCreated,
    TicketPaused,
    TicketReopened,
    TicketResolved,
)
from worker.core.policy_parse import parse_policy
from worker.core.status import STATES, TicketStatus, status_of
from worker.core.tracker import Tracker
from worker.edge.codec import (
    MAX_YEAR,
    MIN_YEAR,
    Rejected,
    decode_event,
    encode_dead_letter,
    encode_input,
    encode_output,
    encode_status,
    parse_timestamp,
    status_to_dict,
)

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
EXAMPLES_DIR = SCHEMAS_DIR / "examples"
# sla.status is no event but a ticket's status (worker/core/status.py); its schema lives here too.
STATUS_TYPE = "sla.status"
ALL_TYPES = sorted([*INPUT_TYPES, *OUTPUT_TYPES, STATUS_TYPE])


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


SCHEMAS: dict[str, dict[str, Any]] = {
    kind: load(SCHEMAS_DIR / f"{kind}.v1.json") for kind in ALL_TYPES
}
VALIDATORS = {
    kind: Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for kind, schema in SCHEMAS.items()
}


def examples(kind: str) -> list[Path]:
    return sorted((EXAMPLES_DIR / kind).glob("*.json"))


EXAMPLE_FILES = [
    pytest.param(kind, path, id=f"{kind}/{path.name}")
    for kind in ALL_TYPES
    for path in examples(kind)
]
INVALID_FILES = [
    pytest.param(path, id=str(path.relative_to(EXAMPLES_DIR / "invalid")))
    for path in sorted((EXAMPLES_DIR / "invalid").rglob("*.json"))
]


def schema_accepts(document: object) -> bool:
    """What the schemas say of an input document: valid for the schema its type names."""
    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        return False
    validator = VALIDATORS.get(document["type"])
    if validator is None or document["type"] not in INPUT_TYPES:
        return False
    return validator.is_valid(document)


def codec_accepts(document: object, *, ascii_only: bool = False) -> bool:
    """What the codec says of the same document sent as UTF-8 JSON."""
    result = decode_event(json.dumps(document, ensure_ascii=ascii_only).encode())
    if isinstance(result, Rejected):
        assert result.reason in {"invalid_json", "invalid_event"}, result
        return False
    assert isinstance(document, dict)
    assert result.type == document["type"]
    return True


# --- the schemas themselves ------------------------------------------------------------------


def test_one_schema_per_type_and_nothing_else() -> None:
    """schemas/ holds exactly one <type>.v1.json per input and output type, and the status."""
    assert sorted(p.name for p in SCHEMAS_DIR.glob("*.v1.json") if p.stem != "policy.v1") == [
        f"{kind}.v1.json" for kind in ALL_TYPES
    ]


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_schema_is_valid_draft_2020_12(kind: str) -> None:
    """Each schema is a valid draft 2020-12 schema with its $id, title and description."""
    schema = SCHEMAS[kind]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://sla-worker.dev/schemas/{kind}.v1.json"
    assert schema["title"] == f"{kind} v1"
    assert schema["description"]
    assert schema["properties"]["type"]["const"] == kind


@pytest.mark.parametrize("kind", ALL_TYPES)
def test_embedded_examples_are_valid(kind: str) -> None:
    """The examples embedded in each schema validate against it."""
    assert SCHEMAS[kind]["examples"]
    for example in SCHEMAS[kind]["examples"]:
        VALIDATORS[kind].validate(example)


def test_input_schemas_share_their_definitions() -> None:
    """Every input schema carries the same $defs, so no copy drifts from the others."""
    defs = [SCHEMAS[kind]["$defs"] for kind in INPUT_TYPES]
    assert all(d == defs[0] for d in defs)
    outputs = [SCHEMAS[kind]["$defs"]["timestamp"] for kind in (*OUTPUT_TYPES, STATUS_TYPE)]
    assert all(d == outputs[0] for d in outputs)


@pytest.mark.parametrize("kind", sorted(INPUT_TYPES))
def test_input_schemas_allow_unknown_fields(kind: str) -> None:
    """Inputs keep and ignore unknown fields; outputs list every field they have."""
    assert SCHEMAS[kind]["additionalProperties"] is True
    assert SCHEMAS[kind]["required"][:4] == ["type", "event_id", "ticket_id", "occurred_at"]


# --- examples --------------------------------------------------------------------------------


def test_every_type_has_several_examples() -> None:
    """Each type has at least two example files."""
    assert all(len(examples(kind)) >= 2 for kind in ALL_TYPES)


@pytest.mark.parametrize(("kind", "path"), EXAMPLE_FILES)
def test_example_file_is_valid(kind: str, path: Path) -> None:
    """Every example validates; input examples decode to their type's dataclass."""
    document = load(path)
    VALIDATORS[kind].validate(document)
    assert document["type"] == kind
    if kind in INPUT_TYPES:
        event = decode_event(path.read_bytes())
        assert type(event) is INPUT_TYPES[kind]
        VALIDATORS[kind].validate(json.loads(encode_input(event)))  # type: ignore[arg-type]


def test_input_examples_cover_offsets_and_extra_fields() -> None:
    """The input examples show non-UTC offsets and unknown extra fields at work."""
    documents = [load(path) for kind in INPUT_TYPES for path in examples(kind)]
    assert any(re.search(r"[+-][0-9]{2}:[0-9]{2}$", d["occurred_at"]) for d in documents)
    known = {
        "type",
        "schema_version",
        "event_id",
        "ticket_id",
        "occurred_at",
        "tier",
        "priority",
        "customer_id",
        "actor",
    }
    assert any(set(d) - known for d in documents)


@pytest.mark.parametrize("path", INVALID_FILES)
def test_invalid_example_is_refused_by_both(path: Path) -> None:
    """Each invalid example is refused by the schemas and by the codec (invalid_event)."""
    document = load(path)
    assert not schema_accepts(document)
    result = decode_event(path.read_bytes())
    assert isinstance(result, Rejected)
    assert result.reason == "invalid_event"


# --- codec outputs validate ------------------------------------------------------------------

UTC_AT = datetime(2026, 11, 23, 10, tzinfo=UTC)
SLA_FIELDS: dict[str, Any] = {
    "ticket_id": "TCK-1",
    "tier": "enterprise",
    "priority": "P1",
    "target": "first_response",
    "cycle": 1,
    "commitment": "sla",
    "started_at": datetime(2026, 11, 23, 2, tzinfo=timezone(timedelta(hours=-8))),
    "deadline": UTC_AT + timedelta(hours=1),
    "target_seconds": 3600,
    "policy": "cloudflare-support",
}
OUTPUTS = [
    SlaWarning(
        **SLA_FIELDS,
        threshold="75%",
        detected_at=UTC_AT + timedelta(minutes=45, microseconds=7),
        remaining_seconds=899.999993,
    ),
    SlaWarning(
        **{**SLA_FIELDS, "commitment": "slo", "target": "resolution", "cycle": 2},
        threshold="15m",
        detected_at=UTC_AT,
        remaining_seconds=900.0,
    ),
    SlaBreached(**SLA_FIELDS, detected_at=UTC_AT + timedelta(hours=1, microseconds=1)),
    SlaOutcome(
        **SLA_FIELDS,
        outcome="met",
        fulfilled_at=UTC_AT + timedelta(minutes=42),
        elapsed_seconds=2520.0,
    ),
    SlaOutcome(
        **SLA_FIELDS,
        outcome="met",
        fulfilled_at=UTC_AT + timedelta(hours=1),
        elapsed_seconds=3600.0,
    ),
    SlaOutcome(**SLA_FIELDS, outcome="breached", fulfilled_at=None, elapsed_seconds=3600.000001),
    SlaBreached(**SLA_FIELDS | {"customer_id": "c" * 256}, detected_at=UTC_AT),
    SlaLateFulfilment(
        **SLA_FIELDS | {"customer_id": "acme"},
        fulfilled_at=UTC_AT + timedelta(hours=1, minutes=30, microseconds=1),
        elapsed_seconds=5400.000001,
        over_seconds=1800.000001,
    ),
    SlaLateFulfilment(
        **SLA_FIELDS | {"target": "resolution", "cycle": 2, "commitment": "slo"},
        fulfilled_at=UTC_AT + timedelta(hours=1, seconds=1),
        elapsed_seconds=3601,
        over_seconds=1,
    ),
]


@pytest.mark.parametrize("event", OUTPUTS, ids=lambda e: f"{e.type}-{e.id}")
def test_encoded_outputs_validate(
    event: SlaWarning | SlaBreached | SlaOutcome | SlaLateFulfilment,
) -> None:
    """What encode_output writes is valid for the output type's schema."""
    VALIDATORS[event.type].validate(json.loads(encode_output(event)))


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"key": None, "timestamp": None},
        {"key": b"\xff\xfe", "payload": b"\x00\xff{", "reason": "invalid_json"},
        {"key": "工单".encode(), "payload": "{\u2028}".encode(), "reason": "too_large"},
        {"reason": "key_mismatch", "partition": 0, "offset": 0},
    ],
)
def test_encoded_dead_letters_validate(fields: dict[str, Any]) -> None:
    """What encode_dead_letter writes is valid for sla.dead_letter, base64 or not."""
    values: dict[str, Any] = {
        "reason": "invalid_event",
        "error": "ticket_id: empty",
        "topic": "ticket-events",
        "partition": 5,
        "offset": 99,
        "timestamp": UTC_AT,
        "key": b"TCK-1",
        "payload": b'{"ticket_id":""}',
    }
    dead_letter = DeadLetter(**(values | fields))
    VALIDATORS["sla.dead_letter"].validate(
        json.loads(encode_dead_letter(dead_letter, detected_at=UTC_AT + timedelta(seconds=1)))
    )


def test_output_schemas_refuse_what_the_codec_never_writes() -> None:
    """Output schemas are exact: no extra fields, UTC Z only, no breach without a deadline."""
    breach = json.loads(encode_output(OUTPUTS[2]))
    validator = VALIDATORS["sla.breached"]
    assert validator.is_valid(breach)
    assert not validator.is_valid(breach | {"extra": 1})
    assert not validator.is_valid(breach | {"detected_at": "2026-11-23T11:00:00+00:00"})
    assert not validator.is_valid(breach | {"detected_at": "2026-11-23T11:00:00.5Z"})
    assert not validator.is_valid(breach | {"deadline": None})
    assert not validator.is_valid(breach | {"commitment": "none"})
    assert not validator.is_valid(breach | {"id": "TCK-1:first_response:0"})
    assert not validator.is_valid(breach | {"customer_id": "c" * 257})
    assert not validator.is_valid(breach | {"customer_id": 42})
    outcome = json.loads(encode_output(OUTPUTS[3]))
    assert not VALIDATORS["sla.outcome"].is_valid(outcome | {"fulfilled_at": None})
    late = json.loads(encode_output(OUTPUTS[5]))
    assert not VALIDATORS["sla.outcome"].is_valid(late | {"fulfilled_at": outcome["fulfilled_at"]})
    fulfilment = json.loads(encode_output(OUTPUTS[7]))
    validator = VALIDATORS["sla.late_fulfilment"]
    assert validator.is_valid(fulfilment)
    assert not validator.is_valid(fulfilment | {"fulfilled_at": None})
    assert not validator.is_valid(fulfilment | {"over_seconds": -1})
    assert not validator.is_valid(fulfilment | {"id": "TCK-1:first_response:1"})
    assert not validator.is_valid(fulfilment | {"outcome": "breached"})
    assert not validator.is_valid({k: v for k, v in fulfilment.items() if k != "over_seconds"})
    assert not validator.is_valid({k: v for k, v in fulfilment.items() if k != "customer_id"})
    dead = json.loads(
        encode_dead_letter(
            DeadLetter(
                reason="too_large",
                error="e",
                topic="t",
                partition=0,
                offset=0,
                timestamp=None,
                key=None,
                payload=b"\xff",
            ),
            detected_at=UTC_AT,
        )
    )
    assert VALIDATORS["sla.dead_letter"].is_valid(dead)
    assert not VALIDATORS["sla.dead_letter"].is_valid(dead | {"key_encoding": "base64"})
    assert not VALIDATORS["sla.dead_letter"].is_valid(dead | {"payload_encoding": "hex"})


@pytest.mark.parametrize("kind", ["sla.warning", "sla.breached", "sla.outcome"])
def test_outputs_written_before_customer_id_stay_valid(kind: str) -> None:
    """customer_id is written on every output but optional: older messages lack it."""
    schema = SCHEMAS[kind]
    assert "customer_id" not in schema["required"]
    assert list(schema["properties"])[:4] == ["id", "type", "ticket_id", "customer_id"]
    example = load(examples(kind)[0])
    assert example["customer_id"] == "cust-042"
    VALIDATORS[kind].validate({k: v for k, v in example.items() if k != "customer_id"})


# --- the codec accepts exactly what the schemas accept ----------------------------------------

BASE: dict[str, Any] = {
    "type": "ticket.created",
    "event_id": "evt-1",
    "ticket_id": "TCK-1",
    "occurred_at": "2026-11-23T10:00:00Z",
    "tier": "enterprise",
    "priority": "P1",
}
MINIMAL = {k: v for k, v in BASE.items() if k not in {"tier", "priority"}}

TRICKY = [
    BASE,
    BASE | {"extra": {"deep": [1, 2, {"x": None}]}, "schema_version": 1},
    BASE | {"schema_version": 1.0},
    BASE | {"schema_version": True},
    BASE | {"schema_version": "1"},
    BASE | {"schema_version": 2},
    BASE | {"schema_version": None},
    BASE | {"type": "ticket.deleted"},
    BASE | {"type": None},
    BASE | {"type": ["ticket.created"]},
    BASE | {"event_id": ""},
    BASE | {"event_id": "x" * 256},
    BASE | {"event_id": "x" * 257},
    BASE | {"event_id": "😀" * 256},
    BASE | {"event_id": "😀" * 257},
    BASE | {"event_id": "a\x00"},
    BASE | {"event_id": "a\n"},
    BASE | {"event_id": "a\x7f"},
    BASE | {"event_id": "a\x80\u2028\ufeff"},
    BASE | {"ticket_id": 1},
    BASE | {"tier": None},
    BASE | {"tier": "\t"},
    BASE | {"priority": ""},
    BASE | {"customer_id": None},
    BASE | {"customer_id": "\x00"},
    BASE | {"customer_id": 7},
    BASE | {"customer_id": "c" * 256},
    BASE | {"customer_id": "c" * 257},
    BASE | {"customer_id": "\u00e9" * 257},
    {k: v for k, v in BASE.items() if k != "tier"},
    {k: v for k, v in BASE.items() if k != "occurred_at"},
    MINIMAL | {"type": "ticket.responded", "actor": None},
    MINIMAL | {"type": "ticket.responded", "actor": ""},
    MINIMAL | {"type": "ticket.responded", "actor": False},
    MINIMAL | {"type": "ticket.responded", "actor": "a" * 256},
    MINIMAL | {"type": "ticket.responded", "actor": "a" * 257},
    MINIMAL | {"type": "ticket.updated"},
    MINIMAL | {"type": "ticket.updated", "tier": None},
    MINIMAL | {"type": "ticket.updated", "tier": None, "priority": "P1"},
    MINIMAL | {"type": "ticket.updated", "tier": "gold"},
    MINIMAL | {"type": "ticket.updated", "priority": "P1"},
    MINIMAL | {"type": "ticket.paused", "tier": 1, "priority": None},
    MINIMAL | {"type": "ticket.resumed"},
    MINIMAL | {"type": "ticket.resolved"},
    MINIMAL | {"type": "ticket.reopened"},
    *(
        BASE | {"occurred_at": ts}
        for ts in [
            "2026-11-23T10:00:00",
            "2026-11-23t10:00:00z",
            "2026-11-23T10:00:00.123456789+05:30",
            "2026-11-23 10:00:00Z",
            "2026-11-23T10:00:00+0530",
            "2026-11-23T10:00:00+24:00",
            "2026-11-23T10:00:00-23:59",
            "2026-11-23T24:00:00Z",
            "2026-12-31T23:59:60Z",
            "2026-02-29T00:00:00Z",
            "2028-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "2400-02-29T00:00:00Z",
            "1972-02-29T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+01:00",
            "2999-12-31T23:59:59-12:00",
            "3000-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "2026-11-23T10:00:00Z\n",
            "2026-11-23T10:00:00.Z",
            "2026-04-31T00:00:00Z",
            "2026-06-30T00:00:00Z",
            "\u0662\u0660\u0662\u0666-11-23T10:00:00Z",
            "2026-11-23T10:00:00\u200bZ",
        ]
    ),
]


@pytest.mark.parametrize("document", TRICKY, ids=lambda d: json.dumps(d, ensure_ascii=True)[:90])
def test_codec_and_schemas_agree_on_tricky_documents(document: dict[str, Any]) -> None:
    """For each tricky document, the schema and decode_event give the same verdict."""
    assert codec_accepts(document) == schema_accepts(document)
    assert codec_accepts(document, ascii_only=True) == schema_accepts(document)


def test_tricky_table_has_both_verdicts() -> None:
    """The table exercises acceptance as much as rejection."""
    verdicts = [schema_accepts(d) for d in TRICKY]
    assert verdicts.count(True) >= 15
    assert verdicts.count(False) >= 30


TIMESTAMP_PATTERN = re.compile(SCHEMAS["ticket.created"]["$defs"]["timestamp"]["pattern"])


def test_timestamp_pattern_knows_the_calendar() -> None:
    """The schemas' pattern and the codec accept exactly the real dates of 1970..2999."""
    for year in range(MIN_YEAR - 10, MAX_YEAR + 12):
        for month in range(1, 13):
            last = calendar.monthrange(year, month)[1]
            for day in (1, 28, 29, 30, 31):
                text = f"{year:04d}-{month:02d}-{day:02d}T00:00:00Z"
                expected = MIN_YEAR <= year <= MAX_YEAR and day <= last
                assert (TIMESTAMP_PATTERN.search(text) is not None) == expected, text
                if expected:
                    assert parse_timestamp(text) == datetime(year, month, day, tzinfo=UTC)
                else:
                    with pytest.raises(ValueError, match=text):
                        parse_timestamp(text)


# Hypothesis: mutate valid examples and compare verdicts.

INPUT_EXAMPLES = [load(path) for kind in sorted(INPUT_TYPES) for path in examples(kind)]
FIELDS = [
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


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """Timestamp-shaped text, often valid, often off in one part."""
    # Each part is in range half of the time, so about one text in ten is valid.
    year = draw(
        st.integers(1970, 2999)
        | st.sampled_from([0, 1, 1969, 2100, 3000, 9999])
        | st.integers(0, 9999)
    )
    month = draw(st.integers(1, 12) | st.integers(0, 13))
    day = draw(st.integers(1, 28) | st.sampled_from([0, 29, 30, 31, 32]))
    hour = draw(st.integers(0, 23) | st.integers(0, 25))
    minute = draw(st.integers(0, 59) | st.integers(0, 61))
    second = draw(st.integers(0, 59) | st.integers(0, 61))
    separator = draw(st.sampled_from("TTTtt _"))
    fraction = draw(st.none() | st.text("0123456789", max_size=11).map(lambda f: "." + f))
    offset = draw(
        st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+05:30", "-08:00", "+0100", "+01"])
        | st.builds(
            lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
            st.sampled_from("+-"),
            st.integers(0, 25),
            st.integers(0, 61),
        )
    )
    suffix = draw(st.sampled_from(["", "", "", "\n", " ", "x"]))
    return (
        f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
        f"{fraction or ''}{offset}{suffix}"
    )


def lengths(n: int) -> str:
    return "x" * n


names = st.one_of(
    st.sampled_from(
        ["P1", "enterprise", "", " ", "é", "工单", "a\x00b", "\x1f", "\x7f", "\x80", "\u2028"]
    ),
    st.integers(254, 258).map(lengths),
    st.text(max_size=12),
    st.text(st.sampled_from("ab\x00\t\n\x1f\x7f\x80é😀"), max_size=6),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
field_values = st.one_of(
    json_values,
    names,
    timestamps(),
    st.sampled_from([*INPUT_TYPES, "ticket.deleted", "TICKET.CREATED", "ticket.created "]),
    st.sampled_from([1, 1.0, 0, 2, -1, True, False, "1", None, [1]]),
)
mutations = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(FIELDS), st.none()),
    st.tuples(st.just("set"), st.sampled_from(FIELDS), field_values),
    st.tuples(st.just("set"), st.text(max_size=10), json_values),  # unknown extra fields
    st.tuples(st.just("set"), st.just("occurred_at"), timestamps()),
)


@settings(max_examples=600, deadline=None)
@given(
    example=st.sampled_from(INPUT_EXAMPLES),
    changes=st.lists(mutations, min_size=0, max_size=3),
    ascii_only=st.booleans(),
)
def test_codec_accepts_exactly_what_the_schemas_accept(
    example: dict[str, Any], changes: list[tuple[str, str, Any]], ascii_only: bool
) -> None:
    """Mutated examples (dropped fields, wrong types, bad timestamps, controls, extras) get
    the same verdict from the JSON Schema and from decode_event."""
    document = copy.deepcopy(example)
    for action, field, value in changes:
        if action == "drop":
            document.pop(field, None)
        else:
            document[field] = value
    assert codec_accepts(document, ascii_only=ascii_only) == schema_accepts(document), document


@settings(max_examples=300, deadline=None)
@given(timestamps())
def test_timestamp_pattern_and_parser_agree(text: str) -> None:
    """The schemas' timestamp pattern and parse_timestamp accept the same texts."""
    try:
        parse_timestamp(text)
        parsed = True
    except ValueError:
        parsed = False
    schema_ok = VALIDATORS["ticket.paused"].is_valid(
        {"type": "ticket.paused", "event_id": "e", "ticket_id": "t", "occurred_at": text}
    )
    assert parsed == schema_ok, text


# --- the status ------------------------------------------------------------------------------


def _statuses() -> list[TicketStatus]:
    """Statuses in every state, from a small policy and the events that lead to each."""
    policy = parse_policy(
        {
            "version": 1,
            "name": "schema-test",
            "priorities": ["P1", "P2"],
            "warnings": ["50%", "15m"],
            "tiers": {
                "gold": {
                    "commitment": "sla",
                    "objective": 0.99,
                    "targets": {
                        "first_response": {"P1": "1h"},
                        "resolution": {"P1": {"within": "4h", "pausable": True}},
                    },
                },
                "free": {"commitment": "none"},
            },
        },
        source="test",
        sha256="0" * 64,
    )
    tracker = Tracker(policy)
    t0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
    minute = timedelta(minutes=1)

    def run(
        ticket: str, steps: list[tuple[type[InputEvent], int, dict[str, str]]], at: int
    ) -> TicketStatus:
        state = None
        for number, (kind, minutes, fields) in enumerate(steps):
            when = t0 + minutes * minute
            event = kind(
                event_id=f"{ticket}-{number}", ticket_id=ticket, occurred_at=when, **fields
            )
            state, _ = tracker.apply(state, event, when)
        assert state is not None
        state, _ = tracker.advance(state, t0 + at * minute)
        assert state is not None
        status = status_of(tracker, state, t0 + at * minute + timedelta(microseconds=5))
        assert status is not None
        return status

    gold = {"tier": "gold", "priority": "P1", "customer_id": "acme"}
    return [
        run("T1", [(TicketCreated, 0, gold)], 50),
        run("T2", [(TicketCreated, 0, gold), (TicketPaused, 10, {})], 120),
        run("T3", [(TicketCreated, 0, gold), (TicketResolved, 90, {})], 90),
        run("T4", [(TicketCreated, 0, {"tier": "free", "priority": "P2"})], 30),
        run("T5", [(TicketCreated, 0, gold), (TicketResolved, 5, {}), (TicketReopened, 9, {})], 9),
    ]


def test_encoded_statuses_validate() -> None:
    """What encode_status writes, in every target state, is valid for sla.status."""
    states = set()
    for status in _statuses():
        document = json.loads(encode_status(status))
        VALIDATORS[STATUS_TYPE].validate(document)
        assert document == msgspec.to_builtins(status_to_dict(status))  # instants as text
        states.update(target["state"] for target in document["targets"])
    assert states == set(STATES)


def test_status_schema_refuses_what_the_codec_never_writes() -> None:
    """The status schema is exact: no extra fields, known states only, paused has no deadline."""
    document = json.loads(encode_status(_statuses()[0]))
    validator = VALIDATORS[STATUS_TYPE]
    assert validator.is_valid(document)
    assert not validator.is_valid(document | {"extra": 1})
    assert not validator.is_valid(document | {"policy_sha256": "xyz"})
    target = document["targets"][0]
    for change in (
        {"state": "late"},
        {"state": "paused"},  # it has a deadline
        {"state": "met"},  # without a fulfilment
        {"warnings": ["50%", "50%"]},
        {"extra": 1},
    ):
        assert not validator.is_valid(document | {"targets": [target | change]}), change

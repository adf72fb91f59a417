"""`sla-worker simulate`: it prints what the worker publishes, late fulfilments included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from worker.cli import main
from worker.core.events import InputEvent, TicketCreated, TicketResolved, TicketResponded
from worker.edge.codec import encode_input

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "deploy" / "policies" / "demo.yaml")
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)


@pytest.fixture
def log(tmp_path: Path) -> str:
    """Gold P1 (first response 2m, resolution 15m): L answered 5m late, resolved in time;
    O answered and resolved in time; F (free tier, no deadline) answered after 30m."""
    created = {"occurred_at": T0, "priority": "P1"}
    events: list[InputEvent] = [
        TicketCreated(event_id="c1", ticket_id="L", tier="gold", **created),
        TicketCreated(event_id="c2", ticket_id="O", tier="gold", **created),
        TicketCreated(event_id="c3", ticket_id="F", tier="free", **created),
        TicketResponded(event_id="r2", ticket_id="O", occurred_at=T0 + M),
        TicketResponded(event_id="r1", ticket_id="L", occurred_at=T0 + 7 * M),
        TicketResolved(event_id="z1", ticket_id="L", occurred_at=T0 + 10 * M),
        TicketResolved(event_id="z2", ticket_id="O", occurred_at=T0 + 10 * M),
        TicketResponded(event_id="r3", ticket_id="F", occurred_at=T0 + 30 * M),
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(encode_input(e) + b"\n" for e in events))
    return str(path)


def test_json_prints_the_late_fulfilment_after_the_breached_outcome(log: str) -> None:
    """--json prints one sla.late_fulfilment, valid for its schema, after the cycle's breach
    and breached outcome; fulfilments on time or without a deadline print nothing."""
    result = CliRunner().invoke(main, ["simulate", "--policy", DEMO, log, "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    shown = [(d["type"], d["id"]) for d in lines if d["type"] != "sla.warning"]
    assert shown == [
        ("sla.outcome", "O:first_response:1"),
        ("sla.breached", "L:first_response:1"),
        ("sla.outcome", "L:first_response:1"),
        ("sla.late_fulfilment", "L:first_response:1:late"),
        ("sla.outcome", "L:resolution:1"),
        ("sla.outcome", "O:resolution:1"),
    ]
    [late] = [d for d in lines if d["type"] == "sla.late_fulfilment"]
    schema = json.loads((ROOT / "schemas" / "sla.late_fulfilment.v1.json").read_text())
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(late)
    assert (late["fulfilled_at"], late["elapsed_seconds"], late["over_seconds"]) == (
        "2026-11-23T10:07:00Z",
        420,
        300,
    )


def test_text_prints_one_line_for_the_late_fulfilment(log: str) -> None:
    """The text form has a 'fulfilled late' line with the time to fulfil and the time over."""
    result = CliRunner().invoke(main, ["simulate", "--policy", DEMO, log])
    assert result.exit_code == 0, result.output
    late = [line for line in result.stdout.splitlines() if "fulfilled late" in line]
    assert late == [
        "2026-11-23T10:07:00Z  L  gold/P1  first_response#1  fulfilled late (7m, 5m over)  "
        "deadline 2026-11-23T10:02:00Z"
    ]


def test_status_prints_no_outputs(log: str) -> None:
    """--status prints statuses only: no output line, late fulfilments included."""
    result = CliRunner().invoke(main, ["simulate", "--policy", DEMO, log, "--status"])
    assert result.exit_code == 0, result.output
    assert {json.loads(line)["type"] for line in result.stdout.splitlines()} == {"sla.status"}

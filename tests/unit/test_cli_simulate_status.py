"""`sla-worker simulate --status`: the final status of each ticket, as JSON lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from jsonschema import Draft202012Validator

from worker.cli import main
from worker.core.events import TicketCreated, TicketResolved, TicketResponded
from worker.edge.codec import encode_input
from worker.edge.policy_file import load_policy

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "deploy" / "policies" / "demo.yaml")
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def test_status_prints_each_tickets_final_status_by_id(tmp_path: Path) -> None:
    """Each ticket held gets one sla.status line, sorted by ticket id, valid for its schema."""
    events = [
        TicketCreated(event_id="c2", ticket_id="T2", occurred_at=T0, tier="gold", priority="P1"),
        TicketCreated(
            event_id="c1",
            ticket_id="T1",
            occurred_at=T0,
            tier="gold",
            priority="P1",
            customer_id="acme",
        ),
        TicketResponded(event_id="r1", ticket_id="T1", occurred_at=T0 + M),
        TicketResolved(event_id="z2", ticket_id="T2", occurred_at=T0 + 20 * M),
    ]
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"".join(encode_input(e) + b"\n" for e in events))
    result = CliRunner().invoke(main, ["simulate", "--policy", DEMO, str(log), "--status"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    schema = json.loads((ROOT / "schemas" / "sla.status.v1.json").read_text())
    for line in lines:
        Draft202012Validator(schema).validate(line)
    assert [line["ticket_id"] for line in lines] == ["T1", "T2"]
    first, second = lines
    assert first["customer_id"] == "acme"
    assert first["as_of"] == "2026-11-23T10:20:00Z"  # the replay's clock: the newest event
    assert [t["state"] for t in first["targets"]] == ["met", "breached"]
    assert [t["state"] for t in second["targets"]] == ["breached", "breached"]
    assert first["policy_sha256"] == load_policy(DEMO).sha256
    assert result.stderr  # the compliance table goes to stderr, not among the statuses

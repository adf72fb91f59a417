"""``sla-worker produce``: the file is judged line by line before anything is sent.

Kafka is replaced by a fake publisher (the integration test uses the real broker), so these
pin what is refused, what is skipped, and exactly which bytes and keys are sent.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import worker.stream.producer
from worker.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "deploy" / "policies" / "demo.yaml")
# No broker listens here: a test that reached Kafka would fail to connect, not hang.
NO_BROKER = "kafka://127.0.0.1:9"


def created(ticket: str, tier: str = "gold", priority: str = "P1", **extra: Any) -> bytes:
    document = {
        "type": "ticket.created",
        "event_id": f"{ticket}-1",
        "ticket_id": ticket,
        "occurred_at": "2026-11-23T10:00:00Z",
        "tier": tier,
        "priority": priority,
        **extra,
    }
    return json.dumps(document).encode()


def responded(ticket: str) -> bytes:
    # Spaces and an offset: sent as written, never re-encoded.
    return (
        b'{ "type": "ticket.responded", "event_id": "%s-2", "ticket_id": "%s", '
        b'"occurred_at": "2026-11-23T11:00:00.5+01:00" }' % (ticket.encode(), ticket.encode())
    )


class FakePublisher:
    """Records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []
        self.partitions = 8
        self.flushed = False

    def on_ack(self, callback: Any) -> None:
        self.callback = callback

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append((key, value))
        self.callback(len(self.sent))

    async def flush(self) -> None:
        self.flushed = True


@pytest.fixture
def publisher(monkeypatch: pytest.MonkeyPatch) -> FakePublisher:
    fake = FakePublisher()
    topics: list[str] = []

    @contextlib.asynccontextmanager
    async def fake_open(settings: Any, topic: str, **_: Any) -> AsyncIterator[FakePublisher]:
        topics.append(topic)
        yield fake

    monkeypatch.setattr(worker.stream.producer, "open_publisher", fake_open)
    fake.topics = topics  # type: ignore[attr-defined]
    return fake


def write(tmp_path: Path, *lines: bytes, ending: bytes = b"\n") -> str:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(line + ending for line in lines))
    return str(path)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["produce", "--broker", NO_BROKER, *args])


def test_invalid_lines_refuse_the_file_listing_each_with_its_number(
    tmp_path: Path, publisher: FakePublisher
):
    """Bad lines are listed on stderr by number and reason; nothing is sent; exit code 1."""
    events = write(
        tmp_path,
        created("T-1"),
        b"not json",
        b"",
        b'{"type": "ticket.created", "ticket_id": "T-2"}',
        responded("T-1"),
    )
    result = run(events)
    assert result.exit_code == 1
    assert publisher.sent == []
    assert result.stderr.splitlines() == [
        "line 2: invalid_json: not JSON: invalid character (byte 4)",
        "line 4: invalid_event: event_id: missing",
        f"Error: {events}: 2 of 4 lines are invalid; nothing was sent "
        "(fix them, or send the 2 valid ones with --skip-invalid)",
    ]


def test_policy_flag_also_refuses_unknown_tiers_and_priorities(
    tmp_path: Path, publisher: FakePublisher
):
    """With --policy, a tier or priority the policy lacks makes a line invalid."""
    events = write(tmp_path, created("T-1", tier="platinum"), created("T-2", priority="P9"))
    result = run("--policy", DEMO, events)
    assert result.exit_code == 1
    assert "line 1: unknown_tier: tier: 'platinum' is not a tier of the policy" in result.stderr
    assert "line 2: unknown_priority: priority: 'P9' is not a priority" in result.stderr
    assert publisher.sent == []


def test_without_policy_only_the_codec_judges(tmp_path: Path, publisher: FakePublisher):
    """Without --policy, an unknown tier is sent (the worker dead-letters it)."""
    result = run(write(tmp_path, created("T-1", tier="platinum")))
    assert result.exit_code == 0, result.output
    assert len(publisher.sent) == 1


def test_skip_invalid_sends_the_valid_lines_as_their_exact_bytes(
    tmp_path: Path, publisher: FakePublisher
):
    """--skip-invalid sends valid lines byte for byte, keyed by ticket id, and lists the rest."""
    good = [created("T-1", customer_id="c\u00e9", extra={"kept": [1, 2]}), responded("T-1")]
    events = write(tmp_path, good[0], b"{oops", good[1], ending=b"\r\n")
    result = run("--skip-invalid", "--topic", "my-events", events)
    assert result.exit_code == 0, result.output
    assert publisher.sent == [(b"T-1", good[0]), (b"T-1", good[1])]
    assert publisher.flushed
    assert publisher.topics == ["my-events"]  # type: ignore[attr-defined]
    assert result.stderr.startswith("line 2: invalid_json: ")
    assert result.stdout.splitlines() == [
        f"sent 2 events from {events} to my-events (8 partitions) in "
        + result.stdout.split(" in ", 1)[1].splitlines()[0],
        "  ticket.created 1, ticket.responded 1",
    ]
    assert "; skipped 1 invalid lines" in result.stdout


def test_default_topic_is_the_first_input_topic(tmp_path: Path, publisher: FakePublisher):
    """Without --topic the events go to the first of the input topics."""
    result = run("--input-topics", "a-events,b-events", write(tmp_path, created("T-1")))
    assert result.exit_code == 0, result.output
    assert publisher.topics == ["a-events"]  # type: ignore[attr-defined]


def test_a_file_without_events_sends_nothing(tmp_path: Path, publisher: FakePublisher):
    """Blank lines only: nothing to send, and no broker is contacted."""
    result = run(write(tmp_path, b"", b"   "))
    assert result.exit_code == 0
    assert "holds no valid event" in result.stdout
    assert publisher.topics == []  # type: ignore[attr-defined]


def test_a_missing_file_is_a_one_line_usage_error(tmp_path: Path):
    """A path that does not exist: exit code 2, one line, no traceback."""
    result = run(str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_unreachable_broker_is_one_line(tmp_path: Path):
    """No broker: one line naming the address, exit code 1, within SLA_CONNECT_TIMEOUT."""
    result = CliRunner().invoke(
        main,
        ["produce", "--broker", NO_BROKER, write(tmp_path, created("T-1"))],
        env={"SLA_CONNECT_TIMEOUT": "1s"},
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: cannot reach Kafka at 127.0.0.1:9 (PLAINTEXT) within 1s: no broker answered "
        "(is it running, and is this its address?)"
    ]

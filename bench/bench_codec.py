"""Throughput of the wire codec on one core: decodes/s of typical inputs, encodes/s of outputs.

Run with ``make bench`` or ``.venv/bin/python bench/bench_codec.py [--seconds 0.5]``. Each
figure is the best of a few timed rounds, so a busy machine reads low rather than high.
The bare msgspec parse is shown as the floor the codec's own checks add to.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.core.events import (
    DeadLetter,
    InputEvent,
    SlaBreached,
    SlaOutcome,
    SlaWarning,
    TicketCreated,
    TicketResolved,
    TicketResponded,
    TicketUpdated,
)
from worker.edge.codec import (
    decode_event,
    decode_message,
    encode_dead_letter,
    encode_input,
    encode_output,
)

# Timed rounds per figure; the best one is printed.
ROUNDS = 5
TIERS = frozenset({"premium-enterprise", "enterprise", "business", "pro", "free"})
PRIORITIES = frozenset({"P1", "P2", "P3", "P4"})
AT = datetime(2026, 11, 23, 10, 0, 0, 123_456, tzinfo=UTC)


def typical_inputs() -> list[bytes]:
    """Return a realistic mix of input messages, with offsets and a few extra fields."""
    created = json.loads(
        encode_input(
            TicketCreated(
                event_id="9b2f6c1e-2d4a-4c1b-8f0e-1a2b3c4d5e6f",
                ticket_id="TCK-104233",
                occurred_at=AT,
                tier="premium-enterprise",
                priority="P1",
                customer_id="cust-042",
            )
        )
    )
    created |= {
        "occurred_at": "2026-11-23T02:00:00.123456-08:00",
        "subject": "502 on dashboard",
        "tags": ["dashboard", "outage"],
        "source": {"system": "zendesk", "id": 88231},
    }
    others: list[InputEvent] = [
        TicketResponded(
            event_id="2c1d9d1e-1111-4c1b-8f0e-1a2b3c4d5e6f",
            ticket_id="TCK-104233",
            occurred_at=AT + timedelta(minutes=42),
            actor="agent-17",
        ),
        TicketUpdated(
            event_id="3c1d9d1e-2222-4c1b-8f0e-1a2b3c4d5e6f",
            ticket_id="TCK-104233",
            occurred_at=AT.astimezone(timezone(timedelta(hours=5, minutes=30))),
            priority="P2",
        ),
        TicketResolved(
            event_id="4c1d9d1e-3333-4c1b-8f0e-1a2b3c4d5e6f",
            ticket_id="TCK-104233",
            occurred_at=AT + timedelta(hours=5),
        ),
    ]
    return [json.dumps(created).encode(), *(encode_input(e) for e in others)]


def outputs() -> list[SlaWarning | SlaBreached | SlaOutcome]:
    """Return one warning, one breach and one outcome, as the tracker emits them."""
    fields: dict[str, Any] = {
        "ticket_id": "TCK-104233",
        "tier": "premium-enterprise",
        "priority": "P1",
        "target": "first_response",
        "cycle": 1,
        "commitment": "sla",
        "started_at": AT,
        "deadline": AT + timedelta(hours=1),
        "target_seconds": 3600,
        "policy": "cloudflare-support",
    }
    return [
        SlaWarning(
            **fields,
            threshold="75%",
            detected_at=AT + timedelta(minutes=45),
            remaining_seconds=900.0,
        ),
        SlaBreached(**fields, detected_at=AT + timedelta(hours=1, milliseconds=250)),
        SlaOutcome(
            **fields,
            outcome="met",
            fulfilled_at=AT + timedelta(minutes=42),
            elapsed_seconds=2520.0,
        ),
    ]


def rate(operation: Callable[[], object], items: int, seconds: float) -> float:
    """Return the best items/s over ROUNDS rounds of about ``seconds`` each."""
    loops = 1
    while True:  # calibrate: enough loops to last `seconds`
        start = time.perf_counter()
        for _ in range(loops):
            operation()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 4:
            break
        loops *= 2
    loops = max(1, int(loops * seconds / elapsed))
    best = 0.0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(loops):
            operation()
        best = max(best, loops * items / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.4, help="length of one timed round")
    seconds = parser.parse_args().seconds

    inputs = typical_inputs()
    keyed = [(b"TCK-104233", value) for value in inputs]
    invalid = [
        b'{"type":"ticket.created","event_id":"e","ticket_id":"t","occurred_at":"x"}',
        b"\xff not json",
        b'{"type":"ticket.created"}',
    ]
    events = outputs()
    dead_letter = DeadLetter(
        reason="invalid_event",
        error="occurred_at: not an RFC 3339 timestamp",
        topic="ticket-events",
        partition=3,
        offset=18234,
        timestamp=AT,
        key=b"TCK-104233",
        payload=inputs[0],
    )
    generic = msgspec.json.Decoder()

    def each(function: Callable[[bytes], object], values: list[bytes]) -> Callable[[], None]:
        def run() -> None:
            for value in values:
                function(value)

        return run

    figures = [
        ("msgspec parse only (floor)", each(generic.decode, inputs), len(inputs)),
        ("decode_event, typical mix", each(decode_event, inputs), len(inputs)),
        (
            "decode_message, typical mix",
            lambda: [decode_message(k, v, tiers=TIERS, priorities=PRIORITIES) for k, v in keyed],
            len(keyed),
        ),
        ("decode_event, rejections", each(decode_event, invalid), len(invalid)),
        ("encode_output, warning/breach/outcome", lambda: [encode_output(e) for e in events], 3),
        ("encode_dead_letter", lambda: encode_dead_letter(dead_letter, detected_at=AT), 1),
    ]
    sizes = ", ".join(str(len(v)) for v in inputs)
    print(f"sla-worker codec, Python {sys.version.split()[0]}, msgspec {msgspec.__version__}")
    print(f"typical inputs: {len(inputs)} messages of {sizes} bytes")
    for name, operation, items in figures:
        per_s = rate(operation, items, seconds)
        print(f"  {name:<40} {per_s:>12,.0f} /s  {1e6 / per_s:>7.2f} us each")


if __name__ == "__main__":
    main()

"""The agent's per-message path in-process: decode, apply, persist, emit, with no broker.

The agent is driven through its public door, ``Agent.handle(message)``, with small fakes of
what faust hands it in the worker: messages (topic, partition, offset, key, value,
timestamp), the ticket table (a dict), output topics that record what is sent to them, and
the consumer's end offsets. The wall clock is an argument. The same agent against the real
broker is tested in tests/integration/test_worker_*.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from worker.core.events import (
    InputEvent,
    OutputEvent,
    SlaBreached,
    SlaOutcome,
    SlaWarning,
    TicketCreated,
    TicketResponded,
)
from worker.core.policy import Policy
from worker.edge.codec import encode_input
from worker.edge.metrics import Metrics
from worker.edge.settings import Settings
from worker.edge.state_codec import decode_state
from worker.stream.agent import Agent, Outputs
from worker.stream.health import Health

# Monday 23 November 2026, 10:00 UTC.
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)
SETTINGS = Settings(app_id="agent-test")
TICKS = "agent-test-ticks"
INPUT = SETTINGS.input_topics[0]


@dataclass(frozen=True, slots=True)
class Message:
    """A consumed message, as much of it as the agent reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float = 0.0


@dataclass(slots=True)
class Topic:
    """An output topic that records every ``(key, value)`` sent to it."""

    sent: list[tuple[bytes | None, bytes]] = field(default_factory=list)

    async def send(self, *, key: bytes | None, value: bytes) -> None:
        self.sent.append((key, value))

    def documents(self) -> list[dict[str, object]]:
        return [json.loads(value) for _, value in self.sent]


@dataclass(slots=True)
class Rig:
    """An agent over fakes, and the fakes, to drive it and look at what it did."""

    agent: Agent
    table: dict[bytes, bytes]
    topics: dict[str, Topic]
    metrics: Metrics
    wall: list[datetime]
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    async def send(self, event: InputEvent, *, partition: int = 0) -> Message:
        """Process ``event`` as the next message of its input partition, caught up."""
        return await self.send_raw(event.ticket_id.encode(), encode_input(event), partition)

    async def send_raw(self, key: bytes | None, value: bytes | None, partition: int = 0) -> Message:
        """Process a message of raw bytes as the next of its input partition, caught up."""
        offset = self.offsets.get((INPUT, partition), 0)
        self.offsets[(INPUT, partition)] = offset + 1
        message = Message(INPUT, partition, offset, key, value, T0.timestamp())
        await self.agent.handle(message)
        return message

    async def tick(self, partition: int = 0) -> None:
        """Process a tick message for ``partition``."""
        offset = self.offsets.get((TICKS, partition), 0)
        self.offsets[(TICKS, partition)] = offset + 1
        await self.agent.handle(Message(TICKS, partition, offset, None, b""))

    def published(self) -> list[str]:
        """Return the ids of every output published, in order, on any output topic."""
        return [
            str(document["id"])
            for name in ("warnings", "breaches", "outcomes")
            for document in self.topics[name].documents()
        ]

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def rig(make_policy: Callable[..., Policy]) -> Rig:
    """An agent on the default test policy, its input partitions caught up, wall clock T0."""
    policy = make_policy()
    metrics = Metrics(policy)
    topics = {name: Topic() for name in ("warnings", "breaches", "outcomes", "dead_letters")}
    targets: dict[type[OutputEvent], Topic] = {
        SlaWarning: topics["warnings"],
        SlaBreached: topics["breaches"],
        SlaOutcome: topics["outcomes"],
    }
    table: dict[bytes, bytes] = {}
    wall = [T0]
    rig: Rig

    def highwater(topic: str, partition: int) -> int:
        return rig.offsets.get((topic, partition), 0)  # every message is the newest there is

    agent = Agent(
        SETTINGS,
        metrics,
        policy=policy,
        table=table,
        outputs=Outputs(targets, topics["dead_letters"]),
        highwater=highwater,
        health=Health(tick_interval_s=SETTINGS.tick_interval_s),
        tick_topic=TICKS,
        now=lambda: wall[0],
    )
    rig = Rig(agent, table, topics, metrics, wall)
    return rig


def created(ticket: str, at: datetime, *, event_id: str = "c1") -> TicketCreated:
    return TicketCreated(
        event_id=event_id, ticket_id=ticket, occurred_at=at, tier="gold", priority="P1"
    )


async def test_valid_input_stores_the_state_and_publishes_its_outputs(rig: Rig) -> None:
    """An input event updates the stored state and publishes the outputs it earned."""
    await rig.send(created("t1", T0 - 20 * M))
    assert rig.published() == []
    message = await rig.send(
        TicketResponded(event_id="r1", ticket_id="t1", occurred_at=T0 - 10 * M)
    )
    outcomes = rig.topics["outcomes"].documents()
    assert [(d["id"], d["outcome"]) for d in outcomes] == [("t1:first_response:1", "met")]
    assert rig.topics["outcomes"].sent[0][0] == b"t1"
    state, last = decode_state(rig.table[b"t1"])
    assert [e.event_id for e in state.events] == ["c1", "r1"]
    assert last is not None
    assert (last.topic, last.offset) == (INPUT, message.offset)  # what made it emit
    assert rig.count("sla_events_total", type="ticket.responded", result="ok") == 1
    assert rig.topics["dead_letters"].sent == []


async def test_invalid_input_is_dead_lettered_with_its_exact_bytes(rig: Rig) -> None:
    """A message that is not an event is dead-lettered with its exact key and bytes, only that."""
    payload = b'\xff\x00{"type": "ticket.created"'
    message = await rig.send_raw(b"t9", payload)
    [(key, value)] = rig.topics["dead_letters"].sent
    assert key == b"t9"
    dead = json.loads(value)
    assert dead["reason"] == "invalid_json"
    assert dead["payload_encoding"] == "base64"
    assert base64.b64decode(str(dead["payload"])) == payload
    assert dead["source"] == {
        "topic": INPUT,
        "partition": message.partition,
        "offset": message.offset,
        "timestamp": "2026-11-23T10:00:00Z",
    }
    assert rig.table == {}
    assert rig.published() == []
    assert rig.count("sla_dead_letters_total", reason="invalid_json") == 1


async def test_tombstone_is_dead_lettered_and_processing_goes_on(rig: Rig) -> None:
    """A message without a value is dead-lettered (empty payload); the next event is processed."""
    await rig.send_raw(b"t1", None)
    await rig.send(created("t1", T0))
    [(_, value)] = rig.topics["dead_letters"].sent
    assert json.loads(value)["payload"] == ""
    assert b"t1" in rig.table


async def test_tick_past_a_deadline_publishes_the_breach(rig: Rig) -> None:
    """A tick past a ticket's deadline publishes its warnings, its breach and its outcome."""
    await rig.send(created("t1", T0 - 20 * M))
    rig.wall[0] = T0 + 41 * M
    await rig.tick()
    warnings = rig.topics["warnings"].documents()
    assert [d["threshold"] for d in warnings] == ["50%", "75%", "15m", "90%"]
    [outcome] = rig.topics["outcomes"].documents()
    assert (outcome["id"], outcome["outcome"]) == ("t1:first_response:1", "breached")
    [breach] = rig.topics["breaches"].documents()
    assert breach["deadline"] == "2026-11-23T10:40:00Z"
    assert breach["detected_at"] == "2026-11-23T10:41:00Z"
    _, last = decode_state(rig.table[b"t1"])
    assert last is not None
    assert (last.topic, last.offset) == (TICKS, 0)  # the tick made it emit


async def test_tick_before_any_deadline_publishes_nothing(rig: Rig) -> None:
    """A tick while no deadline is due, or on a partition never seen, publishes nothing."""
    await rig.send(created("t1", T0 - 20 * M))
    stored = dict(rig.table)
    await rig.tick(partition=0)
    await rig.tick(partition=5)
    assert rig.published() == []
    assert rig.table == stored


async def test_duplicate_input_publishes_nothing_and_keeps_the_state(rig: Rig) -> None:
    """A redelivered event is a counted duplicate: no output, the stored state unchanged."""
    await rig.send(created("t1", T0 - 20 * M))
    await rig.send(TicketResponded(event_id="r1", ticket_id="t1", occurred_at=T0 - 10 * M))
    stored = dict(rig.table)
    published = rig.published()
    await rig.send(TicketResponded(event_id="r1", ticket_id="t1", occurred_at=T0 - 10 * M))
    await rig.send(created("t1", T0 - 20 * M))
    assert rig.published() == published
    assert rig.table == stored
    assert rig.count("sla_events_total", type="ticket.responded", result="duplicate") == 1
    assert rig.count("sla_events_total", type="ticket.created", result="duplicate") == 1


async def test_ticks_go_once_to_each_known_partition_until_processed(rig: Rig) -> None:
    """One tick per known partition, none while one is in flight, until it is back or lost."""
    await rig.send(created("t1", T0), partition=0)
    await rig.send(created("t2", T0), partition=1)
    assert list(rig.agent.ticks_due([0, 1, 2], 100.0)) == [0, 1]
    assert list(rig.agent.ticks_due([0, 1, 2], 101.0)) == []
    await rig.tick(partition=1)
    assert list(rig.agent.ticks_due([0, 1, 2], 102.0)) == [1]
    assert list(rig.agent.ticks_due([0, 1, 2], 100.0 + 30.0)) == [0]  # presumed lost: again

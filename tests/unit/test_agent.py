"""The agent's batch path in-process: decode, apply, emit, persist, with no broker.

The agent is driven through its public doors, ``Agent.handle(message)`` (a batch of one)
and ``Agent.handle_batch(messages)``, with small fakes of what the worker hands it:
messages (topic, partition, offset, key, value, timestamp), a store (a dict per partition),
a sink that records what is published per topic (and can be made to fail), and the
consumer's end offsets. The wall clock is an argument. The same agent against the real
broker is tested in tests/integration/test_worker_*.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from harness import Message, Store

from worker.core.events import (
    InputEvent,
    TicketCreated,
    TicketResponded,
    TicketUpdated,
)
from worker.core.policy import Policy
from worker.edge.codec import encode_input
from worker.edge.metrics import Metrics
from worker.edge.settings import Settings
from worker.edge.state_codec import decode_state
from worker.stream.agent import MAX_STATE_BYTES, Agent, Emission
from worker.stream.health import Health

# Monday 23 November 2026, 10:00 UTC.
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)
SETTINGS = Settings(app_id="agent-test")
TICKS = "agent-test-ticks"
INPUT = SETTINGS.input_topics[0]


@dataclass(slots=True)
class Topic:
    """An output topic that records every ``(key, value)`` delivered to it."""

    sent: list[tuple[bytes | None, bytes]] = field(default_factory=list)

    def documents(self) -> list[dict[str, object]]:
        return [json.loads(value) for _, value in self.sent]


class SinkError(Exception):
    """What the fake sink raises when told to fail (a refused delivery)."""


@dataclass(slots=True)
class Sink:
    """Records each batch's deliveries per topic; ``fail`` makes the next delivery raise."""

    topics: dict[str, Topic]
    names: dict[str, str]
    changelog: dict[int, list[tuple[bytes, bytes | None]]] = field(default_factory=dict)
    deliveries: int = 0
    fail: bool = False

    async def deliver(self, emission: Emission) -> dict[int, int]:
        if self.fail:
            raise SinkError("refused")
        self.deliveries += 1
        offsets = {}
        for partition, writes in emission.changelog.items():
            log = self.changelog.setdefault(partition, [])
            log.extend(writes.items())
            offsets[partition] = len(log) - 1
        for topic, key, value in emission.outputs:
            self.topics[self.names[topic]].sent.append((key, value))
        for dead_key, dead in emission.dead_letters:
            self.topics["dead_letters"].sent.append((dead_key, dead))
        return offsets


@dataclass(slots=True)
class Rig:
    """An agent over fakes, and the fakes, to drive it and look at what it did."""

    agent: Agent
    store: Store
    sink: Sink
    topics: dict[str, Topic]
    metrics: Metrics
    wall: list[datetime]
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)

    @property
    def table(self) -> dict[bytes, bytes]:
        return self.store.table

    async def send(self, event: InputEvent, *, partition: int = 0) -> Message:
        """Process ``event`` as the next message of its input partition, caught up."""
        return await self.send_raw(event.ticket_id.encode(), encode_input(event), partition)

    async def send_raw(
        self,
        key: bytes | None,
        value: bytes | None,
        partition: int = 0,
        timestamp: float = T0.timestamp(),
    ) -> Message:
        """Process a message of raw bytes as the next of its input partition, caught up."""
        message = self.message(key, value, partition, timestamp)
        await self.agent.handle(message)
        return message

    def message(
        self,
        key: bytes | None,
        value: bytes | None,
        partition: int = 0,
        timestamp: float = T0.timestamp(),
    ) -> Message:
        """Return the next message of an input partition (not processed)."""
        offset = self.offsets.get((INPUT, partition), 0)
        self.offsets[(INPUT, partition)] = offset + 1
        return Message(INPUT, partition, offset, key, value, timestamp)

    def event(self, event: InputEvent, partition: int = 0) -> Message:
        """Return the next message of an input partition carrying ``event`` (not processed)."""
        return self.message(event.ticket_id.encode(), encode_input(event), partition)

    def tick_message(self, partition: int = 0) -> Message:
        """Return the next tick message of ``partition`` (not processed)."""
        offset = self.offsets.get((TICKS, partition), 0)
        self.offsets[(TICKS, partition)] = offset + 1
        return Message(TICKS, partition, offset, None, b"")

    async def tick(self, partition: int = 0) -> None:
        """Process a tick message for ``partition``."""
        await self.agent.handle(self.tick_message(partition))

    def published(self) -> list[str]:
        """Return the ids of every output published, in order, on any output topic."""
        return [
            str(document["id"])
            for name in ("warnings", "breaches", "outcomes")
            for document in self.topics[name].documents()
        ]

    def count(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


def make_rig(policy: Policy, settings: Settings = SETTINGS) -> Rig:
    """An agent on ``policy`` over fakes, its input partitions caught up, wall clock T0."""
    metrics = Metrics(policy)
    topics = {name: Topic() for name in ("warnings", "breaches", "outcomes", "dead_letters")}
    names = {
        settings.warning_topic: "warnings",
        settings.breach_topic: "breaches",
        settings.outcome_topic: "outcomes",
    }
    store = Store()
    sink = Sink(topics, names)
    wall = [T0]
    rig: Rig

    def highwater(topic: str, partition: int) -> int:
        return rig.offsets.get((topic, partition), 0)  # every message is the newest there is

    agent = Agent(
        settings,
        metrics,
        policy=policy,
        store=store,
        sink=sink,
        highwater=highwater,
        health=Health(tick_interval_s=settings.tick_interval_s),
        tick_topic=TICKS,
        now=lambda: wall[0],
    )
    rig = Rig(agent, store, sink, topics, metrics, wall)
    return rig


@pytest.fixture
def rig(make_policy: Callable[..., Policy]) -> Rig:
    """An agent on the default test policy, its input partitions caught up, wall clock T0."""
    return make_rig(make_policy())


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


async def test_a_response_after_the_breach_publishes_a_late_fulfilment(rig: Rig) -> None:
    """A response after the breach publishes sla.late_fulfilment on the outcome topic, keyed
    by the ticket; a response on time publishes none."""
    await rig.send(created("t1", T0 - 70 * M))  # deadline T0 - 10m: breached at once
    await rig.send(created("t2", T0 - 50 * M, event_id="c2"))
    await rig.send(TicketResponded(event_id="r2", ticket_id="t2", occurred_at=T0 - 45 * M))
    rig.wall[0] = T0 + 5 * M
    await rig.send(TicketResponded(event_id="r1", ticket_id="t1", occurred_at=T0 + 5 * M))
    outcomes = rig.topics["outcomes"].documents()
    assert [(d["id"], d["type"]) for d in outcomes] == [
        ("t1:first_response:1", "sla.outcome"),
        ("t2:first_response:1", "sla.outcome"),
        ("t1:first_response:1:late", "sla.late_fulfilment"),
    ]
    late = outcomes[-1]
    assert rig.topics["outcomes"].sent[-1][0] == b"t1"
    assert (late["deadline"], late["fulfilled_at"]) == (
        "2026-11-23T09:50:00Z",
        "2026-11-23T10:05:00Z",
    )
    assert (late["elapsed_seconds"], late["over_seconds"]) == (75 * 60, 15 * 60)
    assert rig.published().count("t1:first_response:1:late") == 1


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


# --- the batch path --------------------------------------------------------------------------


async def test_a_batch_is_delivered_once_then_stored_once_per_partition(rig: Rig) -> None:
    """Inputs and a tick in one batch: one delivery, then one store write per partition."""
    await rig.send(created("t1", T0 - 20 * M), partition=0)
    rig.wall[0] = T0 + 41 * M
    batch = [
        rig.event(created("t2", T0 + 20 * M, event_id="c2"), partition=1),
        rig.event(
            TicketResponded(event_id="r2", ticket_id="t2", occurred_at=T0 + 30 * M), partition=1
        ),
        rig.tick_message(partition=0),
    ]
    await rig.agent.handle_batch(batch)
    assert rig.sink.deliveries == 2  # the first send, then this batch
    assert rig.store.writes == 3  # the first send, then partitions 0 and 1
    # t2's two events write one changelog record: its latest state.
    assert [key for key, _ in rig.sink.changelog[1]] == [b"t2"]
    assert rig.store.persisted == {0: 1, 1: 0}
    breaches = rig.topics["breaches"].documents()
    assert [b["ticket_id"] for b in breaches] == ["t1"]  # the tick, in the batch
    state, last = decode_state(rig.table[b"t2"])
    assert [e.event_id for e in state.events] == ["c2", "r2"]
    assert last is not None
    assert last.offset == batch[1].offset
    assert rig.count("sla_events_total", type="ticket.created", result="ok") == 2


async def test_a_failed_delivery_raises_and_stores_nothing(rig: Rig) -> None:
    """When the sink cannot deliver, the batch raises and the store keeps the states before it."""
    await rig.send(created("t1", T0 - 20 * M))
    stored = dict(rig.table)
    rig.sink.fail = True
    with pytest.raises(SinkError):
        await rig.send(TicketResponded(event_id="r1", ticket_id="t1", occurred_at=T0 - 10 * M))
    assert rig.table == stored
    assert rig.count("sla_events_total", type="ticket.responded", result="ok") == 0


async def test_a_content_error_is_dead_lettered_and_the_batch_goes_on(
    make_policy: Callable[..., Policy],
) -> None:
    """An exception from pure code on one message dead-letters it (processing_error); the
    rest of the batch is processed (here a stored state that is not one: bytes gone bad)."""
    policy = make_policy()
    rig = make_rig(policy)
    rig.store.partitions[0] = {b"bad": b"garbage"}
    bad = rig.event(created("bad", T0))
    good = rig.event(created("good", T0))
    await rig.agent.handle_batch([bad, good])
    [(key, value)] = rig.topics["dead_letters"].sent
    dead = json.loads(value)
    assert key == b"bad"
    assert dead["reason"] == "processing_error"
    assert dead["error"] == "DecodeError: JSON is malformed: invalid character (byte 0)"
    assert dead["payload"] == bad.value.decode()  # type: ignore[union-attr]
    assert b"good" in rig.table
    assert rig.table[b"bad"] == b"garbage"  # left as it was
    assert rig.count("sla_dead_letters_total", reason="processing_error") == 1


async def test_a_record_timestamp_past_year_9999_is_dead_lettered_with_a_null_timestamp(
    rig: Rig,
) -> None:
    """An invalid message stamped in year 10000 (Kafka accepts it) is dead-lettered byte-exact."""
    year_10000 = datetime(9999, 12, 31, 23, 59, tzinfo=UTC).timestamp() + 3600.0
    payload = b"not json \xff"
    message = await rig.send_raw(b"t1", payload, timestamp=year_10000)
    [(key, value)] = rig.topics["dead_letters"].sent
    dead = json.loads(value)
    assert key == b"t1"
    assert base64.b64decode(str(dead["payload"])) == payload
    assert dead["source"] == {
        "topic": INPUT,
        "partition": message.partition,
        "offset": message.offset,
        "timestamp": None,
    }


async def test_an_event_that_would_store_a_state_too_large_is_dead_lettered(rig: Rig) -> None:
    """No stored state exceeds MAX_STATE_BYTES: the event that would make it is dead-lettered."""
    await rig.send(created("t1", T0 - 600 * M))
    n = 0
    while not rig.topics["dead_letters"].sent and n < 600:
        n += 1
        await rig.send(
            TicketUpdated(
                event_id=f"u{n:04d}".ljust(256, "x"),
                ticket_id="t1",
                occurred_at=T0 - 500 * M + n * timedelta(seconds=1),
                priority="P2" if n % 2 else "P1",
            )
        )
    [(key, value)] = rig.topics["dead_letters"].sent
    assert key == b"t1"
    assert json.loads(value)["reason"] == "state_too_large"
    assert len(rig.table[b"t1"]) <= MAX_STATE_BYTES
    assert all(v is None or len(v) <= MAX_STATE_BYTES for _, v in rig.sink.changelog[0])
    assert rig.count("sla_dead_letters_total", reason="state_too_large") == 1


async def test_an_open_ticket_past_open_retention_is_forgotten_and_counted(
    make_policy: Callable[..., Policy],
) -> None:
    """An open ticket silent for SLA_OPEN_RETENTION is forgotten (tombstone) and counted by tier."""
    rig = make_rig(make_policy(), Settings(app_id="agent-test", open_retention_s=3600))
    rig.agent.partitions.clear()
    await rig.send(created("old", T0 - 30 * M))  # open: never responded
    rig.wall[0] = T0 + 2 * 60 * M
    await rig.send(created("new", T0 + 2 * 60 * M, event_id="c2"))  # moves the clock
    await rig.tick()
    assert b"old" not in rig.table
    assert (b"old", None) in rig.sink.changelog[0]
    assert rig.count("sla_tickets_expired_total", tier="gold") == 1


async def test_a_failed_tick_puts_its_due_tickets_back(
    make_policy: Callable[..., Policy],
) -> None:
    """When reading the due tickets' states raises, the tick's popped tickets are due again."""
    policy = make_policy()
    rig = make_rig(policy)

    class Failing(Store):  # a store whose reads fail
        def get_many(self, partition: int, keys: Sequence[bytes]) -> list[bytes | None]:
            raise RuntimeError("store gone")

    await rig.send(created("t1", T0 - 20 * M))
    rig.wall[0] = T0 + 41 * M
    rig.agent.store = Failing(rig.store.partitions)
    with pytest.raises(RuntimeError):
        await rig.tick()
    assert "t1" in rig.agent.partitions[0].index
    assert rig.agent.partitions[0].index.get("t1") is not None

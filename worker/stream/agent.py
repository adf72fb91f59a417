"""The agent's work, one message at a time: decode -> apply -> persist -> emit.

The agent (concurrency 1, at-least-once) consumes the input topics and the internal tick
topic, co-partitioned by ticket id:

- an input message is decoded by the codec (an invalid one goes to the dead-letter topic
  with its exact bytes), applied to the ticket's state by the tracker, stored in the table,
  and its outputs are published;
- a tick message for partition ``p`` (a timer sends one to every owned partition, because
  a table can only be written inside a stream event) advances the tickets whose due
  instant the partition's clock has reached.

Each owned partition has an in-memory clock and deadline index (:class:`Partition`), kept
in step with the table here and rebuilt from it after a rebalance by
:mod:`worker.stream.recovery`.

No faust here: :mod:`worker.stream.app` hands the agent faust's messages, table and topics;
a test hands it small fakes (anything shaped like :class:`Record`, a dict, :class:`Channel`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from worker.core.clock import PartitionClock
from worker.core.events import (
    DeadLetter,
    InputEvent,
    OutputEvent,
    SlaBreached,
    TargetFulfilled,
)
from worker.core.policy import Policy
from worker.core.schedule import DeadlineIndex
from worker.core.tracker import RunningTarget, TicketState, Tracker
from worker.edge.codec import (
    MAX_MESSAGE_BYTES,
    Rejected,
    decode_message,
    encode_dead_letter,
    encode_output,
)
from worker.edge.logs import get_logger
from worker.edge.metrics import Metrics
from worker.edge.settings import Settings
from worker.edge.state_codec import LastEmission, decode_state, encode_state
from worker.stream.health import Health

__all__ = ["Agent", "Channel", "Outputs", "Partition", "Record", "utcnow"]

log = get_logger("sla-worker")

# Tickets advanced per partition per tick: bounds how long one tick holds the agent (input
# keeps flowing between ticks); at 4 ticks/s that is 8,000 deadlines/s per partition.
_TICK_BATCH: Final = 2_000
# A tick not processed within this long is presumed lost (e.g. across a rebalance) and sent
# again; until then no second tick is queued behind it, so ticks never pile up.
_TICK_RESEND_S: Final = 30.0


def utcnow() -> datetime:
    """Return the wall clock, in UTC (the default ``now`` of the agent)."""
    return datetime.now(UTC)


class Record(Protocol):
    """What the agent reads of a consumed message (faust's ``Message`` has all of it)."""

    @property
    def topic(self) -> str:
        """The topic it was consumed from."""

    @property
    def partition(self) -> int:
        """Its partition."""

    @property
    def offset(self) -> int:
        """Its offset in that partition."""

    @property
    def key(self) -> bytes | None:
        """Its key: the ticket id for an input event."""

    @property
    def value(self) -> bytes | None:
        """Its value, None for a tombstone."""

    @property
    def timestamp(self) -> float:
        """Its Kafka timestamp, in seconds since the epoch."""


class Channel(Protocol):
    """Somewhere to publish a message (a faust topic)."""

    async def send(self, *, key: bytes | None, value: bytes) -> object:
        """Queue one message for its topic."""


class Outputs:
    """The output topics: each output event to its own, dead letters to theirs."""

    def __init__(self, targets: Mapping[type[OutputEvent], Channel], dead_letters: Channel) -> None:
        self.targets = targets
        self.dead_letters = dead_letters

    async def publish(self, output: OutputEvent) -> bool:
        """Publish ``output`` on its topic; return False when it has none (a fulfilment)."""
        if isinstance(output, TargetFulfilled):
            return False
        await self.targets[type(output)].send(
            key=output.ticket_id.encode(), value=encode_output(output)
        )
        return True

    async def dead_letter(self, key: bytes | None, value: bytes) -> None:
        """Publish an encoded dead letter under the rejected message's key."""
        await self.dead_letters.send(key=key, value=value)


@dataclass(slots=True)
class Partition:
    """In-memory state of one owned partition: its clock and its deadline index."""

    clock: PartitionClock = field(default_factory=PartitionClock)
    index: DeadlineIndex = field(default_factory=DeadlineIndex)
    tick_sent_at: float | None = None


class Agent:
    """The per-message path over the ticket table, the output topics and the partitions.

    ``table`` maps a ticket id (bytes) to its stored state; ``highwater(topic, partition)``
    returns the end offset of the latest fetch there (None when unknown); ``now`` is the
    wall clock.
    """

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        policy: Policy,
        table: MutableMapping[bytes, bytes],
        outputs: Outputs,
        highwater: Callable[[str, int], int | None],
        health: Health,
        tick_topic: str,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.tracker = Tracker(policy, retention=timedelta(seconds=settings.retention_s))
        self.table = table
        self.outputs = outputs
        self.health = health
        self.tick_topic = tick_topic
        self.partitions: dict[int, Partition] = {}
        self._highwater = highwater
        self._now = now
        self._grace = timedelta(seconds=settings.grace_s)
        self._max_future = timedelta(seconds=settings.max_future_s)
        self._tiers = frozenset(policy.tiers)
        self._priorities = frozenset(policy.priorities)

    async def handle(self, message: Record) -> None:
        """Process one consumed message: a tick or an input event."""
        if message.topic == self.tick_topic:
            await self._on_tick(message)
        else:
            await self._on_input(message)

    async def _on_input(self, message: Record) -> None:
        wall = self._now()
        part = self._partition(message.partition)
        self._observe_position(part, message)
        decoded = self._decode(message, wall)
        if isinstance(decoded, Rejected):
            await self._dead_letter(message, decoded, wall)
            return
        part.clock.observe(decoded.occurred_at)
        clock = part.clock.now(wall, self._grace) or decoded.occurred_at
        key = message.key or b""
        state, last = self.load(key)
        new_state, outputs = self.tracker.apply(state, decoded, clock)
        lag_s = (wall - decoded.occurred_at).total_seconds()
        if new_state is state:
            self.metrics.observe_event(decoded.type, "duplicate", lag_s)
            return
        await self._emit(outputs)
        self._store(part, message, key, state, new_state, outputs, last, wall)
        self.metrics.observe_event(decoded.type, "ok", lag_s)

    async def _on_tick(self, message: Record) -> None:
        self.health.tick_seen()
        partition = message.partition
        part = self.partitions.get(partition)
        if part is None:
            return
        part.tick_sent_at = None
        wall = self._now()
        clock = part.clock.now(wall, self._grace)
        if clock is None:
            return
        for ticket_id in part.index.pop_due(clock, limit=_TICK_BATCH):
            key = ticket_id.encode()
            state, last = self.load(key)
            if state is None:
                continue
            new_state, outputs = self.tracker.advance(state, clock)
            await self._emit(outputs)
            self._store(part, message, key, state, new_state, outputs, last, wall)

    def ticks_due(self, owned: Iterable[int], now_s: float) -> Iterator[int]:
        """Yield the partitions of ``owned`` to send a tick to now, each marked sent as yielded.

        ``now_s`` is monotonic time. A partition gets none while one is in flight, unless
        that one is presumed lost; a partition not recovered yet gets none.
        """
        for partition in owned:
            part = self.partitions.get(partition)
            if part is None:
                continue
            if part.tick_sent_at is not None and now_s - part.tick_sent_at < _TICK_RESEND_S:
                continue
            part.tick_sent_at = now_s
            yield partition

    def load(self, key: bytes) -> tuple[TicketState | None, LastEmission | None]:
        """Return the stored state of a ticket and its last emission."""
        raw = self.table.get(key)
        return (None, None) if raw is None else decode_state(raw)

    # --- helpers of the per-message path ------------------------------------------------------

    def _decode(self, message: Record, wall: datetime) -> InputEvent | Rejected:
        value = message.value
        if not isinstance(value, bytes | bytearray):
            return Rejected("invalid_json", "value: the message has no value (a tombstone)")
        decoded = decode_message(
            message.key,
            bytes(value),
            tiers=self._tiers,
            priorities=self._priorities,
            max_bytes=MAX_MESSAGE_BYTES,
        )
        if not isinstance(decoded, Rejected) and decoded.occurred_at > wall + self._max_future:
            return Rejected(
                "invalid_event",
                f"occurred_at: {decoded.occurred_at.isoformat()} is more than "
                f"{self.settings.max_future_s}s in the future",
            )
        return decoded

    async def _dead_letter(self, message: Record, rejected: Rejected, wall: datetime) -> None:
        value = message.value if isinstance(message.value, bytes | bytearray) else b""
        timestamp = datetime.fromtimestamp(message.timestamp, UTC) if message.timestamp else None
        dead = DeadLetter(
            reason=rejected.reason,
            error=rejected.error,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            timestamp=timestamp,
            key=message.key,
            payload=bytes(value),
        )
        await self.outputs.dead_letter(message.key, encode_dead_letter(dead, detected_at=wall))
        self.metrics.observe_dead_letter(rejected.reason)
        self.metrics.observe_event("unknown", "dead_letter")
        log.warning(
            "message.dead_lettered",
            reason=rejected.reason,
            error=rejected.error,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )

    def _observe_position(self, part: Partition, message: Record) -> None:
        """Track whether this input partition is behind its end (docs/events.md, the clock)."""
        highwater = self._highwater(message.topic, message.partition)
        behind = highwater is None or message.offset + 1 < highwater
        if part.clock.caught_up == behind:  # state changes: tell metrics
            part.clock.set_behind(message.topic, behind)
            self.metrics.set_partition_caught_up(message.partition, part.clock.caught_up)
        else:
            part.clock.set_behind(message.topic, behind)

    def _partition(self, partition: int) -> Partition:
        part = self.partitions.get(partition)
        if part is None:
            part = self.partitions[partition] = Partition()
        return part

    def _store(
        self,
        part: Partition,
        cause: Record,
        key: bytes,
        old: TicketState | None,
        new: TicketState | None,
        outputs: list[OutputEvent],
        last: LastEmission | None,
        wall: datetime,
    ) -> None:
        """Persist the new state (or forget the ticket) and keep index and gauges in step.

        ``cause`` is the message (input event or tick) being processed: when it made the
        ticket emit, the state records it, so a recovery knows whether those outputs may
        have been lost (:mod:`worker.stream.recovery`).
        """
        ticket_id = key.decode()
        before: tuple[RunningTarget, ...] = () if old is None else old.running
        if new is None:
            self.table.pop(key, None)
            part.index.set(ticket_id, None)
            self.metrics.update_running(before, ())
            return
        if outputs:
            last = LastEmission(wall.timestamp(), cause.topic, cause.offset)
        self.table[key] = encode_state(new, partition=cause.partition, emitted=last)
        part.index.set(ticket_id, new.due_at)
        if before != new.running:
            self.metrics.update_running(before, new.running)

    async def _emit(self, outputs: list[OutputEvent]) -> None:
        for output in outputs:
            if await self.outputs.publish(output) and isinstance(output, SlaBreached):
                log.info(
                    "sla.breached",
                    ticket_id=output.ticket_id,
                    target=output.target,
                    tier=output.tier,
                    priority=output.priority,
                )
        self.metrics.observe_outputs(outputs)

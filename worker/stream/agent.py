"""The agent's work, one batch of messages at a time: decode -> apply -> emit -> persist.

The agent (concurrency 1, at-least-once) consumes the input topics and the internal tick
topic, co-partitioned by ticket id, in batches (:meth:`Agent.handle_batch`), each message at
its position:

- an input message is decoded by the codec (an invalid one goes to the dead-letter topic
  with its exact bytes) and applied to the ticket's state by the tracker;
- a tick message for partition ``p`` (a timer sends one to every owned partition) advances
  the tickets whose due instant the partition's clock has reached.

Then, for the whole batch: every changelog record (each ticket's latest state, or a
tombstone when it is forgotten), output and dead letter is handed to the :class:`Sink`,
which publishes them and waits until each is delivered (or raises); only then are the
states written to the :class:`Store`, one write per partition with the changelog offset
they reach. The caller makes the batch's offsets committable only after this returns, so
a failure never lets an offset move past a message whose effects were not delivered.

An error caused by a message's content (decoding, the tracker, the codecs: pure code that
would fail again on every redelivery) dead-letters that message with reason
``processing_error`` and the batch goes on; any other error (the sink, the store) escapes
:meth:`Agent.handle_batch` and the caller stops the worker.

Each owned partition has an in-memory clock and deadline index (:class:`Partition`), kept
in step here and rebuilt after a rebalance by :mod:`worker.stream.recovery`.

No faust here: :mod:`worker.stream.app` hands the agent faust's messages and its sink and
store; a test hands it small fakes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from worker.core.clock import PartitionClock
from worker.core.events import (
    DeadLetter,
    InputEvent,
    OutputEvent,
    PublishedOutput,
    SlaBreached,
    SlaLateFulfilment,
    SlaOutcome,
    SlaWarning,
    published,
)
from worker.core.policy import Policy
from worker.core.schedule import DeadlineIndex
from worker.core.status import status_of
from worker.core.ticket_state import RunningTarget, TicketState
from worker.core.tracker import Tracker
from worker.edge.codec import (
    MAX_MESSAGE_BYTES,
    Rejected,
    decode_message,
    encode_dead_letter,
    encode_output,
    encode_status,
)
from worker.edge.logs import get_logger
from worker.edge.metrics import Metrics, observe_many
from worker.edge.settings import Settings
from worker.edge.state_codec import LastEmission, decode_state, encode_state
from worker.stream.health import Health

__all__ = [
    "MAX_STATE_BYTES",
    "Agent",
    "Emission",
    "Partition",
    "Record",
    "Sink",
    "Store",
    "utcnow",
]

log = get_logger("sla-worker")

# Tickets advanced per partition per tick: bounds how long one tick holds the agent (input
# keeps flowing between ticks); at 4 ticks/s that is 8,000 deadlines/s per partition.
_TICK_BATCH: Final = 2_000
# A tick not processed within this long is presumed lost (e.g. across a rebalance) and sent
# again; until then no second tick is queued behind it, so ticks never pile up.
_TICK_RESEND_S: Final = 30.0
# The largest stored state (bytes of its encoding). A state grows with its ticket's events
# (512 at most, a few hundred bytes each with 256-character fields); past this an event is
# dead-lettered (state_too_large) rather than stored: a changelog record must stay far below
# Kafka's 1 MiB message limit, and a state this big is hostile input, not a conversation.
MAX_STATE_BYTES: Final = 64 * 1024


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


@dataclass(slots=True)
class Emission:
    """What one batch publishes: changelog records, outputs, statuses and dead letters.

    ``changelog[p]`` maps each ticket key written on partition ``p`` to its latest stored
    state, or None (a tombstone: the ticket is forgotten), in the order first written.
    ``outputs`` are ``(topic, key, value)``; ``dead_letters`` are ``(key, value)``.
    ``statuses`` maps ``(status topic, ticket key)`` to the ticket's latest status in the
    batch, or None (a tombstone); only the latest of a batch is published (a compacted topic
    keeps only that anyway).
    """

    changelog: dict[int, dict[bytes, bytes | None]] = field(default_factory=dict)
    outputs: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    statuses: dict[tuple[str, bytes], bytes | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.changelog or self.outputs or self.dead_letters or self.statuses)


class Sink(Protocol):
    """Where a batch's records go (Kafka): all published, all delivered, or an exception."""

    async def deliver(self, emission: Emission) -> dict[int, int]:
        """Publish ``emission`` and wait for every delivery; raise if any failed.

        Returns the offset of the last changelog record delivered per partition.
        """


class Store(Protocol):
    """The stored ticket states, per partition (RocksDB or memory)."""

    def get_many(self, partition: int, keys: Sequence[bytes]) -> list[bytes | None]:
        """Return the stored value of each key (None where there is none)."""

    def write(
        self, partition: int, writes: Mapping[bytes, bytes | None], changelog_offset: int | None
    ) -> None:
        """Write (None: delete) ``writes`` at once, and the changelog offset they reach."""


@dataclass(slots=True)
class Partition:
    """In-memory state of one owned partition: its clock and its deadline index."""

    clock: PartitionClock = field(default_factory=PartitionClock)
    index: DeadlineIndex = field(default_factory=DeadlineIndex)
    tick_sent_at: float | None = None


_Loaded = tuple[TicketState | None, LastEmission | None]


@dataclass(slots=True)
class _Batch:
    """One batch in progress: what it read, what it will write and publish, what it counts."""

    emission: Emission = field(default_factory=Emission)
    raw: dict[tuple[int, bytes], bytes | None] = field(default_factory=dict)
    loaded: dict[tuple[int, bytes], _Loaded] = field(default_factory=dict)
    events: Counter[tuple[str, str]] = field(default_factory=Counter)
    lags: list[float] = field(default_factory=list)
    earned: list[OutputEvent] = field(default_factory=list)
    dead: list[tuple[Record, Rejected]] = field(default_factory=list)
    highwaters: dict[tuple[str, int], int | None] = field(default_factory=dict)

    def write(self, partition: int, key: bytes, value: bytes | None) -> None:
        changelog = self.emission.changelog.get(partition)
        if changelog is None:
            changelog = self.emission.changelog[partition] = {}
        changelog[key] = value


class Agent:
    """The batch path over the store, the sink and the partitions.

    ``highwater(topic, partition)`` returns the end offset of the latest fetch there (None
    when unknown); ``now`` is the wall clock.
    """

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        policy: Policy,
        store: Store,
        sink: Sink,
        highwater: Callable[[str, int], int | None],
        health: Health,
        tick_topic: str,
        now: Callable[[], datetime] = utcnow,
        tracker: Tracker | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.tracker = tracker or Tracker(
            policy,
            retention=timedelta(seconds=settings.retention_s),
            open_retention=timedelta(seconds=settings.open_retention_s),
        )
        self.store = store
        self.sink = sink
        self.health = health
        self.tick_topic = tick_topic
        self.partitions: dict[int, Partition] = {}
        self.topics: dict[type[PublishedOutput], str] = {
            SlaWarning: settings.warning_topic,
            SlaBreached: settings.breach_topic,
            SlaOutcome: settings.outcome_topic,
            SlaLateFulfilment: settings.outcome_topic,
        }
        self.status_topic = settings.status_topic  # empty: no status stream
        # The statuses' own tracker (the same policy): an injected tracker may be a wrapper.
        self._status_tracker = Tracker(policy)
        self._highwater = highwater
        self._now = now
        self._grace = timedelta(seconds=settings.grace_s)
        self._max_future = timedelta(seconds=settings.max_future_s)
        self._tiers = frozenset(policy.tiers)
        self._priorities = frozenset(policy.priorities)

    async def handle(self, message: Record) -> None:
        """Process one consumed message as a batch of one."""
        await self.handle_batch([message])

    async def handle_batch(self, messages: Sequence[Record]) -> None:
        """Process a batch: each message in order, then publish everything, then store it.

        Returns once every record is delivered and every state stored; raises (leaving the
        store untouched) when a delivery or a store write fails.
        """
        batch = _Batch()
        self._prefetch(batch, messages)
        for message in messages:
            if message.topic == self.tick_topic:
                self._on_tick(batch, message)
            else:
                self._on_input(batch, message)
        emission = batch.emission
        if emission:
            offsets = await self.sink.deliver(emission)
            for partition, writes in emission.changelog.items():
                self.store.write(partition, writes, offsets.get(partition))
        self._account(batch)

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

    def load(self, partition: int, key: bytes) -> _Loaded:
        """Return the stored state of a ticket and its last emission."""
        [raw] = self.store.get_many(partition, [key])
        return (None, None) if raw is None else decode_state(raw)

    def output_records(self, outputs: Iterable[OutputEvent]) -> list[tuple[str, bytes, bytes]]:
        """Return ``(topic, key, value)`` of each output as published (``events.published``)."""
        return [
            (self.topics[type(p)], p.ticket_id.encode(), encode_output(p))
            for p in map(published, outputs)
            if p is not None
        ]

    # --- the per-message steps ----------------------------------------------------------------

    def _prefetch(self, batch: _Batch, messages: Sequence[Record]) -> None:
        """Read the stored states of the batch's input tickets, one multi-get per partition."""
        wanted: dict[int, dict[bytes, None]] = {}
        for message in messages:
            if message.topic != self.tick_topic:
                wanted.setdefault(message.partition, {})[message.key or b""] = None
        for partition, keys in wanted.items():
            self._read(batch, partition, list(keys))

    def _read(self, batch: _Batch, partition: int, keys: list[bytes]) -> None:
        missing = [k for k in keys if (partition, k) not in batch.raw]
        if missing:
            values = self.store.get_many(partition, missing)
            for key, value in zip(missing, values, strict=True):
                batch.raw[(partition, key)] = value

    def _load(self, batch: _Batch, partition: int, key: bytes) -> _Loaded:
        """Return the ticket's state as of this point of the batch (decoded once per batch)."""
        loaded = batch.loaded.get((partition, key))
        if loaded is None:
            if (partition, key) not in batch.raw:
                self._read(batch, partition, [key])
            raw = batch.raw[(partition, key)]
            loaded = batch.loaded[(partition, key)] = (
                (None, None) if raw is None else decode_state(raw)
            )
        return loaded

    def _on_input(self, batch: _Batch, message: Record) -> None:
        wall = self._now()
        part = self._partition(message.partition)
        self._observe_position(batch, part, message)
        key = message.key or b""
        partition = message.partition
        try:
            decoded = self._decode(message, wall)
            if isinstance(decoded, Rejected):
                self._dead_letter(batch, message, decoded, wall)
                return
            part.clock.observe(decoded.occurred_at)
            clock = part.clock.now(wall, self._grace) or decoded.occurred_at
            state, last = self._load(batch, partition, key)
            new_state, outputs = self.tracker.apply(state, decoded, clock)
            lag_s = (wall - decoded.occurred_at).total_seconds()
            if new_state is state:
                batch.events[(decoded.type, "duplicate")] += 1
                batch.lags.append(lag_s)
                if state is not None:  # a redelivery: publish the status again (see _resent)
                    self._resent(batch, key, state, clock)
                return
            encoded, last = self._encode(new_state, outputs, last, message, wall)
            if encoded is not None and len(encoded) > MAX_STATE_BYTES:
                rejected = Rejected(
                    "state_too_large",
                    f"the ticket's state would be {len(encoded)} bytes, more than "
                    f"{MAX_STATE_BYTES}: the event is not applied",
                )
                self._dead_letter(batch, message, rejected, wall)
                return
            records = self.output_records(outputs)
            status = self._status(state, new_state, clock)
        except Exception as error:  # the message's content: pure code failed on it
            self._dead_letter(batch, message, _processing_error(error), wall)
            return
        self._stage(batch, part, partition, key, state, new_state, encoded, last)
        if not isinstance(status, _Unchanged):
            batch.emission.statuses[(self.status_topic, key)] = status
        batch.emission.outputs.extend(records)
        batch.earned.extend(outputs)
        batch.events[(decoded.type, "ok")] += 1
        batch.lags.append(lag_s)

    def _on_tick(self, batch: _Batch, message: Record) -> None:
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
        due = part.index.pop_due(clock, limit=_TICK_BATCH)
        done = 0
        try:
            self._read(batch, partition, [ticket_id.encode() for ticket_id in due])
            for ticket_id in due:
                key = ticket_id.encode()
                state, last = self._load(batch, partition, key)
                if state is not None:
                    new_state, outputs = self.tracker.advance(state, clock)
                    encoded, last = self._encode(new_state, outputs, last, message, wall)
                    records = self.output_records(outputs)
                    status = self._status(state, new_state, clock)
                    self._stage(batch, part, partition, key, state, new_state, encoded, last)
                    if not isinstance(status, _Unchanged):
                        batch.emission.statuses[(self.status_topic, key)] = status
                    batch.emission.outputs.extend(records)
                    batch.earned.extend(outputs)
                done += 1
        except BaseException:
            for ticket_id in due[done:]:  # still due: the next tick (or a restart) has them
                part.index.set(ticket_id, clock)
            raise

    def _encode(
        self,
        new: TicketState | None,
        outputs: list[OutputEvent],
        last: LastEmission | None,
        cause: Record,
        wall: datetime,
    ) -> tuple[bytes | None, LastEmission | None]:
        """Return the stored bytes of ``new`` (None: forgotten) and its last emission.

        ``cause`` is the message (input event or tick) being processed: when it made the
        ticket emit, the state records it, so a recovery knows whether those outputs may
        have been lost (:mod:`worker.stream.recovery`).
        """
        if new is None:
            return None, None
        if outputs:
            last = LastEmission(wall.timestamp(), cause.topic, cause.offset)
        return encode_state(new, partition=cause.partition, emitted=last), last

    def _stage(
        self,
        batch: _Batch,
        part: Partition,
        partition: int,
        key: bytes,
        old: TicketState | None,
        new: TicketState | None,
        encoded: bytes | None,
        last: LastEmission | None,
    ) -> None:
        """Write the new state (or forget the ticket) into the batch; index and gauges follow."""
        ticket_id = key.decode()
        before: tuple[RunningTarget, ...] = () if old is None else old.running
        batch.write(partition, key, encoded)
        batch.loaded[(partition, key)] = (new, last)
        if new is None:
            part.index.set(ticket_id, None)
            self.metrics.update_running(before, ())
            if old is not None and Tracker.expired(old, new):
                self.metrics.observe_expired(before[0].tier)
                log.info("ticket.expired", ticket_id=ticket_id, tier=before[0].tier)
            return
        part.index.set(ticket_id, new.due_at)
        if before != new.running:
            self.metrics.update_running(before, new.running)

    def _status(
        self, old: TicketState | None, new: TicketState | None, clock: datetime
    ) -> bytes | _Unchanged | None:
        """Return the ticket's status to publish after ``old`` -> ``new`` (None: a tombstone).

        A status changes only with the ticket's events or its emitted outputs (a warning,
        a breach): otherwise, and when the stream is off, :data:`_UNCHANGED`. A ticket
        without a creation (an orphan) has no status.
        """
        if not self.status_topic or new is old:
            return _UNCHANGED
        if new is None:
            return None if old is not None else _UNCHANGED
        if old is not None and old.events is new.events and old.emitted == new.emitted:
            return _UNCHANGED
        status = status_of(self._status_tracker, new, clock, settled=self.tracker.last_fold)
        return _UNCHANGED if status is None else encode_status(status)

    def _resent(self, batch: _Batch, key: bytes, state: TicketState, clock: datetime) -> None:
        """Publish the status of a ticket whose event came again (it changes nothing else).

        A redelivered event is how a crash between a batch's changelog and its statuses
        shows: the restored state has the event, and its status may never have been
        published. A duplicate is rare otherwise (a producer's retry), and the status topic
        is compacted: publishing it again costs one record.
        """
        if not self.status_topic:
            return
        status = status_of(self._status_tracker, state, clock)
        if status is not None:
            batch.emission.statuses[(self.status_topic, key)] = encode_status(status)

    # --- helpers --------------------------------------------------------------------------------

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

    def _dead_letter(
        self, batch: _Batch, message: Record, rejected: Rejected, wall: datetime
    ) -> None:
        value = message.value if isinstance(message.value, bytes | bytearray) else b""
        dead = DeadLetter(
            reason=rejected.reason,
            error=rejected.error,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            timestamp=_record_time(message.timestamp),
            key=message.key,
            payload=bytes(value),
        )
        batch.emission.dead_letters.append(
            (message.key, encode_dead_letter(dead, detected_at=wall))
        )
        batch.dead.append((message, rejected))

    def _account(self, batch: _Batch) -> None:
        """Count and log what a delivered batch did (once per batch, aggregated)."""
        events = self.metrics.events
        for (event_type, result), n in batch.events.items():
            events.labels(event_type, result).inc(n)
        observe_many(self.metrics.event_lag, batch.lags)
        if batch.earned:
            self.metrics.observe_outputs(batch.earned)
            for output in batch.earned:
                if isinstance(output, SlaBreached):
                    log.info(
                        "sla.breached",
                        ticket_id=output.ticket_id,
                        target=output.target,
                        tier=output.tier,
                        priority=output.priority,
                    )
        for message, rejected in batch.dead:
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

    def _observe_position(self, batch: _Batch, part: Partition, message: Record) -> None:
        """Track whether this input partition is behind its end (docs/events.md, the clock).

        The end is read once per partition per batch (every message of the batch was
        fetched before it started).
        """
        where = (message.topic, message.partition)
        if where in batch.highwaters:
            highwater = batch.highwaters[where]
        else:
            highwater = batch.highwaters[where] = self._highwater(*where)
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


class _Unchanged:
    """The type of :data:`_UNCHANGED`: no status to publish."""


_UNCHANGED: Final = _Unchanged()


def _processing_error(error: Exception) -> Rejected:
    """Return the dead-letter rejection of a message whose processing raised ``error``."""
    text = str(error).splitlines()[0] if str(error) else ""
    return Rejected("processing_error", f"{type(error).__name__}: {text}"[:1000])


def _record_time(timestamp: float) -> datetime | None:
    """Return a Kafka record timestamp as a UTC instant; None when absent or out of range.

    Kafka accepts any 64-bit timestamp (year 10000 included); Python's datetime stops at
    year 9999, so such a record's dead letter carries ``timestamp: null``.
    """
    if not timestamp:
        return None
    try:
        return datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        return None

"""Every use of faust's private internals by the worker, each named with why it is needed.

faust-streaming 0.15.3, aiokafka 0.14.0 and rocksdict 0.3.29 are pinned (pyproject.toml): a
new version may rename or change any of these, so each is reached only from here, where an
upgrade has one place to check; tests/unit/test_faust_internals.py fails loudly when one of
them changes (source digests, signatures, behaviour on a temporary store).

- ``Consumer._drain_messages`` (private, called by faust's fetcher): copied into
  :class:`SlaConsumer` with one change, a direct ``await callback(message)`` instead of
  ``wait_first(callback(message), suspend_flow.wait())``, which creates four futures per
  message (~65 µs here). The copy skips the message exactly when ``wait_first`` would have
  returned at once (flow suspended or stopping), so the behaviour is the same.
- ``Consumer.commit`` (public) is overridden to honour a fence (:func:`fence_commits`):
  after an I/O failure no route of faust's (periodic, every N acks, agent error, rebalance,
  stop) commits an offset again in this process.
- ``App.transport`` (public setter) gets :class:`SlaTransport`, whose consumer class is
  :class:`SlaConsumer` (:func:`install`), built as faust's ``_new_transport`` builds it.
- ``Producer._producer`` (private): the aiokafka producer faust started, for per-partition
  record batches (``create_batch``/``send_batch``) and their delivery futures, which faust's
  own ``send`` does not expose.
- ``rocksdb.Store._db_for_partition(p)`` (private): the RocksDB database of one partition,
  written with one ``WriteBatch`` per partition and read with multi-gets, outside faust's
  stream iteration (the table API needs a current event).
- ``memory.Store.data`` (public attribute): the memory store's dict, read and written the
  same way.
- ``Store.set_persisted_offset``/``persisted_offset`` (public API; the key format private):
  where recovery of a partition starts reading the changelog.
- The same copy of ``_drain_messages`` puts the messages of the agent's topics on a
  :class:`BatchFeed` (:func:`feed_batches`) instead of calling faust's conductor per
  message; the agent takes them from the feed as faust's stream would have (the same
  checks of ``App.flow_control`` and ``Message.generation_id``, ``Consumer.track_message``,
  the monitor's ``stream_inbound_time``), processes a batch, then :func:`ack` acknowledges
  each message (``Consumer.ack``, public), which makes its offset committable; :func:`drop`
  (the ``acked`` slot) makes a failed batch's messages never committable. The agent's
  topics stay subscribed through its faust agent, whose stream is never iterated.
- ``Store._dbs_for_actives()`` and ``Store._visible_items(db)`` (private): the RocksDB
  databases of the partitions this worker owns as active, listed once before any await (a
  standby restore may open another partition's database meanwhile and change the dict), and
  their ``(key, value)`` pairs without faust's offset key (:func:`active_items`).
- :class:`NoopMonitor` (public ``Monitor=`` setting): faust's sensors off, except the
  inbound time per partition its livelock detector reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from time import monotonic
from typing import Any, cast

import aiokafka
import rocksdict
from faust.sensors import Monitor
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, AppT, Message, TableT
from mode import Service, ServiceT

__all__ = [
    "BatchFeed",
    "NoopMonitor",
    "SlaConsumer",
    "SlaTransport",
    "ack",
    "active_items",
    "aiokafka_producer",
    "changelog_topic",
    "drop",
    "feed_batches",
    "fence_commits",
    "install",
    "memory_dict",
    "partition_db",
    "set_persisted_offset",
    "write_batch",
]


class BatchFeed:
    """The agent's messages, from faust's fetcher straight to the agent, a fetch at a time.

    faust hands each fetched message to its conductor, which decodes it into an event and
    queues it on the agent's channel, from which the agent's stream takes it again, one
    asyncio hand-over and a dozen checks per message (a quarter of the worker's time
    before this feed). The fetcher (:meth:`SlaConsumer._drain_messages`) instead puts the
    messages of ``topics`` it fetched in one go, cut into lists of at most ``batch_max``,
    on a queue of ``buffered`` lists (full: the fetcher waits, as it waits on a full
    stream buffer); :meth:`take` gives the agent what is queued as one batch.

    What faust's stream does per message, :meth:`take` does per batch, with the same
    rules: a message fetched before the latest rebalance (``generation_id``) or while flow
    is suspended is dropped, never processed nor acked (faust seeks back to the committed
    offsets, so it is fetched again); a message taken is tracked (``track_message``), so a
    rebalance or a stop waits for its ack (``wait_empty``); the partition's inbound time
    is noted for faust's livelock check. Messages still queued are not tracked: a
    rebalance or a stop does not wait for them, and they are never acked.
    """

    def __init__(self, topics: Iterable[str], *, batch_max: int, buffered: int) -> None:
        self.topics = frozenset(topics)
        self.batch_max = batch_max
        self._queue: asyncio.Queue[list[Message]] = asyncio.Queue(maxsize=buffered)

    async def put(self, messages: list[Message]) -> None:
        """Queue fetched ``messages`` (in fetch order), waiting while the queue is full."""
        step = self.batch_max
        for start in range(0, len(messages), step):
            await self._queue.put(messages[start : start + step])

    async def take(self, app: AppT) -> list[Message]:
        """Wait for messages; return those queued (at most ``2 * batch_max - 1``), tracked.

        Returns an empty list when every message taken was fetched before a rebalance.
        """
        queue = self._queue
        batch = await queue.get()
        while len(batch) < self.batch_max and not queue.empty():
            batch += queue.get_nowait()
        consumer = app.consumer
        generation = app.consumer_generation_id
        if not app.flow_control.is_active():
            return []
        taken = [message for message in batch if message.generation_id == generation]
        inbound = cast(Any, app.monitor).stream_inbound_time
        now = monotonic()
        track = consumer.track_message
        for message in taken:
            message.tracked = True
            track(message)
            inbound[message.tp] = now
        return taken


class SlaConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer without ``wait_first``, with a commit fence and a feed.

    Once :func:`feed_batches` gave its transport a feed, the agent's messages go there.
    """

    fenced: str | None = None  # why commits are fenced; set once, never cleared

    async def commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """Commit as faust does, unless fenced: then nothing, by any route (returns False)."""
        if self.fenced is not None:
            return False
        return await super().commit(topics, start_new_transaction=start_new_transaction)

    async def _drain_messages(self, fetcher: ServiceT) -> None:  # pragma: no cover
        # Verbatim copy of faust-streaming 0.15.3 transport/consumer.py:1170-1249 but for the
        # lines marked "changed" (tests/unit/test_faust_internals.py pins the original).
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        suspended = self.suspend_flow.is_set  # changed: wait_first's early return, checked
        feed = cast(SlaTransport, self.transport).feed  # changed: the agent's go to it
        fed: list[Message] = []

        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for

        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = cast(AsyncIterator[Any], getmany(timeout=1.0))
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0

                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset:
                                acks_enabled = acks_enabled_for(message.topic)
                                if acks_enabled:
                                    await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None:  # noqa: SIM102 (verbatim copy)
                                if self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                            # changed: was
                            #   await self.wait_first(callback(message), self.suspend_flow.wait())
                            if not (suspended() or self.should_stop):
                                if feed is not None and message.topic in feed.topics:
                                    fed.append(message)  # changed: the agent's, in batches
                                else:
                                    await callback(message)
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev(
                                "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                offset,
                                message.key,
                                message.value,
                            )
                    if fed:  # changed: the fetch's messages of the agent, to the agent
                        await cast(BatchFeed, feed).put(fed)
                        fed = []
                    unset_flag(flag_consumer_fetching)

        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)


class SlaTransport(faust_aiokafka.Transport):
    """faust's aiokafka transport, creating :class:`SlaConsumer` consumers."""

    Consumer = SlaConsumer
    feed: BatchFeed | None = None  # where its consumer puts the agent's messages, if set


def install(app: AppT) -> None:
    """Give ``app`` our transport (before it starts), built as faust builds its own."""
    app.transport = SlaTransport(app.conf.broker_consumer, app)


def feed_batches(app: AppT, topics: Iterable[str], *, batch_max: int, buffered: int) -> BatchFeed:
    """Make the consumer put the messages of ``topics`` on the returned feed, not to faust's.

    Call before the app starts; the agent of those topics then takes its messages from the
    feed (faust's conductor and the agent's stream never see them).
    """
    feed = BatchFeed(topics, batch_max=batch_max, buffered=buffered)
    transport = app.transport
    if not isinstance(transport, SlaTransport):
        raise TypeError("install(app) first: the app's transport is faust's own")
    transport.feed = feed
    return feed


def ack(messages: Iterable[Message], consumer: Any) -> None:
    """Acknowledge messages taken from a feed: each offset becomes committable."""
    acknowledge = consumer.ack
    for message in messages:
        acknowledge(message)


def fence_commits(app: AppT, reason: str) -> None:
    """From now on, no offset is committed in this process (synchronous: call before awaiting)."""
    consumer = app.consumer
    if isinstance(consumer, SlaConsumer) and consumer.fenced is None:
        consumer.fenced = reason


def aiokafka_producer(app: AppT) -> aiokafka.AIOKafkaProducer:
    """Return the aiokafka producer faust started (raises until the app's producer started)."""
    producer: Any = app.producer
    aio = producer._producer
    if aio is None:
        raise RuntimeError("the producer has not started")
    return cast(aiokafka.AIOKafkaProducer, aio)


def partition_db(table: TableT[Any, Any], partition: int) -> rocksdict.Rdict:
    """Return the RocksDB database of one partition of ``table`` (opened on first use)."""
    store: Any = table.data
    return cast(rocksdict.Rdict, store._db_for_partition(partition))


def memory_dict(table: TableT[Any, Any]) -> dict[bytes, bytes]:
    """Return the dict of ``table``'s memory store (``memory://``): keys and values as stored."""
    store: Any = table.data
    return cast(dict[bytes, bytes], store.data)


def write_batch() -> rocksdict.WriteBatch:
    """Return an empty RocksDB write batch in faust's raw mode (bytes keys and values)."""
    return rocksdict.WriteBatch(raw_mode=True)


def set_persisted_offset(table: TableT[Any, Any], topic: str, partition: int, offset: int) -> None:
    """Record the changelog offset whose content is now in the partition's store."""
    store: Any = table.data
    store.set_persisted_offset(TP(topic, partition), offset)


def changelog_topic(table: TableT[Any, Any]) -> str:
    """Return the name of ``table``'s changelog topic."""
    return str(table.changelog_topic.get_topic_name())


def drop(messages: Iterable[Message]) -> None:
    """Make the messages never committable, and not waited for by faust at stop."""
    for message in messages:
        message.acked = True


class NoopMonitor(Monitor):
    """faust's sensors, off: every hook does nothing, but the inbound time faust reads.

    faust's livelock detector (drivers/aiokafka.py ``verify_event_path``) reads
    ``stream_inbound_time[tp]``; an empty one makes it log "stream idle" errors.
    """

    def on_message_in(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_stream_event_in(self, tp: TP, *args: Any, **kwargs: Any) -> None:
        """Only the inbound time of the partition (see the class docstring)."""
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_topic_buffer_full(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_message_out(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_table_get(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_table_set(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_table_del(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_commit_initiated(self, *args: Any, **kwargs: Any) -> Any:
        """Nothing."""
        return None

    def on_commit_completed(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_send_initiated(self, *args: Any, **kwargs: Any) -> Any:
        """Nothing."""
        return None

    def on_send_completed(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_send_error(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def count(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_tp_commit(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def track_tp_end_offset(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_assignment_start(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Nothing."""
        return {}

    def on_assignment_error(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_assignment_completed(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_rebalance_start(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Nothing."""
        return {}

    def on_rebalance_return(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_rebalance_end(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_web_request_start(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Nothing."""
        return {}

    def on_web_request_end(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""

    def on_threaded_producer_buffer_processed(self, *args: Any, **kwargs: Any) -> None:
        """Nothing."""


def active_items(table: TableT[Any, Any], *, rocksdb: bool) -> Iterator[tuple[bytes, bytes]]:
    """Yield every stored ``(key, value)`` of the partitions this worker owns, once each.

    Safe to consume across awaits (see the module docstring). ``rocksdb`` False means the
    memory store: a dict of every key, copied before the walk.
    """
    if not rocksdb:
        yield from list(table.items())
        return
    store: Any = table.data
    for db in list(store._dbs_for_actives()):
        yield from store._visible_items(db)

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
- ``Message.incref``/``ack`` and the ``acked`` slot (public): :func:`hold`,
  :func:`release` and :func:`drop` keep a batch's offsets uncommittable until its
  deliveries are confirmed, whatever faust acks meanwhile.
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
from faust.types import TP, AppT, EventT, TableT
from mode import Service, ServiceT

__all__ = [
    "NoopMonitor",
    "SlaConsumer",
    "SlaTransport",
    "active_items",
    "aiokafka_producer",
    "changelog_topic",
    "drop",
    "fence_commits",
    "hold",
    "install",
    "memory_dict",
    "partition_db",
    "release",
    "set_persisted_offset",
    "write_batch",
]


class SlaConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer without the per-message ``wait_first``, with a commit fence."""

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
                                await callback(message)
                            set_read_offset(tp, offset)
                        else:
                            self.log.dev(
                                "DROPPED MESSAGE ROFF %r: k=%r v=%r",
                                offset,
                                message.key,
                                message.value,
                            )
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


def install(app: AppT) -> None:
    """Give ``app`` our transport (before it starts), built as faust builds its own."""
    app.transport = SlaTransport(app.conf.broker_consumer, app)


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


def hold(events: Iterable[EventT[Any]]) -> None:
    """Take a reference of ours on each event's message: none is committable until released."""
    for event in events:
        event.message.incref()


def release(events: Iterable[EventT[Any]], consumer: Any) -> None:
    """Drop our reference: each message's offset is committable once faust's is dropped too."""
    for event in events:
        event.message.ack(consumer)


def drop(events: Iterable[EventT[Any]]) -> None:
    """Make the messages never committable, and not waited for by faust at stop."""
    for event in events:
        event.message.acked = True


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

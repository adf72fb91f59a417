"""The private faust, aiokafka and rocksdict behaviour worker/stream/faust_internals.py relies on.

Each test pins one assumption of that module against the installed packages (pinned in
pyproject.toml): a version bump that changes any of them fails here, naming what to check,
before it can silently break the batch path (acks, commits, the store, the producer).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import inspect
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
import rocksdict
from faust.app.base import App as FaustApp
from faust.sensors.base import Sensor
from faust.stores import rocksdb as faust_rocksdb
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types import tuples as faust_tuples
from mode import Service
from mode import worker as mode_worker

from worker.stream import faust_internals as fi


def _digest(obj: Any) -> str:
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()


def test_the_pinned_versions_are_installed() -> None:
    """faust_internals was checked against these versions: a bump must re-check it."""
    assert importlib.metadata.version("faust-streaming") == "0.15.3"
    assert importlib.metadata.version("aiokafka") == "0.14.0"
    assert importlib.metadata.version("rocksdict") == "0.3.29"


def test_drain_messages_is_the_copied_original_with_only_the_wait_first_change() -> None:
    """SlaConsumer._drain_messages copies faust's; the original is unchanged and the copy
    differs only where documented (the wait_first call, the agent's messages to the feed)."""
    original = faust_consumer.Consumer._drain_messages
    assert _digest(original) == "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"
    fetcher = inspect.getsource(faust_consumer.Fetcher)
    assert "consumer._drain_messages(self)" in fetcher
    ours = inspect.getsource(fi.SlaConsumer._drain_messages).splitlines()
    theirs = inspect.getsource(original).splitlines()
    code = [line.strip() for line in ours if line.strip() and not line.strip().startswith("#")]
    base = [line.strip() for line in theirs if line.strip() and not line.strip().startswith("#")]
    added = {
        line[1:].strip()
        for line in difflib.unified_diff(base, code, lineterm="", n=0)
        if line.startswith("+") and not line.startswith("+++")
    }
    removed = {
        line[1:].strip()
        for line in difflib.unified_diff(base, code, lineterm="", n=0)
        if line.startswith("-") and not line.startswith("---")
    }
    assert removed <= {
        "await self.wait_first(",
        "callback(message), self.suspend_flow.wait()",
        ")",
        "ait = cast(AsyncIterator, getmany(timeout=1.0))",
        "if commit_every is not None:",
    }
    assert all(
        "suspended" in line
        or "feed" in line
        or "fed" in line
        or line == "else:"
        or "callback(message)" in line
        or "AsyncIterator" in line
        or "commit_every is not None" in line
        or line.startswith('"""')
        for line in added
    ), added


def test_commit_is_the_only_door_to_committing() -> None:
    """Every commit in faust goes through Consumer.commit, which the fence overrides."""
    site = Path(faust.__file__).parent
    force, offsets = [], []
    for path in site.rglob("*.py"):
        text = path.read_text()
        if "force_commit(" in text:
            force.append(path.relative_to(site).as_posix())
        if "_commit_offsets(" in text:
            offsets.append(path.relative_to(site).as_posix())
    assert sorted(force) == ["transport/consumer.py"]
    assert sorted(offsets) == ["transport/consumer.py"]
    commit = inspect.getsource(faust_consumer.Consumer.commit)
    assert "self.force_commit(" in commit
    flush_then_commit = inspect.getsource(faust_consumer.Consumer._commit_offsets)
    assert flush_then_commit.index("producer.flush()") < flush_then_commit.index("self._commit(")


async def test_a_fenced_consumer_commits_nothing() -> None:
    """After fence_commits, commit() returns False without reaching faust's commit."""
    consumer = fi.SlaConsumer.__new__(fi.SlaConsumer)  # commit() reads nothing else when fenced
    app: Any = SimpleNamespace(consumer=consumer)
    fi.fence_commits(app, "test")
    assert consumer.fenced == "test"
    assert await consumer.commit() is False
    fi.fence_commits(app, "again")
    assert consumer.fenced == "test"  # the first reason stays


def test_the_transport_is_installed_as_faust_builds_its_own() -> None:
    """App._new_transport builds the transport the way install() does; the consumer class is a
    class attribute of the transport."""
    source = inspect.getsource(FaustApp._new_transport)
    assert "by_url(self.conf.broker_consumer[0])(" in source
    app = faust.App("fi-test-transport", broker="kafka://127.0.0.1:1")
    fi.install(app)
    assert type(app.transport) is fi.SlaTransport
    assert fi.SlaTransport.Consumer is fi.SlaConsumer
    assert faust_aiokafka.Transport.Consumer is faust_aiokafka.Consumer


def test_the_aiokafka_producer_is_where_faust_keeps_it() -> None:
    """faust's producer keeps the started aiokafka producer in ``_producer``."""
    assert "_producer" in faust_aiokafka.Producer.__annotations__
    assert "self._producer = self._new_producer()" in inspect.getsource(
        faust_aiokafka.Producer.on_start
    )
    import aiokafka

    send_batch = inspect.signature(aiokafka.AIOKafkaProducer.send_batch)
    assert list(send_batch.parameters) == ["self", "batch", "topic", "partition"]
    from aiokafka.producer.message_accumulator import BatchBuilder

    append = inspect.signature(BatchBuilder.append)
    assert list(append.parameters)[:4] == ["self", "timestamp", "key", "value"]


def test_the_partition_db_is_the_one_faust_reads(tmp_path: Path) -> None:
    """A write batch into partition_db(table, p) is read by faust's own table API."""
    assert "self._db_for_partition(partition)" in inspect.getsource(faust_rocksdb.Store._set)
    assert "WriteBatch(raw_mode=True)" in inspect.getsource(
        faust_rocksdb.Store.apply_changelog_batch
    )
    assert faust_rocksdb.Store.offset_key == b"__faust\x00offset__"
    app = faust.App("fi-test-store", store="rocksdb://", datadir=str(tmp_path))
    table = app.Table("tickets", partitions=4, key_type=bytes, value_type=bytes)
    assert fi.changelog_topic(table) == "fi-test-store-tickets-changelog"
    batch = fi.write_batch()
    batch.put(b"k", b"v")
    db = fi.partition_db(table, 3)
    db.write(batch)
    assert db.get([b"k", b"missing"]) == [b"v", None]
    fi.set_persisted_offset(table, fi.changelog_topic(table), 3, 41)
    store: Any = table.data
    assert store.persisted_offset(TP(fi.changelog_topic(table), 3)) == 41
    assert [(k, v) for k, v in fi.active_items(table, rocksdb=False)] == []  # none active yet
    with pytest.raises(Exception, match="raw_mode"):
        db.write(rocksdict.WriteBatch())


def test_the_feed_keeps_the_checks_of_faust_s_stream_and_acks_through_the_consumer() -> None:
    """What BatchFeed.take does per batch is what faust's stream iterator does per message
    (flow control, generation id, track_message), and an ack goes to Consumer.ack."""
    iterator = inspect.getsource(faust.Stream._py_aiter)
    assert _digest(faust.Stream._py_aiter) == (
        "3a48ee257a65435b482d51edb74f2993a67867949b1ef89b49fea893769e0614"
    )
    assert "not self.app.flow_control.is_active()" in iterator
    assert "message.generation_id != self.app.consumer_generation_id" in iterator
    assert "# This inlines Consumer.track_message(message)" in iterator
    assert "on_stream_event_in(tp, offset, self, event)" in iterator
    track = inspect.getsource(faust_consumer.Consumer.track_message)
    assert "self._unacked_messages.add(message)" in track
    ack = inspect.getsource(faust_consumer.Consumer.ack)
    assert "acked_for_tp.append(offset)" in ack
    assert "if not message.acked:" in ack
    clean = inspect.getsource(faust_consumer.Consumer._clean_unacked_messages)
    assert "if message.acked" in clean  # a dropped (acked=True) message is not waited for
    getmany = inspect.getsource(faust_consumer.Consumer.getmany)
    assert "await self.perform_seek()" in getmany  # flow stopped: back to the committed offsets
    assert {"acked", "tracked", "generation_id"} <= set(faust_tuples.Message.__slots__)


async def test_the_feed_cuts_fetches_and_drops_what_came_before_a_rebalance() -> None:
    """A fetch is cut at batch_max; take() joins what is queued, tracks it, and drops the
    messages of an older generation and everything while flow is suspended."""
    feed = fi.BatchFeed(["in"], batch_max=3, buffered=4)
    tracked: list[Any] = []

    def message(offset: int, generation: int = 1) -> Any:
        return SimpleNamespace(
            tp=TP("in", 0), offset=offset, generation_id=generation, tracked=False
        )

    class Flow:
        active = True

        def is_active(self) -> bool:
            return self.active

    app: Any = SimpleNamespace(
        consumer=SimpleNamespace(track_message=tracked.append),
        consumer_generation_id=1,
        flow_control=Flow(),
        monitor=SimpleNamespace(stream_inbound_time={}),
    )
    await feed.put([message(0, generation=0), message(1)])
    await feed.put([message(n) for n in range(2, 6)])  # queued as [2, 3, 4] and [5]
    first = await feed.take(app)  # [0, 1] is under batch_max: [2, 3, 4] joins it, not [5]
    assert [m.offset for m in first] == [1, 2, 3, 4]  # offset 0 is of the older generation
    assert tracked == first
    assert all(m.tracked for m in first)
    assert TP("in", 0) in app.monitor.stream_inbound_time
    app.flow_control.active = False
    assert await feed.take(app) == []  # suspended: nothing taken is processed or tracked
    assert len(tracked) == 4


def test_the_noop_monitor_overrides_every_sensor_hook_but_keeps_the_inbound_time() -> None:
    """NoopMonitor defines every on_* hook of faust's Sensor (beyond mode's Service)."""
    hooks = {
        name
        for name, _ in inspect.getmembers(Sensor, inspect.isfunction)
        if name.startswith("on_") and not hasattr(Service, name)
    }
    hooks |= {"track_tp_end_offset", "on_tp_commit", "count"}
    missing = {name for name in hooks if name not in fi.NoopMonitor.__dict__}
    assert missing == set()
    monitor = fi.NoopMonitor()
    tp = TP("t", 0)
    monitor.on_stream_event_in(tp, 1, None, None)
    assert tp in monitor.stream_inbound_time
    assert "stream_inbound_time" in inspect.getsource(
        faust_aiokafka.AIOKafkaConsumerThread.verify_event_path
    )


def test_the_signal_handlers_are_the_ones_the_worker_overrides() -> None:
    """mode installs Worker._on_sigterm as the SIGTERM handler (the watchdog arms there)."""
    source = inspect.getsource(mode_worker.Worker._install_signal_handlers_unix)
    assert "add_signal_handler(signal.SIGTERM, self._on_sigterm)" in source

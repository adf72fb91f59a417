"""Publishing input events to Kafka at the edge, for ``sla-worker produce`` and ``loadgen``.

Imports aiokafka (never faust). :func:`open_publisher` reaches the broker with the worker's
security settings, retrying for a bounded time (SLA_CONNECT_TIMEOUT), checks that the topic
exists, and yields a :class:`Publisher` that sends values keyed by ticket id. Partitions are
chosen by aiokafka's default partitioner (murmur2 of the key, as the Java client and faust
do), so every event of a ticket lands on the partition the worker expects. Every failure is
one line: a :class:`~worker.core.errors.StartupError` when the broker or topic cannot be used, a
:class:`PublishError` when the broker refuses a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from worker.core.errors import SlaWorkerError, StartupError
from worker.core.events import InputEvent
from worker.edge.codec import InvalidLine, Rejected, check_references, decode_event
from worker.edge.settings import Settings
from worker.stream.kafka_admin import connection_cause, kafka_client_options, security_refusal

__all__ = [
    "Line",
    "PublishError",
    "Publisher",
    "open_publisher",
    "read_lines",
]

# Sends not yet acknowledged before the next send waits for the oldest: bounds memory on a
# large file while keeping enough in flight to fill batches.
_IN_FLIGHT: Final = 20_000
# Batching: wait up to 5 ms to fill 256 KiB batches; throughput for `produce` of a large
# file, imperceptible latency for live demo traffic.
_LINGER_MS: Final = 5
_BATCH_BYTES: Final = 262_144


class PublishError(SlaWorkerError):
    """The broker refused or lost a message: the message says why; fix it and send again."""


class Publisher:
    """Sends values to one topic keyed by ticket id; counts what the broker acknowledged."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partitions: int) -> None:
        self.topic = topic
        self.partitions = partitions
        self.acked = 0
        self._producer = producer
        self._pending: deque[asyncio.Future[Any]] = deque()
        self._on_ack: Callable[[int], None] | None = None

    def on_ack(self, callback: Callable[[int], None] | None) -> None:
        """Call ``callback(acked)`` each time the broker acknowledges messages."""
        self._on_ack = callback

    async def send(self, key: bytes, value: bytes) -> None:
        """Queue one message; wait only when too many are unacknowledged.

        Raise :class:`PublishError` when an earlier message failed.
        """
        try:
            future = await self._producer.send(self.topic, value=value, key=key)
        except KafkaError as error:
            raise PublishError(f"cannot send to {self.topic}: {_describe(error)}") from None
        self._pending.append(future)
        while self._pending and (self._pending[0].done() or len(self._pending) > _IN_FLIGHT):
            await self._settle(self._pending.popleft())

    async def flush(self) -> None:
        """Wait until every queued message is acknowledged; PublishError if one failed."""
        await self._producer.flush()
        while self._pending:
            await self._settle(self._pending.popleft())

    async def _settle(self, future: asyncio.Future[Any]) -> None:
        try:
            await future
        except KafkaError as error:
            raise PublishError(
                f"the broker did not take a message for {self.topic} "
                f"({self.acked} acknowledged before): {_describe(error)}"
            ) from None
        self.acked += 1
        if self._on_ack is not None:
            self._on_ack(self.acked)


def _describe(error: BaseException | None) -> str:
    """Return ``Type: first line of the message``, without repeating the type's name."""
    if error is None:
        return "no answer"
    if isinstance(error, KafkaConnectionError):
        return "no broker answered (is it running, and is this its address?)"
    name = type(error).__name__
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = re.sub(r"^\[Error -?[0-9]+\] ", "", text).removeprefix(f"{name}: ")
    return f"{name}: {text}" if text and text != name else name


@contextlib.contextmanager
def _quiet_client_logs() -> Iterator[None]:
    """Hide aiokafka's log line per failed attempt while connecting: we report the failure."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def _start(settings: Settings, timeout_s: float) -> AIOKafkaProducer:
    """Return a started producer, retrying until ``timeout_s``; StartupError after."""
    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while True:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap,
            client_id=f"{settings.app_id}-producer",
            # Every replica has it before it counts as sent. Not idempotent: that needs an
            # extra ACL on some clusters, and a retried duplicate is harmless (the worker
            # drops events whose event_id it has seen).
            acks="all",
            linger_ms=_LINGER_MS,
            max_batch_size=_BATCH_BYTES,
            request_timeout_ms=max(1_000, int(min(timeout_s, 30.0) * 1000)),
            **kafka_client_options(settings),
        )
        try:
            with _quiet_client_logs():
                await producer.start()
            return producer
        except (KafkaError, OSError, ValueError) as error:
            last = error
            with contextlib.suppress(Exception):  # a producer that never fully started
                await producer.stop()
            cause: BaseException = error
            if isinstance(error, KafkaConnectionError):  # aiokafka hides why: ask ourselves
                left_s = max(0.5, min(30.0, deadline - time.monotonic()))
                with _quiet_client_logs():
                    cause = await connection_cause(settings, left_s) or error
            refusal = security_refusal(settings, cause)
            if refusal is not None:
                raise refusal from None
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(1.0)  # retry pace while the broker is unreachable
    raise StartupError(
        f"cannot reach Kafka at {settings.bootstrap} ({settings.kafka_security_protocol}) "
        f"within {timeout_s:g}s: {_describe(last)}"
    )


@contextlib.asynccontextmanager
async def open_publisher(
    settings: Settings, topic: str, *, timeout_s: float | None = None
) -> AsyncIterator[Publisher]:
    """Yield a :class:`Publisher` to ``topic``; flush it and close the producer on exit.

    Raise :class:`~worker.core.errors.StartupError` when the broker cannot be reached within
    ``timeout_s`` (default: ``settings.connect_timeout_s``, SLA_CONNECT_TIMEOUT) or the
    topic does not exist (it is never created here).
    """
    producer = await _start(
        settings, settings.connect_timeout_s if timeout_s is None else timeout_s
    )
    try:
        try:
            cluster = await producer.client.fetch_all_metadata()
        except KafkaError as error:
            raise StartupError(
                f"cannot read topic metadata from {settings.bootstrap}: {_describe(error)}"
            ) from None
        if topic not in cluster.topics():
            raise StartupError(
                f"topic {topic} does not exist on {settings.bootstrap} "
                "(create it: sla-worker topics create)"
            )
        partitions = len(cluster.partitions_for_topic(topic) or ())
        publisher = Publisher(producer, topic, partitions)
        yield publisher
        await publisher.flush()
    finally:
        with contextlib.suppress(Exception):  # closing after a failure: keep the first error
            await producer.stop()


# --- event files ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One non-blank line of an event file: its number, exact bytes, and event or problem."""

    number: int
    value: bytes
    event: InputEvent | None
    problem: InvalidLine | None


def read_lines(
    lines: Iterable[bytes],
    *,
    tiers: Container[str] | None = None,
    priorities: Container[str] | None = None,
) -> Iterator[Line]:
    r"""Yield the non-blank lines of a JSON-lines file, each decoded and checked by the codec.

    A line's bytes are kept exactly, without the line terminator (``\n`` or ``\r\n``).
    With ``tiers`` and ``priorities`` (a policy's), events naming others are problems too.
    """
    for number, raw in enumerate(lines, start=1):
        value = raw[:-1] if raw.endswith(b"\n") else raw
        if value.endswith(b"\r"):
            value = value[:-1]
        if not value.strip():
            continue
        decoded = decode_event(value)
        if isinstance(decoded, Rejected):
            yield Line(number, value, None, InvalidLine(number, decoded.reason, decoded.error))
            continue
        if tiers is not None and priorities is not None:
            rejected = check_references(decoded, tiers=tiers, priorities=priorities)
            if rejected is not None:
                problem = InvalidLine(number, rejected.reason, rejected.error)
                yield Line(number, value, None, problem)
                continue
        yield Line(number, value, decoded, None)

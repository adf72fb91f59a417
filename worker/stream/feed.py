"""A live console feed of the worker's output topics (``sla-worker feed``, used by ``make run``).

Edge module: imports aiokafka (never faust) and rich. It reads the warning, breach, outcome
and dead-letter topics without a consumer group (it commits nothing and disturbs no one) and
prints one colored line per warning, breach and dead letter::

    12:03:04 WARN    T-7-00042  gold/P1  first_response 75%  (30s left, deadline 12:03:34)
    12:03:34 BREACH  T-7-00042  gold/P1  first_response  (deadline 12:03:34)

Outcomes come every few seconds as one compact line per interval: how many targets were met
and breached since the last line, and compliance per tier so far. Times are local wall-clock
time. The feed decodes what it shows leniently: a message it cannot read is counted, never
fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.markup import escape

from worker.core.durations import format_duration
from worker.core.errors import StartupError
from worker.edge.settings import Settings
from worker.stream.kafka_admin import connect_admin, kafka_client_options

__all__ = ["FeedStats", "describe", "run_feed"]

# Outcomes are summarised at most this often: one line per interval keeps the feed readable
# at demo rates (several outcomes a second) while staying live.
OUTCOME_INTERVAL_S: Final = 10.0
_DECODER: Final = msgspec.json.Decoder()


@dataclass(slots=True)
class FeedStats:
    """What the feed has seen: messages per type, outcomes per tier, unreadable messages."""

    seen: Counter[str] = field(default_factory=Counter)
    met: Counter[str] = field(default_factory=Counter)
    breached: Counter[str] = field(default_factory=Counter)
    window_met: int = 0
    window_breached: int = 0
    unreadable: int = 0

    def summary(self) -> str:
        """Return one line of totals, for the end of the feed."""
        return (
            f"feed: {self.seen['sla.warning']} warnings, {self.seen['sla.breached']} breaches, "
            f"{sum(self.met.values())} met and {sum(self.breached.values())} breached outcomes, "
            f"{self.seen['sla.late_fulfilment']} late fulfilments, "
            f"{self.seen['sla.dead_letter']} dead letters"
            + (f", {self.unreadable} unreadable" if self.unreadable else "")
        )

    def compliance(self) -> str:
        """Return ``gold 95.0% (19/20) ...``: met / (met + breached) per tier so far."""
        parts = []
        for tier in sorted(set(self.met) | set(self.breached)):
            met, total = self.met[tier], self.met[tier] + self.breached[tier]
            parts.append(f"{tier} {met / total:.1%} ({met}/{total})")
        return "  ".join(parts)


def _clock(text: object) -> str:
    """Return an RFC 3339 instant as local ``HH:MM:SS``; ``?`` when it is not one."""
    if not isinstance(text, str):
        return "--:--:--"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return "?"
    return moment.astimezone().strftime("%H:%M:%S")


def _left(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "?"
    return format_duration(max(0, round(seconds)))


def describe(document: dict[str, Any]) -> str | None:
    """Return the rich-markup line of a warning, breach, late fulfilment or dead letter.

    None for others (outcomes are counted per tier, not printed).
    """
    kind = document.get("type")
    who = (
        f"{escape(str(document.get('ticket_id')))}  "
        f"{escape(str(document.get('tier')))}/{escape(str(document.get('priority')))}  "
        f"{escape(str(document.get('target')))}"
    )
    deadline = _clock(document.get("deadline"))
    if kind == "sla.warning":
        return (
            f"{_clock(document.get('detected_at'))} [yellow]WARN   [/] {who} "
            f"{escape(str(document.get('threshold')))}  "
            f"({_left(document.get('remaining_seconds'))} left, deadline {deadline})"
        )
    if kind == "sla.breached":
        return (
            f"{_clock(document.get('detected_at'))} [bold red]BREACH [/] {who}  "
            f"(deadline {deadline})"
        )
    if kind == "sla.late_fulfilment":
        return (
            f"{_clock(document.get('fulfilled_at'))} [cyan]LATE   [/] {who}  "
            f"fulfilled {_left(document.get('over_seconds'))} over (deadline {deadline})"
        )
    if kind == "sla.dead_letter":
        return (
            f"{_clock(document.get('detected_at'))} [magenta]DEAD   [/] "
            f"{escape(str(document.get('reason')))}: {escape(str(document.get('error')))}"
        )
    return None


def _now_clock() -> str:
    return datetime.now(UTC).astimezone().strftime("%H:%M:%S")


class _Feed:
    def __init__(self, console: Console, stats: FeedStats) -> None:
        self.console = console
        self.stats = stats

    def read(self, value: bytes | None) -> dict[str, Any] | None:
        """Return a message's JSON object, or None (counted as unreadable)."""
        try:
            document = _DECODER.decode(value or b"")
        except msgspec.DecodeError:
            document = None
        if not isinstance(document, dict):
            self.stats.unreadable += 1
            return None
        return document

    def show(self, document: dict[str, Any]) -> None:
        """Count a message; print it if it is a warning, breach, late fulfilment or dead letter."""
        kind = str(document.get("type"))
        self.stats.seen[kind] += 1
        if kind == "sla.outcome":
            tier = str(document.get("tier"))
            if document.get("outcome") == "met":
                self.stats.met[tier] += 1
                self.stats.window_met += 1
            else:
                self.stats.breached[tier] += 1
                self.stats.window_breached += 1
            return
        line = describe(document)
        if line is not None:
            self.console.print(line, highlight=False, soft_wrap=True)

    def outcomes(self) -> None:
        stats = self.stats
        if not stats.window_met and not stats.window_breached:
            return
        self.console.print(
            f"{_now_clock()} [green]OUTCOME[/] +{stats.window_met} met, "
            f"+{stats.window_breached} breached  [dim]compliance: "
            f"{escape(stats.compliance())}[/]",
            highlight=False,
            soft_wrap=True,
        )
        stats.window_met = stats.window_breached = 0


async def run_feed(
    settings: Settings,
    *,
    from_beginning: bool = False,
    console: Console | None = None,
    stop_signals: bool = True,
    on_ready: Callable[[], None] | None = None,
) -> FeedStats:
    """Print the output topics' messages until SIGINT or SIGTERM; return what was seen.

    Reads from the end of each topic (new messages only), or from the beginning.
    Raise :class:`~worker.core.errors.StartupError` when the broker cannot be reached.
    """
    console = console or Console(highlight=False)
    stats = FeedStats()
    feed = _Feed(console, stats)
    topics = [
        settings.warning_topic,
        settings.breach_topic,
        settings.outcome_topic,
        settings.dead_letter_topic,
    ]
    admin = await connect_admin(settings)  # a bounded, one-line failure when unreachable
    await admin.close()
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.bootstrap,
        client_id=f"{settings.app_id}-feed",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        **kafka_client_options(settings),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if stop_signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    try:
        try:
            await consumer.start()
        except KafkaError as error:
            raise StartupError(f"cannot consume from {settings.bootstrap}: {error}") from None
        if on_ready is not None:
            on_ready()
        last_summary = loop.time()
        while not stop.is_set():
            getter = asyncio.ensure_future(consumer.getmany(timeout_ms=500))
            waiter = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if getter not in done:
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError, KafkaError):
                    await getter
                break
            batches = getter.result()
            documents = [
                document
                for messages in batches.values()
                for record in messages
                if (document := feed.read(record.value)) is not None
            ]
            # Partitions arrive in turn: show a batch in the order things were detected.
            documents.sort(key=lambda document: str(document.get("detected_at") or ""))
            for document in documents:
                feed.show(document)
            if loop.time() - last_summary >= OUTCOME_INTERVAL_S:
                feed.outcomes()
                last_summary = loop.time()
        feed.outcomes()
    finally:
        if stop_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        with contextlib.suppress(Exception):
            await consumer.stop()
    return stats

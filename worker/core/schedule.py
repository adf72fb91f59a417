"""The per-partition deadline index: which tickets have something due by a given clock.

Core module: standard library only (no asyncio, faust, os, logging, no clock reading).

:class:`DeadlineIndex` keeps each ticket's due instant in a dict and queues ``(due_at,
ticket_id)`` entries with lazy deletion: moving or removing a ticket's due instant only
records the new value in the dict (O(1)) and queues a new entry; stale entries are skipped
when they surface. The queue is compacted when stale entries outnumber live ones, so memory
stays proportional to the open tickets.

The queue (:class:`DueQueue`, also used by the offline replay) is a calendar queue: the
entries due before its edge (a one-minute slot) form a small binary heap, and each later
minute has an unsorted bucket, heapified when the heap runs dry. Queuing an entry due days
ahead (a finished ticket waiting to be forgotten) is a list append, and taking the next due
entry sifts through a heap of one minute's entries rather than one of every ticket: with
hundreds of thousands of tickets, a deep heap costs a cache miss at nearly every level.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["COMPACT_FACTOR", "COMPACT_MIN", "DeadlineIndex", "DueQueue"]

# Rebuild a queue once it holds this many times more entries than live tickets: keeps
# memory bounded under churn while amortising the O(n) rebuild to O(1) per update. Used by
# the worker's index here and by the offline replay (``worker/simulate.py``).
COMPACT_FACTOR: Final = 2
# ...but never bother for small queues, where stale entries cost nothing worth the rebuild.
COMPACT_MIN: Final = 1024
_MICROSECOND: Final = timedelta(microseconds=1)
# Why a minute: the heap then holds the entries of one minute (a busy partition schedules
# hundreds a minute, not hundreds of thousands), and a bucket still gathers enough entries
# to be worth its dict entry and its place in the heap of slots.
_SLOT_US: Final = 60_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# The edge of an empty queue: before any slot, so the first entries go to buckets.
_NO_EDGE: Final = -(2**63)

Entry = tuple[datetime, str]


def _us(at: datetime) -> int:
    """Return the aware instant ``at`` as integer microseconds since the Unix epoch."""
    # Why not ``(at - _EPOCH) // _MICROSECOND``: dividing timedeltas costs 40% more.
    since = at - _EPOCH
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def _instant(us: int) -> datetime:
    """Return the UTC instant ``us`` microseconds after the Unix epoch."""
    # Why not ``timedelta(microseconds=us)``: a call with a keyword costs 2.5x this product
    # (exact: a timedelta times an int is integer arithmetic). Each pop of a queue does it.
    return _EPOCH + _MICROSECOND * us


class DueQueue:
    """``(due_at, ticket_id)`` entries, given back earliest first (ties by ticket id).

    Duplicates and stale entries are the owner's business: it checks each entry it takes
    against what it knows to be due. Instants are kept as integer microseconds since the
    epoch (the ``*_us`` methods take and give those); a bucket keeps its instants in an
    ``array`` beside a list of ticket ids: 16 bytes an entry, where a tuple of a datetime
    and a string would take 112. With a million tickets the index is most of a worker's
    memory.
    """

    __slots__ = ("_buckets", "_edge", "_heap", "_size", "_slots")

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        # The entries in a slot before ``_edge`` form a heap; each later slot that has
        # entries has a bucket, and its number is in the heap ``_slots``.
        self._heap: list[tuple[int, str]] = []
        self._edge = _NO_EDGE
        self._buckets: dict[int, tuple[array[int], list[str]]] = {}
        self._slots: list[int] = []
        self._size = 0
        self.rebuild(entries)

    def rebuild(self, entries: Iterable[Entry]) -> None:
        """Replace every entry by ``entries``."""
        self.rebuild_us((_us(due_at), ticket_id) for due_at, ticket_id in entries)

    def rebuild_us(self, entries: Iterable[tuple[int, str]]) -> None:
        """Replace every entry by ``entries`` (instants in microseconds)."""
        self._heap = []
        self._edge = _NO_EDGE
        self._buckets = {}
        self._slots = []
        self._size = 0
        for due_us, ticket_id in entries:
            self.push_us(due_us, ticket_id)

    def push(self, due_at: datetime, ticket_id: str) -> None:
        """Queue ``ticket_id`` as due at ``due_at`` (an aware instant)."""
        self.push_us(_us(due_at), ticket_id)

    def push_us(self, due_us: int, ticket_id: str) -> None:
        """Queue ``ticket_id`` as due at ``due_us`` (microseconds since the epoch)."""
        self._size += 1
        slot = due_us // _SLOT_US
        if slot < self._edge:
            heapq.heappush(self._heap, (due_us, ticket_id))
            return
        bucket = self._buckets.get(slot)
        if bucket is None:
            self._buckets[slot] = (array("q", (due_us,)), [ticket_id])
            heapq.heappush(self._slots, slot)
        else:
            bucket[0].append(due_us)
            bucket[1].append(ticket_id)

    def first(self) -> Entry | None:
        """Return the earliest entry (without taking it), or ``None`` when empty."""
        head = self.first_us()
        return None if head is None else (_instant(head[0]), head[1])

    def first_us(self) -> tuple[int, str] | None:
        """Return the earliest entry, its instant in microseconds, or ``None`` when empty."""
        heap = self._heap
        if not heap:
            if not self._slots:
                return None
            # Every other bucket is of a later minute: the earliest one becomes the heap.
            slot = heapq.heappop(self._slots)
            dues, tickets = self._buckets.pop(slot)
            heap[:] = zip(dues, tickets, strict=True)
            heapq.heapify(heap)
            self._edge = slot + 1
        return heap[0]

    def pop(self) -> Entry:
        """Take and return the earliest entry; ``IndexError`` when empty."""
        due_us, ticket_id = self.pop_us()
        return _instant(due_us), ticket_id

    def pop_us(self) -> tuple[int, str]:
        """Take and return the earliest entry, its instant in microseconds."""
        if self.first_us() is None:
            raise IndexError("pop from an empty DueQueue")
        self._size -= 1
        return heapq.heappop(self._heap)

    def __len__(self) -> int:
        """Return the number of entries queued, stale ones included."""
        return self._size


class DeadlineIndex:
    """What is due by when, for the tickets of one partition.

    Due instants are kept as integer microseconds (32 bytes an int, 48 a datetime), shared
    by the map and the queue; the API speaks aware datetimes.
    """

    __slots__ = ("_due", "_queue")

    def __init__(self, entries: Iterable[tuple[str, datetime | None]] = ()) -> None:
        self._due: dict[str, int] = {}
        self._queue = DueQueue()
        self.rebuild(entries)

    def rebuild(self, entries: Iterable[tuple[str, datetime | None]]) -> None:
        """Replace the whole index by ``(ticket_id, due_at)`` pairs (e.g. from stored states)."""
        self._due = {ticket_id: _us(due) for ticket_id, due in entries if due is not None}
        self._compact()

    def _compact(self) -> None:
        """Queue exactly one entry per ticket: what the map says."""
        self._queue.rebuild_us((due_us, ticket_id) for ticket_id, due_us in self._due.items())

    def set(self, ticket_id: str, due_at: datetime | None) -> None:
        """Schedule ``ticket_id`` at ``due_at``, replacing what it had; ``None`` removes it."""
        if due_at is None:
            self._due.pop(ticket_id, None)
            return
        due_us = _us(due_at)
        if self._due.get(ticket_id) == due_us:
            return
        self._due[ticket_id] = due_us
        self._queue.push_us(due_us, ticket_id)
        size = len(self._queue)
        if size > COMPACT_MIN and size > COMPACT_FACTOR * len(self._due):
            self._compact()

    def pop_due(self, clock: datetime, limit: int | None = None) -> list[str]:
        """Remove and return the tickets due at or before ``clock``, earliest first.

        ``limit`` caps how many are returned (the rest stay for the next call), so one
        tick never stalls a partition. The caller re-schedules each ticket it processes.
        """
        clock_us = _us(clock)
        due: list[str] = []
        queue = self._queue
        known = self._due
        while (head := queue.first_us()) is not None and head[0] <= clock_us:
            if limit is not None and len(due) >= limit:
                break
            due_us, ticket_id = queue.pop_us()
            if known.get(ticket_id) == due_us:
                del known[ticket_id]
                due.append(ticket_id)
        return due

    def next_due(self) -> datetime | None:
        """Return the earliest due instant, or ``None`` when nothing is scheduled."""
        queue = self._queue
        while (head := queue.first_us()) is not None and self._due.get(head[1]) != head[0]:
            queue.pop_us()
        return None if head is None else _instant(head[0])

    def get(self, ticket_id: str) -> datetime | None:
        """Return the instant ``ticket_id`` is due, or ``None``."""
        due_us = self._due.get(ticket_id)
        return None if due_us is None else _instant(due_us)

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, ticket_id: object) -> bool:
        return ticket_id in self._due

    def __iter__(self) -> Iterator[tuple[str, datetime]]:
        return iter([(ticket_id, _instant(due_us)) for ticket_id, due_us in self._due.items()])

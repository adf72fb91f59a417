"""The per-partition deadline index: which tickets have something due by a given clock.

Core module: standard library only (no asyncio, faust, os, logging, no clock reading).

A binary heap of ``(due_at, ticket_id)`` with lazy deletion: moving or removing a ticket's
due instant only records the new value in a dict (O(1)) and pushes a new heap entry
(O(log n)); stale entries are skipped when they surface. The heap is compacted when stale
entries outnumber live ones, so memory stays proportional to the open tickets.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Final

__all__ = ["DeadlineIndex"]

# Rebuild the heap once it holds this many times more entries than live tickets: keeps
# memory bounded under churn while amortising the O(n) rebuild to O(1) per update.
_COMPACT_FACTOR: Final = 2
# ...but never bother for small heaps, where stale entries cost nothing worth the rebuild.
_COMPACT_MIN: Final = 1024


class DeadlineIndex:
    """What is due by when, for the tickets of one partition."""

    __slots__ = ("_due", "_heap")

    def __init__(self, entries: Iterable[tuple[str, datetime | None]] = ()) -> None:
        self._due: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []
        self.rebuild(entries)

    def rebuild(self, entries: Iterable[tuple[str, datetime | None]]) -> None:
        """Replace the whole index by ``(ticket_id, due_at)`` pairs (e.g. from stored states)."""
        self._due = {ticket_id: due for ticket_id, due in entries if due is not None}
        self._heap = [(due, ticket_id) for ticket_id, due in self._due.items()]
        heapq.heapify(self._heap)

    def set(self, ticket_id: str, due_at: datetime | None) -> None:
        """Schedule ``ticket_id`` at ``due_at``, replacing what it had; ``None`` removes it."""
        current = self._due.get(ticket_id)
        if due_at == current:
            return
        if due_at is None:
            del self._due[ticket_id]
            return
        self._due[ticket_id] = due_at
        heapq.heappush(self._heap, (due_at, ticket_id))
        if len(self._heap) > _COMPACT_MIN and len(self._heap) > _COMPACT_FACTOR * len(self._due):
            self.rebuild(list(self._due.items()))

    def pop_due(self, clock: datetime, limit: int | None = None) -> list[str]:
        """Remove and return the tickets due at or before ``clock``, earliest first.

        ``limit`` caps how many are returned (the rest stay for the next call), so one
        tick never stalls a partition. The caller re-schedules each ticket it processes.
        """
        due: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= clock and (limit is None or len(due) < limit):
            due_at, ticket_id = heapq.heappop(heap)
            if self._due.get(ticket_id) == due_at:
                del self._due[ticket_id]
                due.append(ticket_id)
        return due

    def next_due(self) -> datetime | None:
        """Return the earliest due instant, or ``None`` when nothing is scheduled."""
        heap = self._heap
        while heap and self._due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def get(self, ticket_id: str) -> datetime | None:
        """Return the instant ``ticket_id`` is due, or ``None``."""
        return self._due.get(ticket_id)

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, ticket_id: object) -> bool:
        return ticket_id in self._due

    def __iter__(self) -> Iterator[tuple[str, datetime]]:
        return iter(list(self._due.items()))

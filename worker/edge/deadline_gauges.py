"""The running targets behind the deadline gauges, per label set, kept up to date incrementally.

Edge module: standard library and ``worker.core`` only (no prometheus_client: the metric
families that read this live in ``worker/edge/metrics.py``).

For each ``(tier, priority, target)`` label set of a policy, :class:`RunningTargets` keeps how
many target cycles run and how many are paused, the deadlines of those that have one as a
sorted multiset of Unix timestamps (:class:`SortedFloats`) and their exact sum in
microseconds. From that, the scrape computes ``sla_running_targets``,
``sla_time_to_breach_seconds`` and ``sla_next_deadline_timestamp_seconds`` in O(label sets x
log n) at any ``now``, and an open deadline costs one float in one array (8 bytes).

Updates are per ticket (:meth:`RunningTargets.update`: the ticket's running targets before
and after an event) or a rebuild of everything in parts (:meth:`RunningTargets.rebuild`,
after a rebalance). Label sets the table was not built with (a ticket stored under an older
policy) are ignored.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from worker.core.ticket_state import RunningTarget

__all__ = ["LabelSet", "RunningEntry", "RunningRebuild", "RunningTargets", "SortedFloats"]

LabelSet = tuple[str, str, str]
"""``(tier, priority, target)``."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class SortedFloats:
    """A sorted multiset of floats, kept in ``array('d')`` chunks: 8 bytes a value.

    Why not ``sortedcontainers.SortedList``: it holds a float object per value, about 45
    bytes each with its slot; with a million open tickets (two deadlines each) that was a
    third of a worker's memory for the index of deadlines alone. Chunks hold up to
    ``2 * chunk`` values (``chunk`` is 1,024 but in tests); ``_maxes`` has the last value of
    each, so a lookup is a bisect over the maxes and one within a chunk. Counting
    (``bisect_right``) adds up the lengths of the chunks before: a few thousand at most, once
    per bucket per scrape. Compiled with the core (``make native``).
    """

    __slots__ = ("_chunk", "_chunks", "_len", "_maxes")

    def __init__(self, values: Iterable[float] = (), *, chunk: int = 1024) -> None:
        ordered = array("d", sorted(values))
        self._chunk = size = chunk
        self._chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
        self._maxes = [part[-1] for part in self._chunks]
        self._len = len(ordered)

    def add(self, value: float) -> None:
        """Insert ``value``."""
        self._len += 1
        chunks, maxes = self._chunks, self._maxes
        if not chunks:
            chunks.append(array("d", (value,)))
            maxes.append(value)
            return
        i = min(bisect_left(maxes, value), len(maxes) - 1)  # past every max: the last chunk
        chunk = chunks[i]
        insort(chunk, value)
        if len(chunk) > 2 * self._chunk:
            half = self._chunk
            chunks[i : i + 1] = [chunk[:half], chunk[half:]]
            maxes[i : i + 1] = [chunk[half - 1], chunk[-1]]
        else:
            maxes[i] = chunk[-1]

    def remove(self, value: float) -> bool:
        """Remove one ``value``; return whether there was one."""
        chunks, maxes = self._chunks, self._maxes
        # The first chunk whose last value is >= value holds it, if any does: every later
        # chunk starts at or after that last value.
        i = bisect_left(maxes, value)
        if i == len(maxes):
            return False
        chunk = chunks[i]
        j = bisect_left(chunk, value)
        if chunk[j] != value:
            return False
        del chunk[j]
        self._len -= 1
        if chunk:
            maxes[i] = chunk[-1]
        else:
            del chunks[i], maxes[i]
        return True

    def bisect_right(self, value: float) -> int:
        """Return how many values are <= ``value``."""
        i = bisect_right(self._maxes, value)
        count = sum(map(len, self._chunks[:i]))
        return count + bisect_right(self._chunks[i], value) if i < len(self._chunks) else count

    def __getitem__(self, index: int) -> float:
        """Return the ``index``-th smallest value (0-based, non-negative)."""
        for chunk in self._chunks:
            if index < len(chunk):
                return chunk[index]
            index -= len(chunk)
        raise IndexError("SortedFloats index out of range")

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[float]:
        for chunk in self._chunks:
            yield from chunk


@dataclass(slots=True)
class RunningEntry:
    """The running targets of one tier x priority x target label set.

    ``deadlines`` holds the Unix timestamps of the running targets that have a deadline,
    sorted; ``sum_us`` their exact sum in microseconds (the gauge histogram's ``_gsum``).
    """

    running: int = 0
    paused: int = 0
    deadlines: SortedFloats = field(default_factory=SortedFloats)
    sum_us: int = 0


class RunningTargets:
    """The running targets of every label set of a policy (see the module docstring)."""

    __slots__ = ("_entries",)

    def __init__(self, label_sets: Iterable[LabelSet]) -> None:
        self._entries: dict[LabelSet, RunningEntry] = {key: RunningEntry() for key in label_sets}

    def __contains__(self, label_set: object) -> bool:
        """Return whether ``label_set`` is one the table was built with."""
        return label_set in self._entries

    def items(self) -> Iterator[tuple[LabelSet, RunningEntry]]:
        """Yield every label set and its entry, in the order the table was built with."""
        yield from self._entries.items()

    def update(self, before: Iterable[RunningTarget], after: Iterable[RunningTarget]) -> None:
        """Replace one ticket's running target cycles ``before`` by ``after``.

        Entries present in both are left alone, so an unchanged ticket costs nothing.
        """
        removed = list(before)
        added: list[RunningTarget] = []
        for item in after:
            try:
                removed.remove(item)
            except ValueError:
                added.append(item)
        for item in removed:
            self._remove(item)
        for item in added:
            self._add(item)

    def rebuild(self) -> RunningRebuild:
        """Start replacing every running target: add them in parts, then call ``done()``."""
        return RunningRebuild(self)

    def _add(self, item: RunningTarget) -> None:
        entry = self._entries.get((item.tier, item.priority, item.target))
        if entry is None:
            return
        if item.paused:
            entry.paused += 1
        else:
            entry.running += 1
        if item.deadline is not None:
            us = _microseconds(item.deadline)
            entry.deadlines.add(us / 1_000_000)  # == deadline.timestamp(), exactly
            entry.sum_us += us

    def _remove(self, item: RunningTarget) -> None:
        """Remove ``item``; tolerant of one never added (counts never go below zero)."""
        entry = self._entries.get((item.tier, item.priority, item.target))
        if entry is None:
            return
        if item.paused:
            entry.paused = max(0, entry.paused - 1)
        else:
            entry.running = max(0, entry.running - 1)
        if item.deadline is not None:
            us = _microseconds(item.deadline)
            if entry.deadlines.remove(us / 1_000_000):
                entry.sum_us -= us


class RunningRebuild:
    """The running targets of a rebuild, tallied per label set (see ``RunningTargets.rebuild``).

    Nothing changes in the table until :meth:`done`: a scrape meanwhile sees the old figures.
    """

    def __init__(self, targets: RunningTargets) -> None:
        self._targets = targets
        labels = targets._entries
        self._counts: dict[LabelSet, list[int]] = {key: [0, 0] for key in labels}
        self._deadlines: dict[LabelSet, array[float]] = {key: array("d") for key in labels}
        self._sums: dict[LabelSet, int] = dict.fromkeys(labels, 0)

    def add(self, running: Iterable[RunningTarget]) -> None:
        """Tally ``running`` (label sets the table does not have are ignored)."""
        counts, deadlines, sums = self._counts, self._deadlines, self._sums
        for item in running:
            key = (item.tier, item.priority, item.target)
            if key not in counts:
                continue
            counts[key][item.paused] += 1
            if item.deadline is not None:
                us = _microseconds(item.deadline)
                deadlines[key].append(us / 1_000_000)
                sums[key] += us

    def done(self) -> None:
        """Replace the table's running targets by those tallied."""
        labels = self._targets._entries
        for key in labels:
            not_paused, paused = self._counts[key]
            labels[key] = RunningEntry(
                not_paused, paused, SortedFloats(self._deadlines[key]), self._sums[key]
            )


def _microseconds(at: datetime) -> int:
    """Return ``at`` as exact integer microseconds since the Unix epoch.

    ``us / 1_000_000`` is then ``at.timestamp()`` exactly (both divide the same integer by
    10**6, correctly rounded), one subtraction instead of two per deadline.
    """
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

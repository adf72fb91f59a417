"""The running targets behind the deadline gauges: the sorted multiset and the per-label table."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.policy import TARGETS
from worker.core.ticket_state import RunningTarget
from worker.edge.deadline_gauges import LabelSet, RunningTargets, SortedFloats, _microseconds

MakeRunning = Callable[..., RunningTarget]

# Monday 23 November 2026, 10:00 UTC.
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
S = timedelta(seconds=1)

LABEL_SETS: list[LabelSet] = [
    (tier, priority, target)
    for tier in ("gold", "silver", "free")
    for priority in ("P1", "P2", "P3", "P4")
    for target in TARGETS
]

Snapshot = dict[LabelSet, tuple[int, int, list[float], int]]


def snapshot(table: RunningTargets) -> Snapshot:
    """Every entry as plain values: running, paused, sorted deadlines, sum in microseconds."""
    return {key: (e.running, e.paused, list(e.deadlines), e.sum_us) for key, e in table.items()}


def rebuilt(targets: list[RunningTarget]) -> RunningTargets:
    """Return a table rebuilt from ``targets`` in one part."""
    table = RunningTargets(LABEL_SETS)
    rebuild = table.rebuild()
    rebuild.add(targets)
    rebuild.done()
    return table


# --- the sorted multiset ---------------------------------------------------------------------


@settings(max_examples=300)
@given(
    st.lists(st.integers(-3, 3).map(float), max_size=12),
    st.lists(
        st.tuples(st.sampled_from(["add", "remove", "count"]), st.integers(-4, 4).map(float)),
        max_size=60,
    ),
)
def test_sorted_floats_behave_as_a_sorted_list(initial: list[float], ops: list[Any]) -> None:
    """Adds, removes (present or not), counts and indexing agree with a sorted Python list."""
    values = SortedFloats(initial, chunk=2)  # chunks of at most 4: many split and empty
    model = sorted(initial)
    for op, value in ops:
        if op == "add":
            values.add(value)
            model.append(value)
            model.sort()
        elif op == "remove":
            assert values.remove(value) == (value in model)
            if value in model:
                model.remove(value)
        else:
            assert values.bisect_right(value) == sum(1 for v in model if v <= value)
        assert len(values) == len(model)
        assert list(values) == model
        assert [values[i] for i in range(len(model))] == model
    with pytest.raises(IndexError):
        values[len(model)]


# --- the table of running targets ------------------------------------------------------------


def test_entries_count_running_and_paused_and_keep_deadlines_sorted_with_an_exact_sum(
    make_running: MakeRunning,
) -> None:
    """Each label set counts its running and paused cycles, its deadlines sorted, their sum
    in whole microseconds."""
    table = RunningTargets(LABEL_SETS)
    late, early = T0 + 2 * H + 7 * timedelta(microseconds=1), T0 + H
    table.update([], [make_running(late), make_running(early), make_running(None, paused=True)])
    entry = snapshot(table)[("gold", "P1", "first_response")]
    us = (late - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    us += (early - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert entry == (2, 1, [early.timestamp(), late.timestamp()], us)
    assert [key for key, _ in table.items()] == LABEL_SETS  # in the order it was built with


def test_label_sets_the_table_was_not_built_with_are_ignored(make_running: MakeRunning) -> None:
    """A ticket stored under an older policy adds nothing, in an update or a rebuild."""
    table = RunningTargets(LABEL_SETS)
    retired = make_running(T0 + H, tier="platinum")
    assert ("platinum", "P1", "first_response") not in table
    assert ("gold", "P1", "first_response") in table
    table.update([], [retired])
    assert snapshot(table) == snapshot(RunningTargets(LABEL_SETS))
    assert snapshot(rebuilt([retired])) == snapshot(RunningTargets(LABEL_SETS))


def test_removing_what_was_never_added_is_harmless(make_running: MakeRunning) -> None:
    """A stale `before` (e.g. across a rebuild) never drives a count below zero."""
    table = RunningTargets(LABEL_SETS)
    table.update([make_running(T0 + H), make_running(None, paused=True)], [])
    assert snapshot(table) == snapshot(RunningTargets(LABEL_SETS))


DEADLINES = [None, T0 - M, T0, T0 + 7 * M, T0 + 7 * M, T0 + 20 * M, T0 + 2 * H, T0 + 3 * 86400 * S]
RUNNING = st.builds(
    RunningTarget,
    st.sampled_from(["gold", "silver", "free", "retired-tier"]),
    st.sampled_from(["P1", "P4"]),
    st.sampled_from(TARGETS),
    st.sampled_from(DEADLINES),
    st.booleans(),
)
UPDATES = st.lists(
    st.tuples(st.integers(0, 5), st.lists(RUNNING, max_size=3).map(tuple)), max_size=30
)


@settings(max_examples=150, deadline=None)
@given(UPDATES)
def test_incremental_updates_equal_a_rebuild_from_scratch(
    updates: list[tuple[int, tuple[RunningTarget, ...]]],
) -> None:
    """Any sequence of per-ticket updates leaves the same table as one rebuild to the end state."""
    incremental = RunningTargets(LABEL_SETS)
    current: dict[int, tuple[RunningTarget, ...]] = {}
    for ticket, after in updates:
        incremental.update(current.get(ticket, ()), after)
        current[ticket] = after
    assert snapshot(incremental) == snapshot(
        rebuilt(list(itertools.chain.from_iterable(current.values())))
    )
    # And removing every ticket brings every entry back to zero.
    for before in current.values():
        incremental.update(before, ())
    assert snapshot(incremental) == snapshot(RunningTargets(LABEL_SETS))


def test_rebuild_in_parts_equals_one_rebuild_and_changes_nothing_before_done(
    make_running: MakeRunning,
) -> None:
    """A rebuild fed ticket by ticket ends where one rebuild with every target does, and the
    table keeps its old figures until ``done()``."""
    targets = [make_running(T0 + H), make_running(T0 + 2 * H, priority="P2"), make_running(None)]
    parts = RunningTargets(LABEL_SETS)
    parts.update([], [make_running(T0 + 5 * H)])
    before = snapshot(parts)
    rebuild = parts.rebuild()
    for target in targets:
        rebuild.add([target])
    assert snapshot(parts) == before
    rebuild.done()
    assert snapshot(parts) == snapshot(rebuilt(targets))


@given(
    at=st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 (hypothesis: naive bounds)
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.just(UTC),
    )
)
def test_a_deadline_s_microseconds_give_its_timestamp_exactly(at: datetime) -> None:
    """The gauges keep a deadline as microseconds / 10**6: the very float of timestamp(), so
    a deadline added and later removed (or rebuilt) is found again."""
    assert _microseconds(at) / 1_000_000 == at.timestamp()
    assert _microseconds(at) == (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)

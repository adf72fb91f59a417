"""The per-partition deadline index."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.schedule import DeadlineIndex, DueQueue

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_pop_due_returns_due_tickets_earliest_first() -> None:
    """Tickets due at or before the clock come out in due order; later ones stay."""
    index = DeadlineIndex([("b", at(2)), ("a", at(1)), ("c", at(5)), ("none", None)])
    assert len(index) == 3
    assert "none" not in index
    assert index.pop_due(at(2)) == ["a", "b"]
    assert index.pop_due(at(4)) == []
    assert len(index) == 1
    assert index.next_due() == at(5)


def test_moving_a_ticket_drops_its_old_entry() -> None:
    """Re-scheduling replaces the old instant; removing forgets it; stale entries are skipped."""
    index = DeadlineIndex()
    index.set("a", at(1))
    index.set("a", at(1))  # unchanged: no new heap entry needed
    index.set("a", at(10))
    index.set("b", at(3))
    index.set("b", None)
    index.set("never", None)
    assert index.get("a") == at(10)
    assert index.get("b") is None
    assert index.next_due() == at(10)
    assert index.pop_due(at(5)) == []
    assert list(index) == [("a", at(10))]


def test_pop_due_respects_the_limit() -> None:
    """At most ``limit`` tickets come out per call; the rest stay due."""
    index = DeadlineIndex((f"t{i}", at(i)) for i in range(5))
    assert index.pop_due(at(10), limit=2) == ["t0", "t1"]
    assert index.pop_due(at(10)) == ["t2", "t3", "t4"]
    assert index.next_due() is None


def test_heap_is_compacted_under_churn() -> None:
    """Moving the same tickets again and again keeps the heap proportional to the tickets."""
    index = DeadlineIndex()
    for round_ in range(50):
        for i in range(100):
            index.set(f"t{i}", at(round_ * 1000 + i))
    assert len(index) == 100
    assert len(index._queue) <= 2 * 1024  # the memory bound is the point
    assert index.pop_due(at(10**6)) == [f"t{i}" for i in range(100)]


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 20), st.one_of(st.none(), st.integers(0, 100)))))
def test_index_matches_a_plain_dict(ops: list[tuple[int, int | None]]) -> None:
    """Any sequence of updates pops exactly what a dict of latest instants says is due."""
    index = DeadlineIndex()
    model: dict[str, datetime] = {}
    for ticket, minutes in ops:
        due = None if minutes is None else at(minutes)
        index.set(f"t{ticket}", due)
        if due is None:
            model.pop(f"t{ticket}", None)
        else:
            model[f"t{ticket}"] = due
    clock = at(random.Random(len(ops)).randint(0, 100))
    expected = sorted((due, t) for t, due in model.items() if due <= clock)
    assert index.pop_due(clock) == [t for _, t in expected]
    assert len(index) == len(model) - len(expected)


# --- the calendar queue underneath ---------------------------------------------------------


def test_due_queue_gives_entries_back_earliest_first() -> None:
    """Entries come back by instant then ticket id, whether queued before or after the edge."""
    queue = DueQueue([(at(60 * 24 * 3), "far"), (at(5), "b"), (at(5), "a")])
    assert len(queue) == 3
    assert queue.first() == (at(5), "a")
    queue.push(at(4), "earlier, in the minute already taken")  # before the edge: the heap
    queue.push(at(5), "a")  # a duplicate is the owner's business
    assert [queue.pop() for _ in range(5)] == [
        (at(4), "earlier, in the minute already taken"),
        (at(5), "a"),
        (at(5), "a"),
        (at(5), "b"),
        (at(60 * 24 * 3), "far"),
    ]
    assert len(queue) == 0
    assert queue.first() is None


def test_popping_an_empty_due_queue_is_an_error() -> None:
    """Taking from an empty queue raises IndexError, as popping an empty heap does."""
    queue = DueQueue()
    with pytest.raises(IndexError, match="empty"):
        queue.pop()


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("push"), st.integers(-5, 300), st.sampled_from("abc")),
            st.tuples(st.just("pop"), st.just(0), st.just("")),
        )
    )
)
def test_due_queue_matches_a_sorted_list(ops: list[tuple[str, int, str]]) -> None:
    """Any mix of pushes (seconds apart or minutes apart) and pops gives a sorted list's order."""
    queue = DueQueue()
    model: list[tuple[datetime, str]] = []
    for op, seconds, ticket in ops:
        if op == "push":
            queue.push(T0 + timedelta(seconds=seconds * 7), ticket)
            model.append((T0 + timedelta(seconds=seconds * 7), ticket))
        elif model:
            model.sort()
            assert queue.pop() == model.pop(0)
        assert len(queue) == len(model)
    assert [queue.pop() for _ in range(len(model))] == sorted(model)

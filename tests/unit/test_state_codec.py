"""The table value of a ticket's state: versioned, exact, and cheap to peek at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.events import (
    InputEvent,
    TicketCreated,
    TicketPaused,
    TicketReopened,
    TicketResolved,
    TicketResponded,
    TicketResumed,
    TicketUpdated,
)
from worker.core.policy import Policy
from worker.core.ticket_state import TicketState
from worker.core.tracker import Tracker
from worker.edge.policy_file import load_policy
from worker.edge.state_codec import LastEmission, decode_state, encode_state, peek_state

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

_kinds = st.sampled_from(
    [TicketResponded, TicketUpdated, TicketPaused, TicketResumed, TicketResolved, TicketReopened]
)


@st.composite
def states(draw: st.DrawFn, policy: Policy) -> TicketState:
    tracker = Tracker(policy)
    tier = draw(st.sampled_from(sorted(policy.tiers)))
    priority = draw(st.sampled_from(policy.priorities))
    events: list[InputEvent] = [
        TicketCreated(
            event_id="c",
            ticket_id="T-é",
            occurred_at=T0,
            tier=tier,
            priority=priority,
            customer_id=draw(st.one_of(st.none(), st.text(min_size=1, max_size=5))),
        )
    ]
    for i in range(draw(st.integers(0, 6))):
        kind = draw(_kinds)
        at = T0 + timedelta(microseconds=draw(st.integers(0, 10**11)))
        fields: dict[str, object] = {}
        if kind is TicketUpdated:
            fields["priority"] = draw(st.sampled_from(policy.priorities))
            fields["tier"] = draw(st.one_of(st.none(), st.sampled_from(sorted(policy.tiers))))
        if kind is TicketResponded:
            fields["actor"] = draw(st.one_of(st.none(), st.just("agent-7")))
        events.append(kind(event_id=f"x{i}", ticket_id="T-é", occurred_at=at, **fields))  # type: ignore[arg-type]
    state: TicketState | None = None
    for ev in events:
        state, _ = tracker.apply(state, ev, ev.occurred_at)
    assert state is not None
    clock = T0 + timedelta(seconds=draw(st.integers(0, 10**6)))
    advanced, _ = tracker.advance(state, clock)
    return advanced or state


POLICY = load_policy(Path(__file__).resolve().parents[2] / "deploy/policies/cloudflare.yaml")


emissions = st.one_of(
    st.none(),
    st.builds(
        LastEmission,
        st.floats(0, 2e9),
        st.sampled_from(["ticket-events", "sla-worker-ticks"]),
        st.integers(0, 2**62),
    ),
)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), partition=st.integers(0, 63), emitted=emissions)
def test_state_round_trips_exactly(
    data: st.DataObject, partition: int, emitted: LastEmission | None
) -> None:
    """Encoding then decoding a state gives it back equal, and peeking agrees with it."""
    state = data.draw(states(POLICY))
    raw = encode_state(state, partition=partition, emitted=emitted)
    decoded, decoded_emitted = decode_state(raw)
    assert decoded == state
    assert decoded_emitted == emitted
    summary = peek_state(raw)
    assert (summary.partition, summary.due_at, summary.emitted, summary.running) == (
        partition,
        state.due_at,
        emitted,
        state.running,
    )


def test_states_stored_before_the_emitting_message_was_kept_still_decode() -> None:
    """A state without ``src`` (an older worker's) decodes with its emission time only."""
    raw = (
        b'{"v":1,"p":3,"due":null,"emit_at":1700000000.5,"run":[],"id":"T",'
        b'"emitted":[],"events":[]}'
    )
    _, emitted = decode_state(raw)
    assert emitted == LastEmission(1700000000.5, None, None)
    assert peek_state(raw).emitted == emitted


def test_other_versions_are_refused_with_an_upgrade_hint() -> None:
    """A state written by a newer format version is not misread."""
    raw = b'{"v":2,"p":0,"due":null,"emit_at":null,"run":[],"id":"T","emitted":[],"events":[]}'
    with pytest.raises(ValueError, match="upgrade the worker"):
        peek_state(raw)
    with pytest.raises(ValueError, match="upgrade the worker"):
        decode_state(raw)


def test_emitted_keys_decode_sorted_and_once() -> None:
    """A stored state's emitted keys, in any order and even repeated, decode sorted, once."""
    raw = (
        b'{"v":1,"p":0,"due":null,"emit_at":null,"run":[],"id":"T","emitted":'
        b'["resolution:1:fulfilled","first_response:1:50%","resolution:1:fulfilled"],"events":[]}'
    )
    state, _ = decode_state(raw)
    assert state.emitted == ("first_response:1:50%", "resolution:1:fulfilled")
    assert decode_state(encode_state(state, partition=0, emitted=None))[0] == state

"""The agent's status stream in-process: one status per ticket change, in the batch's delivery.

The rig of tests/unit/test_agent.py, its sink wrapped to record the statuses each delivery
carries. The same stream against the real broker: tests/integration/test_status_stream.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from test_agent import INPUT, SETTINGS, T0, M, Rig, created, make_rig

from worker.core.events import TicketPaused, TicketResolved, TicketResponded
from worker.core.policy import Policy
from worker.edge.settings import Settings
from worker.stream.agent import Emission, Sink


@dataclass(slots=True)
class Recording:
    """A sink that records every status delivered, then hands the batch to the rig's sink."""

    inner: Sink
    statuses: list[tuple[str, bytes, bytes | None]] = field(default_factory=list)

    async def deliver(self, emission: Emission) -> dict[int, int]:
        offsets = await self.inner.deliver(emission)
        self.statuses.extend(
            (topic, key, value) for (topic, key), value in emission.statuses.items()
        )
        return offsets


def recording(rig: Rig) -> Recording:
    sink = Recording(rig.agent.sink)
    rig.agent.sink = sink
    return sink


def documents(sink: Recording) -> list[dict[str, Any] | None]:
    return [None if value is None else json.loads(value) for _, _, value in sink.statuses]


def states(document: dict[str, Any] | None) -> list[str]:
    assert document is not None
    return [f"{t['target']}:{t['state']}" for t in document["targets"]]


async def test_each_change_publishes_the_status_keyed_by_ticket(
    make_policy: Callable[..., Policy],
) -> None:
    """Creation, pause and resolution each publish the ticket's status on the status topic."""
    rig = make_rig(make_policy())
    sink = recording(rig)
    await rig.send(created("t1", T0 - 20 * M))
    await rig.send(TicketPaused(event_id="p1", ticket_id="t1", occurred_at=T0 - 10 * M))
    await rig.send(TicketResolved(event_id="z1", ticket_id="t1", occurred_at=T0 - 5 * M))
    assert [(topic, key) for topic, key, _ in sink.statuses] == [(SETTINGS.status_topic, b"t1")] * 3
    first, paused, resolved = documents(sink)
    assert first is not None
    assert first["type"] == "sla.status"
    assert first["as_of"] == "2026-11-23T10:00:00Z"  # the partition's clock: caught up, the wall
    assert states(first) == ["first_response:running", "resolution:running"]
    assert states(paused) == ["first_response:running", "resolution:paused"]
    assert states(resolved) == ["first_response:met", "resolution:met"]


async def test_a_tick_with_nothing_due_publishes_no_status(
    make_policy: Callable[..., Policy],
) -> None:
    """A tick with nothing due publishes no status (a status carries its deadlines)."""
    rig = make_rig(make_policy())
    sink = recording(rig)
    await rig.send(created("t1", T0 - 20 * M))
    rig.wall[0] = T0 + M
    await rig.tick()  # nothing due: the first warning is at T0 + 10 minutes
    assert len(sink.statuses) == 1


async def test_a_redelivered_event_publishes_the_status_again(
    make_policy: Callable[..., Policy],
) -> None:
    """An event delivered again (after a crash the restored state already has it, and its
    status may not have been published) publishes the ticket's status again, unchanged."""
    rig = make_rig(make_policy())
    sink = recording(rig)
    await rig.send(created("t1", T0 - 20 * M))
    await rig.send(TicketPaused(event_id="p1", ticket_id="t1", occurred_at=T0 - 10 * M))
    await rig.send(TicketPaused(event_id="p1", ticket_id="t1", occurred_at=T0 - 10 * M))
    assert len(sink.statuses) == 3
    _, paused, again = documents(sink)
    assert again == paused
    assert rig.count("sla_events_total", type="ticket.paused", result="duplicate") == 1


async def test_a_warning_or_a_breach_by_the_clock_publishes_the_status(
    make_policy: Callable[..., Policy],
) -> None:
    """A tick that fires warnings and a breach publishes one status with them."""
    rig = make_rig(make_policy())
    sink = recording(rig)
    await rig.send(created("t1", T0 - 20 * M))
    rig.wall[0] = T0 + 41 * M
    await rig.tick()
    last = documents(sink)[-1]
    assert last is not None
    assert last["targets"][0]["state"] == "breached"
    assert last["targets"][0]["warnings"] == ["15m", "50%", "75%", "90%"]
    assert len(sink.statuses) == 2


async def test_one_status_per_ticket_per_batch(make_policy: Callable[..., Policy]) -> None:
    """A batch publishes only the latest status of each ticket it changed."""
    rig = make_rig(make_policy())
    sink = recording(rig)
    messages = [
        rig.event(created("t1", T0 - 20 * M)),
        rig.event(TicketResponded(event_id="r1", ticket_id="t1", occurred_at=T0 - 19 * M)),
        rig.event(created("t2", T0 - 20 * M)),
    ]
    await rig.agent.handle_batch(messages)
    keys = [key for _, key, _ in sink.statuses]
    assert sorted(keys) == [b"t1", b"t2"]
    by_key = {key: json.loads(value) for _, key, value in sink.statuses if value is not None}
    assert states(by_key[b"t1"])[0] == "first_response:met"


async def test_forgetting_a_ticket_publishes_a_tombstone(
    make_policy: Callable[..., Policy],
) -> None:
    """A finished ticket forgotten after its retention gets a tombstone on the status topic."""
    rig = make_rig(make_policy(), Settings(app_id="agent-test", retention_s=60))
    sink = recording(rig)
    await rig.send(created("t1", T0 - 20 * M))
    await rig.send(TicketResolved(event_id="z1", ticket_id="t1", occurred_at=T0 - 10 * M))
    rig.wall[0] = T0
    await rig.tick()
    assert sink.statuses[-1] == (SETTINGS.status_topic, b"t1", None)
    assert b"t1" not in rig.table


async def test_an_empty_status_topic_turns_the_stream_off(
    make_policy: Callable[..., Policy],
) -> None:
    """With SLA_STATUS_TOPIC empty the agent publishes no status at all."""
    settings = Settings.from_env({"SLA_STATUS_TOPIC": "", "SLA_APP_ID": "agent-test"})
    assert settings.status_topic == ""
    rig = make_rig(make_policy(), settings)
    sink = recording(rig)
    await rig.send(created("t1", T0 - 20 * M))
    assert sink.statuses == []
    assert rig.topics["dead_letters"].sent == []
    assert INPUT  # the rig's input topic is the default one

"""Shared factories of the unit tests: policies and input events, with defaults.

``policy_data(**overrides)`` returns a fresh copy of the documented example policy as plain
data (what a YAML loader returns); ``make_policy(**overrides)`` returns it parsed. Overrides
name a top-level key (``warnings=["90%"]``) or a dotted place
(``**{"tiers.gold.targets.first_response.P1": "30m"}``); the value ``...`` (Ellipsis, never
valid policy data) removes that key. Test modules write it ``DROP = ...`` for readability
rather than importing this conftest.

The default policy has three tiers, all on priorities P1..P4:

- ``gold``: sla 0.99 on 24x7, first_response 1h/2h/24h/24h, resolution P1 8h on us-business;
- ``silver``: slo 0.95 on us-business (America/Los_Angeles, mon-fri 09:00-17:00, holidays
  2026-11-26 and 2026-12-25), first_response 4h/8h (P3, P4 measured only), own warnings;
- ``free``: commitment none.

``make_event(kind, at, ticket="T1", **fields)`` returns an input event of class ``kind`` with a
fresh ``event_id``; a ``TicketCreated`` defaults to ``tier="gold"``, ``priority="P1"``.
``make_running(deadline, **fields)`` returns a running target cycle (what the tracker reports
for metrics), gold P1 first response by default, not paused.

The factories hold no state worth resetting (event ids only ever grow): the fixtures are
session-scoped, so module-scoped fixtures may use them too.
"""

import copy
import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import pytest

from worker.core.events import TicketCreated, TicketEvent
from worker.core.policy import Policy
from worker.core.policy_parse import parse_policy
from worker.core.ticket_state import RunningTarget

__all__ = ["DROP", "build_event", "build_policy", "build_policy_data", "build_running"]

_Event = TypeVar("_Event", bound=TicketEvent)

DROP = ...
"""An override's value that removes that key from the default policy."""

_DEFAULT: dict[str, Any] = {
    "version": 1,
    "name": "test-support",
    "priorities": ["P1", "P2", "P3", "P4"],
    "calendars": {
        "us-business": {
            "timezone": "America/Los_Angeles",
            "weekly": {"mon-fri": ["09:00-17:00"]},
            "holidays": ["2026-11-26", "2026-12-25"],
        },
    },
    "warnings": ["50%", "75%", "90%", "15m"],
    "tiers": {
        "gold": {
            "commitment": "sla",
            "objective": 0.99,
            "calendar": "24x7",
            "targets": {
                "first_response": {"P1": "1h", "P2": "2h", "P3": "24h", "P4": "24h"},
                "resolution": {"P1": {"within": "8h", "calendar": "us-business"}},
            },
        },
        "silver": {
            "commitment": "slo",
            "objective": 0.95,
            "calendar": "us-business",
            "targets": {"first_response": {"P1": "4h", "P2": "8h"}},
            "warnings": ["75%", "30m"],
        },
        "free": {"commitment": "none"},
    },
}


def build_policy_data(**overrides: object) -> dict[str, Any]:
    """Return a deep copy of the default policy data with ``overrides`` applied."""
    data = copy.deepcopy(_DEFAULT)
    for place, value in overrides.items():
        *parents, last = place.split(".")
        node: Any = data
        for key in parents:
            node = node.setdefault(key, {})
        if value is DROP:
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(value)
    return data


def build_policy(**overrides: object) -> Policy:
    """Return the default policy, with ``overrides`` applied, parsed into a Policy."""
    return parse_policy(build_policy_data(**overrides), source="test-policy.yaml")


_event_ids = itertools.count()


def build_event(kind: type[_Event], at: datetime, ticket: str = "T1", **fields: Any) -> _Event:
    """Return an input event of class ``kind`` for ``ticket`` at ``at``, with a fresh event id.

    ``fields`` are the class's own (``priority="P2"``); a creation defaults to gold P1.
    """
    if kind is TicketCreated:
        fields = {"tier": "gold", "priority": "P1", **fields}
    return kind(event_id=f"e{next(_event_ids)}", ticket_id=ticket, occurred_at=at, **fields)


def build_running(
    deadline: datetime | None,
    *,
    tier: str = "gold",
    priority: str = "P1",
    target: str = "first_response",
    paused: bool = False,
) -> RunningTarget:
    """Return a running target cycle with ``deadline`` (None: none), gold P1 first response."""
    return RunningTarget(tier, priority, target, deadline, paused)


@pytest.fixture(scope="session")
def policy_data() -> Callable[..., dict[str, Any]]:
    """Factory of policy data: ``policy_data(**overrides) -> dict``."""
    return build_policy_data


@pytest.fixture(scope="session")
def make_policy() -> Callable[..., Policy]:
    """Factory of parsed policies: ``make_policy(**overrides) -> Policy``."""
    return build_policy


@pytest.fixture(scope="session")
def make_event() -> Callable[..., TicketEvent]:
    """Factory of input events: ``make_event(kind, at, ticket="T1", **fields)``."""
    return build_event


@pytest.fixture(scope="session")
def make_running() -> Callable[..., RunningTarget]:
    """Factory of running target cycles: ``make_running(deadline, tier=..., paused=...)``."""
    return build_running

"""What /healthz and /readyz judge: the verdicts of the worker's health state."""

from __future__ import annotations

import pytest

from worker.stream.health import Health

TICK_S = 0.25  # the default tick interval: /healthz allows 20 of them, 5 s


def health(**fields: float | bool) -> Health:
    defaults: dict[str, float | bool] = {
        "ready": True,
        "ready_at": 100.0,
        "timer_ran_at": 100.0,
        "tick_seen_at": 100.0,
    }
    return Health(tick_interval_s=TICK_S, **{**defaults, **fields})


@pytest.mark.parametrize(
    ("fields", "now", "problem"),
    [
        ({}, 104.9, None),
        ({}, 105.5, "deadline timer stalled 5.5s"),
        ({"ready": False}, 200.0, None),
        ({"timer_ran_at": 150.0}, 154.0, None),
        # The timer starts only after the first recovery: silent before, not stalled.
        ({"timer_ran_at": 10.0}, 104.0, None),
        ({"timer_ran_at": 10.0}, 106.0, "deadline timer stalled 6.0s"),
    ],
)
def test_liveness(fields: dict[str, float | bool], now: float, problem: str | None) -> None:
    """/healthz fails once a ready worker's timer has been silent for 20 tick intervals."""
    assert health(**fields).liveness_problem(now) == problem


@pytest.mark.parametrize(
    ("fields", "now", "problem"),
    [
        ({}, 109.0, None),
        ({"ready": False}, 100.0, "not ready: partitions not assigned or not recovered"),
        (
            {},
            112.0,
            "not ready: no deadline tick came back through Kafka for 12s "
            "(broker unreachable, or the worker overloaded)",
        ),
    ],
)
def test_readiness(fields: dict[str, float | bool], now: float, problem: str | None) -> None:
    """/readyz fails until recovery is done, and when no tick came back for 10 s."""
    assert health(**fields).readiness_problem(now) == problem


def test_becoming_ready_restarts_the_timer_allowance() -> None:
    """Becoming ready (again) counts the timer's silence from then, staying ready does not."""
    state = Health(tick_interval_s=TICK_S, timer_ran_at=0.0)
    state.set_ready(True)
    became = state.ready_at
    state.set_ready(True)
    assert state.ready_at == became
    state.set_ready(False)
    assert state.liveness_problem(became + 60.0) is None

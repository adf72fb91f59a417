"""The lines of the live feed (worker/stream/feed.py describe), one per output type shown."""

from __future__ import annotations

from worker.stream.feed import FeedStats, describe

COMMON = {
    "ticket_id": "T-1",
    "tier": "gold",
    "priority": "P1",
    "target": "first_response",
    "deadline": "2026-11-23T11:00:00Z",
}


def test_a_late_fulfilment_is_shown_with_its_time_over() -> None:
    """A late fulfilment prints LATE, the ticket, and the counted time over its target."""
    line = describe(
        {
            **COMMON,
            "type": "sla.late_fulfilment",
            "fulfilled_at": "2026-11-23T11:45:00Z",
            "over_seconds": 2700,
        }
    )
    assert line is not None
    assert "LATE" in line
    assert "T-1" in line
    assert "fulfilled 45m over" in line


def test_outcomes_are_not_printed_and_breaches_are() -> None:
    """Outcomes are only counted (None); a breach prints BREACH with its ticket."""
    assert describe({**COMMON, "type": "sla.outcome", "outcome": "met"}) is None
    breach = describe({**COMMON, "type": "sla.breached", "detected_at": "2026-11-23T11:00:01Z"})
    assert breach is not None
    assert "BREACH" in breach
    assert "T-1" in breach


def test_the_summary_counts_late_fulfilments() -> None:
    """The feed's last line counts late fulfilments beside warnings, breaches and outcomes."""
    stats = FeedStats()
    stats.seen["sla.late_fulfilment"] += 2
    assert "2 late fulfilments" in stats.summary()

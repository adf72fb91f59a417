"""The live worker on the real broker: breaches on time, met outcomes, warnings, changes."""

from __future__ import annotations

from datetime import timedelta

from harness import Deployment, event, utc

S = timedelta(seconds=1)


def ids(records: list[dict[str, object]]) -> list[object]:
    return [r["id"] for r in records]


async def test_unanswered_ticket_breaches_on_time_answered_one_is_met(
    deployment: Deployment,
) -> None:
    """A 20s P1 left unanswered breaches within 2 s of its deadline; one answered in time is met."""
    await deployment.start_worker()
    now = utc()
    await deployment.send(
        [
            event("created", "late", now - 15 * S, tier="fast", priority="P1"),
            event("created", "ontime", now - 15 * S, tier="fast", priority="P1"),
            event("responded", "ontime", now),
        ]
    )
    breaches = await deployment.read("breaches", lambda rs: len(rs) >= 1)
    assert ids(breaches) == ["late:first_response:1"]
    breach = breaches[0]
    deadline = utc(str(breach["deadline"]))
    assert deadline == utc(str(breach["started_at"])) + 20 * S
    detected = utc(str(breach["detected_at"]))
    assert deadline < detected <= deadline + 2 * S
    assert breach["_key"] == b"late"
    outcomes = await deployment.read("outcomes", lambda rs: len(rs) >= 2)
    assert {(r["ticket_id"], r["outcome"]) for r in outcomes} == {
        ("late", "breached"),
        ("ontime", "met"),
    }


async def test_warnings_fire_at_their_thresholds(deployment: Deployment) -> None:
    """50% and 75% warnings of a 20s target fire at 10 s and 15 s of counted time."""
    await deployment.start_worker()
    start = utc() - 7 * S
    await deployment.send([event("created", "w1", start, tier="fast", priority="P1")])
    warnings = await deployment.read("warnings", lambda rs: len(rs) >= 2)
    assert ids(warnings) == ["w1:first_response:1:50%", "w1:first_response:1:75%"]
    for record, used_s, remaining_s in ((warnings[0], 10, 10), (warnings[1], 15, 5)):
        detected = utc(str(record["detected_at"]))
        assert start + used_s * S <= detected <= start + (used_s + 2) * S
        assert record["remaining_seconds"] == remaining_s


async def test_priority_change_moves_the_deadline(deployment: Deployment) -> None:
    """Raising the priority past its new deadline breaches at once; lowering it avoids a breach."""
    await deployment.start_worker()
    now = utc()
    await deployment.send(
        [
            event("created", "up", now - 30 * S, tier="fast", priority="P3"),
            event("updated", "up", now, priority="P1"),
            event("created", "down", now - 15 * S, tier="fast", priority="P1"),
            event("updated", "down", now - 14 * S, priority="P3"),
        ]
    )
    breaches = await deployment.read("breaches", lambda rs: len(rs) >= 1)
    assert ids(breaches) == ["up:first_response:1"]
    assert breaches[0]["priority"] == "P1"
    assert utc(str(breaches[0]["deadline"])) == now - 10 * S
    # "down" is now a 1h target: answering it after its old 20s deadline is met.
    await deployment.send([event("responded", "down", utc())])
    outcomes = await deployment.read(
        "outcomes", lambda rs: any(r["ticket_id"] == "down" for r in rs)
    )
    down = next(r for r in outcomes if r["ticket_id"] == "down")
    assert (down["outcome"], down["priority"], down["target_seconds"]) == ("met", "P3", 3600)


async def test_http_serves_only_metrics_health_and_readiness(deployment: Deployment) -> None:
    """/metrics, /healthz and /readyz answer; table and debug paths of faust do not exist."""
    worker = await deployment.start_worker()
    status, body = worker.http("/metrics")
    assert status == 200
    assert 'sla_policy_info{name="integration"' in body
    assert worker.http("/healthz")[0] == 200
    assert worker.http("/readyz") == (200, "ready\n")
    for path in ("/", "/table", "/table/tickets", "/router", "/graph", "/stats", "/debug"):
        assert worker.http(path)[0] == 404, path

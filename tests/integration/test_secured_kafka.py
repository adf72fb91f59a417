"""Secured Kafka (issue 7): TLS and SASL (PLAIN, SCRAM-SHA-512) through the SLA_KAFKA_* settings.

A broker of this module's own, started by deploy/kafka/kafka.sh with
deploy/kafka/secured.properties on free ports: a PLAINTEXT listener (set-up and checks), a
SASL_SSL one (SCRAM user alice, written when the state dir is formatted; PLAIN user bob, in
the listener's JAAS line) and an SSL one. kafka.sh makes a throwaway CA and the broker's
certificate (deploy/kafka/tls-certs.sh) in the state dir at start-up; clients trust the CA
through SLA_KAFKA_SSL_CAFILE. Every command that talks to Kafka runs as a subprocess, as a
user runs it, over the secured listeners only.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import (
    POLICY,
    ROOT,
    SLA_WORKER,
    Deployment,
    event,
    start_broker,
    stop_broker,
    topic_names,
    utc,
)

SECURED_PROPERTIES = ROOT / "deploy" / "kafka" / "secured.properties"
SCRAM_USER = ("alice", "alice-secret")
PLAIN_USER = ("bob", "bob-secret")  # as in deploy/kafka/secured.properties
# A command that talks to Kafka: Python start-up plus a few round trips, or a one-line error
# within SLA_CONNECT_TIMEOUT. Past this it hangs, which is the failure the tests look for.
COMMAND_TIMEOUT_S = 60.0
# The feed shows a breach as soon as the worker publishes it; the worker publishes it a
# few seconds after the event (a backdated 20 s target), after its own start-up.
FEED_TIMEOUT_S = 60.0
S = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class SecuredBroker:
    """Addresses of the module's broker, and the CA file its clients trust."""

    plaintext: str
    sasl_ssl: str
    ssl: str
    cafile: Path


def _clean_environ() -> dict[str, str]:
    """The environment without SLA_* variables: each test says every setting it uses."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SLA_")}


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """A broker with PLAINTEXT, SASL_SSL and SSL listeners, stopped after the module."""
    user, password = SCRAM_USER
    state = tmp_path_factory.mktemp("kafka-secured")

    def environment(ports: list[int]) -> dict[str, str]:
        return {
            **_clean_environ(),
            "KAFKA_PORT": str(ports[0]),
            "KAFKA_CONTROLLER_PORT": str(ports[1]),
            "KAFKA_SASL_SSL_PORT": str(ports[2]),
            "KAFKA_SSL_PORT": str(ports[3]),
            "KAFKA_STATE_DIR": str(state),
            "KAFKA_EXTRA_PROPERTIES": str(SECURED_PROPERTIES),
            "KAFKA_FORMAT_ARGS": f"--add-scram SCRAM-SHA-512=[name={user},password={password}]",
        }

    env = start_broker(4, environment, "the secured Kafka broker")
    try:
        yield SecuredBroker(
            plaintext=f"127.0.0.1:{env['KAFKA_PORT']}",
            sasl_ssl=f"127.0.0.1:{env['KAFKA_SASL_SSL_PORT']}",
            ssl=f"127.0.0.1:{env['KAFKA_SSL_PORT']}",
            cafile=state / "tls" / "ca.pem",
        )
    finally:
        stop_broker(env)


@dataclass(frozen=True, slots=True)
class Security:
    """One way in: the protocol, and the SASL mechanism and user where there is one."""

    protocol: str
    mechanism: str = ""
    user: str = ""
    password: str = ""

    def env(self, broker: SecuredBroker, *, cafile: bool = True) -> dict[str, str]:
        """The SLA_* settings that reach ``broker`` this way."""
        address = broker.ssl if self.protocol == "SSL" else broker.sasl_ssl
        env = {"SLA_BROKER": f"kafka://{address}", "SLA_KAFKA_SECURITY_PROTOCOL": self.protocol}
        if cafile:
            env["SLA_KAFKA_SSL_CAFILE"] = str(broker.cafile)
        if self.mechanism:
            env |= {
                "SLA_KAFKA_SASL_MECHANISM": self.mechanism,
                "SLA_KAFKA_SASL_USERNAME": self.user,
                "SLA_KAFKA_SASL_PASSWORD": self.password,
            }
        return env


SCRAM = Security("SASL_SSL", "SCRAM-SHA-512", *SCRAM_USER)
PLAIN = Security("SASL_SSL", "PLAIN", *PLAIN_USER)
TLS_ONLY = Security("SSL")


@pytest.fixture
async def deployments(
    secured_broker: SecuredBroker, tmp_path: Path
) -> AsyncIterator[Callable[[Security], Awaitable[Deployment]]]:
    """Make deployments (unique topics, settings of a way in) on the secured broker.

    The topics are created by `sla-worker topics create` over the secured listener (so a
    failure there fails the test). Workers the test leaves running are killed after it.
    Reads and checks of the harness use the PLAINTEXT listener.
    """
    made: list[Deployment] = []

    async def make(security: Security) -> Deployment:
        tag = secrets.token_hex(4)
        topics = topic_names(tag)
        env = {
            **_clean_environ(),
            **security.env(secured_broker),
            "SLA_APP_ID": f"sla-{tag}",
            "SLA_POLICY": str(POLICY),
            "SLA_INPUT_TOPICS": topics["input"],
            "SLA_WARNING_TOPIC": topics["warnings"],
            "SLA_BREACH_TOPIC": topics["breaches"],
            "SLA_OUTCOME_TOPIC": topics["outcomes"],
            "SLA_DEAD_LETTER_TOPIC": topics["dead_letters"],
            "SLA_STATUS_TOPIC": topics["status"],
            "SLA_PARTITIONS": "2",
            "SLA_LOG_FORMAT": "json",
            "SLA_STORE": "rocksdb",
            "SLA_CONNECT_TIMEOUT": "15s",
        }
        tmp = tmp_path / tag
        tmp.mkdir()
        deployment = Deployment(bootstrap=secured_broker.plaintext, env=env, topics=topics, tmp=tmp)
        made.append(deployment)
        created = await _command(env, "topics", "create")
        assert created.returncode == 0, created.stderr
        # the input, four outputs, the status topic, the ticks and the state changelog
        assert created.stdout.count("created ") == 8, created.stdout
        return deployment

    try:
        yield make
    finally:
        for deployment in made:
            for worker in deployment.workers:
                if worker.process is not None and worker.process.poll() is None:
                    worker.process.kill()
                    worker.process.wait()


async def _command(
    env: dict[str, str], *args: str, timeout_s: float = COMMAND_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run `sla-worker ARGS` to its end (bounded) and return what it printed."""
    return await asyncio.to_thread(
        subprocess.run,
        [*SLA_WORKER, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _start_feed(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SLA_WORKER, "feed", "--from-beginning"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def _feed_until(env: dict[str, str], wanted: str) -> str:
    """Run `sla-worker feed --from-beginning` until it prints a line containing ``wanted``.

    Returns that line; the feed is then stopped with SIGINT and must exit 0.
    """
    seen: list[str] = []
    with _start_feed(env) as process:
        assert process.stdout is not None
        try:
            async with asyncio.timeout(FEED_TIMEOUT_S):
                while wanted not in (seen[-1] if seen else ""):
                    line = await asyncio.to_thread(process.stdout.readline)
                    if not line:
                        pytest.fail(f"the feed ended before {wanted!r}:\n{''.join(seen)}")
                    seen.append(line)
        except TimeoutError:
            process.kill()  # also ends the blocked readline
            pytest.fail(f"no {wanted!r} from the feed in {FEED_TIMEOUT_S}s:\n{''.join(seen)}")
        process.send_signal(signal.SIGINT)
        rest, _ = await asyncio.to_thread(process.communicate, timeout=COMMAND_TIMEOUT_S)
        assert process.returncode == 0, "".join(seen) + rest
    return seen[-1]


@pytest.mark.integration
@pytest.mark.parametrize(
    "security",
    [SCRAM, PLAIN, TLS_ONLY],
    ids=["sasl_ssl-scram-sha-512", "sasl_ssl-plain", "ssl"],
)
async def test_every_command_works_over_the_secured_listener(
    deployments: Callable[[Security], Awaitable[Deployment]], security: Security
) -> None:
    """topics create, run, produce, the feed and loadgen all work over TLS (and SASL)."""
    deployment = await deployments(security)
    worker = await deployment.start_worker()

    # `produce`: a fast/P1 ticket (20 s target) opened 17 s ago breaches in about 3 s.
    ticket = f"sec-{secrets.token_hex(3)}"
    events = deployment.tmp / "events.jsonl"
    created = event("created", ticket, utc() - 17 * S, tier="fast", priority="P1")
    events.write_text(json.dumps(created) + "\n")
    produced = await _command(deployment.env, "produce", str(events))
    assert produced.returncode == 0, produced.stderr
    assert "sent 1 events" in produced.stdout, produced.stdout

    # `run` processed it: the breach is on the output topic (read over PLAINTEXT) ...
    breaches = await deployment.read("breaches", lambda rs: len(rs) >= 1)
    assert [r["id"] for r in breaches] == [f"{ticket}:first_response:1"]
    # ... and `feed` shows it, reading over the secured listener.
    line = await _feed_until(deployment.env, "BREACH")
    assert ticket in line

    # `loadgen`: history only (30 days back), so it sends everything at once and ends.
    prefix = f"load-{secrets.token_hex(3)}-"
    loaded = await _command(
        deployment.env,
        "loadgen",
        *("--tickets", "3", "--rate", "100", "--backdate", "30d"),
        *("--seed", "7", "--prefix", prefix),
    )
    assert loaded.returncode == 0, loaded.stderr
    inputs = await deployment.read(
        "input",
        lambda rs: (
            {r["ticket_id"] for r in rs if r["ticket_id"].startswith(prefix)}
            == {f"{prefix}{n:05d}" for n in range(1, 4)}
        ),
    )
    assert any(r["ticket_id"] == ticket for r in inputs)

    assert await worker.stop() == 0, worker.log()


WRONG_PASSWORD = Security("SASL_SSL", "SCRAM-SHA-512", SCRAM_USER[0], "not-the-password")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("command", "security", "cafile", "message"),
    [
        (
            "topics create",
            WRONG_PASSWORD,
            True,
            "authentication failed for user alice (SCRAM-SHA-512)",
        ),
        ("run", WRONG_PASSWORD, True, "authentication failed for user alice (SCRAM-SHA-512)"),
        (
            "topics create",
            Security("SASL_SSL", "PLAIN", PLAIN_USER[0], "not-the-password"),
            True,
            "authentication failed for user bob (PLAIN)",
        ),
        (
            "run",
            Security("SASL_SSL", "SCRAM-SHA-256", *SCRAM_USER),
            True,
            "does not enable SASL mechanism SCRAM-SHA-256",
        ),
        ("topics create", TLS_ONLY, False, "TLS certificate was not accepted"),
        ("produce EVENTS", WRONG_PASSWORD, True, "authentication failed for user alice"),
    ],
    ids=[
        "create-scram",
        "run-scram",
        "create-plain",
        "run-mechanism",
        "create-untrusted-ca",
        "produce-scram",
    ],
)
async def test_a_refused_login_is_one_line_and_exit_1(
    secured_broker: SecuredBroker,
    tmp_path: Path,
    command: str,
    security: Security,
    cafile: bool,
    message: str,
) -> None:
    """A wrong password, mechanism or CA ends the command at once, in one line, exit 1."""
    env = {
        **_clean_environ(),
        **security.env(secured_broker, cafile=cafile),
        "SLA_POLICY": str(POLICY),
        "SLA_DATA_DIR": str(tmp_path / "data"),
        "SLA_APP_ID": f"sla-{secrets.token_hex(4)}",
        "SLA_CONNECT_TIMEOUT": "5s",
    }
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"type":"ticket.resolved","event_id":"e1","ticket_id":"T1",'
        '"occurred_at":"2026-11-23T10:00:00Z"}\n'
    )
    args = [str(events) if word == "EVENTS" else word for word in command.split()]
    finished = await _command(env, *args)
    output = (finished.stdout + finished.stderr).strip()
    assert finished.returncode == 1, output
    assert message in output, output
    assert "Traceback" not in output
    assert len(output.splitlines()) == 1, output


@pytest.mark.parametrize(
    "security",
    [Security("PLAINTEXT"), TLS_ONLY, Security("SASL_PLAINTEXT", "PLAIN", *PLAIN_USER), SCRAM],
    ids=["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"],
)
def test_faust_clients_get_the_security_of_ours(security: Security) -> None:
    """The worker's faust clients connect exactly as our own aiokafka clients do."""
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from worker.edge.settings import Settings
    from worker.stream.app import _credentials
    from worker.stream.kafka_admin import kafka_client_options

    settings = Settings(
        kafka_security_protocol=security.protocol,
        kafka_sasl_mechanism=security.mechanism or "PLAIN",
        kafka_sasl_username=security.user,
        kafka_sasl_password=security.password,
    )

    def comparable(options: dict[str, Any]) -> dict[str, Any]:
        return {
            key: (value.verify_mode, value.check_hostname) if key == "ssl_context" else value
            for key, value in options.items()
            if value is not None
        }

    ours = comparable(kafka_client_options(settings))
    assert comparable(dict(credentials_to_aiokafka_auth(_credentials(settings)))) == ours
    assert ours["security_protocol"] == security.protocol

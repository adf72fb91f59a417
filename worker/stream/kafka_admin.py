"""Kafka administration at the edge: reaching the broker, creating and checking topics.

Used by ``sla-worker topics create`` and by the worker's start-up checks. Imports aiokafka
(never faust); every failure is a one-line :class:`~worker.core.errors.StartupError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    TopicAlreadyExistsError,
    UnsupportedSaslMechanismError,
    for_code,
)

from worker.core.errors import SettingsError, StartupError
from worker.edge.settings import Settings

__all__ = [
    "DEAD_LETTER_MAX_BYTES",
    "Partitions",
    "Replication",
    "TopicStatus",
    "changelog_topic",
    "check_topics",
    "connect_admin",
    "connection_cause",
    "create_topics",
    "kafka_client_options",
    "security_refusal",
    "status_topics",
    "tick_topic",
]

# Ticks are consumed within seconds; an hour of them is plenty to survive a restart.
_TICK_RETENTION_MS: Final = 3_600_000
# A dead letter carries the rejected message's exact bytes, JSON-escaped or in base64, so it
# can be several times the size of the input; inputs of up to ~10 MiB fit in this.
DEAD_LETTER_MAX_BYTES: Final = 64 * 1024 * 1024
# How long a created topic may take to get a leader for every partition (milliseconds on a
# healthy cluster; a minute covers a controller failover).
_TOPIC_READY_S: Final = 60.0
# Replicas for the topics we create: 3 where the cluster has that many brokers.
_MAX_REPLICATION: Final = 3


def tick_topic(settings: Settings) -> str:
    """Return the name of the internal topic that carries deadline ticks."""
    return f"{settings.app_id}-ticks"


def changelog_topic(settings: Settings) -> str:
    """Return the name of the state changelog (faust's name for the ``tickets`` table's)."""
    return f"{settings.app_id}-tickets-changelog"


@dataclass(frozen=True, slots=True)
class Replication:
    """Replicas and min.insync.replicas of the topics we create (settings, or automatic)."""

    factor: int
    min_insync: int


def _topic_configs(settings: Settings, replication: Replication) -> dict[str, dict[str, str]]:
    """Return the configuration of every topic we create, by name.

    Every topic gets ``min.insync.replicas``: with the producers' acks=all, a write is then
    on that many replicas before it counts, and the topic stays writable with one broker
    down. The changelog is compacted (the latest state of each ticket is all a restore
    needs; tombstones forget tickets), ticks expire, dead letters carry big inputs.
    """
    isr = {"min.insync.replicas": str(replication.min_insync)}
    configs = {name: dict(isr) for name in (*settings.input_topics, *settings.output_topics)}
    configs[tick_topic(settings)] = isr | {"retention.ms": str(_TICK_RETENTION_MS)}
    configs[settings.dead_letter_topic] = isr | {"max.message.bytes": str(DEAD_LETTER_MAX_BYTES)}
    configs[changelog_topic(settings)] = isr | {"cleanup.policy": "compact"}
    if settings.status_topic:
        # The latest status of each ticket is what a reader wants; tombstones forget tickets.
        configs[settings.status_topic] = isr | {"cleanup.policy": "compact"}
    return configs


def status_topics(settings: Settings) -> tuple[str, ...]:
    """Return the status topic in a tuple, or nothing when the status stream is off."""
    return (settings.status_topic,) if settings.status_topic else ()


@dataclass(frozen=True, slots=True)
class TopicStatus:
    """What ``topics create`` did with one topic."""

    name: str
    created: bool
    partitions: int


async def connect_admin(
    settings: Settings, *, timeout_s: float | None = None
) -> AIOKafkaAdminClient:
    """Return a started admin client, retrying until ``timeout_s``; StartupError after.

    A refused login, SASL mechanism or TLS certificate ends the retries at once: waiting
    does not fix a setting. The error says which, e.g. ``authentication failed for user
    alice (SCRAM-SHA-512)``.
    """
    timeout_s = settings.connect_timeout_s if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    request_timeout_s = max(1.0, min(timeout_s, 10.0))
    last: Exception | None = None
    # aiokafka logs every failed attempt; we report the outcome in one line instead.
    with _quiet("aiokafka"):
        while True:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=settings.bootstrap,
                client_id=f"{settings.app_id}-admin",
                request_timeout_ms=int(request_timeout_s * 1000),
                **kafka_client_options(settings),
            )
            try:
                await admin.start()
                await admin.list_topics()
                return admin
            except (KafkaError, OSError, ValueError) as error:
                last = error
                await _close(admin)
                if isinstance(error, KafkaConnectionError):
                    left_s = max(0.5, min(request_timeout_s, deadline - time.monotonic()))
                    last = await connection_cause(settings, left_s) or error
                refusal = security_refusal(settings, last)
                if refusal is not None:
                    raise refusal from None
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(1.0)  # retry pace while the broker is unreachable
    reason = _describe(settings, last)
    raise StartupError(
        f"cannot reach Kafka at {settings.bootstrap} ({settings.kafka_security_protocol}): {reason}"
    )


async def connection_cause(settings: Settings, timeout_s: float) -> Exception | None:
    """Connect to each bootstrap broker ourselves and return why it fails; None if one works.

    For a client whose start failed with aiokafka's ``KafkaConnectionError``: its bootstrap
    reports only "Unable to bootstrap", the real cause (a refused login, a certificate, a
    reset connection) is logged, not raised. A failure that says what to fix (security) wins
    over one that does not (a broker down).
    """
    from aiokafka.conn import collect_hosts, create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    errors: list[Exception] = []
    for host, port, _ in collect_hosts(settings.bootstrap, randomize=False):
        try:
            async with asyncio.timeout(timeout_s):
                conn = await create_conn(
                    host,
                    port,
                    client_id=f"{settings.app_id}-admin",
                    request_timeout_ms=int(timeout_s * 1000),
                    **kafka_client_options(settings),
                )
                try:
                    await conn.send(MetadataRequest([]))
                finally:
                    conn.close()
        except (KafkaError, OSError, TimeoutError) as error:
            errors.append(error)
        else:
            return None
    return next((e for e in errors if _is_security_failure(e)), errors[0] if errors else None)


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence a library's logger for the duration of a block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _is_security_failure(error: BaseException | None) -> bool:
    """Whether the broker answered but refused our login, mechanism or TLS handshake."""
    refusals = (
        SaslAuthenticationFailed,
        UnsupportedSaslMechanismError,
        IllegalSaslStateError,
        ssl.SSLError,
    )
    return isinstance(error, refusals)


def security_refusal(settings: Settings, error: BaseException | None) -> StartupError | None:
    """Return the error to raise when the broker refused our login or TLS; None otherwise.

    Such a refusal ends the retries at once: waiting does not fix a setting. The message is
    one line naming the problem and the setting to check, e.g. ``... refused the
    connection: authentication failed for user alice (SCRAM-SHA-512): ...``.
    """
    if not _is_security_failure(error):
        return None
    return StartupError(
        f"Kafka at {settings.bootstrap} ({settings.kafka_security_protocol}) refused the "
        f"connection: {_describe_refusal(settings, error)}"
    )


def _describe_refusal(settings: Settings, error: BaseException | None) -> str:
    """Return what a refused connection means and which setting to check."""
    mechanism = settings.kafka_sasl_mechanism
    if isinstance(error, SaslAuthenticationFailed):
        said = re.sub(r"^\[Error -?[0-9]+\] \w+: ", "", _first_line(error))
        return (
            f"authentication failed for user {settings.kafka_sasl_username} ({mechanism}): "
            f"{said or 'invalid credentials'} (check SLA_KAFKA_SASL_USERNAME and "
            "SLA_KAFKA_SASL_PASSWORD)"
        )
    if isinstance(error, UnsupportedSaslMechanismError):
        return (
            f"the listener does not enable SASL mechanism {mechanism} "
            "(check SLA_KAFKA_SASL_MECHANISM)"
        )
    if isinstance(error, IllegalSaslStateError):
        return (
            "the listener does not use SASL (check SLA_KAFKA_SECURITY_PROTOCOL and the port "
            "in SLA_BROKER)"
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"the broker's TLS certificate was not accepted: {error.verify_message} "
            "(set SLA_KAFKA_SSL_CAFILE to the CA that signed it; the certificate must name "
            "the host in SLA_BROKER)"
        )
    if isinstance(error, ssl.SSLError):
        return (
            f"the TLS handshake failed: {error.reason or _first_line(error)} (does this "
            "listener use TLS? check SLA_KAFKA_SECURITY_PROTOCOL)"
        )
    return _first_line(error) if error is not None else "no answer"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _describe(settings: Settings, error: Exception | None) -> str:
    if error is None:
        return "no answer"
    if isinstance(error, ConnectionResetError) or (
        isinstance(error, KafkaConnectionError) and str(error).endswith(" closed")
    ):
        # A listener of another protocol drops the connection on our first bytes.
        return (
            "the broker closed the connection (does SLA_KAFKA_SECURITY_PROTOCOL="
            f"{settings.kafka_security_protocol} match this listener?)"
        )
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the broker running, and is this its address?)"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    text = _first_line(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def _close(admin: AIOKafkaAdminClient) -> None:
    with contextlib.suppress(Exception):  # closing a client that never fully started
        await admin.close()


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Return ``{topic: partitions}`` for those of ``names`` that exist."""
    existing = set(await admin.list_topics())
    wanted = [n for n in names if n in existing]
    if not wanted:
        return {}
    described: Any = await admin.describe_topics(wanted)
    return {item["topic"]: len(item["partitions"]) for item in described if not item["error_code"]}


async def _replication(admin: AIOKafkaAdminClient, settings: Settings) -> Replication:
    """Return the replication of new topics: the settings', checked against the cluster."""
    cluster: Any = await admin.describe_cluster()
    brokers = len(cluster.get("brokers", [])) or 1
    factor = settings.replication_factor or min(_MAX_REPLICATION, brokers)
    if factor > brokers:
        raise StartupError(
            f"SLA_REPLICATION_FACTOR={factor} but the cluster has {brokers} broker"
            f"{'s' if brokers != 1 else ''}: lower it or add brokers"
        )
    min_insync = settings.min_insync_replicas or max(1, factor - 1)
    if min_insync > factor:
        raise StartupError(
            f"SLA_MIN_INSYNC_REPLICAS={min_insync} is more than the replication factor "
            f"{factor}: no write could succeed"
        )
    return Replication(factor, min_insync)


async def _cleanup_policy(admin: AIOKafkaAdminClient, topic: str) -> str:
    """Return the ``cleanup.policy`` of an existing topic; StartupError if unreadable."""
    responses: Any = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, {"cleanup.policy": None})]
    )
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                raise StartupError(
                    f"cannot read the configuration of topic {topic}: "
                    f"{resource['error_message'] or for_code(resource['error_code']).__name__}"
                )
            for entry in resource["config_entries"]:
                if entry["config_names"] == "cleanup.policy":
                    return str(entry["config_value"])
    raise StartupError(f"cannot read the configuration of topic {topic}: no cleanup.policy")


async def _create(
    admin: AIOKafkaAdminClient,
    names: list[str],
    partitions: int,
    replication: Replication,
    configs: dict[str, dict[str, str]],
) -> None:
    """Create ``names`` (which do not exist) with their configuration; wait until served.

    A refusal by the broker (a bad config, a policy, authorization) is a StartupError naming
    the topic. The broker answers before its metadata lists the new topics, so this waits
    until every partition has a leader: whoever runs next finds them.
    """
    if not names:
        return
    response: Any = await admin.create_topics(
        [
            NewTopic(n, partitions, replication.factor, topic_configs=configs.get(n, {}))
            for n in names
        ]
    )
    for error in response.to_object()["topic_errors"]:
        code = error["error_code"]
        if code in (0, TopicAlreadyExistsError.errno):  # created concurrently: fine
            continue
        raise StartupError(
            f"cannot create topic {error['topic']}: "
            f"{error['error_message'] or for_code(code).__name__}"
        )
    deadline = time.monotonic() + _TOPIC_READY_S
    while True:
        described: Any = await admin.describe_topics(names)
        ready = {
            item["topic"]
            for item in described
            if not item["error_code"]
            and len(item["partitions"]) == partitions
            and all(part["leader"] >= 0 for part in item["partitions"])
        }
        if ready >= set(names):
            return
        if time.monotonic() > deadline:
            raise StartupError(
                f"topics {', '.join(sorted(set(names) - ready))} were created but have no "
                f"leader after {_TOPIC_READY_S:.0f}s: check the brokers' health"
            )
        await asyncio.sleep(0.1)  # the broker's metadata catches up within milliseconds


async def create_topics(settings: Settings) -> list[TopicStatus]:
    """Create the input, output, dead-letter, tick and changelog topics; keep those that exist.

    New topics get ``settings.partitions`` partitions, except that the tick topic and the
    state changelog get the input topics' count when the inputs exist already (all three
    must match: faust co-partitions them).
    """
    admin = await connect_admin(settings)
    try:
        internal = [tick_topic(settings), changelog_topic(settings)]
        published = [*settings.output_topics, *status_topics(settings)]
        names = list(dict.fromkeys([*settings.input_topics, *published, *internal]))
        counts = await _partition_counts(admin, names)
        replication = await _replication(admin, settings)
        configs = _topic_configs(settings, replication)
        missing = [n for n in names if n not in counts]
        inputs = [counts[n] for n in settings.input_topics if n in counts]
        co_partitioned = inputs[0] if inputs else settings.partitions
        await _create(
            admin,
            [n for n in missing if n not in internal],
            settings.partitions,
            replication,
            configs,
        )
        await _create(
            admin, [n for n in missing if n in internal], co_partitioned, replication, configs
        )
        return [
            TopicStatus(
                n,
                n in missing,
                counts.get(n, co_partitioned if n in internal else settings.partitions),
            )
            for n in names
        ]
    finally:
        await _close(admin)


class Partitions(int):
    """The input partition count (an int), with the replication of the topics we make."""

    replication: Replication

    def __new__(cls, count: int, replication: Replication) -> Partitions:
        """Return ``count`` carrying ``replication``."""
        made = super().__new__(cls, count)
        made.replication = replication
        return made


async def check_topics(settings: Settings) -> Partitions:
    """Check what the worker needs before it starts; return the input partition count.

    The count carries the replication factor of the topics made (``Partitions``), which the
    worker tells faust.

    Input and output topics must exist and every input topic must have the same partition
    count (the worker refuses to start otherwise, naming the topics). The tick topic and the
    state changelog are created with that count when missing; an existing changelog must
    have it and be compacted.
    """
    admin = await connect_admin(settings)
    try:
        ticks = tick_topic(settings)
        wanted = [*settings.input_topics, *settings.output_topics, *status_topics(settings), ticks]
        counts = await _partition_counts(admin, wanted)
        missing = [n for n in dict.fromkeys(wanted) if n not in counts and n != ticks]
        if missing:
            raise StartupError(
                f"missing topics: {', '.join(missing)} (create them: sla-worker topics create)"
            )
        inputs = {n: counts[n] for n in settings.input_topics}
        if len(set(inputs.values())) > 1:
            listed = ", ".join(f"{n} has {c}" for n, c in inputs.items())
            raise StartupError(
                f"input topics must have the same partition count, keyed by ticket id: {listed}"
            )
        partitions = next(iter(inputs.values()))
        if ticks in counts and counts[ticks] != partitions:
            raise StartupError(
                f"internal topic {ticks} has {counts[ticks]} partitions but the input topics "
                f"have {partitions}: delete it (it holds only ticks) and start again"
            )
        changelog = changelog_topic(settings)
        stored = (await _partition_counts(admin, [changelog])).get(changelog)
        if stored is not None and stored != partitions:
            raise StartupError(
                f"the state changelog {changelog} has {stored} partitions but the input topics "
                f"have {partitions}: input partitions cannot change under a deployment; use a "
                "new SLA_APP_ID (and replay) to repartition"
            )
        if stored is not None and "compact" not in await _cleanup_policy(admin, changelog):
            raise StartupError(
                f"the state changelog {changelog} is not compacted (cleanup.policy is not "
                "compact): its old states would be deleted by retention and a restore would "
                f"lose tickets; set it with kafka-configs --alter --entity-type topics "
                f"--entity-name {changelog} --add-config cleanup.policy=compact"
            )
        status = settings.status_topic
        if status and "compact" not in await _cleanup_policy(admin, status):
            raise StartupError(
                f"the status topic {status} is not compacted (cleanup.policy is not compact): "
                "retention would delete the status of tickets that did not change lately; set "
                f"it with kafka-configs --alter --entity-type topics --entity-name {status} "
                "--add-config cleanup.policy=compact (or SLA_STATUS_TOPIC= to turn it off)"
            )
        replication = await _replication(admin, settings)
        configs = _topic_configs(settings, replication)
        # Made here rather than by faust, which would give them one replica and the
        # broker's defaults (the changelog uncompacted).
        await _create(
            admin,
            [
                n
                for n, exists in ((ticks, ticks in counts), (changelog, stored is not None))
                if not exists
            ],
            partitions,
            replication,
            configs,
        )
        return Partitions(partitions, replication)
    finally:
        await _close(admin)


def kafka_client_options(settings: Settings) -> dict[str, Any]:
    """Security options for aiokafka clients (producer, consumer, admin).

    With TLS, the broker's certificate is checked against SLA_KAFKA_SSL_CAFILE (or the
    system's CAs when unset), host name included. SCRAM takes its credentials from the
    same ``sasl_plain_*`` options as PLAIN in aiokafka. SettingsError when the CA file
    cannot be read.
    """
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if "SSL" in settings.kafka_security_protocol:
        from aiokafka.helpers import create_ssl_context  # only with TLS

        try:
            options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile or None)
        except ssl.SSLError as error:  # before OSError: it is one
            raise SettingsError(
                f"SLA_KAFKA_SSL_CAFILE: {settings.kafka_ssl_cafile} is not a PEM file of CA "
                f"certificates ({error.reason})"
            ) from None
        except OSError as error:
            raise SettingsError(
                f"SLA_KAFKA_SSL_CAFILE: cannot read {settings.kafka_ssl_cafile}: {error.strerror}"
            ) from None
    if settings.kafka_security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options

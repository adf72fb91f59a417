"""The worker's settings: one frozen object, read once at the entry point.

The only module that reads ``os.environ`` (docs/settings.md). Every setting is an
``SLA_*`` environment variable; some are also flags of ``sla-worker run`` (flags win).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final

from worker.core.durations import parse_duration
from worker.core.errors import DurationError, SettingsError

__all__ = ["ENV_NAMES", "Settings"]

_STORES: Final = ("rocksdb", "memory")
_LOG_FORMATS: Final = ("json", "console")
_LOG_LEVELS: Final = ("debug", "info", "warning", "error")
_SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SASL_MECHANISMS: Final = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _default_data_dir() -> str:
    """``$XDG_STATE_HOME/sla-worker`` (``~/.local/state/sla-worker``): never the cwd."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "sla-worker")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``sla-worker run`` and the Kafka commands need, validated."""

    broker: str = "kafka://127.0.0.1:9092"
    app_id: str = "sla-worker"
    policy: str = "deploy/policies/demo.yaml"
    input_topics: tuple[str, ...] = ("ticket-events",)
    warning_topic: str = "sla-warnings"
    breach_topic: str = "sla-breaches"
    outcome_topic: str = "sla-outcomes"
    dead_letter_topic: str = "sla-dead-letter"
    # The compacted topic of every ticket's current SLA status (docs/events.md); empty: off.
    status_topic: str = "sla-status"
    partitions: int = 8
    data_dir: str = ""
    store: str = "rocksdb"
    grace_s: int = 0
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    log_format: str = "json"
    log_level: str = "info"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "PLAIN"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_cafile: str = ""
    # Operational tuning (docs/settings.md documents every setting):
    retention_s: int = 7 * 86_400
    tick_interval_s: float = 0.25
    max_future_s: int = 86_400
    # How long start-up keeps trying to reach the broker before a one-line error: long
    # enough to ride out a broker starting alongside the worker, short enough to fail fast.
    connect_timeout_s: int = 30
    # Replicas of every topic `topics create` (and start-up) makes, the state changelog
    # included; 0 means min(3, brokers in the cluster).
    replication_factor: int = 0
    # min.insync.replicas of those topics; 0 means replication_factor - 1, at least 1: with
    # acks=all a write then survives the loss of any one broker and still goes on.
    min_insync_replicas: int = 0
    # An open ticket with no event for this long is forgotten (counted in
    # sla_tickets_expired_total): a lost ticket.resolved must not keep a state forever.
    open_retention_s: int = 90 * 86_400
    # How often the worker commits its consumed offsets; 0 means faust's default (2.8 s).
    # Only tests and benchmarks change it (a crash between delivery and commit).
    commit_interval_s: int = 0
    # How long a stop (SIGTERM, SIGINT, a failed delivery) may take before the process ends
    # itself (exit 75): under the 10 s an orchestrator usually waits after SIGTERM, with time
    # for the last lines. Raise it with the orchestrator's grace period (a large final commit).
    shutdown_grace_s: int = 8

    def __post_init__(self) -> None:
        """Refuse an invalid combination with a one-line error naming the setting."""
        problems = []
        if not self.broker:
            problems.append("SLA_BROKER is empty")
        if not self.input_topics or any(not t for t in self.input_topics):
            problems.append("SLA_INPUT_TOPICS names no topic")
        if self.partitions < 1:
            problems.append(f"SLA_PARTITIONS must be >= 1, not {self.partitions}")
        if self.replication_factor < 0:
            problems.append(
                f"SLA_REPLICATION_FACTOR must be >= 1 (or 0: automatic), not "
                f"{self.replication_factor}"
            )
        if self.min_insync_replicas < 0:
            problems.append(
                f"SLA_MIN_INSYNC_REPLICAS must be >= 1 (or 0: automatic), not "
                f"{self.min_insync_replicas}"
            )
        elif 0 < self.replication_factor < self.min_insync_replicas:
            problems.append(
                f"SLA_MIN_INSYNC_REPLICAS={self.min_insync_replicas} is more than "
                f"SLA_REPLICATION_FACTOR={self.replication_factor}: no write could succeed"
            )
        if self.open_retention_s <= 0:
            problems.append("SLA_OPEN_RETENTION must be longer than 0s")
        if self.shutdown_grace_s <= 0:
            problems.append("SLA_SHUTDOWN_GRACE must be longer than 0s")
        if self.store not in _STORES:
            problems.append(f"SLA_STORE must be one of {', '.join(_STORES)}, not {self.store!r}")
        if self.log_format not in _LOG_FORMATS:
            problems.append(
                f"SLA_LOG_FORMAT must be one of {', '.join(_LOG_FORMATS)}, not {self.log_format!r}"
            )
        if self.log_level not in _LOG_LEVELS:
            problems.append(
                f"SLA_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, not {self.log_level!r}"
            )
        if not 0 < self.web_port < 65_536:
            problems.append(f"SLA_WEB_PORT must be a TCP port, not {self.web_port}")
        if self.kafka_security_protocol not in _SECURITY_PROTOCOLS:
            problems.append(
                "SLA_KAFKA_SECURITY_PROTOCOL must be one of "
                f"{', '.join(_SECURITY_PROTOCOLS)}, not {self.kafka_security_protocol!r}"
            )
        if self.kafka_sasl_mechanism not in _SASL_MECHANISMS:
            problems.append(
                "SLA_KAFKA_SASL_MECHANISM must be one of "
                f"{', '.join(_SASL_MECHANISMS)}, not {self.kafka_sasl_mechanism!r}"
            )
        if self.kafka_security_protocol.startswith("SASL"):
            if not self.kafka_sasl_username:
                problems.append("SLA_KAFKA_SASL_USERNAME is required with SASL")
            if not self.kafka_sasl_password:
                problems.append("SLA_KAFKA_SASL_PASSWORD is required with SASL")
        if self.kafka_ssl_cafile and "SSL" not in self.kafka_security_protocol:
            # A CA file without TLS is a forgotten protocol, not a harmless extra: without
            # this, SASL PLAIN would send the password in the clear.
            problems.append(
                "SLA_KAFKA_SSL_CAFILE is set but SLA_KAFKA_SECURITY_PROTOCOL="
                f"{self.kafka_security_protocol} uses no TLS (SSL or SASL_SSL do)"
            )
        if problems:
            raise SettingsError("; ".join(problems))

    @property
    def bootstrap(self) -> str:
        """``host:port,...`` without the ``kafka://`` scheme, for aiokafka clients."""
        return ",".join(
            part.removeprefix("kafka://").strip() for part in self.broker.split(";") if part
        )

    @property
    def output_topics(self) -> tuple[str, ...]:
        """Every topic the worker writes, dead letters included."""
        return (self.warning_topic, self.breach_topic, self.outcome_topic, self.dead_letter_topic)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``SLA_*`` variables from ``environ`` (default ``os.environ``), then overrides.

        Overrides that are ``None`` (flags not given) are ignored.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = ENV_NAMES[field.name]
            if name in env and (env[name] != "" or field.name in _EMPTY_MEANS_OFF):
                values[field.name] = _convert(field.name, name, env[name])
        for key, value in overrides.items():
            if value is not None:
                values[key] = value
        if "data_dir" not in values:
            values["data_dir"] = _default_data_dir()
        try:
            return cls(**values)
        except TypeError as error:  # pragma: no cover - programming error in a caller
            raise SettingsError(str(error)) from None

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the non-None ``overrides`` applied."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


ENV_NAMES: Final[dict[str, str]] = {
    "broker": "SLA_BROKER",
    "app_id": "SLA_APP_ID",
    "policy": "SLA_POLICY",
    "input_topics": "SLA_INPUT_TOPICS",
    "warning_topic": "SLA_WARNING_TOPIC",
    "breach_topic": "SLA_BREACH_TOPIC",
    "outcome_topic": "SLA_OUTCOME_TOPIC",
    "dead_letter_topic": "SLA_DEAD_LETTER_TOPIC",
    "status_topic": "SLA_STATUS_TOPIC",
    "partitions": "SLA_PARTITIONS",
    "data_dir": "SLA_DATA_DIR",
    "store": "SLA_STORE",
    "grace_s": "SLA_GRACE",
    "web_host": "SLA_WEB_HOST",
    "web_port": "SLA_WEB_PORT",
    "log_format": "SLA_LOG_FORMAT",
    "log_level": "SLA_LOG_LEVEL",
    "kafka_security_protocol": "SLA_KAFKA_SECURITY_PROTOCOL",
    "kafka_sasl_mechanism": "SLA_KAFKA_SASL_MECHANISM",
    "kafka_sasl_username": "SLA_KAFKA_SASL_USERNAME",
    "kafka_sasl_password": "SLA_KAFKA_SASL_PASSWORD",
    "kafka_ssl_cafile": "SLA_KAFKA_SSL_CAFILE",
    "retention_s": "SLA_RETENTION",
    "tick_interval_s": "SLA_TICK_INTERVAL",
    "max_future_s": "SLA_MAX_FUTURE",
    "connect_timeout_s": "SLA_CONNECT_TIMEOUT",
    "replication_factor": "SLA_REPLICATION_FACTOR",
    "min_insync_replicas": "SLA_MIN_INSYNC_REPLICAS",
    "open_retention_s": "SLA_OPEN_RETENTION",
    "commit_interval_s": "SLA_COMMIT_INTERVAL",
    "shutdown_grace_s": "SLA_SHUTDOWN_GRACE",
}

# Settings whose empty value is a choice (off), not "unset, take the default".
_EMPTY_MEANS_OFF: Final = frozenset({"status_topic"})
_DURATIONS: Final = {
    "grace_s",
    "retention_s",
    "max_future_s",
    "connect_timeout_s",
    "open_retention_s",
    "commit_interval_s",
    "shutdown_grace_s",
}
_INTS: Final = {"partitions", "web_port", "replication_factor", "min_insync_replicas"}


def _convert(field: str, name: str, text: str) -> Any:
    """Turn the text of variable ``name`` into the type of ``field``; one-line errors."""
    text = text.strip()
    if field in _DURATIONS:
        try:
            return parse_duration(text)
        except DurationError as error:
            raise SettingsError(f"{name}: {error}") from None
    if field in _INTS:
        try:
            return int(text)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, not {text!r}") from None
    if field == "tick_interval_s":
        try:
            return float(text.removesuffix("s"))
        except ValueError:
            raise SettingsError(f"{name} must be a number of seconds, not {text!r}") from None
    if field == "input_topics":
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if field in ("log_format", "log_level", "store"):
        return text.lower()
    if field in ("kafka_security_protocol", "kafka_sasl_mechanism"):
        return text.upper()
    return text

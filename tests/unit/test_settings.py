"""Settings: SLA_* variables and flags, validated with one-line errors."""

from __future__ import annotations

import pytest

from worker.core.errors import SettingsError
from worker.edge.settings import ENV_NAMES, Settings
from worker.stream.kafka_admin import kafka_client_options


def test_defaults_match_the_contract() -> None:
    """With no variables set, the defaults are those of docs/settings.md."""
    settings = Settings.from_env({}, data_dir="/tmp/x")
    assert settings.broker == "kafka://127.0.0.1:9092"
    assert settings.bootstrap == "127.0.0.1:9092"
    assert settings.app_id == "sla-worker"
    assert settings.input_topics == ("ticket-events",)
    assert settings.partitions == 8
    assert settings.store == "rocksdb"
    assert settings.grace_s == 0
    assert settings.shutdown_grace_s == 8
    assert (settings.web_host, settings.web_port) == ("127.0.0.1", 6066)
    assert (settings.log_format, settings.log_level) == ("json", "info")
    assert settings.output_topics == (
        "sla-warnings",
        "sla-breaches",
        "sla-outcomes",
        "sla-dead-letter",
    )
    assert kafka_client_options(settings) == {"security_protocol": "PLAINTEXT"}


def test_default_data_dir_is_never_the_working_directory() -> None:
    """The data directory defaults to an absolute per-user state path."""
    settings = Settings.from_env({})
    assert settings.data_dir.startswith("/")
    assert settings.data_dir.endswith("sla-worker")


def test_every_contract_variable_is_read() -> None:
    """Each SLA_* variable of the contract sets its field; flags override variables."""
    env = {
        "SLA_BROKER": "kafka://a:1;kafka://b:2",
        "SLA_APP_ID": "x",
        "SLA_POLICY": "p.yaml",
        "SLA_INPUT_TOPICS": "one, two",
        "SLA_WARNING_TOPIC": "w",
        "SLA_BREACH_TOPIC": "b",
        "SLA_OUTCOME_TOPIC": "o",
        "SLA_DEAD_LETTER_TOPIC": "d",
        "SLA_PARTITIONS": "3",
        "SLA_DATA_DIR": "/data",
        "SLA_STORE": "MEMORY",
        "SLA_GRACE": "1m30s",
        "SLA_WEB_HOST": "127.0.0.2",
        "SLA_WEB_PORT": "7000",
        "SLA_LOG_FORMAT": "console",
        "SLA_LOG_LEVEL": "DEBUG",
        "SLA_TICK_INTERVAL": "0.5s",
        "SLA_REPLICATION_FACTOR": "3",
        "SLA_MIN_INSYNC_REPLICAS": "2",
        "SLA_OPEN_RETENTION": "30d",
        "SLA_SHUTDOWN_GRACE": "25s",
    }
    settings = Settings.from_env(env, web_port=7001, app_id=None)
    assert settings.bootstrap == "a:1,b:2"
    assert settings.input_topics == ("one", "two")
    assert (settings.store, settings.grace_s, settings.web_port) == ("memory", 90, 7001)
    assert (settings.app_id, settings.partitions, settings.data_dir) == ("x", 3, "/data")
    assert (settings.log_format, settings.log_level) == ("console", "debug")
    assert settings.tick_interval_s == 0.5
    assert (settings.replication_factor, settings.min_insync_replicas) == (3, 2)
    assert settings.open_retention_s == 30 * 86_400
    assert settings.shutdown_grace_s == 25
    assert settings.with_overrides(partitions=5, store=None).partitions == 5
    assert set(ENV_NAMES.values()) >= {
        "SLA_KAFKA_SECURITY_PROTOCOL",
        "SLA_KAFKA_SASL_MECHANISM",
        "SLA_KAFKA_SASL_USERNAME",
        "SLA_KAFKA_SASL_PASSWORD",
        "SLA_KAFKA_SSL_CAFILE",
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SLA_PARTITIONS": "many"}, "SLA_PARTITIONS must be a whole number, not 'many'"),
        ({"SLA_PARTITIONS": "0"}, "SLA_PARTITIONS must be >= 1"),
        ({"SLA_GRACE": "soon"}, "SLA_GRACE: invalid duration 'soon'"),
        ({"SLA_STORE": "redis"}, "SLA_STORE must be one of rocksdb, memory"),
        ({"SLA_LOG_FORMAT": "xml"}, "SLA_LOG_FORMAT must be one of json, console"),
        ({"SLA_LOG_LEVEL": "loud"}, "SLA_LOG_LEVEL must be one of"),
        ({"SLA_WEB_PORT": "70000"}, "SLA_WEB_PORT must be a TCP port"),
        ({"SLA_INPUT_TOPICS": ","}, "SLA_INPUT_TOPICS names no topic"),
        ({"SLA_BROKER": ""}, None),  # empty means unset: the default applies
        ({"SLA_TICK_INTERVAL": "often"}, "SLA_TICK_INTERVAL must be a number of seconds"),
        ({"SLA_KAFKA_SECURITY_PROTOCOL": "tls"}, "SLA_KAFKA_SECURITY_PROTOCOL must be one of"),
        ({"SLA_KAFKA_SASL_MECHANISM": "md5"}, "SLA_KAFKA_SASL_MECHANISM must be one of"),
        ({"SLA_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "SLA_KAFKA_SASL_USERNAME is required"),
        ({"SLA_REPLICATION_FACTOR": "-1"}, "SLA_REPLICATION_FACTOR must be >= 1"),
        ({"SLA_MIN_INSYNC_REPLICAS": "-2"}, "SLA_MIN_INSYNC_REPLICAS must be >= 1"),
        (
            {"SLA_REPLICATION_FACTOR": "2", "SLA_MIN_INSYNC_REPLICAS": "3"},
            "SLA_MIN_INSYNC_REPLICAS=3 is more than SLA_REPLICATION_FACTOR=2",
        ),
        ({"SLA_OPEN_RETENTION": "0s"}, "SLA_OPEN_RETENTION must be longer than 0s"),
        ({"SLA_SHUTDOWN_GRACE": "0s"}, "SLA_SHUTDOWN_GRACE must be longer than 0s"),
        ({"SLA_OPEN_RETENTION": "3651d"}, "SLA_OPEN_RETENTION: duration '3651d' is too long"),
    ],
)
def test_invalid_settings_are_one_line_errors(env: dict[str, str], message: str | None) -> None:
    """A bad value is refused with one line naming the variable."""
    if message is None:
        assert Settings.from_env(env).broker == "kafka://127.0.0.1:9092"
        return
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")) as raised:
        Settings.from_env(env)
    assert "\n" not in str(raised.value)


def test_empty_broker_override_is_refused() -> None:
    """An explicitly empty broker cannot be used."""
    with pytest.raises(SettingsError, match="SLA_BROKER is empty"):
        Settings.from_env({}, broker="")


def test_sasl_options_for_aiokafka() -> None:
    """SASL settings become aiokafka's options, with TLS when the protocol asks for it."""
    settings = Settings.from_env(
        {
            "SLA_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
            "SLA_KAFKA_SASL_MECHANISM": "scram-sha-512",
            "SLA_KAFKA_SASL_USERNAME": "alice",
            "SLA_KAFKA_SASL_PASSWORD": "secret",
        }
    )
    assert kafka_client_options(settings) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "alice",
        "sasl_plain_password": "secret",
    }
    tls = settings.with_overrides(kafka_security_protocol="SSL")
    assert "ssl_context" in kafka_client_options(tls)

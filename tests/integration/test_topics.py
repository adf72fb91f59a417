"""`topics create` and the start-up checks make every topic, the state changelog included."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from worker.core.errors import StartupError
from worker.edge.settings import Settings
from worker.stream.kafka_admin import changelog_topic, check_topics, create_topics, tick_topic


def settings_for(bootstrap: str, **overrides: Any) -> Settings:
    tag = secrets.token_hex(4)
    return Settings(
        broker=f"kafka://{bootstrap}",
        app_id=f"topics-{tag}",
        input_topics=(f"in-{tag}",),
        warning_topic=f"warn-{tag}",
        breach_topic=f"breach-{tag}",
        outcome_topic=f"outcome-{tag}",
        dead_letter_topic=f"dlt-{tag}",
        partitions=3,
        connect_timeout_s=10,
        **overrides,
    )


async def describe(bootstrap: str, topic: str) -> tuple[int, dict[str, str]]:
    """Return the partition count and the (non-default and default) configs of ``topic``."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described: Any = await admin.describe_topics([topic])
        responses: Any = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
        configs = {
            entry["config_names"]: entry["config_value"]
            for response in responses
            for resource in response.to_object()["resources"]
            for entry in resource["config_entries"]
        }
        return len(described[0]["partitions"]), configs
    finally:
        await admin.close()


async def test_topics_create_makes_a_compacted_changelog(kafka_bootstrap: str) -> None:
    """The changelog is created with the inputs' partitions, compacted, with min ISR set."""
    settings = settings_for(kafka_bootstrap)
    statuses = await create_topics(settings)
    changelog = changelog_topic(settings)
    assert {s.name: (s.created, s.partitions) for s in statuses}[changelog] == (True, 3)
    partitions, configs = await describe(kafka_bootstrap, changelog)
    assert partitions == 3
    assert configs["cleanup.policy"] == "compact"
    assert configs["min.insync.replicas"] == "1"  # one broker: factor 1, min ISR 1
    for topic in (*settings.input_topics, *settings.output_topics, tick_topic(settings)):
        assert (await describe(kafka_bootstrap, topic))[1]["min.insync.replicas"] == "1"
    # A second run keeps what exists and says so.
    again = await create_topics(settings)
    assert not any(s.created for s in again)
    assert await check_topics(settings) == 3


async def test_start_up_creates_a_missing_changelog_compacted(kafka_bootstrap: str) -> None:
    """Start-up makes the changelog itself (faust would leave it uncompacted, one replica)."""
    settings = settings_for(kafka_bootstrap)
    await create_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([changelog_topic(settings)])
        # Deletion completes after the answer: wait until the metadata no longer lists it.
        for _ in range(600):  # at most 30 s
            if changelog_topic(settings) not in await admin.list_topics():
                break
            await asyncio.sleep(0.05)  # the broker has no event to await
    finally:
        await admin.close()
    assert await check_topics(settings) == 3
    partitions, configs = await describe(kafka_bootstrap, changelog_topic(settings))
    assert (partitions, configs["cleanup.policy"]) == (3, "compact")


async def test_start_up_refuses_an_uncompacted_changelog(kafka_bootstrap: str) -> None:
    """A changelog with cleanup.policy=delete is refused, saying how to fix it."""
    settings = settings_for(kafka_bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(changelog_topic(settings), 3, 1, topic_configs={"cleanup.policy": "delete"})]
        )
    finally:
        await admin.close()
    await create_topics(settings)
    with pytest.raises(StartupError, match="is not compacted") as raised:
        await check_topics(settings)
    assert "cleanup.policy=compact" in str(raised.value)
    assert "\n" not in str(raised.value)


async def test_a_replication_factor_above_the_brokers_is_refused(kafka_bootstrap: str) -> None:
    """SLA_REPLICATION_FACTOR=3 on a one-broker cluster: a one-line refusal, no topic made."""
    settings = settings_for(kafka_bootstrap, replication_factor=3)
    with pytest.raises(
        StartupError, match="SLA_REPLICATION_FACTOR=3 but the cluster has 1 broker:"
    ):
        await create_topics(settings)

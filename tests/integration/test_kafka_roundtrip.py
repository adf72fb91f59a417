"""The local broker round-trips messages from both clients the project uses.

aiokafka (the worker, the test helpers) and kcat (the demo, the e2e tests, operators) must
agree on the bytes and on the partition of a key: the worker relies on every event of a
ticket landing in the partition its key hashes to, whoever produced it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

pytestmark = pytest.mark.integration

# Bytes that a text-minded client could mangle: non-ASCII UTF-8, invalid UTF-8, NUL, the
# kcat key delimiter inside a value, JSON.
VALUES = [
    b"plain",
    "r\u00e9ponse \u2014 \u00fc\u00f1\u00ee\u00e7\u00f8d\u00e9 \U0001f600".encode(),
    b"\xff\xfe\x80 not utf-8 \xc3\x28",
    b"nul \x00 inside",
    b"colon: inside: the value",
    b'{"type": "ticket.created", "ticket_id": "T-1"}',
]
KCAT_TIMEOUT_S = 30


async def kcat_produce(kcat: str, bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]):
    """Produce `key:value` lines with kcat, partitioned like Java and aiokafka (murmur2)."""
    lines = b"".join(key + b":" + value + b"\n" for key, value in records)
    assert not any(b"\n" in key + value or b":" in key for key, value in records)
    process = await asyncio.create_subprocess_exec(
        kcat,
        "-P",
        "-b",
        bootstrap,
        "-t",
        topic,
        "-K:",
        # librdkafka's default (consistent_random, CRC32) puts a key elsewhere than Java does.
        "-X",
        "topic.partitioner=murmur2_random",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(KCAT_TIMEOUT_S):
        out, err = await process.communicate(lines)
    assert process.returncode == 0, (out + err).decode(errors="replace")


async def test_aiokafka_roundtrip_preserves_keys_values_and_partitions(
    kafka_bootstrap, topic_factory, produce, consume
):
    """What aiokafka sends comes back byte for byte at the partition and offset acknowledged."""
    topic = await topic_factory(partitions=4)
    records = [(f"T-{i}".encode(), value) for i, value in enumerate(VALUES)]
    records += [(None, b"no key"), (b"T-empty", b"")]

    sent = await produce(kafka_bootstrap, topic, records)
    got = await consume(kafka_bootstrap, topic, len(records))

    assert sorted(
        (m.partition, m.offset, k, v) for m, (k, v) in zip(sent, records, strict=True)
    ) == [(r.partition, r.offset, r.key, r.value) for r in got]


async def test_explicit_partition_is_kept(kafka_bootstrap, topic_factory, produce, consume):
    """A record sent to an explicit partition is read back from that partition."""
    topic = await topic_factory(partitions=3)

    await produce(kafka_bootstrap, topic, [("a", "1"), ("b", "2"), ("c", "3")], partition=2)
    got = await consume(kafka_bootstrap, topic, 3)

    assert [(r.partition, r.offset, r.key, r.value) for r in got] == [
        (2, 0, b"a", b"1"),
        (2, 1, b"b", b"2"),
        (2, 2, b"c", b"3"),
    ]


async def test_kcat_roundtrip_preserves_keys_and_values(
    kafka_bootstrap, topic_factory, consume, kcat
):
    """What kcat sends (including invalid UTF-8) comes back byte for byte, in order per key."""
    topic = await topic_factory(partitions=4)
    records = [(f"T-{i}".encode(), value) for i, value in enumerate(VALUES) if b"\n" not in value]

    await kcat_produce(kcat, kafka_bootstrap, topic, records)
    got = await consume(kafka_bootstrap, topic, len(records))

    assert sorted((r.key, r.value) for r in got) == sorted(records)


async def test_same_key_same_partition_from_aiokafka_and_kcat(
    kafka_bootstrap, topic_factory, produce, consume, kcat
):
    """Both clients put a key in the same partition, so a ticket's events stay in order."""
    topic = await topic_factory(partitions=8)
    keys = [f"ticket-{i}".encode() for i in range(64)]

    await produce(kafka_bootstrap, topic, [(key, b"from aiokafka") for key in keys])
    await kcat_produce(kcat, kafka_bootstrap, topic, [(key, b"from kcat") for key in keys])
    got = await consume(kafka_bootstrap, topic, 2 * len(keys))

    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    for record in got:
        partitions_of[record.key].add(record.partition)
    assert len(got) == 2 * len(keys)
    assert {key: len(parts) for key, parts in partitions_of.items()} == dict.fromkeys(keys, 1)
    # 64 keys over 8 partitions: a partitioner that ignored the key would not spread them.
    assert len(set().union(*partitions_of.values())) > 1

"""The workers' transport rewinds every partition to where its group would start it, on the real broker.

faust drops the records it fetched during a rebalance and relies on this rewind to read them
again; a partition left where it was loses them (see streams/faust_fixes/committed_seek.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from kafka import KafkaProducer

from ctxi.streams.faust_fixes.committed_seek import seek_to_committed
from tests.integration.conftest import Namespace


@pytest.fixture
async def read_all(namespace: Namespace) -> AsyncIterator[tuple[AIOKafkaConsumer, TopicPartition]]:
    """A group consumer of one partition holding five records, which it has read to the end."""
    settings = namespace.settings
    partition = TopicPartition(settings.input_topic("crm"), 0)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    for number in range(5):
        producer.send(partition.topic, value=f"record {number}".encode(), partition=0).get(timeout=30)
    producer.close()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.app_id}-transport",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    consumer.assign([partition])
    read = 0
    while read < 5:
        read += sum(len(records) for records in (await consumer.getmany(timeout_ms=1000)).values())
    assert await consumer.position(partition) == 5
    yield consumer, partition
    await consumer.stop()


async def test_a_partition_with_nothing_committed_goes_back_to_its_first_record(
    read_all: tuple[AIOKafkaConsumer, TopicPartition],
) -> None:
    consumer, partition = read_all
    assert await seek_to_committed(consumer) == {partition: None}
    assert await consumer.position(partition) == 0
    first = await consumer.getone()
    assert (first.offset, first.value) == (0, b"record 0")


@pytest.mark.parametrize("committed", [0, 3])  # 0 is the case aiokafka's own rewind skips
async def test_a_committed_partition_goes_back_to_its_committed_offset(
    read_all: tuple[AIOKafkaConsumer, TopicPartition], committed: int
) -> None:
    consumer, partition = read_all
    await consumer.commit({partition: OffsetAndMetadata(committed, "")})
    assert await seek_to_committed(consumer) == {partition: committed}
    assert await consumer.position(partition) == committed

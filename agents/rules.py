"""Rule packs and snoozes reach every worker live, from their compacted topics, without restart.

Every worker needs every published pack, so these topics are not consumed in the group
(which would split them between workers): each worker reads them whole, first up to the
end before it starts processing, then live from a task of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as SyncTopicPartition

from ctxi.agents.context import engine
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.rules.loader import RulePackError, load_rule_dir
from ctxi.rules.publish import PublishedPack, load_published
from ctxi.rules.snooze import Snooze
from ctxi.streams.app import app, settings

logger = logging.getLogger(__name__)
QUEUES = frozenset(settings.queues)
BOOTSTRAP = settings.kafka_bootstrap_servers.split(",")
_published: dict[str, PublishedPack] = {}


def apply_pack(key: bytes, value: bytes | None) -> None:
    """Recompile the published packs and swap them in whole; a bad set keeps the running one."""
    if value is None:
        _published.pop(key.decode(), None)
    else:
        pack = PublishedPack.model_validate_json(value)
        _published[pack.pack] = pack
    if not _published:
        return
    try:
        rules = RuleSet(load_published(_published, QUEUES))
    except RulePackError as exc:  # `ctxi rules publish` checks first, so only a hand-made message gets here
        logger.error("published rule packs rejected, keeping version %s:\n%s", engine.rules.version, exc)
        return
    engine.rules = rules  # one assignment: each event sees the old set or the new one, never a mix
    logger.info("rules version %s live (%s)", rules.version, ", ".join(sorted(_published)))


def apply_snooze(key: bytes, value: bytes | None) -> None:
    if value is not None:
        snooze = Snooze.model_validate_json(value)
        engine.snoozes.put(snooze)
        logger.info("snooze %s until %s: %s", snooze.key, snooze.until.isoformat(), snooze.reason)


FOLLOWED: dict[str, Callable[[bytes, bytes | None], None]] = {
    settings.rules_topic: apply_pack,
    settings.snoozes_topic: apply_snooze,
}


def read_to_end() -> dict[str, int]:
    """Apply everything published so far; return where each topic's live reading starts."""
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    partitions = [SyncTopicPartition(topic, 0) for topic in FOLLOWED]
    try:
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        while any(consumer.position(partition) < end[partition] for partition in partitions):
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    FOLLOWED[record.topic](record.key, record.value)
        return {partition.topic: end[partition] for partition in partitions}
    finally:
        consumer.close()


# Until a pack is published, the worker runs the packs of CTXI_RULES_DIR (or the built-in ones).
engine.rules = RuleSet(load_rule_dir(settings.rules_dir or BUILTIN_PACKS, QUEUES))
logger.info("rules from %s: version %s", settings.rules_dir or BUILTIN_PACKS, engine.rules.version)
START_OFFSETS = read_to_end()


@app.task
async def follow_published_rules() -> None:
    """Apply packs and snoozes as they are published, for as long as the worker runs."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = {topic: TopicPartition(topic, 0) for topic in FOLLOWED}
        consumer.assign(list(partitions.values()))
        for topic, partition in partitions.items():
            consumer.seek(partition, START_OFFSETS[topic])
        async for record in consumer:
            FOLLOWED[record.topic](record.key, record.value)
    finally:
        await consumer.stop()

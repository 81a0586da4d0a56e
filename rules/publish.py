"""Publishing rule packs and snoozes to their compacted topics, where every worker reads them."""

from __future__ import annotations

from datetime import UTC, datetime

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from pydantic import BaseModel, ConfigDict

from ctxi.features.definitions import CompiledFeature
from ctxi.rules.loader import LoadedPacks, load_rule_dir, load_rule_texts
from ctxi.rules.snooze import Snooze
from ctxi.settings import Settings


class PublishedPack(BaseModel):
    """One pack as published: its YAML text (compiled again by each worker) and who shipped it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    pack: str
    text: str
    published_at: datetime
    published_by: str


def published_packs(loaded: LoadedPacks, by: str, at: datetime | None = None) -> list[PublishedPack]:
    at = at or datetime.now(UTC)
    return [
        PublishedPack(pack=name, text=text, published_at=at, published_by=by) for name, text in loaded.files.items()
    ]


def load_published(packs: dict[str, PublishedPack], queues: frozenset[str]) -> LoadedPacks:
    """Compile published packs (already checked before publishing, so errors here are unexpected)."""
    return load_rule_texts({f"published:{name}": pack.text for name, pack in sorted(packs.items())}, queues)


def running_packs(settings: Settings, topic: str) -> LoadedPacks:
    """What workers run now: the published packs, or ``CTXI_RULES_DIR`` (the built-in packs) before any."""
    from ctxi.rules import BUILTIN_PACKS

    published = [PublishedPack.model_validate_json(value) for value in read_compacted(settings, topic)]
    queues = frozenset(settings.queues)
    if published:
        return load_published({pack.pack: pack for pack in published}, queues)
    return load_rule_dir(settings.rules_dir or BUILTIN_PACKS, queues)


def new_features(publishing: LoadedPacks, running: LoadedPacks) -> list[CompiledFeature]:
    """The features ``publishing`` defines that ``running`` does not (new, or changed: both start empty)."""
    running_keys = {compiled.state_key for compiled in running.features}
    return [compiled for compiled in publishing.features if compiled.state_key not in running_keys]


def send(bootstrap_servers: str, topic: str, messages: dict[str, BaseModel]) -> None:
    """Write {key: model} to a compacted topic and wait until the broker has them all."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers.split(","), acks="all")
    try:
        for key, model in messages.items():
            producer.send(topic, key=key.encode(), value=model.model_dump_json().encode())
        producer.flush(timeout=30)
    finally:
        producer.close()


def read_compacted(settings: Settings, topic: str) -> list[bytes]:
    """The latest value of every key of a one-partition compacted topic (deleted keys left out)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","), enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    latest: dict[bytes, bytes | None] = {}
    try:
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        while consumer.position(partition) < end:
            for records in consumer.poll(timeout_ms=1000).values():
                latest.update((record.key, record.value) for record in records)
    finally:
        consumer.close()
    return [value for value in latest.values() if value is not None]


def snooze_message(snooze: Snooze) -> dict[str, BaseModel]:
    return {snooze.key: snooze}

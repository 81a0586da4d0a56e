"""The topic catalogue: every topic ctxi reads or writes, and how to create them.

Topics are created up front (``ctxi topics create``, and by ``ctxi worker`` before it
starts) because a faust agent that subscribes to a missing topic waits silently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError

from ctxi.settings import Settings

DAY_MS = 24 * 60 * 60 * 1000
COMPACTED = {"cleanup.policy": "compact"}
# The worker's faust tables (streams/app.py), each backed by a compacted changelog topic.
TABLES = {
    "customer_context": "per-customer joined context",
    "fleet_index": "customers booked per flight and airport",
    "entity_features": "features kept per card, device, IP address or merchant, across customers",
}


def changelog_topic(settings: Settings, table: str) -> str:
    """faust's own name for a table's changelog topic."""
    return f"{settings.app_id}-{table}-changelog"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)
    purpose: str = ""


def catalogue(settings: Settings) -> list[TopicSpec]:
    """The topics a worker with these settings uses."""
    partitions, replicas = settings.topic_partitions, settings.topic_replication_factor
    inputs = [
        TopicSpec(settings.input_topic(source), partitions, replicas, purpose=f"input: {source} events")
        for source in settings.sources
    ]
    return [
        *inputs,
        TopicSpec(
            settings.events_by_customer_topic,
            partitions,
            replicas,
            purpose="validated events keyed by customer (the join's repartition)",
        ),
        *[
            TopicSpec(
                changelog_topic(settings, table),
                partitions,
                replicas,
                config=COMPACTED,
                purpose=f"changelog of the {table} table: {purpose}",
            )
            for table, purpose in TABLES.items()
        ],
        TopicSpec(
            settings.signals_topic,
            partitions,
            replicas,
            purpose="enriched events: joined events with their signals",
        ),
        *[
            TopicSpec(settings.task_topic(queue), partitions, replicas, purpose=f"tasks for the {queue} queue")
            for queue in settings.queues
        ],
        TopicSpec(settings.shadow_task_topic, partitions, replicas, purpose="tasks shadow rules would propose"),
        TopicSpec(settings.outcomes_topic, partitions, replicas, purpose="what agents did with tasks"),
        TopicSpec(settings.closures_topic, partitions, replicas, purpose="tasks superseded by newer facts"),
        # One partition: every worker reads all of it, in publishing order.
        TopicSpec(settings.rules_topic, 1, replicas, config=COMPACTED, purpose="published rule packs"),
        TopicSpec(settings.snoozes_topic, 1, replicas, config=COMPACTED, purpose="rule snoozes"),
        TopicSpec(
            settings.dead_letter_topic,
            partitions,
            replicas,
            # Dead letters are kept long enough for someone to look at them after a holiday.
            config={"retention.ms": str(30 * DAY_MS)},
            purpose="rejected input with reason and origin",
        ),
    ]


def ensure_topics(bootstrap_servers: str, specs: list[TopicSpec]) -> list[str]:
    """Create the topics of ``specs`` that do not exist yet; return the names created.

    Idempotent: existing topics are left as they are (their partition count included).
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), client_id="ctxi-admin")
    try:
        existing = set(admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        created = []
        for spec in missing:
            try:
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, spec.replication_factor, topic_configs=spec.config)]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass  # another worker created it between list and create
        return created
    finally:
        admin.close()


@dataclass(frozen=True)
class TopicState:
    """A catalogue topic as the broker has it: size, settings and each consumer group's lag."""

    spec: TopicSpec
    exists: bool
    partitions: int = 0
    replication_factor: int = 0
    config: dict[str, str] = field(default_factory=dict)  # what differs from the broker's defaults
    messages: int = 0  # held now: log end less log start, over the partitions
    lag: dict[str, dict[int, int]] = field(default_factory=dict)  # group -> partition -> messages behind


def describe_topics(bootstrap_servers: str, specs: list[TopicSpec]) -> list[TopicState]:
    """What the broker holds for each of ``specs``, with the lag of every group that committed on it."""
    servers = bootstrap_servers.split(",")
    admin = KafkaAdminClient(bootstrap_servers=servers, client_id="ctxi-admin")
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    try:
        existing = set(admin.list_topics())
        present = [spec for spec in specs if spec.name in existing]
        metadata = {topic["name"]: topic for topic in admin.describe_topics([s.name for s in present])}
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, s.name) for s in present])
        partitions = [
            TopicPartition(name, p["partition_index"]) for name, topic in metadata.items() for p in topic["partitions"]
        ]
        ends = consumer.end_offsets(partitions) if partitions else {}
        starts = consumer.beginning_offsets(partitions) if partitions else {}
        groups = [group["group_id"] for group in admin.list_groups()]
        committed = admin.list_group_offsets(groups) if groups else {}
        states = []
        for spec in specs:
            topic = metadata.get(spec.name)
            if topic is None:
                states.append(TopicState(spec, exists=False))
                continue
            mine = [tp for tp in partitions if tp.topic == spec.name]
            lag: dict[str, dict[int, int]] = {}
            for group, offsets in committed.items():
                behind = {
                    tp.partition: max(0, ends[tp] - offsets[tp].offset)
                    for tp in mine
                    if tp in offsets and offsets[tp].offset >= 0  # -1: nothing committed there
                }
                if behind:
                    lag[group] = behind
            states.append(
                TopicState(
                    spec,
                    exists=True,
                    partitions=len(topic["partitions"]),
                    replication_factor=max((len(p["replica_nodes"]) for p in topic["partitions"]), default=0),
                    config={k: v["value"] for k, v in configs.get("topic", {}).get(spec.name, {}).items()},
                    messages=sum(ends[tp] - starts[tp] for tp in mine),
                    lag=lag,
                )
            )
        return states
    finally:
        consumer.close()
        admin.close()


def read_to_end(bootstrap_servers: str, topics: list[str], stall_seconds: float = 60.0) -> list[bytes]:
    """Every value on ``topics`` (all partitions) from the beginning to where each ends now,
    without joining a group; missing topics read as empty. :class:`KafkaTimeoutError` if no
    record comes for ``stall_seconds`` before the ends are reached."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers.split(","), enable_auto_commit=False)
    values: list[bytes] = []
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return values
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        progress_at = time.monotonic()
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            batch = consumer.poll(timeout_ms=1000)
            if batch:
                progress_at = time.monotonic()
            elif time.monotonic() - progress_at > stall_seconds:
                raise KafkaTimeoutError(f"reading {', '.join(topics)}: no record for {stall_seconds:.0f} s")
            for records in batch.values():
                values.extend(record.value for record in records if record.value is not None)
    finally:
        consumer.close()
    return values

"""The topic catalogue: every topic ctxi reads or writes, and how to create them.

Topics are created up front (``ctxi topics create``, and by ``ctxi worker`` before it
starts) because a faust agent that subscribes to a missing topic waits silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from ctxi.streams.settings import Settings

DAY_MS = 24 * 60 * 60 * 1000
COMPACTED = {"cleanup.policy": "compact"}


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

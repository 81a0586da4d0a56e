"""Feed events to a worker one at a time and collect what comes out, on a namespace's topics."""

from __future__ import annotations

import time

import orjson
from faust.serializers import codecs
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from ctxi.agents.codecs import ENRICHED_CODEC, TASK_CODEC
from ctxi.engine.pipeline import EnrichedEvent
from ctxi.ingest.outcomes import sign
from ctxi.schemas.task import Task, TaskOutcome
from ctxi.settings import Settings
from ctxi.sinks.redis import outcome_keys
from ctxi.streams.topics import changelog_topic
from tests.integration.conftest import Namespace


class Pipeline:
    """Feeds events one at a time and collects what comes out, on a namespace's topics."""

    def __init__(self, namespace: Namespace) -> None:
        self.settings = namespace.settings
        self.producer = KafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap_servers, acks="all")
        self.task_topics = {self.settings.task_topic(queue) for queue in self.settings.queues}
        # an event keyed by customer is joined where ingest reads it: its context's changelog
        # record says it went through; one that takes the repartition shows on the by-customer topic
        self.contexts_topic = changelog_topic(self.settings, "customer_context")
        topics = {
            self.settings.events_by_customer_topic,
            self.contexts_topic,
            self.settings.signals_topic,
            self.settings.shadow_task_topic,
            *self.task_topics,
        }
        self.consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
        )
        # a worker just started may not have created its topics yet; subscribed before they
        # exist, this group-less consumer would only see them at its next metadata refresh
        # (minutes): an event joined where it is read then never seemed to come through
        deadline = time.monotonic() + 60
        while missing := topics - self.consumer.topics():
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker did not create its topics in 60 s: {sorted(missing)}")
            time.sleep(0.2)
        self.consumer.subscribe(sorted(topics))
        self.forwarded: list[bytes] = []
        self.enriched: list[EnrichedEvent] = []
        self.tasks: list[Task] = []
        self.shadow_tasks: list[Task] = []
        # kafka-python may fetch a record again after a metadata change (a worker starting
        # creates topics); a record is its topic, partition and offset, so count it once.
        self._seen: set[tuple[str, int, int]] = set()
        self.fed: set[str] = set()

    def feed(self, raw: bytes, timeout: float = 60.0, quiet: float = 0.4) -> None:
        """Produce one event; return once it went through ingest and the pipeline fell quiet.

        An event fed before is a duplicate: the worker writes nothing for it when it joins it
        where it reads it, so only the quiet is waited for (:func:`wait_until_consumed` checks
        that the worker took it)."""
        document = orjson.loads(raw)
        topic = self.settings.input_topic(document["type"].partition(".")[0])
        self.producer.send(topic, key=document.get("customer_id", "").encode(), value=raw).get(timeout=30)
        marker = f'"event_id":"{document["event_id"]}"'.encode()
        seen_at = time.monotonic() if document["event_id"] in self.fed else None
        self.fed.add(document["event_id"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = self.consumer.poll(timeout_ms=100)
            records = [
                record
                for records in batch.values()
                for record in records
                if (record.topic, record.partition, record.offset) not in self._seen
            ]
            self._seen.update((record.topic, record.partition, record.offset) for record in records)
            for record in records:
                if record.topic == self.settings.signals_topic:
                    self.enriched.append(codecs.loads(ENRICHED_CODEC, record.value))
                elif record.topic in self.task_topics:
                    self.tasks.append(codecs.loads(TASK_CODEC, record.value))
                elif record.topic == self.settings.shadow_task_topic:
                    self.shadow_tasks.append(codecs.loads(TASK_CODEC, record.value))
                elif record.topic == self.contexts_topic:
                    if record.value is not None and marker in record.value:
                        seen_at = time.monotonic()
                else:
                    self.forwarded.append(record.value)
                    if marker in record.value:
                        seen_at = time.monotonic()
            if records and seen_at:
                seen_at = time.monotonic()
            if seen_at is not None and time.monotonic() - seen_at >= quiet:
                return
        raise AssertionError(f"event {document['event_id']} did not come through in {timeout}s")

    def close(self) -> None:
        self.producer.close()
        self.consumer.close()


def report_outcomes(settings: Settings, outcomes: list[TaskOutcome], signed: bool = True) -> None:
    """Send ``outcomes`` to the namespace's outcomes topic as a gateway does (signed with the key
    its workers check by), or unsigned as any other writer of the topic would."""
    key = outcome_keys(settings.redis_url, settings.redis_prefix, [])[0]
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    for outcome in outcomes:
        value = sign(outcome, key) if signed else outcome
        producer.send(settings.outcomes_topic, key=outcome.customer_id.encode(), value=value.model_dump_json().encode())
    producer.flush()
    producer.close()


def read_outcomes(settings: Settings, timeout: float = 20.0) -> list[TaskOutcome]:
    """The outcomes on the namespace's outcomes topic, waiting up to ``timeout`` for the first."""
    consumer = KafkaConsumer(
        settings.outcomes_topic, bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    deadline, outcomes = time.monotonic() + timeout, []
    while not outcomes and time.monotonic() < deadline:
        outcomes = [TaskOutcome.model_validate_json(r.value) for rs in consumer.poll(1000).values() for r in rs]
    consumer.close()
    return outcomes


def wait_until_consumed(settings: Settings, timeout: float = 30.0) -> None:
    """Wait until the worker has committed every input topic to its end: it took every message."""
    servers = settings.kafka_bootstrap_servers
    admin, consumer = KafkaAdminClient(bootstrap_servers=servers), KafkaConsumer(bootstrap_servers=servers)
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in settings.input_topics
            for partition in consumer.partitions_for_topic(topic) or ()
        ]
        ends = {tp: end for tp, end in consumer.end_offsets(partitions).items() if end}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            committed = admin.list_group_offsets(settings.app_id).get(settings.app_id, {})
            behind = {tp: end for tp, end in ends.items() if tp not in committed or committed[tp].offset < end}
            if not behind:
                return
            time.sleep(0.5)
        raise AssertionError(f"the worker did not commit these input partitions to their end: {behind}")
    finally:
        admin.close()
        consumer.close()

"""Feed events to a worker one at a time and collect what comes out, on a namespace's topics."""

from __future__ import annotations

import time

import orjson
from faust.serializers import codecs
from kafka import KafkaConsumer, KafkaProducer

from ctxi.engine.pipeline import EnrichedEvent
from ctxi.schemas.task import Task, TaskOutcome
from ctxi.streams.codecs import ENRICHED_CODEC, TASK_CODEC
from ctxi.streams.settings import Settings
from tests.integration.conftest import Namespace


class Pipeline:
    """Feeds events one at a time and collects what comes out, on a namespace's topics."""

    def __init__(self, namespace: Namespace) -> None:
        self.settings = namespace.settings
        self.producer = KafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap_servers, acks="all")
        self.task_topics = {self.settings.task_topic(queue) for queue in self.settings.queues}
        self.consumer = KafkaConsumer(
            self.settings.events_by_customer_topic,
            self.settings.signals_topic,
            self.settings.shadow_task_topic,
            *self.task_topics,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
        )
        self.forwarded: list[bytes] = []
        self.enriched: list[EnrichedEvent] = []
        self.tasks: list[Task] = []
        self.shadow_tasks: list[Task] = []
        # kafka-python may fetch a record again after a metadata change (a worker starting
        # creates topics); a record is its topic, partition and offset, so count it once.
        self._seen: set[tuple[str, int, int]] = set()

    def feed(self, raw: bytes, timeout: float = 60.0, quiet: float = 0.4) -> None:
        """Produce one event; return once it went through ingest and the pipeline fell quiet."""
        document = orjson.loads(raw)
        topic = self.settings.input_topic(document["type"].partition(".")[0])
        self.producer.send(topic, key=document.get("customer_id", "").encode(), value=raw).get(timeout=30)
        marker = f'"event_id":"{document["event_id"]}"'.encode()
        seen_at = None
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

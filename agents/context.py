"""Context agent: the per-customer join, fleet fan-out and enrichment, on faust tables."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

from faust.serializers import codecs as faust_codecs
from faust.types import EventT, FutureMessage, TopicT

from ctxi.context import fleet
from ctxi.engine.pipeline import Engine, Output, RowExpiry
from ctxi.features import entities
from ctxi.ingest import processing_failure
from ctxi.schemas.dead_letter import KafkaOrigin
from ctxi.streams.acks import StoresInOrder, process_each
from ctxi.streams.app import (
    app,
    closures_topic,
    customer_contexts,
    dead_letter_topic,
    entity_features,
    events_by_customer_topic,
    fleet_index,
    settings,
    shadow_task_topic,
    signals_topic,
    task_topics,
)
from ctxi.streams.metrics import (
    DEAD_LETTERS,
    EVENT_TO_TASK_SECONDS,
    FEATURES_FAILED,
    RULES_FAILED,
    RULES_FIRED,
    STAGE_SECONDS,
    TABLE_KEYS,
    TASKS_OUT,
)

logger = logging.getLogger(__name__)
engine = Engine(settings.engine, customer_contexts, fleet_index, entity_features=entity_features)
stores = StoresInOrder()


@app.agent(events_by_customer_topic)
async def join_and_enrich(stream):  # type: ignore[no-untyped-def]
    """Run every routed message through the engine; send on what it returns, then store the state.

    Index entries and fanned-out copies go back to the by-customer topic keyed by
    flight/airport or customer, so each lands on the partition that owns its table row.
    The table rows are written only once the message's outputs (forwards, signals, tasks,
    closures) are on the broker, and the message is acknowledged after that (at-least-once):
    were the changelog written first, a worker dying before its sends left would hand the
    next owner a context that has the event, which would then call the redone message a
    duplicate and the task would be lost. Redone, a task is sent again with the same id,
    and the sinks keep it once. The wait for the broker overlaps the next messages.
    A message the engine fails on (a bug: its input was validated) is dead-lettered with
    the error, and the stream carries on.
    """
    await process_each(stream, decide_send_store)


async def decide_send_store(record: EventT) -> Awaitable[None] | None:
    """Decide and send the outputs; return the store that follows their delivery (None: nothing to store)."""
    message = record.message
    output = None
    try:
        output = engine.decide(record.value)
        outgoing = encoded(output)  # before anything is sent: what a codec refuses is this message's error
    except Exception as error:
        if output is not None:
            engine.discard(output)
        origin = KafkaOrigin(topic=message.topic, partition=message.partition, offset=message.offset)
        logger.exception("engine failed on %s", origin, extra={"origin": origin})
        DEAD_LETTERS.labels("engine_failure").inc()
        await dead_letter_topic.send(key=message.key, value=processing_failure(message.value, origin, error))
        return None
    for stage, seconds in output.timings.items():
        STAGE_SECONDS.labels(stage).observe(seconds)
    for rule_id, version, _ in output.failed_rules:  # each is logged by the rule set, with its message
        RULES_FAILED.labels(rule_id, str(version)).inc()
    for feature_id, _ in output.failed_features:
        FEATURES_FAILED.labels(feature_id).inc()
    deliveries = [await topic.send(key=key, value=value) for topic, key, value in outgoing]
    for decision in output.decisions:
        task = decision.task
        RULES_FIRED.labels(task.rule_id, str(task.rule_version)).inc()
        if not decision.shadow:
            TASKS_OUT.labels(task.queue).inc()
            # the record's time is when ingest forwarded the event: just after it arrived
            EVENT_TO_TASK_SECONDS.observe(max(0.0, time.time() - message.timestamp))
    if not deliveries and not output.changes_rows:
        return None
    return stores.after(deliveries, lambda: store_rows(output))


def encoded(output: Output) -> list[tuple[TopicT, str, bytes]]:
    """Every message ``output`` asks to send, as (topic, key, bytes) in their codecs (faust sends bytes as they are)."""
    messages: list[tuple[TopicT, str, Any]] = [
        (events_by_customer_topic, forward.partition_key, forward) for forward in output.forwards
    ]
    if output.enriched is not None:
        messages.append((signals_topic, output.enriched.customer_id, output.enriched))
    for decision in output.decisions:
        task = decision.task
        messages.append((shadow_task_topic if decision.shadow else task_topics[task.queue], task.customer_id, task))
    messages += [(closures_topic, closure.customer_id, closure) for closure in output.closures]
    return [(topic, key, faust_codecs.dumps(topic.value_serializer, value)) for topic, key, value in messages]


def store_rows(output: Output) -> list[FutureMessage]:
    """Write what ``output`` changed; return the changelog records that carry it."""
    engine.store(output)
    return [*customer_contexts.take_sent(), *fleet_index.take_sent(), *entity_features.take_sent()]


@app.timer(interval=settings.sweep_seconds)
async def sweep_rows() -> None:
    """Ask for each fleet index and entity feature row nobody needs any more to be dropped.

    A flight's row outlives its flight, an airport's its travellers, a card's feature the
    window of its last event: without this the tables grow with every flight and card ever
    seen. The expiry travels through the row's partition, where the context agent checks it
    again and deletes the row (a tombstone in the changelog): a table is only written while
    handling one of its partition's messages.
    """
    if engine.stream_time is None:
        return
    # Never ahead of the wall clock: an event dated ahead of it (ingest lets a day through)
    # must not expire bookings that real time still needs.
    as_of = min(engine.stream_time, datetime.now(UTC))
    keep = timedelta(hours=settings.engine.itinerary_keep_hours)
    expired = [
        *(("fleet_index", key) for key, index in list(fleet_index.items()) if fleet.is_expired(index, as_of, keep)),
        *(("entity_features", key) for key, row in list(entity_features.items()) if entities.is_expired(row, as_of)),
    ]
    for table, key in expired:
        await events_by_customer_topic.send(key=key, value=RowExpiry(table=table, key=key, as_of=as_of))
    if expired:
        logger.info("asked to drop %d fleet index and entity feature rows (as of %s)", len(expired), as_of.isoformat())


@app.timer(interval=5.0)
async def measure_tables() -> None:
    """Refresh the table-size gauges (the keys of the partitions this worker holds)."""
    TABLE_KEYS.labels("customer_context").set(len(customer_contexts))
    TABLE_KEYS.labels("fleet_index").set(len(fleet_index))
    TABLE_KEYS.labels("entity_features").set(len(entity_features))

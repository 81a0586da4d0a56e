"""Context agent: the per-customer join, fleet fan-out and enrichment, on faust tables."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

import faust
from faust.serializers import codecs as faust_codecs
from faust.types import TP, FutureMessage, Message, StreamT

from ctxi.context import fleet
from ctxi.engine.pipeline import Message as Routed
from ctxi.engine.pipeline import Output, RowExpiry
from ctxi.engine.rows import EncodedRows
from ctxi.features import entities
from ctxi.schemas.dead_letter import KafkaOrigin, processing_failure
from ctxi.streams.acks import aborted_partitions, process_each
from ctxi.streams.metrics import (
    DEAD_LETTERS,
    ENTITY_ROWS_EVICTED,
    EVENT_TO_TASK_SECONDS,
    FEATURES_FAILED,
    LATE_EVENTS,
    RULES_FAILED,
    RULES_FIRED,
    STAGE_SECONDS,
    TABLE_KEYS,
    TASKS_OUT,
)

if TYPE_CHECKING:
    from ctxi.agents.worker import Worker
    from ctxi.streams.app import Topics

logger = logging.getLogger(__name__)
Row = TypeVar("Row")


def install(worker: Worker) -> None:
    app = worker.app
    aborted_partitions.on_abort(worker.engine.forget_unstored)

    @app.agent(worker.topics.events_by_customer, name=f"{__name__}.join_and_enrich")
    async def join_and_enrich(stream: StreamT[Any]) -> None:
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
        # the topic's codec made each value a Routed (ROUTED_ADAPTER)
        await process_each(stream, lambda record: decide_send_store(worker, record.message, cast(Routed, record.value)))

    @app.timer(interval=worker.settings.sweep_seconds, name=f"{__name__}.sweep_rows")
    async def sweep() -> None:
        await sweep_rows(worker)

    @app.timer(interval=worker.settings.customer_view_seconds, name=f"{__name__}.write_customer_views")
    async def write_customer_views() -> None:
        """The views of the customers whose rows were stored since the last time, from those rows."""
        assert isinstance(worker.engine.contexts, EncodedRows)
        await worker.customer_views.flush(worker.engine.contexts)

    @app.timer(interval=5.0, name=f"{__name__}.measure_tables")
    async def measure() -> None:
        measure_tables(worker)


async def decide_send_store(worker: Worker, message: Message, routed: Routed) -> Awaitable[None] | None:
    """Decide ``routed`` (read as ``message``) and send the outputs; return the store that follows
    their delivery (None: nothing to store)."""
    engine, topics = worker.engine, worker.topics
    output = None
    try:
        output = engine.decide(routed)
        # before anything is sent: what a codec refuses is this message's error
        outgoing = encoded(topics, output, worker.settings.publish_signals)
    except Exception as error:
        if output is not None:
            engine.discard(output)
        origin = KafkaOrigin(topic=message.topic, partition=message.partition, offset=message.offset)
        logger.exception("engine failed on %s", origin, extra={"origin": origin})
        DEAD_LETTERS.labels("engine_failure").inc()
        await topics.dead_letters.send(key=message.key, value=processing_failure(message.value or b"", origin, error))
        return None
    for stage, seconds in output.timings.items():
        STAGE_SECONDS.labels(stage).observe(seconds)
    for rule_id, version, _ in output.failed_rules:  # each is logged by the rule set, with its message
        RULES_FAILED.labels(rule_id, str(version)).inc()
    for feature_id, _ in output.failed_features:
        FEATURES_FAILED.labels(feature_id).inc()
    if output.late:
        LATE_EVENTS.inc()
    if output.outcome == "entity_counted" and output.dropped is not None:
        ENTITY_ROWS_EVICTED.inc()
    deliveries = [await topic.send(key=key, value=value) for topic, key, value in outgoing]
    for decision in output.decisions:
        task = decision.task
        RULES_FIRED.labels(task.rule_id, str(task.rule_version)).inc()
        if not decision.shadow:
            TASKS_OUT.labels(task.queue).inc()
            # the record's time: when its source produced it (joined where read) or ingest forwarded it
            EVENT_TO_TASK_SECONDS.observe(max(0.0, time.time() - message.timestamp))
    if not deliveries and not output.changes_rows:
        return None
    epoch = aborted_partitions.epoch(message.tp)
    return worker.stores.after(deliveries, lambda: store_rows(worker, output, message.tp, epoch))


def encoded(topics: Topics, output: Output, publish_signals: bool) -> list[tuple[faust.Topic, str, bytes]]:
    """Every message ``output`` asks to send, as (topic, key, bytes) in their codecs (faust sends bytes as they are);
    the enriched event only if ``publish_signals`` (CTXI_PUBLISH_SIGNALS)."""
    messages: list[tuple[faust.Topic, str, Any]] = [
        (topics.events_by_customer, forward.partition_key, forward) for forward in output.forwards
    ]
    if output.enriched is not None and publish_signals:
        messages.append((topics.signals, output.enriched.customer_id, output.enriched))
    for decision in output.decisions:
        task = decision.task
        messages.append((topics.shadow_tasks if decision.shadow else topics.tasks[task.queue], task.customer_id, task))
    messages += [(topics.closures, closure.customer_id, closure) for closure in output.closures]
    return [(topic, key, faust_codecs.dumps(topic.value_serializer, value)) for topic, key, value in messages]


def store_rows(worker: Worker, output: Output, tp: TP, epoch: int) -> list[FutureMessage]:
    """Write what ``output`` changed; return the changelog records that carry it. Nothing, if the
    transaction of its message's partition (``tp``, at ``epoch`` when decided) was aborted since:
    the message is redone from what is stored (streams/acks.py, AbortedPartitions)."""
    if aborted_partitions.epoch(tp) != epoch:
        worker.engine.discard(output)
        return []
    worker.engine.store(output)
    if output.context is not None:
        worker.customer_views.add(output.context.customer_id, output.event)
    return [record for table in worker.tables for record in table.take_sent()]


async def sweep_rows(worker: Worker) -> None:
    """Ask for each fleet index and entity feature row nobody needs any more to be dropped.

    A flight's row outlives its flight, an airport's its travellers, a card's feature the
    window of its last event: without this the tables grow with every flight and card ever
    seen. The expiry travels through the row's partition, where the context agent checks it
    again and deletes the row (a tombstone in the changelog): a table is only written while
    handling one of its partition's messages.
    """
    engine = worker.engine
    if engine.stream_time is None:
        return
    # Never ahead of the wall clock: an event dated ahead of it (ingest lets a day through)
    # must not expire bookings that real time still needs.
    as_of = min(engine.stream_time, datetime.now(UTC))
    keep = timedelta(hours=worker.settings.engine.itinerary_keep_hours)
    expired = [
        *[
            ("fleet_index", key)
            async for key in _expired(engine.fleet_index, lambda row: fleet.is_expired(row, as_of, keep))
        ],
        *[
            ("entity_features", key)
            async for key in _expired(engine.entity_features, lambda row: entities.is_expired(row, as_of))
        ],
    ]
    for table, key in expired:
        await worker.topics.events_by_customer.send(key=key, value=RowExpiry(table=table, key=key, as_of=as_of))
    if expired:
        logger.info("asked to drop %d fleet index and entity feature rows (as of %s)", len(expired), as_of.isoformat())


async def _expired(rows: MutableMapping[str, Row], is_expired: Callable[[Row], bool]) -> AsyncIterator[str]:
    """The keys of ``rows`` (``engine/rows.py``, decoded one at a time, read only) whose row ``is_expired``,
    letting other work run every thousand rows: a table can hold 100,000 of them."""
    assert isinstance(rows, EncodedRows)
    for count, key in enumerate(list(rows), start=1):
        row = rows.peek(key)  # None: deleted since the keys were listed
        if row is not None and is_expired(row):
            yield key
        if count % 1_000 == 0:
            await asyncio.sleep(0)


def measure_tables(worker: Worker) -> None:
    """Refresh the table-size gauges (the keys of the partitions this worker holds)."""
    for table in worker.tables:
        TABLE_KEYS.labels(table.name).set(len(table))

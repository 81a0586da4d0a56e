"""Ingest agent: input topics -> validated events joined where read or re-keyed by customer, or dead letters."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from functools import partial
from typing import TYPE_CHECKING

from faust.serializers import codecs as faust_codecs
from faust.types import EventT, StreamT

from ctxi.agents.context import decide_send_store
from ctxi.ingest import validate_event
from ctxi.schemas.dead_letter import DeadLetter, KafkaOrigin, processing_failure
from ctxi.streams.acks import process_each
from ctxi.streams.metrics import DEAD_LETTERS, EVENTS_IN, FEATURES_FAILED, STAGE_SECONDS

if TYPE_CHECKING:
    from ctxi.agents.worker import Worker

ingest_seconds = STAGE_SECONDS.labels("ingest")

logger = logging.getLogger(__name__)


def install(worker: Worker) -> None:
    @worker.app.agent(worker.topics.inputs, name=f"{__name__}.ingest")
    async def ingest(stream: StreamT[bytes]) -> None:
        """Validate every input message; decide it here or forward it by ``partition_key``.

        A valid event's partition key is its customer, or, when entity features count it,
        the first entity row it visits on its way to the customer. When that key's
        by-customer partition is the one the event was read from (its source keyed it by
        customer), the engine decides it here, as the context agent would: one hop. Else it
        goes to the by-customer topic under that key (the repartition). Anything invalid goes
        to the dead-letter topic with the original bytes, the reason and the
        topic/partition/offset it came from. A bad message is never raised: the stream moves on.
        """
        await process_each(stream, partial(validate_and_route, worker))


async def validate_and_route(worker: Worker, record: EventT) -> Awaitable[None] | None:
    """Validate, then decide the event here if its partition key belongs to this partition (the
    input was keyed like the by-customer topic), else forward it there; see :func:`decide_send_store`
    for what the returned awaitable is."""
    message = record.message
    origin = KafkaOrigin(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key.decode("utf-8", "replace") if message.key is not None else None,
    )
    started = time.perf_counter()
    outcome = validate_event(message.value, origin, window=worker.settings.event_time)
    ingest_seconds.observe(time.perf_counter() - started)
    if isinstance(outcome, DeadLetter):
        DEAD_LETTERS.labels(outcome.errors[0].type if outcome.errors else "unknown").inc()
        # The reason names fields, never their values: no personal data in logs.
        logger.warning(
            "dead letter from %s: %s",
            origin,
            outcome.reason,
            extra={"event_id": outcome.event_id, "origin": origin},
        )
        await worker.topics.dead_letters.send(key=message.key, value=outcome)
        return None
    try:
        routed, failures = worker.engine.route(outcome)
        here = worker.decides_where_read(message, routed.partition_key)
        value = None if here else faust_codecs.dumps(worker.topics.events_by_customer.value_serializer, routed)
    except Exception as error:  # validated, yet no codec carries it: a bug, kept with the error
        logger.exception("cannot route or encode %s from %s", outcome.event_id, origin, extra={"origin": origin})
        DEAD_LETTERS.labels("encode_error").inc()
        await worker.topics.dead_letters.send(
            key=message.key, value=processing_failure(message.value or b"", origin, error)
        )
        return None
    for feature_id, reason in failures:  # the event still goes on: the customer's rules read the feature empty
        logger.warning("feature %s failed on %s: %s", feature_id, outcome.event_id, reason)
        FEATURES_FAILED.labels(feature_id).inc()
    EVENTS_IN.labels(outcome.source, outcome.type).inc()
    if here:  # keyed as the by-customer topic is: the context agent's work, done here
        return await decide_send_store(worker, message, routed)
    await worker.topics.events_by_customer.send(key=routed.partition_key, value=value)
    return None

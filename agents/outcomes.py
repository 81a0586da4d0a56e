"""Outcomes agent: what agents did with tasks goes back to the customer's context."""

from __future__ import annotations

from faust.types import EventT

from ctxi.streams import codecs
from ctxi.streams.acks import process_each
from ctxi.streams.app import app, events_by_customer_topic, settings

outcomes_topic = app.topic(
    settings.outcomes_topic, key_type=str, key_serializer="raw", value_serializer=codecs.OUTCOME_CODEC
)


@app.agent(outcomes_topic)
async def outcomes_to_context(stream):  # type: ignore[no-untyped-def]
    """Re-key each outcome onto the by-customer topic, where the context agent records it."""
    await process_each(stream, rekey_outcome)


async def rekey_outcome(record: EventT) -> None:
    await events_by_customer_topic.send(key=record.value.partition_key, value=record.value)

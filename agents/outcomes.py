"""Outcomes agent: what agents did with tasks goes back to the customer's context."""

from __future__ import annotations

from ctxi.streams import codecs
from ctxi.streams.app import app, events_by_customer_topic, settings

outcomes_topic = app.topic(
    settings.outcomes_topic, key_type=str, key_serializer="raw", value_serializer=codecs.OUTCOME_CODEC
)


@app.agent(outcomes_topic)
async def outcomes_to_context(stream):  # type: ignore[no-untyped-def]
    """Re-key each outcome onto the by-customer topic, where the context agent records it."""
    async for outcome in stream:
        await events_by_customer_topic.send(key=outcome.partition_key, value=outcome)

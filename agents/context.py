"""Context agent: the per-customer join, fleet fan-out and enrichment, on faust tables."""

from __future__ import annotations

from ctxi.engine.pipeline import Engine
from ctxi.streams.app import app, customer_contexts, events_by_customer_topic, fleet_index, settings, signals_topic

engine = Engine(settings.engine, customer_contexts, fleet_index)


@app.agent(events_by_customer_topic)
async def join_and_enrich(stream):  # type: ignore[no-untyped-def]
    """Run every routed message through the engine; send on what it returns.

    Index entries and fanned-out copies go back to the by-customer topic keyed by
    flight/airport or customer, so each lands on the partition that owns its table row.
    """
    async for message in stream:
        output = engine.handle(message)
        for forward in output.forwards:
            await events_by_customer_topic.send(key=forward.partition_key, value=forward)
        if output.enriched is not None:
            await signals_topic.send(key=output.enriched.customer_id, value=output.enriched)

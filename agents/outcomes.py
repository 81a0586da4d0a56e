"""Outcomes agent: what agents did with tasks goes back to the customer's context."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ctxi.streams.acks import process_each

if TYPE_CHECKING:
    from ctxi.agents.worker import Worker


def install(worker: Worker) -> None:
    by_customer = worker.topics.events_by_customer

    @worker.app.agent(worker.topics.outcomes, name=f"{__name__}.outcomes_to_context")
    async def outcomes_to_context(stream):  # type: ignore[no-untyped-def]
        """Re-key each outcome onto the by-customer topic, where the context agent records it."""

        async def rekey(record):  # type: ignore[no-untyped-def]
            await by_customer.send(key=record.value.partition_key, value=record.value)

        await process_each(stream, rekey)

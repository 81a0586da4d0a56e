"""Outcomes agent: what agents did with tasks goes back to the customer's context, once proven.

An outcome a gateway did not sign, or whose times make no sense (ingest/outcomes.py), is
dead-lettered with the reason and counted: it never reaches the contact policy.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from faust.types import EventT, StreamT

from ctxi.ingest.outcomes import outcome_problem
from ctxi.schemas.dead_letter import KafkaOrigin, refused
from ctxi.schemas.task import TaskOutcome
from ctxi.streams.acks import process_each, value_of
from ctxi.streams.metrics import DEAD_LETTERS

if TYPE_CHECKING:
    from ctxi.agents.worker import Worker

logger = logging.getLogger(__name__)


def install(worker: Worker) -> None:
    by_customer = worker.topics.events_by_customer

    @worker.app.agent(worker.topics.outcomes, name=f"{__name__}.outcomes_to_context")
    async def outcomes_to_context(stream: StreamT[TaskOutcome]) -> None:
        """Re-key each proven outcome onto the by-customer topic, where the context agent records it."""

        async def rekey(record: EventT[TaskOutcome]) -> None:
            outcome, message = value_of(record, TaskOutcome), record.message
            keys = await worker.outcome_keys.wait()  # Redis away at start: the outcomes wait, unacknowledged
            problem = outcome_problem(outcome, keys, datetime.now(UTC))
            if problem is None:
                await by_customer.send(key=outcome.partition_key, value=outcome)
                return
            origin = KafkaOrigin(topic=message.topic, partition=message.partition, offset=message.offset)
            DEAD_LETTERS.labels("untrusted_outcome").inc()
            logger.warning("outcome of %r not believed: %s", outcome.task_id, problem, extra={"origin": origin})
            await worker.topics.dead_letters.send(
                key=message.key, value=refused(message.value or b"", origin, "untrusted_outcome", f"outcome: {problem}")
            )

        await process_each(stream, rekey)

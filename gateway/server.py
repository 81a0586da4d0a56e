"""Run the gateway: Redis for tasks, a Kafka producer for outcomes, aiohttp for the API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from aiohttp import web
from aiokafka import AIOKafkaProducer
from redis.exceptions import RedisError

from ctxi.gateway.app import create_app
from ctxi.gateway.auth import Directory
from ctxi.gateway.metrics import (
    DOCUMENT_STALE,
    ESCALATIONS,
    QUEUE_BACKLOG,
    QUEUE_OLDEST_WAITING,
    SERVICE_LEVEL_BREACHES,
    SWEEP_FAILURES,
)
from ctxi.ingest.outcomes import sign
from ctxi.schemas.task import TaskOutcome
from ctxi.service_levels.policy import LoadedPolicy, PolicyFile
from ctxi.settings import Settings
from ctxi.sinks.customer_view_store import CustomerViewKeys, CustomerViewStore
from ctxi.sinks.redis import RedisTaskStore, connect_redis, outcome_keys

logger = logging.getLogger(__name__)


async def watch_deadlines(store: RedisTaskStore, policy: LoadedPolicy | None, queue: str) -> None:
    """Act on the tasks of ``queue`` past a deadline: record and announce each breach once (an
    unclaimed task past ``claim_by``, a claimed one still open past ``resolve_by``), and (with a
    policy) escalate each unclaimed task whose next stage is due, once per stage, whichever
    gateway's sweep gets there first (the store's scripts decide).

    Only what the claim and resolve watches say is due is read; an unclaimed task is then put
    back for its next stage (a deferred one, for when it shows), or out when no stage is left.
    """
    now = datetime.now(UTC)
    for task in await store.due_for_resolving(queue, now):
        if await store.breach(task, "resolve"):
            SERVICE_LEVEL_BREACHES.labels(queue, "resolve").inc()
    for task, holder in await store.due_for_a_look(queue, now):
        if holder is not None:  # claimed since it was indexed
            await store.look_again(task, None)
            continue
        if task.not_before is not None and task.not_before > now:
            await store.look_again(task, task.not_before)
            continue
        if await store.breach(task, "claim"):
            SERVICE_LEVEL_BREACHES.labels(queue, "claim").inc()
        due = policy.escalation_due(task, now) if policy is not None else None
        if due is not None and await store.escalate(task, *due, now):
            ESCALATIONS.labels(queue, str(due[0])).inc()
            logger.info("escalated %s (%s) to stage %d: +%d", task.task_id, queue, *due)
        await store.look_again(task, policy.next_escalation(task, now) if policy is not None else None)


def build(settings: Settings) -> web.Application:
    store = RedisTaskStore(connect_redis(settings.redis_url), settings.redis_prefix)
    policy = PolicyFile(settings.sla_policy, frozenset(settings.queues)) if settings.sla_policy else None
    # aiokafka binds its producer to the running loop, so it is made when the app starts.
    producers: list[AIOKafkaProducer] = []

    signing_keys: list[bytes] = []  # read at the first close: Redis may be away when the gateway starts

    async def send_outcome(outcome: TaskOutcome) -> None:
        if not signing_keys:
            configured = [key.get_secret_value() for key in settings.outcome_keys]
            signing_keys[:] = await asyncio.to_thread(
                outcome_keys, settings.redis_url, settings.redis_prefix, configured
            )
        signed = sign(outcome, signing_keys[0])  # workers believe only what a gateway signed
        await producers[0].send_and_wait(
            settings.outcomes_topic, key=outcome.customer_id.encode(), value=signed.model_dump_json().encode()
        )

    async def sweep() -> None:
        """Announce deferred tasks as they become visible and expired ones as they go, record and
        announce missed deadlines, escalate unclaimed tasks whose stage is due (a gateway that
        was away catches up in one step: the latest stage due, with the points of every stage
        before it), and measure each queue's backlog and its oldest waiting task."""
        indexed: set[str] = set()  # queues whose tasks from before the deadline watches are in them
        while True:
            in_force = policy.current() if policy is not None else None
            if policy is not None:
                DOCUMENT_STALE.labels("sla_policy").set(int(policy.stale))
            for queue in settings.queues:
                try:
                    await store.release_deferred(queue)
                    await store.remove_expired(queue)
                    if queue not in indexed:
                        await store.index_deadlines(queue)
                        indexed.add(queue)
                    await watch_deadlines(store, in_force, queue)
                    backlog, oldest = await store.waiting(queue)
                    QUEUE_BACKLOG.labels(queue).set(backlog)
                    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
                    QUEUE_OLDEST_WAITING.labels(queue).set(max(0.0, age))
                except (RedisError, OSError) as exc:
                    SWEEP_FAILURES.labels(queue).inc()
                    logger.warning("sweeping queue %s failed: %s", queue, exc)
                except Exception:  # a task or a bug the sweep did not expect: the next sweep goes on
                    SWEEP_FAILURES.labels(queue).inc()
                    logger.exception("sweeping queue %s failed", queue)
            await asyncio.sleep(settings.desktop_sweep_seconds)

    async def kafka_and_redis(app: web.Application) -> AsyncIterator[None]:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","), acks="all")
        await producer.start()
        producers.append(producer)
        sweeper = asyncio.create_task(sweep())
        yield
        sweeper.cancel()
        await producer.stop()
        await store.client.aclose()

    customer_views = CustomerViewStore(
        store.client, CustomerViewKeys(settings.redis_prefix), int(settings.customer_view_days * 86400)
    )
    app = create_app(
        store, Directory(settings.agents), send_outcome, settings.desktop_max_streams_per_agent, customer_views
    )
    app.cleanup_ctx.append(kafka_and_redis)
    return app

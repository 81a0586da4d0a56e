"""Tasks in the real Redis: priority order, idempotent writes, deferral, expiry; and from a worker."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson

from ctxi.sinks.redis import RedisTaskStore, connect_redis
from tests.factories import make_task
from tests.integration.conftest import Namespace, WorkerFactory
from tests.integration.pipeline import Pipeline


def store_for(redis_url: str) -> RedisTaskStore:
    return RedisTaskStore(connect_redis(redis_url), prefix=f"test-{uuid.uuid4().hex[:8]}")


def fresh(**fields):
    now = datetime.now(UTC).replace(microsecond=0)
    return make_task(**{"created_at": now, "expires_at": now + timedelta(hours=1), **fields})


async def test_queue_lists_by_priority_then_age_and_writes_are_idempotent(redis_url: str) -> None:
    store = store_for(redis_url)
    now = datetime.now(UTC).replace(microsecond=0)
    older = fresh(task_id="older", priority=70, created_at=now - timedelta(minutes=5))
    newer = fresh(task_id="newer", priority=70)
    urgent = fresh(task_id="urgent", priority=95)
    for task in (newer, older, urgent):
        assert await store.write(task)
    assert not await store.write(older)  # a reprocessed task: no second entry
    assert [t.task_id for t in await store.list_queue("fraud")] == ["urgent", "older", "newer"]
    assert await store.client.zcard(store.queue_key("fraud")) == 3
    await store.client.aclose()


async def test_a_deferred_task_appears_at_not_before_and_an_expired_one_disappears(redis_url: str) -> None:
    store = store_for(redis_url)
    now = datetime.now(UTC).replace(microsecond=0)
    await store.write(fresh(task_id="later", not_before=now + timedelta(seconds=2)))
    await store.write(fresh(task_id="brief", expires_at=now + timedelta(seconds=2)))
    assert [t.task_id for t in await store.list_queue("fraud", now)] == ["brief"]
    after = now + timedelta(seconds=3)
    await asyncio.sleep(max(0.0, (after - datetime.now(UTC)).total_seconds()))
    assert [t.task_id for t in await store.list_queue("fraud", after)] == ["later"]
    assert await store.client.get(store.task_key("brief")) is None
    await store.client.aclose()


async def test_changes_are_announced_to_subscribers(redis_url: str) -> None:
    store = store_for(redis_url)
    pubsub = store.client.pubsub()
    await pubsub.subscribe(store.channel("travel"))
    await pubsub.get_message(timeout=5)
    await store.write(fresh(task_id="t1", queue="travel"))
    message = None
    for _ in range(50):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message:
            break
    assert message is not None and orjson.loads(message["data"])["task_id"] == "t1"
    await pubsub.aclose()
    await store.client.aclose()


def impossible_travel(customer: str, tier: str, start: datetime) -> list[bytes]:
    at = start.isoformat()
    return [
        orjson.dumps(
            {
                "event_id": f"{customer}-p",
                "type": "crm.customer_profile",
                "customer_id": customer,
                "occurred_at": at,
                "payload": {"tier": tier, "lifetime_value": 1000.0},
            }
        ),
        orjson.dumps(
            {
                "event_id": f"{customer}-c",
                "type": "social.checkin",
                "customer_id": customer,
                "occurred_at": at,
                "payload": {"network": "x", "location": {"lat": 40.758, "lon": -73.9855}},
            }
        ),
        orjson.dumps(
            {
                "event_id": f"{customer}-t",
                "type": "billing.card_transaction",
                "customer_id": customer,
                "occurred_at": (start + timedelta(minutes=90)).isoformat(),
                "payload": {
                    "transaction_id": f"{customer}-tx",
                    "amount": 99.0,
                    "currency": "EUR",
                    "merchant": "Shop",
                    "card_present": True,
                    "status": "approved",
                    "location": {"lat": 48.8738, "lon": 2.332},
                },
            }
        ),
    ]


async def test_a_worker_puts_tasks_in_redis_in_priority_order_once(
    namespace: Namespace, run_worker: WorkerFactory, redis_url: str
) -> None:
    run_worker(namespace)
    pipeline = Pipeline(namespace)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=90)
    try:
        for customer, tier in (("C-std", "standard"), ("C-plat", "platinum")):
            for raw in impossible_travel(customer, tier, start):
                pipeline.feed(raw)
        pipeline.feed(impossible_travel("C-std", "standard", start)[2])  # the card event again
    finally:
        pipeline.close()
    store = RedisTaskStore(connect_redis(redis_url), prefix=namespace.settings.redis_prefix)
    deadline = time.monotonic() + 30
    tasks = []
    while time.monotonic() < deadline:
        tasks = await store.list_queue("fraud")
        if len(tasks) >= 2:
            break
        await asyncio.sleep(0.2)
    assert [t.customer_id for t in tasks] == ["C-plat", "C-std"]  # platinum ranks higher
    assert tasks[0].priority > tasks[1].priority
    assert await store.client.zcard(store.queue_key("fraud")) == 2  # the duplicate added nothing
    await store.client.aclose()

"""Tasks in the real Redis: priority order, idempotent writes, deferral, expiry; and from a worker."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from redis.exceptions import RedisError

from ctxi.schemas.task import TaskClosure
from ctxi.simulate.evaluate import free_port
from ctxi.sinks.redis import RedisTaskStore, connect_redis
from tests.conftest import unavailable
from tests.factories import make_task
from tests.integration.conftest import Namespace, WorkerFactory
from tests.integration.pipeline import Pipeline


def store_for(redis_url: str) -> RedisTaskStore:
    return RedisTaskStore(connect_redis(redis_url), prefix=f"test-{uuid.uuid4().hex[:8]}")


def rebooked(customer_id: str, at: datetime) -> TaskClosure:
    """The closure the built-in travel.rebooked rule sends for a customer's new booking."""
    return TaskClosure(
        customer_id=customer_id,
        actions=["rebook_connection"],
        rule_id="travel.rebooked",
        rule_version=1,
        reason="rebooked",
        at=at,
    )


def fresh(**fields):
    """A task that reached its queue when it was made, as live tasks do (unless ``queued_at`` says)."""
    now = datetime.now(UTC).replace(microsecond=0)
    made = {"created_at": now, "expires_at": now + timedelta(hours=1), **fields}
    return make_task(**{"queued_at": made["created_at"], **made})


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


async def test_tasks_wait_in_kafka_while_redis_is_down(
    namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path
) -> None:
    """A Redis of the test's own, stopped while a task is made and started again: the task arrives."""
    server = shutil.which("redis-server")
    if server is None:
        unavailable("redis-server is not installed")
    port = free_port()

    def start_redis() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    redis_process = start_redis()
    url = f"redis://127.0.0.1:{port}/0"
    namespace.env["CTXI_REDIS_URL"] = url
    store = RedisTaskStore(connect_redis(url), prefix=namespace.settings.redis_prefix)
    try:
        run_worker(namespace)
        redis_process.terminate()
        redis_process.wait(timeout=10)
        pipeline = Pipeline(namespace)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=90)
        try:
            for raw in impossible_travel("C-down", "gold", start):
                pipeline.feed(raw)
        finally:
            pipeline.close()
        assert [t.customer_id for t in pipeline.tasks] == ["C-down"]  # on Kafka, not yet in Redis
        await asyncio.sleep(2)  # the sink is retrying against a closed port
        redis_process = start_redis()
        deadline, tasks = time.monotonic() + 60, []
        while not tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            try:
                tasks = await store.list_queue("fraud")
            except (OSError, RedisError):
                continue
        assert [t.customer_id for t in tasks] == ["C-down"]
    finally:
        redis_process.terminate()
        redis_process.wait(timeout=10)
        await store.client.aclose()


async def test_a_deferred_task_is_announced_when_it_shows(redis_url: str) -> None:
    store = store_for(redis_url)
    now = datetime.now(UTC).replace(microsecond=0)
    pubsub = store.client.pubsub()
    await pubsub.subscribe(store.channel("fraud"))
    await pubsub.get_message(timeout=5)
    await store.write(fresh(task_id="deferred", not_before=now + timedelta(seconds=30)))
    await store.write(fresh(task_id="now"))
    assert await store.release_deferred("fraud", now) == []
    assert await store.release_deferred("fraud", now + timedelta(seconds=31)) == ["deferred"]
    changes = []
    for _ in range(50):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message:
            changes.append(orjson.loads(message["data"])["change"])
        if len(changes) == 3:
            break
    assert changes == ["added", "added", "visible"]
    await pubsub.aclose()
    await store.client.aclose()


async def test_a_newer_revision_updates_the_task_and_an_older_one_is_ignored(redis_url: str) -> None:
    store = store_for(redis_url)
    first = fresh(task_id="t", priority=60)
    update = first.model_copy(update={"revision": 2, "priority": 80, "reason": "a second purchase abroad"})
    assert await store.write(first)
    assert await store.write(update)
    assert not await store.write(first)  # a reprocessed old revision
    [listed] = await store.list_queue("fraud")
    assert (listed.revision, listed.priority, listed.reason) == (2, 80, "a second purchase abroad")
    assert await store.client.zcard(store.queue_key("fraud")) == 1
    await store.client.aclose()


async def test_a_task_s_waits_and_deadlines_count_from_when_it_reached_its_queue(redis_url: str) -> None:
    store = store_for(redis_url)
    made = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=9, minutes=25)  # a replayed morning
    task = fresh(
        task_id="old",
        queued_at=None,  # as the engine makes it
        created_at=made,
        claim_by=made + timedelta(minutes=30),
        resolve_by=made + timedelta(hours=4),
        expires_at=made + timedelta(hours=8),
    )
    before = datetime.now(UTC)
    assert await store.write(task)
    stored = await store.get("old")
    assert before <= stored.queued_at <= datetime.now(UTC)
    assert stored.claim_by - stored.queued_at == timedelta(minutes=30)  # not 8h55m overdue on arrival
    assert stored.resolve_by - stored.queued_at == timedelta(hours=4)
    assert stored.expires_at == stored.resolve_by  # kept until it is to be resolved by
    assert (await store.waiting("fraud"))[1] == stored.queued_at.replace(microsecond=0)
    revision = task.model_copy(update={"revision": 2, "created_at": made + timedelta(minutes=20)})
    assert await store.write(revision)
    revised = await store.get("old")
    assert (revised.revision, revised.queued_at) == (2, stored.queued_at)  # it reached the queue once
    await store.client.aclose()


async def test_a_closed_task_is_not_brought_back_by_reprocessing(redis_url: str) -> None:
    store = store_for(redis_url)
    task = fresh(task_id="closed")
    await store.write(task)
    assert (await store.claim(task, "A-1"))[0]
    assert await store.close(task, "A-1", "completed")
    assert not await store.write(task)
    assert await store.list_queue("fraud") == []
    await store.client.aclose()


async def test_a_claim_keeps_its_time_until_the_task_is_closed(redis_url: str) -> None:
    store = store_for(redis_url)
    task = fresh(task_id="timed")
    await store.write(task)
    assert await store.claimed_at("timed") is None
    before = datetime.now(UTC)
    assert (await store.claim(task, "A-1"))[0]
    claimed_at = await store.claimed_at("timed")
    assert claimed_at is not None and before <= claimed_at <= datetime.now(UTC)
    assert not (await store.claim(task, "A-2"))[0]
    assert await store.claimed_at("timed") == claimed_at  # a lost claim does not move it
    assert await store.close(task, "A-1", "completed")
    assert await store.claimed_at("timed") is None
    await store.client.aclose()


async def test_waiting_counts_the_visible_unclaimed_tasks_and_finds_the_oldest(redis_url: str) -> None:
    store = store_for(redis_url)
    now = datetime.now(UTC).replace(microsecond=0)
    assert await store.waiting("fraud") == (0, None)
    oldest = fresh(task_id="oldest", created_at=now - timedelta(minutes=10), priority=20)
    urgent = fresh(task_id="urgent", created_at=now - timedelta(minutes=1), priority=95)
    claimed = fresh(task_id="claimed", created_at=now - timedelta(minutes=30))
    deferred = fresh(task_id="deferred", created_at=now - timedelta(minutes=40), not_before=now + timedelta(hours=1))
    for task in (oldest, urgent, claimed, deferred):
        await store.write(task)
    assert (await store.claim(claimed, "A-1"))[0]
    assert await store.waiting("fraud", now) == (2, oldest.created_at)
    await store.client.aclose()


async def test_a_closure_takes_the_customers_superseded_tasks_off_their_queues(redis_url: str) -> None:
    store = store_for(redis_url)
    rebook = fresh(task_id="rebook", queue="travel", action="rebook_connection", customer_id="C-4")
    weather = fresh(task_id="weather", queue="travel", action="protect_connection_from_weather", customer_id="C-4")
    other = fresh(task_id="other", queue="travel", action="rebook_connection", customer_id="C-5")
    for task in (rebook, weather, other):
        await store.write(task)
    closure = rebooked("C-4", at=datetime.now(UTC))
    assert await store.close_superseded(closure) == ["rebook"]
    assert sorted(t.task_id for t in await store.list_queue("travel")) == ["other", "weather"]
    assert not await store.write(rebook)  # reprocessing does not bring it back
    await store.client.aclose()


async def test_a_customers_task_index_keeps_only_open_tasks_and_expires_with_the_last(redis_url: str) -> None:
    """A customer's task ids once grew with every task raised for them, closed or expired, for good."""
    store = store_for(redis_url)
    now = datetime.now(UTC).replace(microsecond=0)
    index = store.customer_tasks_key("C-7")
    brief = fresh(task_id="brief", customer_id="C-7", expires_at=now + timedelta(seconds=1))
    closed = fresh(task_id="closed", customer_id="C-7", expires_at=now + timedelta(hours=1))
    lasting = fresh(task_id="lasting", customer_id="C-7", expires_at=now + timedelta(hours=2))
    for task in (brief, closed, lasting):
        await store.write(task)
    assert await store.customer_task_ids("C-7") == ["brief", "closed", "lasting"]  # by expiry
    assert await store.client.expiretime(index) == int(lasting.expires_at.timestamp())
    assert (await store.claim(closed, "A-1"))[0] and await store.close(closed, "A-1", "completed")
    await asyncio.sleep(max(0.0, (brief.expires_at - datetime.now(UTC)).total_seconds()) + 1.1)
    await store.write(fresh(task_id="next", customer_id="C-7", expires_at=now + timedelta(minutes=30)))
    assert await store.customer_task_ids("C-7") == ["next", "lasting"]  # the expired one dropped by the write
    assert await store.client.expiretime(index) == int(lasting.expires_at.timestamp())  # not shortened
    await store.client.aclose()


async def test_a_closure_read_late_leaves_tasks_made_after_its_fact(redis_url: str) -> None:
    """A booking read after the flight's delay it precedes: its closure must not take the new task."""
    store = store_for(redis_url)
    booked_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    later = fresh(task_id="later", queue="travel", action="rebook_connection", customer_id="C-6")
    await store.write(later)
    closure = rebooked("C-6", at=booked_at)
    assert await store.close_superseded(closure) == []
    assert [t.task_id for t in await store.list_queue("travel")] == ["later"]
    await store.client.aclose()


async def test_a_worker_closes_the_rebooking_task_when_the_customer_is_rebooked(
    namespace: Namespace, run_worker: WorkerFactory, redis_url: str
) -> None:
    run_worker(namespace)
    now = datetime.now(UTC).replace(microsecond=0)
    first_leg, second_leg = now + timedelta(hours=2), now + timedelta(hours=10)
    booking = {
        "event_id": "b-1",
        "type": "travel.booking",
        "customer_id": "C-9",
        "occurred_at": now.isoformat(),
        "payload": {
            "booking_id": "PNR-1",
            "segments": [
                {
                    "flight": "BA178",
                    "origin": "JFK",
                    "destination": "LHR",
                    "departs_at": first_leg.isoformat(),
                    "arrives_at": (first_leg + timedelta(hours=7)).isoformat(),
                },
                {
                    "flight": "BA548",
                    "origin": "LHR",
                    "destination": "FCO",
                    "departs_at": second_leg.isoformat(),
                    "arrives_at": (second_leg + timedelta(hours=2)).isoformat(),
                },
            ],
        },
    }
    delay = {
        "event_id": "s-1",
        "type": "travel.flight_status",
        "occurred_at": (now + timedelta(minutes=1)).isoformat(),
        "payload": {
            "flight": "BA178",
            "scheduled_departure": first_leg.isoformat(),
            "status": "delayed",
            "delay_minutes": 120,
        },
    }
    rebooked = {
        **booking,
        "event_id": "b-2",
        "occurred_at": (now + timedelta(minutes=5)).isoformat(),
        "payload": {"booking_id": "PNR-2", "segments": [booking["payload"]["segments"][0]]},
    }
    store = RedisTaskStore(connect_redis(redis_url), prefix=namespace.settings.redis_prefix)
    pipeline = Pipeline(namespace)
    try:
        pipeline.feed(orjson.dumps(booking))
        pipeline.feed(orjson.dumps(delay))
        assert [t.action for t in await wait_for_tasks(store, "travel", 1)] == ["rebook_connection"]
        pipeline.feed(orjson.dumps(rebooked))
    finally:
        pipeline.close()
    deadline = time.monotonic() + 30
    while await store.list_queue("travel") and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert await store.list_queue("travel") == []
    await store.client.aclose()


async def wait_for_tasks(store: RedisTaskStore, queue: str, count: int, timeout: float = 30) -> list:
    deadline, tasks = time.monotonic() + timeout, []
    while len(tasks) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        tasks = await store.list_queue(queue)
    return tasks


async def test_a_listing_reads_pages_until_enough_tasks_are_visible(redis_url: str) -> None:
    """The most urgent tasks deferred: the listing reads on past them, and stops once it has enough."""
    store = store_for(redis_url)
    now = datetime.now(UTC).replace(microsecond=0)
    for n in range(5):
        await store.write(fresh(task_id=f"deferred-{n}", priority=90 - n, not_before=now + timedelta(hours=1)))
    for n in range(5):
        await store.write(fresh(task_id=f"visible-{n}", priority=50 - n))
    assert [t.task_id for t in await store.list_queue("fraud", now, limit=2)] == ["visible-0", "visible-1"]
    assert len(await store.list_queue("fraud", now, limit=None)) == 5
    assert [t.task_id for t in await store.list_queue("fraud", now, limit=20)][-1] == "visible-4"
    await store.client.aclose()

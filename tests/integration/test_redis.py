"""Round trips against the real Redis server, through the client the sinks and gateway use."""

from __future__ import annotations

import asyncio
import uuid

import orjson
from faust.serializers import codecs

from ctxi.agents.codecs import TASK_CODEC
from ctxi.sinks.redis import connect_redis
from tests.factories import make_task


async def test_task_body_and_priority_index_round_trip(redis_url: str) -> None:
    client = connect_redis(redis_url)
    prefix = f"test:{uuid.uuid4().hex}"
    try:
        task = make_task(task_id="task-1", priority=90)
        await client.set(f"{prefix}:task:{task.task_id}", codecs.dumps(TASK_CODEC, task), ex=60)
        stored = await client.get(f"{prefix}:task:{task.task_id}")
        assert codecs.loads(TASK_CODEC, stored) == task
        assert 0 < await client.ttl(f"{prefix}:task:{task.task_id}") <= 60

        await client.zadd(f"{prefix}:queue", {"task-low": 20, "task-1": 90, "task-mid": 55})
        assert await client.zrevrange(f"{prefix}:queue", 0, -1) == [b"task-1", b"task-mid", b"task-low"]
    finally:
        await client.delete(f"{prefix}:task:task-1", f"{prefix}:queue")
        await client.aclose()


async def test_publish_reaches_a_subscriber(redis_url: str) -> None:
    client = connect_redis(redis_url)
    channel = f"test:{uuid.uuid4().hex}:notify"
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel)
        assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"
        assert await client.publish(channel, orjson.dumps({"task_id": "task-1"})) == 1
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message:
                break
            await asyncio.sleep(0.01)
        assert message is not None and orjson.loads(message["data"]) == {"task_id": "task-1"}
    finally:
        await pubsub.aclose()
        await client.aclose()

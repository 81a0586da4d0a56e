"""Sink agent: tasks from the Kafka task topics into Redis, for desktops.

The task topics are the buffer: a task is acknowledged (its offset committed) only once
Redis has it. While Redis is down the agent retries with backoff, so nothing is lost and
the consumer lag on the task topics shows the backlog.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from ctxi.sinks.redis import RedisTaskStore, connect_redis
from ctxi.streams import codecs
from ctxi.streams.app import app, settings

logger = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 30.0

store = RedisTaskStore(connect_redis(settings.redis_url), settings.redis_prefix)
tasks_topic = app.topic(
    *(settings.task_topic(queue) for queue in settings.queues),
    key_type=str,
    key_serializer="raw",
    value_serializer=codecs.TASK_CODEC,
)


@app.agent(tasks_topic)
async def tasks_to_redis(stream):  # type: ignore[no-untyped-def]
    """Write each task to Redis (idempotently by task_id), retrying until Redis takes it."""
    async for task in stream:
        backoff = 0.5
        while True:
            try:
                await store.write(task)
                break
            except (RedisError, OSError) as exc:
                logger.warning("Redis write of task %s failed (%s); retrying in %.1fs", task.task_id, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

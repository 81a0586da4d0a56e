"""Sink agent: tasks from the Kafka task topics into Redis, for desktops.

The task topics are the buffer: a task is acknowledged (its offset committed) only once
Redis has it, even when the worker stops while Redis is down (``streams/acks.py``). While
Redis is unreachable the agent retries with backoff, so nothing is lost and the consumer
lag on the task topics shows the backlog. A write Redis refuses outright (not a connection
problem) is dead-lettered with the error rather than retried forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from faust.types import EventT, StreamT
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ctxi.schemas.dead_letter import KafkaOrigin, processing_failure
from ctxi.schemas.task import Task, TaskClosure
from ctxi.streams import codecs
from ctxi.streams.acks import process_each, value_of
from ctxi.streams.metrics import DEAD_LETTERS, STAGE_SECONDS, TASKS_TO_REDIS

if TYPE_CHECKING:
    from ctxi.agents.worker import Worker

sink_seconds = STAGE_SECONDS.labels("sink")

logger = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 30.0
TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)
T = TypeVar("T")


def install(worker: Worker) -> None:
    app, settings = worker.app, worker.settings
    tasks_topic = app.topic(
        *(settings.task_topic(queue) for queue in settings.queues),
        key_type=str,
        key_serializer="raw",
        value_serializer=codecs.TASK_CODEC,
    )

    @app.agent(tasks_topic, name=f"{__name__}.tasks_to_redis")
    async def tasks_to_redis(stream: StreamT[Task]) -> None:
        """Write each task to Redis (idempotently by task_id and revision), retrying until Redis takes it."""
        await process_each(stream, partial(write_task, worker))

    @app.agent(worker.topics.closures, name=f"{__name__}.closures_to_redis")
    async def closures_to_redis(stream: StreamT[TaskClosure]) -> None:
        """Close superseded tasks in Redis, retrying while Redis is unreachable."""
        await process_each(stream, partial(close_tasks, worker))


async def until_redis_answers(what: str, write: Callable[[], Awaitable[T]]) -> T:
    """Run ``write`` until Redis is reachable; other Redis errors are the caller's."""
    backoff = 0.5
    while True:
        try:
            return await write()
        except TRANSIENT as exc:
            logger.warning("Redis unreachable for %s (%s); retrying in %.1fs", what, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


async def write_task(worker: Worker, record: EventT[Task]) -> None:
    task, message, store = value_of(record, Task), record.message, worker.store
    started = time.perf_counter()
    try:
        written = await until_redis_answers(f"task {task.task_id}", lambda: store.write(task))
    except RedisError as exc:
        origin = KafkaOrigin(topic=message.topic, partition=message.partition, offset=message.offset)
        logger.error(
            "Redis refused task %s from %s: %s",
            task.task_id,
            origin,
            exc,
            extra={"task_id": task.task_id, "customer_id": task.customer_id, "origin": origin},
        )
        DEAD_LETTERS.labels("redis_refused").inc()
        await worker.topics.dead_letters.send(
            key=message.key, value=processing_failure(message.value or b"", origin, exc)
        )
        return
    sink_seconds.observe(time.perf_counter() - started)  # retries while Redis was down included
    TASKS_TO_REDIS.labels(written.name.lower()).inc()  # written, already_there, kept_closed


async def close_tasks(worker: Worker, record: EventT[TaskClosure]) -> None:
    closure = value_of(record, TaskClosure)
    closed = await until_redis_answers(
        f"closing tasks of {closure.customer_id}", lambda: worker.store.close_superseded(closure)
    )
    if closed:
        logger.info("closed %s for %s: %s", ", ".join(closed), closure.customer_id, closure.reason)

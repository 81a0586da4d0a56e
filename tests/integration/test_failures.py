"""The broker or Redis restarts while events flow: the worker reconnects and nothing is lost;
the desktop gateway says Redis is away (503) and its event streams follow again once it is back.

These tests take services away, so they run on a broker and a Redis of their own (a dev
stack on free ports), never on the session's shared ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ctxi.devstack import DevStack
from ctxi.simulate.evaluate import send, wait_until_flowing
from ctxi.sinks.redis import RedisTaskStore
from tests.conftest import own_devstack
from tests.integration.conftest import (
    Namespace,
    WorkerFactory,
    assert_each_task_once,
    auth,
    planted_stream,
    wait_for_a_first_task,
)
from tests.integration.test_redis_sink import fresh

DOWN_SECONDS = 5.0  # long enough for the worker to notice, short enough for its session to survive


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with own_devstack(tmp_path_factory.mktemp("failure-stack")) as own:
        yield own


@pytest.fixture
def kafka_bootstrap_servers(stack: DevStack) -> str:
    return stack.kafka_address


@pytest.fixture
def redis_url(stack: DevStack) -> str:
    return stack.redis_url


# What the worker logs when it meets the outage: proof that the test took the service away
# while the worker needed it (aiokafka's connection error; the Redis sink's retry).
MET_THE_OUTAGE = {"kafka": "Unable connect to node", "redis": "Redis unreachable"}


@pytest.mark.parametrize("service", ["kafka", "redis"])
def test_a_service_restart_mid_stream_loses_nothing(
    stack: DevStack, namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path, service: str
) -> None:
    settings = namespace.settings
    worker = run_worker(namespace)
    wait_until_flowing(settings)
    lines, expected = planted_stream(settings, tmp_path / "stream.jsonl", customers=200, seed=47)

    half = len(lines) // 2
    send(lines[:half], settings, rate=200)
    wait_for_a_first_task(settings)
    stack.stop(service)  # the worker may still have a backlog as the service goes
    if service == "redis":
        send(lines[half:], settings, rate=200)  # tasks keep coming while Redis is away
    time.sleep(DOWN_SECONDS)
    assert worker.poll() is None, f"the worker died while {service} was down"
    stack.up()
    if service == "kafka":
        send(lines[half:], settings, rate=200)  # the sources send again once the broker is back

    assert_each_task_once(settings, expected, f"{service} restarted mid-stream")
    assert worker.poll() is None, f"the worker died after {service} came back"
    assert MET_THE_OUTAGE[service] in worker.log_path.read_text(errors="replace")  # type: ignore[attr-defined]


async def test_the_gateway_answers_503_while_redis_is_away_and_its_event_streams_follow_again_after(
    stack: DevStack, gateway: tuple[TestClient, RedisTaskStore], caplog: pytest.LogCaptureFixture
) -> None:
    client, store = gateway
    following = await client.get("/api/queues/fraud/events", headers=auth("fraud-1"))
    assert (await following.content.readline()).startswith(b": following")

    stack.stop("redis")
    await asyncio.wait_for(following.content.read(), timeout=30)  # the open stream ends: the desktop reconnects
    for path in ("/api/queues/fraud/tasks", "/api/queues/fraud/events"):
        away = await client.get(path, headers=auth("fraud-1"))
        assert away.status == 503, path
        assert "unreachable" in (await away.json())["error"]

    stack.up()
    again = await client.get("/api/queues/fraud/events", headers=auth("fraud-1"))
    assert again.status == 200 and (await again.content.readline()).startswith(b": following")
    await store.write(fresh(task_id="after-the-restart"))
    while b"after-the-restart" not in await asyncio.wait_for(again.content.readline(), timeout=10):
        pass
    again.close()
    assert "task store unreachable" in caplog.text
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.split(".")[0] in ("ctxi", "aiohttp")]
    assert not errors, "an outage is not a bug"


async def test_after_a_redis_restart_no_request_fails_on_a_stale_pooled_connection(
    stack: DevStack, gateway: tuple[TestClient, RedisTaskStore]
) -> None:
    """Once, every connection pooled before a restart failed its next command: 5 of 241
    requests were 503, minutes after Redis was back. Now a dead connection is replaced and its
    command tried once more."""
    client, store = gateway
    await store.write(fresh(task_id="before-the-restart"))

    async def listings(count: int) -> list[int]:
        answers = await asyncio.gather(
            *(client.get("/api/queues/fraud/tasks", headers=auth("fraud-1")) for _ in range(count))
        )
        return [answer.status for answer in answers]

    assert await listings(12) == [200] * 12  # many connections in the pool
    stack.stop("redis")
    stack.up()  # no request in between: every pooled connection is now dead
    assert await listings(24) == [200] * 24

"""One desktop cannot hurt the others, and the gateway answers abuse with a clear 4xx (real Redis and Kafka)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ctxi.schemas.common import MAX_TEXT_LENGTH
from tests.integration.conftest import auth
from tests.integration.pipeline import read_outcomes
from tests.integration.test_redis_sink import fresh

STREAMS_PER_AGENT = 10  # the default of CTXI_DESKTOP_MAX_STREAMS_PER_AGENT


async def open_stream(client, agent: str):
    stream = await client.get("/api/queues/fraud/events", headers=auth(agent))
    if stream.status == 200:
        assert (await stream.content.readline()).startswith(b": following")
    return stream


async def test_a_stream_flood_by_one_agent_leaves_the_others_served(gateway) -> None:
    client, store = gateway
    held = [await open_stream(client, "fraud-1") for _ in range(STREAMS_PER_AGENT)]
    assert all(stream.status == 200 for stream in held)
    refused = await open_stream(client, "fraud-1")
    assert refused.status == 429 and "at most 10 open event streams" in (await refused.json())["error"]

    # every stream of the gateway shares one Redis subscription: the pool is not touched
    subscribers = [c for c in await store.client.client_list() if int(c.get("psub", 0)) > 0]
    assert len(subscribers) == 1

    # a closed stream frees its place at once (it used to hold a connection until its next keep-alive)
    for _ in range(3):
        held.pop().close()
        await asyncio.sleep(0.2)
        again = await open_stream(client, "fraud-1")
        assert again.status == 200, await again.text()
        held.append(again)

    # another agent is served all along, live notices included
    assert (await client.get("/api/queues/fraud/tasks", headers=auth("fraud-2"))).status == 200
    other = await open_stream(client, "fraud-2")
    assert other.status == 200
    await store.write(fresh(task_id="seen-by-both"))
    for stream in (other, held[0]):
        while b"seen-by-both" not in await asyncio.wait_for(stream.content.readline(), timeout=10):
            pass
    for stream in (*held, other):
        stream.close()


async def test_concurrent_closes_by_the_claimer_send_one_outcome(gateway, namespace) -> None:
    client, store = gateway
    await store.write(fresh(task_id="raced"))
    assert (await client.post("/api/tasks/raced/claim", headers=auth("fraud-1"))).status == 200
    answers = await asyncio.gather(
        *(
            client.post("/api/tasks/raced/dismiss", headers=auth("fraud-1"), json={"reason": f"try {n}"})
            for n in range(5)
        )
    )
    assert sorted(answer.status for answer in answers) == [200, 409, 409, 409, 409]
    await asyncio.sleep(2)  # any outcome sent by a losing close would be on the topic by now
    [outcome] = read_outcomes(namespace.settings)
    assert (outcome.task_id, outcome.outcome) == ("raced", "dismissed")


async def test_a_deferred_task_cannot_be_claimed_before_its_time(gateway) -> None:
    client, store = gateway
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    await store.write(fresh(task_id="deferred", not_before=later))
    refused = await client.post("/api/tasks/deferred/claim", headers=auth("fraud-1"))
    assert refused.status == 409 and "deferred until" in (await refused.json())["error"]
    assert await store.claimed_by("deferred") is None


async def test_outcome_texts_are_bounded_and_the_limit_is_named(gateway) -> None:
    client, store = gateway
    await store.write(fresh(task_id="wordy"))
    await client.post("/api/tasks/wordy/claim", headers=auth("fraud-1"))
    huge = await client.post("/api/tasks/wordy/complete", headers=auth("fraud-1"), json={"outcome": "x" * 1_000_000})
    assert huge.status == 413 and f"{MAX_TEXT_LENGTH:,} characters" in (await huge.json())["error"]
    long = await client.post(
        "/api/tasks/wordy/complete", headers=auth("fraud-1"), json={"outcome": "x" * (MAX_TEXT_LENGTH + 1)}
    )
    assert long.status == 413 and f"the limit is {MAX_TEXT_LENGTH:,}" in (await long.json())["error"]
    fine = await client.post("/api/tasks/wordy/complete", headers=auth("fraud-1"), json={"outcome": "x" * 500})
    assert fine.status == 200


async def test_api_answers_are_never_cached_and_name_no_versions(gateway) -> None:
    client, _ = gateway
    for path, headers in (("/api/me", auth("fraud-1")), ("/api/me", {}), ("/healthz", {}), ("/", {})):
        response = await client.get(path, headers=headers)
        assert response.headers["Server"] == "ctxi", path
        if path.startswith("/api/"):
            assert response.headers["Cache-Control"] == "no-store", path

"""What the gateway's reads of Redis cost as a queue grows: a desktop's listing, a supervisor
page's reading (its four routes at once), and one sweep of its claim deadlines (breaches, escalations) with nothing
due (the usual state), per queue size.

Run: python benchmarks/gateway.py [--tasks 100,1000,5000] [--repeats 15]   (needs REDIS_URL's Redis)

A desktop lists its queues on every change it hears of, so the listing is paid per change
per desktop; the sweep runs every CTXI_DESKTOP_SWEEP_SECONDS per queue in every gateway.
Each size is written under a prefix of its own, timed, then deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient, TestServer

from ctxi.gateway.app import create_app
from ctxi.gateway.auth import Directory, hash_token
from ctxi.gateway.server import watch_deadlines
from ctxi.schemas.task import Task, TaskOutcome
from ctxi.service_levels.policy import load_policy_text
from ctxi.settings import AgentAccess, Settings
from ctxi.sinks.customer_view_store import CustomerViewKeys, CustomerViewStore
from ctxi.sinks.redis import RedisTaskStore, connect_redis

POLICY = """policy: bench
owner: bench
levels:
  - queue: fraud
    priority: any
    claim_within: 1h
    resolve_within: 4h
    escalate:
      - {after: 0m, raise_priority_by: 10}
      - {after: 2h, raise_priority_by: 10}
"""
TOKEN, SUPERVISOR_TOKEN = "bench-token", "bench-supervisor-token"
SUPERVISOR_PAGE = [f"/api/supervisor/{part}" for part in ("queues", "breaches", "agents", "rules")]  # read at once


def task(number: int, now: datetime) -> Task:
    """A tenth past claim_by (escalated by the first sweep), the rest an hour from it."""
    claim_by = now - timedelta(minutes=1) if number % 10 == 0 else now + timedelta(hours=1)
    return Task(
        task_id=f"t-{number}",
        customer_id=f"C-{number}",
        queue="fraud",
        action="verify_card_activity",
        title="Verify card activity",
        priority=number % 100,
        reason="card used 5,800 km from the customer's check-in 90 min earlier",
        steps=["Call the customer on the phone number on file"],
        evidence=["evt-1"],
        rule_id="fraud.impossible_travel",
        rule_version=1,
        created_at=now,
        not_before=None,
        expires_at=now + timedelta(hours=6),
        claim_by=claim_by,
        resolve_by=now + timedelta(hours=4),
    )


async def timed(client: TestClient, paths: list[str], token: str) -> float:
    """Seconds to get every one of ``paths`` at once, as a page asks them."""

    async def get(path: str) -> None:
        async with client.get(path, headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200, await response.text()
            await response.read()

    started = time.perf_counter()
    await asyncio.gather(*(get(path) for path in paths))
    return time.perf_counter() - started


def median_ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.1f} ms"


async def measure(redis_url: str, size: int, repeats: int) -> None:
    store = RedisTaskStore(connect_redis(redis_url), f"bench-gateway-{uuid.uuid4().hex[:8]}")
    policy = load_policy_text("bench", POLICY, frozenset({"fraud"}))
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        for number in range(size):
            await store.write(task(number, now))

        async def no_outcome(outcome: TaskOutcome) -> None:
            return None

        directory = Directory(
            {
                "bench": AgentAccess(token_sha256=hash_token(TOKEN), queues=["fraud"]),
                "lead": AgentAccess(token_sha256=hash_token(SUPERVISOR_TOKEN), queues=["fraud"], role="supervisor"),
            }
        )
        views = CustomerViewStore(store.client, CustomerViewKeys(store.prefix), 86400)
        client = TestClient(TestServer(create_app(store, directory, no_outcome, 4, views)))
        await client.start_server()
        listings = [await timed(client, ["/api/queues/fraud/tasks"], TOKEN) for _ in range(repeats)]
        pages = [await timed(client, SUPERVISOR_PAGE, SUPERVISOR_TOKEN) for _ in range(repeats)]
        await client.close()

        await watch_deadlines(store, policy, "fraud")  # the late tenth escalates: then nothing is due
        sweeps = []
        for _ in range(repeats):
            started = time.perf_counter()
            await watch_deadlines(store, policy, "fraud")
            sweeps.append(time.perf_counter() - started)
        print(
            f"{size:>6} open tasks: listing {median_ms(listings):>9}, supervisor page {median_ms(pages):>9}, "
            f"claim-deadline sweep {median_ms(sweeps):>9}"
        )
    finally:
        keys = [key async for key in store.client.scan_iter(f"{store.prefix}:*")]
        if keys:
            await store.client.delete(*keys)
        await store.client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="100,1000,5000", help="Queue sizes, comma-separated.")
    parser.add_argument("--repeats", type=int, default=15, help="Timings per size (the median is shown).")
    args = parser.parse_args()
    redis_url = Settings().redis_url
    print(f"Redis {redis_url}; medians of {args.repeats}")
    for size in (int(size) for size in args.tasks.split(",")):
        asyncio.run(measure(redis_url, size, args.repeats))


if __name__ == "__main__":
    main()

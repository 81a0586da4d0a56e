"""The desktop gateway on the real Redis and Kafka: auth, order, atomic claims, outcomes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp.test_utils import TestClient, TestServer
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio.client import PubSub

from ctxi.gateway.auth import hash_token
from ctxi.gateway.server import build, watch_deadlines
from ctxi.service_levels.policy import load_policy
from ctxi.settings import AgentAccess, Settings
from ctxi.sinks.redis import RedisTaskStore, connect_redis
from tests.integration.conftest import TOKENS, DesktopFactory, Namespace, auth
from tests.integration.pipeline import read_outcomes
from tests.integration.test_redis_sink import fresh


async def test_every_request_needs_a_valid_token(gateway) -> None:
    client, _ = gateway
    assert (await client.get("/api/me")).status == 401
    response = await client.get("/api/queues/fraud/tasks", headers={"Authorization": "Bearer nope"})
    assert response.status == 401
    assert (await response.json())["error"].startswith("a valid agent token is required")
    assert (await client.get("/healthz")).status == 200


async def test_a_travel_token_is_refused_on_the_fraud_queue_and_learns_nothing(gateway) -> None:
    client, store = gateway
    await store.write(fresh(task_id="f1", queue="fraud"))
    listed = await client.get("/api/queues/fraud/tasks", headers=auth("travel-1"))
    assert listed.status == 403 and "f1" not in await listed.text()
    claimed = await client.post("/api/tasks/f1/claim", headers=auth("travel-1"))
    assert claimed.status == 404  # as if it did not exist
    assert (await client.get("/api/me", headers=auth("travel-1"))).status == 200


async def test_the_queue_is_listed_most_urgent_first(gateway) -> None:
    client, store = gateway
    for task_id, priority in (("low", 20), ("high", 90), ("mid", 55)):
        await store.write(fresh(task_id=task_id, priority=priority))
    response = await client.get("/api/queues/fraud/tasks", headers=auth("fraud-1"))
    body = await response.json()
    assert [task["task_id"] for task in body["tasks"]] == ["high", "mid", "low"]
    assert [task["band"] for task in body["tasks"]] == ["critical", "medium", "low"]
    assert body["tasks"][0]["claimed_by"] is None


async def test_the_desktop_page_is_served_without_a_token_and_holds_no_data(gateway) -> None:
    client, _ = gateway
    page = await client.get("/")
    assert page.status == 200 and page.content_type == "text/html"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    script = await client.get("/desktop/desktop.js")
    assert script.status == 200 and "javascript" in script.content_type
    assert (await client.get("/desktop/missing.js")).status == 404
    supervisor = await client.get("/supervisor")  # the supervisor view: a page of its own, the same policy
    assert supervisor.status == 200 and "supervisor.js" in await supervisor.text()
    assert supervisor.headers["Content-Security-Policy"] == page.headers["Content-Security-Policy"]
    assert (await client.get("/desktop/common.js")).status == 200
    assert (await client.get("/api/queues/fraud/tasks")).status == 401  # the data still needs a token


async def test_two_concurrent_claims_one_wins(gateway) -> None:
    client, store = gateway
    await store.write(fresh(task_id="contested"))
    first, second = await asyncio.gather(
        client.post("/api/tasks/contested/claim", headers=auth("fraud-1")),
        client.post("/api/tasks/contested/claim", headers=auth("fraud-2")),
    )
    assert sorted([first.status, second.status]) == [200, 409]
    loser = second if second.status == 409 else first
    winner = "fraud-1" if loser is second else "fraud-2"
    assert (await loser.json())["claimed_by"] == winner
    listed = await (await client.get("/api/queues/fraud/tasks", headers=auth("fraud-1"))).json()
    assert listed["tasks"][0]["claimed_by"] == winner


async def test_completing_a_task_sends_its_outcome_and_takes_it_off_the_queue(gateway, namespace) -> None:
    client, store = gateway
    task = fresh(task_id="done-1")
    await store.write(task)
    not_claimed = await client.post("/api/tasks/done-1/complete", headers=auth("fraud-1"), json={"outcome": "ok"})
    assert not_claimed.status == 409
    assert (await client.post("/api/tasks/done-1/claim", headers=auth("fraud-1"))).status == 200
    bad = await client.post("/api/tasks/done-1/complete", headers=auth("fraud-1"), data=b"not json")
    assert bad.status == 400 and (await bad.json())["error"] == "the body must be JSON"
    done = await client.post(
        "/api/tasks/done-1/complete", headers=auth("fraud-1"), json={"outcome": "customer confirmed the purchase"}
    )
    assert done.status == 200, await done.text()
    assert (await (await client.get("/api/queues/fraud/tasks", headers=auth("fraud-1"))).json())["tasks"] == []

    [outcome] = read_outcomes(namespace.settings)
    assert (outcome.task_id, outcome.agent_id, outcome.outcome) == ("done-1", "fraud-1", "completed")
    assert outcome.detail == "customer confirmed the purchase"
    assert orjson.loads(outcome.model_dump_json())["rule_id"] == "fraud.impossible_travel"
    assert outcome.created_at == task.created_at  # what time to claim and to resolve are counted from
    assert outcome.claimed_at is not None and task.created_at <= outcome.claimed_at <= outcome.at


async def test_dismiss_needs_a_reason(gateway) -> None:
    client, store = gateway
    await store.write(fresh(task_id="dismiss-1"))
    await client.post("/api/tasks/dismiss-1/claim", headers=auth("fraud-1"))
    missing = await client.post("/api/tasks/dismiss-1/dismiss", headers=auth("fraud-1"), json={})
    assert missing.status == 400 and "reason" in (await missing.json())["error"]
    ok = await client.post(
        "/api/tasks/dismiss-1/dismiss", headers=auth("fraud-1"), json={"reason": "duplicate of a call"}
    )
    assert ok.status == 200 and (await ok.json())["outcome"] == "dismissed"


def test_ctxi_desktop_serves_from_the_command_line(namespace: Namespace, run_desktop: DesktopFactory) -> None:
    """The real entry point, as an operator starts it (not the in-process test server)."""
    base_url = run_desktop(namespace, {"A-1": ("cli-token", ["fraud"])})
    request = urllib.request.Request(f"{base_url}/api/me", headers={"Authorization": "Bearer cli-token"})
    assert orjson.loads(urllib.request.urlopen(request, timeout=5).read()) == {
        "agent_id": "A-1",
        "queues": ["fraud"],
        "role": "agent",
        "customer_lookup": False,
    }


def sample(exposition: str, name: str, **labels: str) -> float:
    """A sample's value in Prometheus' text format (0 when the series does not exist yet)."""
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


async def test_metrics_count_requests_claims_closes_and_open_streams(gateway) -> None:
    client, store = gateway
    before = await (await client.get("/metrics")).text()
    await store.write(fresh(task_id="metered"))
    await client.get("/api/queues/fraud/tasks", headers=auth("fraud-1"))
    await client.post("/api/tasks/metered/claim", headers=auth("fraud-1"))
    await client.post("/api/tasks/metered/claim", headers=auth("fraud-2"))
    await client.post("/api/tasks/metered/complete", headers=auth("fraud-1"), json={"outcome": "verified"})
    stream = await client.get("/api/queues/fraud/events", headers=auth("fraud-1"))
    await stream.content.readline()  # the stream is open

    response = await client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    after = await response.text()

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("ctxi_gateway_requests_total", route="/api/queues/{queue}/tasks", method="GET", status="200") == 1
    assert grew("ctxi_gateway_task_actions_total", action="claim", result="won") == 1
    assert grew("ctxi_gateway_task_actions_total", action="claim", result="taken") == 1
    assert grew("ctxi_gateway_task_actions_total", action="completed", result="done") == 1
    assert sample(after, "ctxi_gateway_event_streams") >= 1
    assert sample(after, "ctxi_gateway_request_seconds_count", route="/api/tasks/{task_id}/claim") >= 2
    assert "metered" not in after  # ids never become labels
    stream.close()


async def test_ctxi_rules_report_counts_what_agents_did_through_the_gateway(gateway, namespace: Namespace) -> None:
    """Tasks on the task topic, outcomes sent by the gateway as agents close them: the report
    read from the topics matches (issue 19's "which rules agents find useful")."""
    client, store = gateway
    settings = namespace.settings
    tasks = [fresh(task_id=f"r{n}") for n in range(6)] + [fresh(task_id="v2", rule_version=2)]
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    for task in tasks:
        await store.write(task)
        producer.send(
            settings.task_topic(task.queue), key=task.customer_id.encode(), value=task.model_dump_json().encode()
        )
    producer.flush()
    producer.close()
    for task_id, change, body in [
        ("r0", "complete", {"outcome": "customer confirmed"}),
        *[(f"r{n}", "dismiss", {"reason": "Not relevant"}) for n in range(1, 5)],
        ("v2", "dismiss", {"reason": "duplicate"}),
    ]:
        assert (await client.post(f"/api/tasks/{task_id}/claim", headers=auth("fraud-1"))).status == 200
        closed = await client.post(f"/api/tasks/{task_id}/{change}", headers=auth("fraud-1"), json=body)
        assert closed.status == 200, await closed.text()
    result = subprocess.run(
        [sys.executable, "-m", "ctxi.cli", "rules", "report"],
        env={**os.environ, **namespace.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = {tuple(line.split()[:2]): line.split()[2:6] for line in result.stdout.splitlines()[1:] if "." in line[:30]}
    assert rows[("fraud.impossible_travel", "1")] == ["6", "5", "1", "4"]  # raised, closed, completed, dismissed
    assert rows[("fraud.impossible_travel", "2")] == ["1", "1", "0", "1"]
    assert "7 task records, 6 outcomes, 2 rule versions" in result.stdout
    assert "not useful: fraud.impossible_travel v1: 4 of 5 closed tasks dismissed (80%)" in result.stdout


async def test_waits_and_service_level_breaches_are_measured_per_queue(gateway) -> None:
    client, store = gateway
    before = await (await client.get("/metrics")).text()
    now = datetime.now(UTC).replace(microsecond=0)
    late = fresh(
        task_id="late-claim",
        created_at=now - timedelta(minutes=10),
        claim_by=now - timedelta(minutes=5),
        resolve_by=now + timedelta(hours=1),
    )
    await store.write(late)
    assert (await client.post("/api/tasks/late-claim/claim", headers=auth("fraud-1"))).status == 200
    closed = await client.post("/api/tasks/late-claim/complete", headers=auth("fraud-1"), json={"outcome": "done"})
    assert closed.status == 200
    after = await (await client.get("/metrics")).text()

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("ctxi_gateway_time_to_claim_seconds_count", queue="fraud") == 1
    assert grew("ctxi_gateway_time_to_claim_seconds_sum", queue="fraud") >= 600
    assert grew("ctxi_gateway_time_to_resolve_seconds_count", queue="fraud") == 1
    assert grew("ctxi_gateway_service_level_breaches_total", queue="fraud", stage="claim") == 1
    assert grew("ctxi_gateway_service_level_breaches_total", queue="fraud", stage="resolve") == 0


async def test_the_sweep_measures_each_queues_backlog_and_oldest_wait(namespace: Namespace) -> None:
    settings = namespace.settings.model_copy(update={"desktop_sweep_seconds": 0.2})
    store = RedisTaskStore(connect_redis(settings.redis_url), settings.redis_prefix)
    now = datetime.now(UTC).replace(microsecond=0)
    await store.write(fresh(task_id="waits", queue="travel", created_at=now - timedelta(minutes=20)))
    client = TestClient(TestServer(build(settings)))
    await client.start_server()
    try:
        for _ in range(50):
            exposition = await (await client.get("/metrics")).text()
            if sample(exposition, "ctxi_gateway_queue_backlog", queue="travel") == 1:
                break
            await asyncio.sleep(0.1)
        assert sample(exposition, "ctxi_gateway_queue_backlog", queue="travel") == 1
        assert 1200 <= sample(exposition, "ctxi_gateway_queue_oldest_waiting_seconds", queue="travel") < 1300
    finally:
        await client.close()
        await store.client.aclose()


async def test_supervisor_endpoints_refuse_agents_and_supervisors_claim_nothing(gateway) -> None:
    client, store = gateway
    await store.write(fresh(task_id="watched"))
    for path in (
        "/api/supervisor/queues",
        "/api/supervisor/breaches",
        "/api/supervisor/agents",
        "/api/supervisor/rules",
    ):
        refused = await client.get(path, headers=auth("fraud-1"))
        assert refused.status == 403 and (await refused.json())["error"] == "this needs a supervisor token"
        assert (await client.get(path, headers=auth("lead-1"))).status == 200
    for action in ("claim", "complete", "dismiss"):
        refused = await client.post(f"/api/tasks/watched/{action}", headers=auth("lead-1"), json={"reason": "x"})
        assert refused.status == 403, action
        assert "cannot claim or close" in (await refused.json())["error"]
    listed = await client.get("/api/queues/fraud/tasks", headers=auth("lead-1"))  # watching is reading
    assert listed.status == 200 and [t["task_id"] for t in (await listed.json())["tasks"]] == ["watched"]
    assert (await (await client.get("/api/me", headers=auth("lead-1"))).json())["role"] == "supervisor"


async def test_claimed_in_time_counts_only_the_claims_of_tasks_that_had_a_claim_by(gateway) -> None:
    client, store = gateway
    now = datetime.now(UTC).replace(microsecond=0)

    async def attainment() -> float | None:
        queues = (await (await client.get("/api/supervisor/queues", headers=auth("lead-1"))).json())["queues"]
        return next(q for q in queues if q["queue"] == "fraud")["sla_attainment"]

    await store.write(fresh(task_id="no-deadline", created_at=now - timedelta(minutes=30)))
    assert (await client.post("/api/tasks/no-deadline/claim", headers=auth("fraud-1"))).status == 200
    assert await attainment() is None  # shown as "–": nothing had a deadline to keep
    await store.write(fresh(task_id="in-time", claim_by=now + timedelta(minutes=5)))
    assert (await client.post("/api/tasks/in-time/claim", headers=auth("fraud-1"))).status == 200
    assert await attainment() == 1.0  # one of one with a deadline; the other counts neither way


async def test_times_to_claim_and_resolve_count_from_the_queue_not_the_event(gateway) -> None:
    client, store = gateway
    now = datetime.now(UTC).replace(microsecond=0)
    replayed = fresh(task_id="replayed", created_at=now - timedelta(hours=9), queued_at=now - timedelta(minutes=10))
    await store.write(replayed)  # its event is nine hours old; it reached the queue ten minutes ago
    assert (await client.post("/api/tasks/replayed/claim", headers=auth("fraud-1"))).status == 200
    done = await client.post("/api/tasks/replayed/complete", headers=auth("fraud-1"), json={"outcome": "called"})
    assert done.status == 200
    queues = (await (await client.get("/api/supervisor/queues", headers=auth("lead-1"))).json())["queues"]
    fraud = next(q for q in queues if q["queue"] == "fraud")
    assert 600 <= fraud["claim_p50_seconds"] < 700 and 600 <= fraud["resolve_p50_seconds"] < 700
    body = await (await client.get("/api/supervisor/rules", headers=auth("lead-1"))).json()
    [row] = next(q for q in body["queues"] if q["queue"] == "fraud")["rules"]
    assert 600 <= row["claim_p50_seconds"] < 700 and 600 <= row["resolve_p50_seconds"] < 700


async def test_breaching_tasks_tied_by_escalation_keep_the_more_urgent_first_then_the_longer_wait(gateway) -> None:
    client, store = gateway
    now = datetime.now(UTC).replace(microsecond=0)
    waits = {"was-95": (10, 5, 95), "waited-20m": (20, 1, 90), "waited-5m": (5, 4, 90)}  # queued, overdue, priority
    for task_id, (queued, overdue, priority) in waits.items():
        task = fresh(
            task_id=task_id,
            priority=priority,
            created_at=now - timedelta(minutes=queued),
            claim_by=now - timedelta(minutes=overdue),
        )
        await store.write(task)
        assert await store.escalate(task, 1, 100 - priority + 5, now)  # every one shows 100 now
    listed = (await (await client.get("/api/supervisor/breaches", headers=auth("lead-1"))).json())["tasks"]
    assert [(t["task_id"], t["priority"], t["priority_before_escalation"]) for t in listed] == [
        ("was-95", 100, 95),
        ("waited-20m", 100, 90),
        ("waited-5m", 100, 90),
    ]


async def test_the_supervisor_view_of_queues_and_agents(gateway) -> None:
    client, store = gateway
    now = datetime.now(UTC).replace(microsecond=0)
    breaching = fresh(task_id="breaching", created_at=now - timedelta(minutes=9), claim_by=now - timedelta(minutes=4))
    worked = fresh(task_id="worked", created_at=now - timedelta(minutes=2), claim_by=now + timedelta(minutes=3))
    done = fresh(task_id="done", created_at=now - timedelta(minutes=20), claim_by=now - timedelta(minutes=15))
    travel = fresh(task_id="elsewhere", queue="travel")
    for task in (breaching, worked, done, travel):
        await store.write(task)
    for task_id in ("worked", "done"):
        assert (await client.post(f"/api/tasks/{task_id}/claim", headers=auth("fraud-1"))).status == 200
    closed = await client.post("/api/tasks/done/complete", headers=auth("fraud-1"), json={"outcome": "sorted"})
    assert closed.status == 200

    queues = (await (await client.get("/api/supervisor/queues", headers=auth("lead-1"))).json())["queues"]
    fraud = next(q for q in queues if q["queue"] == "fraud")
    assert (fraud["backlog"], fraud["claimed"], fraud["breached"]) == (1, 1, 1)
    assert 540 <= fraud["oldest_waiting_seconds"] < 600  # the breaching one, 9 minutes old
    assert 120 <= fraud["claim_p50_seconds"] < 1300 and 1200 <= fraud["claim_p90_seconds"] < 1300
    assert 1200 <= fraud["resolve_p50_seconds"] < 1300
    assert fraud["sla_attainment"] == 0.5  # "worked" claimed in time, "done" late
    assert [q["queue"] for q in queues] == ["fraud", "travel"]

    agents = (await (await client.get("/api/supervisor/agents", headers=auth("lead-1"))).json())["agents"]
    [row] = [a for a in agents if a["agent_id"] == "fraud-1"]
    assert (row["claimed"], row["completed"], row["dismissed"]) == (2, 1, 0)
    assert row["median_handle_seconds"] is not None and row["median_handle_seconds"] < 60
    assert [t["task_id"] for t in row["current_tasks"]] == ["worked"]

    late_claimed = fresh(task_id="late-claimed", priority=95, claim_by=now - timedelta(minutes=1), resolve_by=now)
    await store.write(late_claimed)
    assert (await client.post("/api/tasks/late-claimed/claim", headers=auth("fraud-2"))).status == 200
    breaches = (await (await client.get("/api/supervisor/breaches", headers=auth("lead-1"))).json())["tasks"]
    # most urgent first; a claimed task breaches on resolve_by, an unclaimed one on claim_by
    assert [(t["task_id"], t["breached"], t["claimed_by"]) for t in breaches] == [
        ("late-claimed", "resolve", "fraud-2"),
        ("breaching", "claim", None),
    ]
    assert 235 <= breaches[1]["overdue_seconds"] < 300 and breaches[1]["deadline"] == breaching.claim_by.isoformat()


async def test_breaching_tasks_come_a_page_at_a_time(gateway) -> None:
    """Once every breaching task was sent at every look, each second: 1,004 were 1.45 MB."""
    client, store = gateway
    now = datetime.now(UTC).replace(microsecond=0)
    for n in range(120):
        await store.write(
            fresh(task_id=f"late-{n:03d}", priority=10 + n % 50, created_at=now - timedelta(minutes=9),
                  claim_by=now - timedelta(minutes=4, seconds=n))
        )  # fmt: skip

    async def page(query: str = "") -> dict[str, Any]:
        answer = await client.get(f"/api/supervisor/breaches{query}", headers=auth("lead-1"))
        assert answer.status == 200, await answer.text()
        return await answer.json()

    first = await page()
    assert (len(first["tasks"]), first["total"], first["next_offset"]) == (50, 120, 50)
    rest = [await page(f"?offset={offset}&limit=50") for offset in (50, 100)]
    assert [len(part["tasks"]) for part in rest] == [50, 20] and rest[1]["next_offset"] is None
    listed = [task for part in (first, *rest) for task in part["tasks"]]
    assert len({task["task_id"] for task in listed}) == 120
    assert [task["priority"] for task in listed] == sorted((task["priority"] for task in listed), reverse=True)
    for bad in ("?limit=0", "?limit=201", "?offset=-1", "?limit=many"):
        refused = await client.get(f"/api/supervisor/breaches{bad}", headers=auth("lead-1"))
        assert refused.status == 400, bad


async def test_the_supervisor_view_of_rules_matches_the_closes(gateway) -> None:
    """Per queue and rule version, as `ctxi rules report` counts: open tasks, closes by outcome and
    reason, medians, and the not-useful flag once five closed tasks are mostly dismissed."""
    client, store = gateway
    now = datetime.now(UTC).replace(microsecond=0)
    noisy = [
        fresh(task_id=f"noisy-{n}", rule_id="fraud.noisy", created_at=now - timedelta(minutes=10)) for n in range(6)
    ]
    for task in [*noisy, fresh(task_id="kept", rule_version=2)]:
        await store.write(task)
    for n, task in enumerate(noisy[:5]):
        assert (await client.post(f"/api/tasks/{task.task_id}/claim", headers=auth("fraud-1"))).status == 200
        verb, body = (
            ("complete", {"outcome": "blocked the card"}) if n == 0 else ("dismiss", {"reason": " Known  traveller"})
        )
        assert (
            await client.post(f"/api/tasks/{task.task_id}/{verb}", headers=auth("fraud-1"), json=body)
        ).status == 200

    body = await (await client.get("/api/supervisor/rules", headers=auth("lead-1"))).json()
    fraud = next(q for q in body["queues"] if q["queue"] == "fraud")["rules"]
    assert [(r["rule_id"], r["rule_version"], r["open"]) for r in fraud] == [
        ("fraud.impossible_travel", 2, 1),
        ("fraud.noisy", 1, 1),
    ]
    noisy_row = fraud[1]
    assert (noisy_row["completed"], noisy_row["dismissed"], noisy_row["not_useful"]) == (1, 4, True)
    assert noisy_row["top_dismissal_reasons"] == [{"reason": "Known traveller", "count": 4}]  # as written
    assert 600 <= noisy_row["claim_p50_seconds"] < 660 and 600 <= noisy_row["resolve_p50_seconds"] < 660
    assert fraud[0]["not_useful"] is False and fraud[0]["claim_p50_seconds"] is None
    assert body["window_seconds"] == 3600


def swept(namespace: Namespace, **update: object) -> Settings:
    """The namespace's settings for in-process gateways sweeping every 0.2 s, fraud-1 their agent."""
    agents = {"fraud-1": AgentAccess(token_sha256=hash_token(TOKENS["fraud-1"]), queues=["fraud"])}
    return namespace.settings.model_copy(update={"desktop_sweep_seconds": 0.2, "agents": agents, **update})


@asynccontextmanager
async def two_gateways(settings: Settings) -> AsyncIterator[list[TestClient]]:
    """Two gateways in this process on the same Redis, each with its own sweep."""
    gateways = [TestClient(TestServer(build(settings))) for _ in range(2)]
    for gateway in gateways:
        await gateway.start_server()
    try:
        yield gateways
    finally:
        for gateway in gateways:
            await gateway.close()


async def until(condition: Callable[[], Awaitable[Any]], seconds: float = 10.0) -> None:
    """Wait until ``condition()`` holds, looking every 0.1 s for at most ``seconds`` (the
    assertions after it say what was missing)."""
    for _ in range(int(seconds * 10)):
        if await condition():
            return
        await asyncio.sleep(0.1)


async def following(store: RedisTaskStore, queue: str) -> PubSub:
    notices = store.client.pubsub()
    await notices.subscribe(store.channel(queue))
    return notices


async def announced(notices: PubSub, change: str) -> list[dict]:
    """The notices of ``change`` published since subscribing (they wait in the subscription)."""
    found = []
    for _ in range(50):
        message = await notices.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None and (notice := orjson.loads(message["data"]))["change"] == change:
            found.append(notice)
    return found


POLICY = """policy: floor
owner: ops
levels:
  - queue: fraud
    priority: any
    claim_within: 1m
    resolve_within: 1h
    escalate:
      - after: 0m
        raise_priority_by: 15
      - after: 3s
        raise_priority_by: 10
"""


async def test_an_unclaimed_task_escalates_once_per_stage_with_two_gateways_and_after_a_restart(
    namespace: Namespace, tmp_path
) -> None:
    """Two gateways sweep the same Redis every 0.2 s: each stage happens once, a restarted gateway
    does not repeat it, the worker's next revision keeps the raised place, and a claimed task stays."""
    policy = tmp_path / "service-levels.yaml"
    policy.write_text(POLICY)
    settings = swept(namespace, sla_policy=policy)
    store = RedisTaskStore(connect_redis(settings.redis_url), settings.redis_prefix)
    notices = await following(store, "fraud")
    now = datetime.now(UTC).replace(microsecond=0)
    waiting = fresh(
        task_id="waiting", priority=50, created_at=now - timedelta(minutes=1), claim_by=now + timedelta(seconds=1)
    )
    other = fresh(task_id="other", priority=70)
    taken = fresh(
        task_id="taken", priority=50, created_at=now - timedelta(minutes=1), claim_by=now + timedelta(seconds=1)
    )
    for task in (waiting, other, taken):
        await store.write(task)
    assert (await store.claim(taken, "fraud-1"))[0]

    async with two_gateways(settings) as gateways:

        async def stage_two() -> bool:  # stage 1 at claim_by, stage 2 three seconds later
            return (await store.escalations(["waiting"])).get("waiting", {}).get("stage") == 2

        await until(stage_two)
        listed = await (await gateways[0].get("/api/queues/fraud/tasks", headers=auth("fraud-1"))).json()
    shown = {task["task_id"]: task for task in listed["tasks"]}
    assert [task["task_id"] for task in listed["tasks"]][:2] == ["waiting", "other"]  # 50 + 25 above 70
    assert (shown["waiting"]["priority"], shown["waiting"]["band"]) == (75, "critical")
    assert shown["waiting"]["escalation"]["stage"] == 2 and shown["waiting"]["escalation"]["points"] == 25
    assert shown["taken"]["escalation"] is None and shown["taken"]["priority"] == 50

    restarted = TestClient(TestServer(build(settings)))
    await restarted.start_server()
    await asyncio.sleep(1.0)  # five sweeps
    await store.write(waiting.model_copy(update={"revision": 2, "priority": 55}))  # the worker's next revision
    relisted = await (await restarted.get("/api/queues/fraud/tasks", headers=auth("fraud-1"))).json()
    await restarted.close()
    assert [(t["task_id"], t["priority"]) for t in relisted["tasks"]][:2] == [("waiting", 80), ("other", 70)]

    escalated = [(n["task_id"], n["stage"], n["points"]) for n in await announced(notices, "escalated")]
    assert escalated == [("waiting", 1, 15), ("waiting", 2, 25)]  # once per stage, across gateways and restarts
    await notices.aclose()
    await store.client.aclose()


async def test_the_sweep_reads_only_the_tasks_due_for_a_look(namespace: Namespace, tmp_path) -> None:
    """The claim-deadline index: a task enters with its claim_by, leaves when claimed, expired or
    without a stage left; tasks written before the index existed are put in it at the start."""
    policy = tmp_path / "service-levels.yaml"
    policy.write_text(POLICY)  # fraud: +15 at claim_by, +10 three seconds later
    loaded = load_policy(policy, frozenset(namespace.settings.queues))
    store = RedisTaskStore(connect_redis(namespace.settings.redis_url), namespace.settings.redis_prefix)
    key = store.claim_watch_key("fraud")
    now = datetime.now(UTC).replace(microsecond=0)
    later = fresh(task_id="later", claim_by=now + timedelta(hours=1))
    due = fresh(task_id="due", claim_by=now - timedelta(seconds=1))
    claimed = fresh(task_id="claimed", claim_by=now - timedelta(seconds=1))
    brief = fresh(task_id="brief", claim_by=now - timedelta(seconds=1), expires_at=now + timedelta(seconds=1))
    for task in (later, due, claimed, brief, fresh(task_id="untimed")):
        await store.write(task)
    assert await store.client.zscore(key, "later") == later.claim_by.timestamp()
    assert await store.client.zscore(key, "untimed") is None  # no claim_by: nothing to escalate
    assert (await store.claim(claimed, "fraud-1"))[0]
    assert await store.client.zscore(key, "claimed") is None

    await watch_deadlines(store, loaded, "fraud")
    assert (await store.escalations(["due", "later", "brief"]))["due"]["stage"] == 1
    assert await store.client.zscore(key, "due") == (due.claim_by + timedelta(seconds=3)).timestamp()  # stage 2
    assert await store.client.zscore(key, "later") == later.claim_by.timestamp()  # not read: not due
    await asyncio.sleep(3)
    await store.remove_expired("fraud")
    assert await store.client.zscore(key, "brief") is None
    await watch_deadlines(store, loaded, "fraud")
    assert (await store.escalations(["due"]))["due"]["stage"] == 2
    assert await store.client.zscore(key, "due") is None  # no stage left

    await store.client.delete(key)  # as if written by a release before the index
    assert await store.index_deadlines("fraud") == 2  # "later" and "due" (the sweep then drops "due")
    assert await store.client.zscore(key, "later") == later.claim_by.timestamp()
    await store.client.aclose()


async def test_a_task_unclaimed_past_claim_by_is_a_breach_counted_and_announced_once(namespace: Namespace) -> None:
    """Two gateways (no policy: breaches are watched all the same) see the task unclaimed past its
    claim_by: one breach, counted and announced once; its late claim counts nothing more. A task
    claimed late before any sweep saw it is counted by its claim, once."""
    settings = swept(namespace)
    store = RedisTaskStore(connect_redis(settings.redis_url), settings.redis_prefix)
    notices = await following(store, "fraud")
    now = datetime.now(UTC).replace(microsecond=0)
    waiting = fresh(task_id="waiting", claim_by=now + timedelta(seconds=1))
    await store.write(waiting)
    async with two_gateways(settings) as gateways:
        before = await (await gateways[0].get("/metrics")).text()
        await until(lambda: store.client.exists(store.breached_key("waiting", "claim")))
        await asyncio.sleep(1.0)  # five more sweeps of each gateway
        claimed = await gateways[1].post("/api/tasks/waiting/claim", headers=auth("fraud-1"))
        assert claimed.status == 200
        after = await (await gateways[0].get("/metrics")).text()
    labels = {"queue": "fraud", "stage": "claim"}
    breaches = "ctxi_gateway_service_level_breaches_total"
    assert sample(after, breaches, **labels) - sample(before, breaches, **labels) == 1
    assert [notice["task_id"] for notice in await announced(notices, "breached")] == ["waiting"]

    quick = fresh(task_id="quick", claim_by=now - timedelta(seconds=1))  # no sweep runs now
    await store.write(quick)
    assert (await store.claim(quick, "fraud-1")) == (True, "fraud-1", True)  # counted by its claim
    assert not await store.breach(quick, "claim")  # and never again
    on_time = fresh(task_id="on-time", claim_by=now + timedelta(hours=1))
    await store.write(on_time)
    assert (await store.claim(on_time, "fraud-1")) == (True, "fraud-1", False)
    await notices.aclose()
    await store.client.aclose()


async def test_a_claimed_task_open_past_resolve_by_is_a_breach_counted_and_announced_once(
    namespace: Namespace,
) -> None:
    """Two gateways see the claimed task still open past its resolve_by: one breach, counted and
    announced once, and its late close counts nothing more; a task closed late before any sweep
    saw it is counted by its close, once."""
    settings = swept(namespace)
    store = RedisTaskStore(connect_redis(settings.redis_url), settings.redis_prefix)
    notices = await following(store, "fraud")
    now = datetime.now(UTC).replace(microsecond=0)
    await store.write(fresh(task_id="held", claim_by=now + timedelta(hours=1), resolve_by=now + timedelta(seconds=1)))
    labels = {"queue": "fraud", "stage": "resolve"}
    breaches = "ctxi_gateway_service_level_breaches_total"
    async with two_gateways(settings) as gateways:
        assert (await gateways[0].post("/api/tasks/held/claim", headers=auth("fraud-1"))).status == 200
        before = await (await gateways[0].get("/metrics")).text()
        await until(lambda: store.client.exists(store.breached_key("held", "resolve")))
        await asyncio.sleep(1.0)  # five more sweeps of each gateway
        done = await gateways[1].post("/api/tasks/held/complete", headers=auth("fraud-1"), json={"outcome": "ok"})
        assert done.status == 200
        after = await (await gateways[0].get("/metrics")).text()
    assert sample(after, breaches, **labels) - sample(before, breaches, **labels) == 1
    assert [(n["task_id"], n["stage"]) for n in await announced(notices, "breached")] == [("held", "resolve")]
    assert not await store.client.exists(store.breached_key("held", "resolve"))  # gone with the task

    unswept = TestClient(TestServer(build(settings.model_copy(update={"desktop_sweep_seconds": 3600}))))
    await unswept.start_server()  # its one sweep runs now, before the task exists
    await asyncio.sleep(0.5)
    await store.write(fresh(task_id="rushed", resolve_by=now - timedelta(seconds=1)))
    try:
        before = await (await unswept.get("/metrics")).text()
        assert (await unswept.post("/api/tasks/rushed/claim", headers=auth("fraud-1"))).status == 200
        done = await unswept.post("/api/tasks/rushed/dismiss", headers=auth("fraud-1"), json={"reason": "duplicate"})
        assert done.status == 200
        after = await (await unswept.get("/metrics")).text()
    finally:
        await unswept.close()
    assert sample(after, breaches, **labels) - sample(before, breaches, **labels) == 1  # counted by its close
    await notices.aclose()
    await store.client.aclose()

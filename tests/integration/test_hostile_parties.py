"""No one party around the engine can stop, stall or silence decisions for the others.

Found by a hostile probe, each once live: three forged outcomes on ``tasks.outcomes``
silenced a customer's fraud alerts; a 630-byte policy file (300 nested ``[``) killed the
worker and silently stopped the gateway's deadline sweep. Each test runs a real worker
and a real gateway on the real broker and Redis.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from faust.serializers import codecs

from ctxi.agents.codecs import CONTEXT_CODEC, DEAD_LETTER_CODEC
from ctxi.gateway import server
from ctxi.gateway.metrics import REGISTRY
from ctxi.gateway.server import watch_deadlines
from ctxi.schemas.task import Task, TaskOutcome
from ctxi.simulate.evaluate import wait_until_flowing
from ctxi.sinks.redis import RedisTaskStore, connect_redis
from tests.factories import make_task
from tests.integration.conftest import DesktopFactory, Namespace, WorkerFactory, auth
from tests.integration.pipeline import Pipeline, report_outcomes
from tests.integration.test_context_agent import table_state
from tests.integration.test_ingest_agent import consume
from tests.integration.test_metrics import scrape
from tests.integration.test_rules_live import FRAUD_LEVEL, impossible_travel, wait_for_log

FAR_FUTURE = datetime(2199, 1, 1, tzinfo=UTC)


def forged(task_id: str, customer: str, at: datetime) -> TaskOutcome:
    """A dismissal of a task nobody issued, as a writer of the topic could send it."""
    return TaskOutcome(
        task_id=task_id,
        customer_id=customer,
        queue="fraud",
        action="verify_card_activity",
        rule_id="fraud.impossible_travel",
        rule_version=1,
        agent_id="nobody",
        outcome="dismissed",
        detail="silence",
        at=at,
        created_at=at - timedelta(minutes=1),
    )


async def test_forged_outcomes_are_dead_letters_and_silence_no_one(
    namespace: Namespace, run_worker: WorkerFactory, gateway
) -> None:
    settings = namespace.settings
    worker = run_worker(namespace)
    client, store = gateway
    # three unsigned dismissals, dated 2199 so they would never lapse, and one signed in the future
    report_outcomes(settings, [forged(f"t-forged-{n}", "C-victim", FAR_FUTURE) for n in range(3)], signed=False)
    report_outcomes(settings, [forged("t-future", "C-victim", FAR_FUTURE)], signed=True)
    # and a real dismissal, through the gateway, by the agent holding the task
    held = make_task(task_id="t-real", customer_id="C-real", created_at=datetime.now(UTC).replace(microsecond=0))
    await store.write(held.model_copy(update={"expires_at": held.created_at + timedelta(hours=1)}))
    assert (await client.post("/api/tasks/t-real/claim", headers=auth("fraud-1"))).status == 200
    dismissed = await client.post("/api/tasks/t-real/dismiss", headers=auth("fraud-1"), json={"reason": "known"})
    assert dismissed.status == 200, await dismissed.text()

    letters = consume(settings.kafka_bootstrap_servers, [settings.dead_letter_topic], expected=4, timeout=90)
    reasons = sorted(codecs.loads(DEAD_LETTER_CODEC, record.value).reason for record in letters)
    assert reasons == [
        "outcome: closed in the future (2199-01-01T00:00:00+00:00; now " + reasons[0].split("; now ")[1],
        *["outcome: not signed by a gateway (outcomes are trusted only from gateways)"] * 3,
    ]
    deadline, contexts = time.monotonic() + 60, {}
    while "C-real" not in contexts and time.monotonic() < deadline:
        time.sleep(0.5)
        contexts = table_state(namespace, "customer_context", CONTEXT_CODEC)
    assert [rejection.task_id for rejection in contexts["C-real"].rejections] == ["t-real"]  # the gateway's counts
    assert "C-victim" not in contexts  # nothing forged reached a context

    pipeline = Pipeline(namespace)
    try:
        for customer, minute in (("C-victim", 0), ("C-control", 1)):
            for raw in impossible_travel(customer, minute):
                pipeline.feed(raw)
    finally:
        pipeline.close()
    assert sorted(task.customer_id for task in pipeline.tasks) == ["C-control", "C-victim"]
    assert len({task.priority for task in pipeline.tasks}) == 1  # the victim is treated as the control is
    assert worker.poll() is None


def wait_for(condition, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout:g} s: {what}")


async def test_a_nested_policy_swapped_in_leaves_the_one_before_in_force_on_worker_and_gateway(
    namespace: Namespace, run_worker: WorkerFactory, run_desktop: DesktopFactory, tmp_path: Path
) -> None:
    policy = tmp_path / "service-levels.yaml"
    policy.write_text(FRAUD_LEVEL.format(claim="5m"))
    namespace.env["CTXI_SLA_POLICY"] = str(policy)
    worker = run_worker(namespace)
    base_url = run_desktop(namespace, {"fraud-1": ("fraud-token-1", ["fraud"])})
    stale = ("ctxi_gateway_document_stale", (("document", "sla_policy"),))
    wait_for(lambda: scrape(base_url).get(stale) == 0, "the gateway's sweep follows the policy")
    wait_until_flowing(namespace.settings)  # the worker runs, on the good policy

    policy.write_text("policy: " + "[" * 300 + "]" * 300 + "\nowner: o\nlevels: []\n")  # 630 bytes
    wait_for_log(worker, "not used, the one before stays")
    assert "nested more than 32 deep" in worker.log_path.read_text()  # type: ignore[attr-defined]
    wait_for(lambda: scrape(base_url).get(stale) == 1, "the gateway says its policy file is stale")
    wait_for(
        lambda: scrape(worker.metrics_port).get(("ctxi_document_stale", (("document", "sla_policy"),))) == 1,  # type: ignore[attr-defined]
        "the worker says its policy file is stale",
    )

    pipeline = Pipeline(namespace)  # the worker still decides, by the policy before
    try:
        for raw in impossible_travel("C-1", 0):
            pipeline.feed(raw)
    finally:
        pipeline.close()
    [task] = pipeline.tasks
    assert task.claim_by - task.created_at == timedelta(minutes=5)

    # the gateway's sweep still runs: a task written now breaches when it is late, and is listed
    late = late_task("t-late")
    await write_task(namespace, late)
    breach = ("ctxi_gateway_service_level_breaches_total", (("queue", "fraud"), ("stage", "claim")))
    wait_for(lambda: scrape(base_url).get(breach) == 1, "the late task's breach is counted by the sweep")
    request = urllib.request.Request(
        f"{base_url}/api/queues/fraud/tasks", headers={"Authorization": "Bearer fraud-token-1"}
    )
    assert b"t-late" in urllib.request.urlopen(request, timeout=5).read()
    assert worker.poll() is None


def late_task(task_id: str) -> Task:
    """An unclaimed task that reached its queue 10 minutes ago, to be claimed 5 minutes ago."""
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    return make_task(
        task_id=task_id,
        created_at=created,
        queued_at=created,
        claim_by=created + timedelta(minutes=5),
        expires_at=created + timedelta(hours=2),
    )


async def write_task(namespace: Namespace, task: Task) -> None:
    store = RedisTaskStore(connect_redis(namespace.settings.redis_url), namespace.settings.redis_prefix)
    await store.write(task)
    await store.client.aclose()


async def breached(store: RedisTaskStore, task_id: str, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await store.client.get(store.breached_key(task_id, "claim")) is not None:
            return True
        await asyncio.sleep(0.3)
    return False


async def test_the_gateways_sweep_survives_what_it_did_not_expect(
    gateway, namespace: Namespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task body no model can read (another writer of Redis) once ended the sweep for good,
    silently: no breach, escalation or expiry was announced again until a restart. Now that
    body is left out (logged), and any failure of a sweep is logged and counted, and the next
    sweep goes on."""
    client, store = gateway
    now = datetime.now(UTC).replace(microsecond=0)
    await store.client.set(store.task_key("t-junk"), b'{"not": "a task"}')
    await store.client.zadd(store.claim_watch_key("fraud"), {"t-junk": now.timestamp() - 400})
    await store.write(late_task("t-beside-junk"))
    assert await breached(store, "t-beside-junk"), "a junk body stopped the sweep of the tasks beside it"
    assert await store.client.zscore(store.claim_watch_key("fraud"), "t-junk") is None  # left out for good

    failures = 0

    async def failing_once(*args: object) -> None:
        nonlocal failures
        if not failures:
            failures += 1
            raise RuntimeError("a failure nobody expected")
        await watch_deadlines(*args)  # type: ignore[arg-type]

    def counted() -> float:
        return REGISTRY.get_sample_value("ctxi_gateway_sweep_failures_total", {"queue": "fraud"}) or 0.0

    before = counted()
    monkeypatch.setattr(server, "watch_deadlines", failing_once)
    await store.write(late_task("t-after-failure"))
    assert await breached(store, "t-after-failure"), "the sweep stopped after a failure"
    assert failures == 1 and counted() == before + 1
    assert (await client.get("/api/queues/fraud/tasks", headers=auth("fraud-1"))).status == 200

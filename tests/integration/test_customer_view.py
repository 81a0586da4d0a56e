"""The customer view against a real worker, Redis and gateway: the live context (not the task's
snapshot) within a second of an event, who may look (another queue's customer is 404), and the
audit trail a supervisor reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from ctxi.gateway.auth import hash_token
from ctxi.gateway.server import build
from ctxi.settings import AgentAccess
from tests.integration.conftest import Namespace, WorkerFactory, auth, until
from tests.integration.pipeline import Pipeline

NOW = datetime.now(UTC).replace(microsecond=0)
LOOKUP_TOKEN = "lookup-token-1"


def event(event_id: str, event_type: str, minutes_ago: float, payload: dict, customer: str = "C-1001") -> bytes:
    at = (NOW - timedelta(minutes=minutes_ago)).isoformat()
    return orjson.dumps(
        {"event_id": event_id, "type": event_type, "customer_id": customer, "occurred_at": at, "payload": payload}
    )


PROFILE = {
    "tier": "gold",
    "lifetime_value": 18250.0,
    "currency": "USD",
    "nps": 9,
    "csat": 5,
    "attributes": {"email": "Ann.Lee@example.com"},
}
NEW_YORK = {"lat": 40.7128, "lon": -74.006, "city": "New York", "country": "US"}
PARIS = {"lat": 48.8566, "lon": 2.3522, "city": "Paris", "country": "FR"}


async def test_an_agent_sees_the_live_context_of_its_queues_customers_and_every_view_is_recorded(
    namespace: Namespace, run_worker: WorkerFactory, gateway
) -> None:
    worker = run_worker(namespace)
    client, store = gateway
    pipeline = Pipeline(namespace)
    try:
        pipeline.feed(event("cv-1", "crm.customer_profile", 200, PROFILE))
        pipeline.feed(event("cv-2", "social.checkin", 120, {"location": NEW_YORK, "network": "instagram"}))
        card = {
            "transaction_id": "T-1",
            "amount": 1249.0,
            "currency": "EUR",
            "merchant": "Galeries Lafayette",
            "card_present": True,
            "location": PARIS,
            "status": "approved",
        }
        pipeline.feed(event("cv-3", "billing.card_transaction", 30, card))
        [task] = await until(lambda: store.list_queue("fraud"), "the fraud task")
        assert task.customer_id == "C-1001"

        async def view_of(agent: str, path: str = "/api/customers/C-1001"):  # type: ignore[no-untyped-def]
            response = await client.get(path, headers=auth(agent))
            return response.status, (await response.json())

        status, shown = await view_of("fraud-1", f"/api/customers/C-1001?task={task.task_id}")
        assert status == 200
        view = shown["view"]
        assert view["location"]["city"] == "Paris" and view["location"]["source"] == "billing.card_transaction"
        assert view["engagement"]["emotional"] == 0.95 and 0 < view["engagement"]["score"] <= 100
        assert [item["event_id"] for item in shown["timeline"]] == ["cv-3", "cv-2", "cv-1"]
        assert [t["task_id"] for t in shown["open_tasks"]] == [task.task_id]

        # an event after the task: the view has it within a second, the task's snapshot does not
        session = {"actor": "customer", "channel": "app", "device_type": "phone"}
        topic = namespace.settings.input_topic("device")
        pipeline.producer.send(topic, key=b"C-1001", value=event("cv-4", "device.session", 1, session)).get(timeout=10)

        async def the_session() -> dict | None:
            _, shown = await view_of("fraud-1")
            return shown if shown["view"].get("device") else None

        shown = await until(the_session, "the session in the view", timeout=10)
        assert shown["view"]["device"]["device_type"] == "phone" and shown["timeline"][0]["event_id"] == "cv-4"
        assert (await store.get(task.task_id)).context.device is None  # type: ignore[union-attr]

        # travel-1's queues hold no task of C-1001: as if there were no such customer
        assert (await view_of("travel-1"))[0] == 404
        assert (await view_of("travel-1", "/api/customers/C-nobody"))[0] == 404
        assert (await client.get("/api/customers?identifier=C-1001", headers=auth("fraud-1"))).status == 403

        # the supervisor of fraud looks too, and reads who looked
        status, _ = await view_of("lead-1")
        assert status == 200
        trail = await (await client.get("/api/supervisor/customer-views", headers=auth("lead-1"))).json()
        seen = [(entry["viewer"], entry["customer_id"], entry["task_id"]) for entry in trail["views"]]
        assert seen[0] == ("lead-1", "C-1001", "")  # newest first
        assert ("fraud-1", "C-1001", task.task_id) in seen
        # read again and again while open: one look from the task, one without, not one per read
        assert sorted(task_id for viewer, _, task_id in seen if viewer == "fraud-1") == ["", task.task_id]
        assert not any(viewer == "travel-1" for viewer, _, _ in seen)  # refused views show nothing
        assert (await client.get("/api/supervisor/customer-views", headers=auth("fraud-1"))).status == 403
    finally:
        pipeline.close()
    assert worker.poll() is None


async def test_a_caller_with_lookup_finds_a_customer_by_email_however_written(
    namespace: Namespace, run_worker: WorkerFactory, gateway
) -> None:
    worker = run_worker(namespace)
    _, store = gateway
    settings = namespace.settings.model_copy(
        update={
            "agents": {
                "desk-9": AgentAccess(token_sha256=hash_token(LOOKUP_TOKEN), queues=["service"], customer_lookup=True)
            }
        }
    )
    from aiohttp.test_utils import TestClient, TestServer

    lookup = TestClient(TestServer(build(settings)))
    await lookup.start_server()
    pipeline = Pipeline(namespace)
    headers = {"Authorization": f"Bearer {LOOKUP_TOKEN}"}
    try:
        pipeline.feed(event("lk-1", "crm.customer_profile", 10, PROFILE, customer="C-2002"))

        async def found() -> dict | None:
            response = await lookup.get("/api/customers?identifier= ann.lee@EXAMPLE.com ", headers=headers)
            return await response.json() if response.status == 200 else None

        assert await until(found, "the customer by email") == {"customer_id": "C-2002"}
        # no task of C-2002 in desk-9's queues, yet it may open the view; the trail has it
        response = await lookup.get("/api/customers/C-2002", headers=headers)
        assert response.status == 200 and (await response.json())["open_tasks"] == []
        missing = await lookup.get("/api/customers?identifier=nobody@example.com", headers=headers)
        assert missing.status == 404
        trail = await store.client.xrevrange(f"{settings.redis_prefix}:customer_views", count=1)
        assert trail[0][1][b"viewer"] == b"desk-9"
    finally:
        pipeline.close()
        await lookup.close()
    assert worker.poll() is None

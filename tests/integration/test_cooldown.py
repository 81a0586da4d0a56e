"""A cool-down respects the agent: a task an agent closed is never reopened by its rule firing
again inside the cool-down; after it, the next firing is a new task.

Once, "one goodwill offer a month" (cooldown: 30d) came back unclaimed as revision 3 after the
agent had completed it, and the agent was asked twice.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from ctxi.rules import BUILTIN_PACKS
from tests.integration.conftest import Namespace, WorkerFactory, auth, until
from tests.integration.pipeline import Pipeline

GOODWILL = """\
pack: loyalty
owner: loyalty@acme.example
rules:
  - id: loyalty.goodwill_offer
    version: 1
    owner: loyalty@acme.example
    description: One goodwill offer a month to a customer who got in touch.
    on: [crm.interaction]
    when: "true"
    then:
      queue: travel
      action: offer_goodwill
      title: "Offer goodwill"
      reason: "They got in touch."
      steps: ["Offer the voucher."]
      severity: low
      expires_in: 60d
      cooldown: 30d
      dedup_key: "{{ customer.customer_id }}:goodwill"
"""


START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=35)  # tasks still current at the end


def contact(customer: str, after: timedelta) -> bytes:
    at = (START + after).isoformat()
    document = {"event_id": f"{customer}-{at}", "type": "crm.interaction", "customer_id": customer, "occurred_at": at}
    return orjson.dumps({**document, "payload": {"channel": "phone"}})


async def test_a_closed_task_stays_closed_inside_its_cooldown_and_a_new_one_comes_after(
    namespace: Namespace, run_worker: WorkerFactory, gateway, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(BUILTIN_PACKS, rules)
    (rules / "loyalty.yaml").write_text(GOODWILL)
    namespace.env["CTXI_RULES_DIR"] = str(rules)
    worker = run_worker(namespace)
    client, store = gateway
    pipeline = Pipeline(namespace)

    async def queued() -> list[str]:
        return [task.task_id for task in await store.list_queue("travel")]

    try:
        pipeline.feed(contact("C-1", timedelta(0)))
        [task_id] = await until(queued, "the first goodwill task on the queue")
        assert (await client.post(f"/api/tasks/{task_id}/claim", headers=auth("travel-1"))).status == 200
        done = await client.post(f"/api/tasks/{task_id}/complete", headers=auth("travel-1"), json={"outcome": "sent"})
        assert done.status == 200

        pipeline.feed(contact("C-1", timedelta(days=1)))  # the rule fires again inside the 30-day cool-down
        revisions = await until(lambda: store.after_close(task_id), "the revision kept with the closed task")
        assert [(task.task_id, task.revision) for task in revisions] == [(task_id, 2)]
        assert await queued() == []  # not reopened: the agent decided already
        lead = await client.get("/api/supervisor/rules", headers=auth("lead-1"))
        travel = next(queue for queue in (await lead.json())["queues"] if queue["queue"] == "travel")
        [row] = [row for row in travel["rules"] if row["rule_id"] == "loyalty.goodwill_offer"]
        assert (row["completed"], row["kept_closed"], row["open"]) == (1, 1, 0)

        pipeline.feed(contact("C-1", timedelta(days=35)))  # past the cool-down
        [new_id] = await until(queued, "a new task after the cool-down")
        assert new_id != task_id
        assert (await store.get(new_id)).revision == 1  # type: ignore[union-attr]
    finally:
        pipeline.close()
    assert worker.poll() is None

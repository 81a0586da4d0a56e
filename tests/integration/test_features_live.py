"""Rule-pack features on a live worker compute what replay computes, and are kept in the changelog.

The built-in packs' feature rules (card velocity, a payment right after a new device, a
gold customer's repeated contact about one case) are fed through a worker on the real
broker, one event at a time in event-time order, then replayed from the same lines.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from ctxi.engine.config import EngineConfig
from ctxi.engine.replay import replay
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.rules.loader import load_rule_dir
from ctxi.schemas.task import Task
from ctxi.streams.codecs import CONTEXT_CODEC
from tests.integration.conftest import Namespace, WorkerFactory
from tests.integration.pipeline import Pipeline
from tests.integration.test_context_agent import as_json, table_state


def event(event_id: str, event_type: str, customer: str, at: str, payload: dict) -> dict:
    return {"event_id": event_id, "type": event_type, "customer_id": customer, "occurred_at": at, "payload": payload}


def card(event_id: str, customer: str, at: str, amount: float) -> dict:
    payload = {
        "transaction_id": f"TX-{event_id}",
        "amount": amount,
        "currency": "USD",
        "merchant": "Electronics",
        "card_present": False,
        "status": "approved",
    }
    return event(event_id, "billing.card_transaction", customer, at, payload)


def session(event_id: str, customer: str, at: str, device: str) -> dict:
    payload = {"actor": "customer", "device_type": device, "channel": "web"}
    return event(event_id, "device.session", customer, at, payload)


def contact(event_id: str, customer: str, at: str, case: str) -> dict:
    return event(event_id, "crm.interaction", customer, at, {"channel": "phone", "case_id": case})


EVENTS = [
    # card velocity: four payments over 3,000 in an hour, a fifth updates the task
    *(card(f"v{i}", "C-vel", f"2026-03-02T10:{m}:00Z", 900.0) for i, m in enumerate(["00", "12", "25", "41", "50"])),
    # a payment over 500 twelve minutes after a session from a device type unused in 90 days
    session("s1", "C-dev", "2026-02-01T09:00:00Z", "desktop"),
    session("s2", "C-dev", "2026-03-02T10:00:00Z", "phone"),
    card("n1", "C-dev", "2026-03-02T10:12:00Z", 800.0),
    # a gold customer's third and fourth contact about one open case; one about another case
    event("p1", "crm.customer_profile", "C-case", "2026-03-01T08:00:00Z", {"tier": "gold", "lifetime_value": 30000.0}),
    *(
        event(f"o{case}", "crm.case_opened", "C-case", "2026-03-01T09:00:00Z",
              {"case_id": case, "subject": "Refund not received", "severity": "high", "channel": "phone"})
        for case in ("CASE-1", "CASE-2")
    ),
    contact("r1", "C-case", "2026-03-02T09:00:00Z", "CASE-1"),
    contact("r2", "C-case", "2026-03-02T12:00:00Z", "CASE-2"),
    contact("r3", "C-case", "2026-03-02T15:00:00Z", "CASE-1"),
    contact("r4", "C-case", "2026-03-03T08:00:00Z", "CASE-1"),
    contact("r5", "C-case", "2026-03-03T10:00:00Z", "CASE-1"),
]  # fmt: skip


def test_features_live_match_replay_and_live_in_the_changelog(
    namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path
) -> None:
    lines = [orjson.dumps(document) for document in sorted(EVENTS, key=lambda document: document["occurred_at"])]
    run_worker(namespace)
    pipeline = Pipeline(namespace)
    try:
        for raw in lines:
            pipeline.feed(raw)
    finally:
        pipeline.close()

    path = tmp_path / "features.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    tasks: list[Task] = []
    rules = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset(namespace.settings.queues)))
    summary = replay(
        [path],
        EngineConfig(),
        lambda enriched: None,
        lambda letter: None,
        rules=rules,
        decide=lambda d: tasks.append(d.task),
    )
    assert summary.rule_failures == {} and summary.feature_failures == {}
    assert as_json(pipeline.tasks) == as_json(tasks)
    latest = {task.task_id: task for task in pipeline.tasks}  # a revision replaces its task
    assert sorted((task.customer_id, task.action, task.revision) for task in latest.values()) == [
        ("C-case", "own_repeat_contact", 2),
        ("C-dev", "verify_new_device_payment", 1),
        ("C-vel", "review_card_velocity", 2),
    ]
    velocity = next(task for task in latest.values() if task.action == "review_card_velocity")
    assert "5 approved card payments within an hour, USD 4,500.00 in all" in " ".join(velocity.reason.split())
    # the features' state is in the customer's row of the table, as replay left it
    contexts = table_state(namespace, "customer_context", CONTEXT_CODEC)
    for customer in ("C-vel", "C-dev", "C-case"):
        assert contexts[customer].features == summary.contexts[customer].features
        assert contexts[customer].features

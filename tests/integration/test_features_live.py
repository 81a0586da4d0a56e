"""Rule-pack features on live workers compute what replay computes, and are kept in the changelogs.

The built-in packs' feature rules (card velocity, a payment right after a new device, a
gold customer's repeated contact about one case, one card on several accounts) are fed
through workers on the real broker, one event at a time in event-time order, then replayed
from the same lines.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from kafka.partitioner.default import murmur2

from ctxi.agents.codecs import CONTEXT_CODEC, ENTITY_FEATURE_CODEC
from ctxi.engine.replay import ReplaySummary, replay
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.task import Task
from ctxi.settings import EngineConfig
from tests.integration.conftest import Namespace, WorkerFactory
from tests.integration.pipeline import Pipeline
from tests.integration.test_context_agent import as_json, table_state
from tests.integration.test_scale_out import wait_for_members


def event(event_id: str, event_type: str, customer: str, at: str, payload: dict) -> dict:
    return {"event_id": event_id, "type": event_type, "customer_id": customer, "occurred_at": at, "payload": payload}


def card(event_id: str, customer: str, at: str, amount: float, card_id: str | None = None) -> dict:
    payload = {
        "transaction_id": f"TX-{event_id}",
        "amount": amount,
        "currency": "USD",
        "merchant": "Electronics",
        "card_present": False,
        "status": "approved",
    }
    if card_id is not None:
        payload["card_id"] = card_id
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


def fed_and_replayed(namespace: Namespace, documents: list[dict], tmp_path: Path) -> tuple[Pipeline, ReplaySummary]:
    """Feed ``documents`` to the running workers one at a time, replay them; the tasks must be the same."""
    lines = [orjson.dumps(document) for document in sorted(documents, key=lambda document: document["occurred_at"])]
    pipeline = Pipeline(namespace)
    try:
        for raw in lines:
            pipeline.feed(raw)
    finally:
        pipeline.close()

    path = tmp_path / "features.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    tasks: list[Task] = []
    summary = replay(
        [path],
        EngineConfig(),
        lambda enriched: None,
        lambda letter: None,
        rules=builtin_rules(namespace),
        decide=lambda d: tasks.append(d.task),
    )
    assert summary.rule_failures == {} and summary.feature_failures == {}
    assert as_json(pipeline.tasks) == as_json(tasks)
    return pipeline, summary


def builtin_rules(namespace: Namespace) -> RuleSet:
    return RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset(namespace.settings.queues)))


def test_features_live_match_replay_and_live_in_the_changelog(
    namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path
) -> None:
    run_worker(namespace)
    pipeline, summary = fed_and_replayed(namespace, EVENTS, tmp_path)
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


def partition_of(key: str, partitions: int) -> int:
    """The partition the workers' producer sends ``key`` to (Kafka's default partitioner, murmur2)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def test_an_entity_feature_is_kept_on_the_cards_partition_and_read_by_rules_on_another_workers_customers(
    namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path
) -> None:
    """Two workers share the two partitions; the card's row is on one, the customer who trips the rule on the other."""
    settings = namespace.settings
    partitions = settings.topic_partitions
    feature = next(f for f in builtin_rules(namespace).features.features if f.feature.id == "card_customers_24h")
    row_key = f'{feature.state_key}/["card-77"]'
    row_partition = partition_of(row_key, partitions)
    candidates = [f"C-share-{index}" for index in range(40)]
    elsewhere = [c for c in candidates if partition_of(c, partitions) != row_partition]
    alongside = [c for c in candidates if partition_of(c, partitions) == row_partition]
    customers = [alongside[0], elsewhere[0], elsewhere[1]]  # the third, who trips the rule, is on the other partition
    documents = [
        card(f"k{index}", customer, f"2026-03-02T{8 + index:02d}:00:00Z", 40.0, card_id="card-77")
        for index, customer in enumerate(customers)
    ]
    documents.append(card("k9", elsewhere[2], "2026-03-04T12:00:00Z", 40.0, card_id="card-77"))  # a day later

    run_worker(namespace), run_worker(namespace)
    wait_for_members(settings.kafka_bootstrap_servers, settings.app_id, 2)
    pipeline, summary = fed_and_replayed(namespace, documents, tmp_path)

    shared = [task for task in pipeline.tasks if task.action == "review_shared_card"]
    assert [(task.customer_id, task.title) for task in shared] == [
        (customers[2], "Card used on 3 accounts in 24 hours")
    ]
    rows = table_state(namespace, "entity_features", ENTITY_FEATURE_CODEC)
    assert set(rows) == {row_key} and rows == summary.entity_features
    assert list(rows[row_key].state.values) == [elsewhere[2]]  # the others left the window before the last payment
    # nothing of the card's feature is kept in the customers' contexts (their own features are)
    contexts = table_state(namespace, "customer_context", CONTEXT_CODEC)
    kept = [key for customer in customers for key in contexts[customer].features]
    assert kept and not [key for key in kept if key.startswith("card_customers_24h")]

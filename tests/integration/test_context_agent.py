"""The context agent on the real broker: join, fan-out, de-duplication, enrichment, recovery.

Events are produced in event-time order and each is let through the pipeline before the
next (events of one customer arrive on several input topics, and Kafka orders messages
only within a partition; in event-time order the stream path and replay must agree).
"""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from faust.serializers import codecs
from kafka import KafkaConsumer, KafkaProducer

from ctxi.agents.codecs import CONTEXT_CODEC
from ctxi.context.fleet import index_entries
from ctxi.engine.pipeline import ROUTED_ADAPTER, EnrichedEvent
from ctxi.engine.replay import replay
from ctxi.ingest import read_jsonl
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.dead_letter import DeadLetter
from ctxi.schemas.events import EVENT_MODELS, FleetEventEnvelope
from ctxi.schemas.task import Task, TaskOutcome
from ctxi.service_levels.policy import load_policy
from ctxi.settings import EngineConfig
from tests.factories import JFK_LHR_FCO, booking, checkin
from tests.integration.conftest import Namespace, WorkerFactory
from tests.integration.pipeline import Pipeline, report_outcomes, wait_until_consumed

SERVICE_LEVELS = Path(__file__).resolve().parents[2] / "examples" / "service-levels.yaml"

SCENARIOS = Path(__file__).resolve().parents[2] / "examples" / "scenarios.jsonl"


def table_state(namespace: Namespace, table: str, codec: str) -> dict[str, object]:
    """The latest value of every key in a faust table's changelog topic."""
    consumer = KafkaConsumer(
        f"{namespace.settings.app_id}-{table}-changelog",
        bootstrap_servers=namespace.settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    state = {record.key.decode(): codecs.loads(codec, record.value) for record in consumer}
    consumer.close()
    return state


def valid_lines_in_event_time_order() -> list[bytes]:
    valid = [record for record in read_jsonl(SCENARIOS) if not isinstance(record.outcome, DeadLetter)]
    return [record.raw for record in sorted(valid, key=lambda record: record.outcome.occurred_at)]


def fed_the_scenarios(namespace: Namespace) -> Pipeline:
    """The example scenarios fed to the namespace's worker one at a time, with what came out."""
    pipeline = Pipeline(namespace)
    try:
        for raw in valid_lines_in_event_time_order():
            pipeline.feed(raw)
    finally:
        pipeline.close()
    return pipeline


def as_json(events: list[EnrichedEvent]) -> list[bytes]:
    return sorted(orjson.dumps(event.model_dump()) for event in events)


def test_stream_path_matches_replay_and_the_table_holds_each_customers_context(
    namespace: Namespace, run_worker: WorkerFactory
) -> None:
    namespace.env["CTXI_SLA_POLICY"] = str(SERVICE_LEVELS)  # tasks get their deadlines live as in replay
    run_worker(namespace)
    pipeline = fed_the_scenarios(namespace)

    expected: list[EnrichedEvent] = []
    tasks: list[Task] = []
    # the worker runs the built-in packs until others are published: so does this replay
    rules = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset(namespace.settings.queues)))
    summary = replay(
        [SCENARIOS],
        EngineConfig(),
        expected.append,
        lambda letter: None,
        rules=rules,
        decide=lambda decision: tasks.append(decision.task),
        service_levels=load_policy(SERVICE_LEVELS, frozenset(namespace.settings.queues)),
    )
    assert as_json(pipeline.enriched) == as_json(expected)
    assert as_json(pipeline.tasks) == as_json(tasks)
    assert all(task.claim_by and task.resolve_by for task in pipeline.tasks)

    # a flight delay reached every customer booked on that flight
    delayed = {e.customer_id for e in pipeline.enriched if e.event_id == "sc-016"}
    assert delayed == {"C-4004", "C-4005"}
    # keyed by their customers, the customers' own events were joined where ingest read them (one
    # hop): what crossed the by-customer topic is fleet events and their copies, index entries, visits
    crossed = [ROUTED_ADAPTER.validate_json(raw) for raw in pipeline.forwarded]
    assert crossed and not [m for m in crossed if isinstance(m, EVENT_MODELS) and not isinstance(m, FleetEventEnvelope)]
    # the duplicate card event went through ingest twice (every input message was taken) but was joined once
    wait_until_consumed(namespace.settings)
    # the table holds what replay computed, customer by customer
    contexts = table_state(namespace, "customer_context", CONTEXT_CODEC)
    assert [seen.event_id for seen in contexts["C-1002"].seen].count("sc-006") == 1
    assert contexts == summary.contexts
    assert [o.city for o in contexts["C-1001"].observations] == ["New York", "Paris"]


def test_with_signals_off_the_worker_sends_the_same_tasks_and_nothing_on_the_signals_topic(
    namespace: Namespace, run_worker: WorkerFactory
) -> None:
    namespace.env["CTXI_PUBLISH_SIGNALS"] = "false"
    run_worker(namespace)
    pipeline = fed_the_scenarios(namespace)  # each event seen through by its context's changelog record
    tasks: list[Task] = []
    rules = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset(namespace.settings.queues)))
    replay(
        [SCENARIOS], EngineConfig(), lambda e: None, lambda d: None, rules=rules, decide=lambda d: tasks.append(d.task)
    )
    assert tasks and as_json(pipeline.tasks) == as_json(tasks)
    assert pipeline.enriched == []


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_a_restarted_worker_recovers_its_table(namespace: Namespace, run_worker: WorkerFactory, store: str) -> None:
    """memory:// rebuilds the table from the changelog; rocksdb:// reopens its files and catches up."""
    namespace.env["CTXI_STORE"] = store
    lines = {orjson.loads(raw)["event_id"]: raw for raw in valid_lines_in_event_time_order()}
    first = run_worker(namespace)
    pipeline = Pipeline(namespace)
    try:
        pipeline.feed(lines["sc-001"])  # profile
        pipeline.feed(lines["sc-002"])  # check-in in New York
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0

        run_worker(namespace)  # same app id: same consumer group and changelog
        pipeline.feed(lines["sc-003"], timeout=40)  # card in Paris 90 min later
        pipeline.feed(lines["sc-002"])  # the check-in again: a duplicate for the recovered context
    finally:
        pipeline.close()

    conflicts = [
        s for e in pipeline.enriched if e.event_id == "sc-003" for s in e.signals if s.kind == "location_conflict"
    ]
    assert len(conflicts) == 1
    assert conflicts[0].earlier.city == "New York"  # only known from before the restart
    assert [e.event_id for e in pipeline.enriched].count("sc-002") == 0  # a check-in alone has no signal
    contexts = table_state(namespace, "customer_context", CONTEXT_CODEC)
    assert [seen.event_id for seen in contexts["C-1001"].seen] == ["sc-001", "sc-002", "sc-003"]


def test_a_dismissal_reported_on_the_outcomes_topic_reaches_the_customers_context(
    namespace: Namespace, run_worker: WorkerFactory
) -> None:
    run_worker(namespace)
    pipeline = Pipeline(namespace)
    try:
        pipeline.feed(valid_lines_in_event_time_order()[0])  # any event: the worker is up and joined
        outcome = TaskOutcome(
            task_id="t-1",
            customer_id="C-77",
            queue="service",
            action="warn_debit_will_fail",
            rule_id="service.debit_will_fail",
            rule_version=1,
            agent_id="A-1",
            outcome="dismissed",
            detail="the customer already moved money",
            at="2026-03-02T08:00:00Z",
            created_at="2026-03-02T07:00:00Z",
        )
        report_outcomes(namespace.settings, [outcome])
        deadline, contexts = time.monotonic() + 60, {}
        while "C-77" not in contexts and time.monotonic() < deadline:
            time.sleep(0.5)
            contexts = table_state(namespace, "customer_context", CONTEXT_CODEC)
    finally:
        pipeline.close()
    assert [(r.task_id, r.action) for r in contexts["C-77"].rejections] == [("t-1", "warn_debit_will_fail")]


def test_fleet_index_rows_nobody_needs_are_dropped(namespace: Namespace, run_worker: WorkerFactory) -> None:
    """A booking's flights and airports are indexed; once the stream has moved past the trip
    (and the keep window), the sweep drops their rows: tombstones in the changelog."""
    settings = namespace.settings
    run_worker(Namespace(settings, {**namespace.env, "CTXI_SWEEP_SECONDS": "1"}))
    trip = booking(*JFK_LHR_FCO, customer_id="C-trip")
    keys = {entry.key for entry in index_entries(trip, timedelta(hours=EngineConfig().itinerary_keep_hours))}
    later = checkin("2026-03-09T10:00:00Z", 40.71, -74.0)  # another customer, days after the trip
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    for event in (trip, later):
        producer.send(
            settings.input_topic(event.source), key=event.customer_id.encode(), value=event.model_dump_json().encode()
        )
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        f"{settings.app_id}-fleet_index-changelog",
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    written: set[str] = set()
    dropped: set[str] = set()
    deadline = time.monotonic() + 90
    while dropped != keys and time.monotonic() < deadline:
        for record in consumer:
            (dropped if record.value is None else written).add(record.key.decode())
    consumer.close()
    assert written == keys  # indexed first
    assert dropped == keys

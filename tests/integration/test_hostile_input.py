"""Hostile and careless input through a live worker on the real broker: nothing lost, nothing poisoned.

Once, 13 of 2,000 fuzzed lines vanished (NaN written as null that the next agent could
not read back, a 40-digit integer orjson would not write: each crashed an agent), and
one event dated 9999-12-31 moved the worker's stream time so far that the fleet sweep
dropped every booking and no travel task was made at all.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from faust.serializers import codecs
from kafka import KafkaProducer

from ctxi.agents.codecs import DEAD_LETTER_CODEC
from ctxi.ingest import validate_event
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.simulate.evaluate import send, wait_until_flowing
from tests.fuzzing import mutated_line
from tests.integration.conftest import Namespace, WorkerFactory, assert_each_task_once, planted_stream
from tests.integration.test_ingest_agent import consume
from tests.integration.test_metrics import scrape

FUZZED_LINES = 400


def test_every_fuzzed_line_is_an_event_or_a_dead_letter_and_the_worker_carries_on(
    namespace: Namespace, run_worker: WorkerFactory
) -> None:
    settings = namespace.settings
    worker = run_worker(namespace)
    wait_until_flowing(settings)
    rng = random.Random(15)
    lines = [mutated_line(rng) for _ in range(FUZZED_LINES)]
    # what ingest should make of each line, judged offline by the same code
    rejected = sum(isinstance(validate_event(line, FileOrigin(path="fuzz", line=0)), DeadLetter) for line in lines)
    assert 0 < rejected < FUZZED_LINES
    send(lines, settings, rate=None)

    letters = consume(settings.kafka_bootstrap_servers, [settings.dead_letter_topic], expected=rejected, timeout=120)
    reasons = [codecs.loads(DEAD_LETTER_CODEC, record.value) for record in letters]
    assert len(reasons) == rejected
    assert all(letter.reason and letter.errors for letter in reasons)
    # nothing the engine or a codec could not carry: every dead letter is ingest's, for bad input
    assert not [letter for letter in reasons if letter.errors[0].type == "processing_error"]

    deadline, counted = time.monotonic() + 60, 0.0
    while counted < FUZZED_LINES and time.monotonic() < deadline:  # the probe's event counts too
        metrics = scrape(worker.metrics_port)  # type: ignore[attr-defined]
        accepted = sum(value for (name, _), value in metrics.items() if name == "ctxi_events_in_total")
        dead = sum(value for (name, _), value in metrics.items() if name == "ctxi_dead_letters_total")
        counted = accepted - 1 + dead
        time.sleep(0.5)
    assert (accepted - 1, dead) == (FUZZED_LINES - rejected, rejected)

    wait_until_flowing(settings)  # a valid event after them all still goes through every stage
    assert worker.poll() is None, "bad input must never stop the worker"


def test_an_event_from_the_far_future_leaves_other_customers_travel_tasks_intact(
    namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path
) -> None:
    """Dated in year 9999 it is a dead letter. Dated within the window ahead of the clock that
    ingest believes (widened to 30 days here), it moves the stream time, yet the fleet sweep
    (every second here) never expires bookings ahead of the wall clock."""
    lines, expected = planted_stream(namespace.settings, tmp_path / "planted.jsonl", customers=30, seed=21)
    assert any(queue == "travel" for _, queue, _ in expected), "the planted stream has travel tasks"
    sweeping = Namespace(
        namespace.settings,
        {**namespace.env, "CTXI_SWEEP_SECONDS": "1", "CTXI_EVENT_TIME__MAX_AHEAD_HOURS": str(30 * 24)},
    )
    worker = run_worker(sweeping)
    wait_until_flowing(namespace.settings)

    def profile(at: datetime) -> bytes:
        stranger = f"C-far-{uuid.uuid4().hex[:6]}"
        return orjson.dumps(
            {
                "event_id": f"far-{stranger}",
                "type": "crm.customer_profile",
                "customer_id": stranger,
                "occurred_at": at.isoformat(),
                "payload": {"tier": "gold", "lifetime_value": 10.0},
            }
        )

    now = datetime.now(UTC)
    send([profile(datetime(9999, 12, 31, tzinfo=UTC)), profile(now + timedelta(days=29))], namespace.settings, None)
    [letter] = consume(namespace.settings.kafka_bootstrap_servers, [namespace.settings.dead_letter_topic], 1)
    assert "occurred_at" in codecs.loads(DEAD_LETTER_CODEC, letter.value).reason
    # the bookings first, then sweeps with the stream time four weeks ahead, then the flights' news
    bookings = [line for line in lines if b'"travel.booking"' in line]
    send(bookings, namespace.settings, rate=None)
    time.sleep(4)
    send([line for line in lines if line not in bookings], namespace.settings, rate=None)
    assert_each_task_once(namespace.settings, expected, "after an event from the future")
    assert worker.poll() is None


def test_what_no_codec_can_read_on_ctxi_own_topics_is_a_dead_letter(
    namespace: Namespace, run_worker: WorkerFactory
) -> None:
    """Bytes another producer wrote to the by-customer topic, and an outcome with a
    million-character text (the gateway refuses it; a direct producer might not), once each
    crashed an agent and were lost."""
    settings = namespace.settings
    worker = run_worker(namespace)
    wait_until_flowing(settings)
    outcome = {
        "type": "ctxi.task_outcome",
        "task_id": "t-1",
        "customer_id": "C-1",
        "queue": "fraud",
        "action": "verify_card_activity",
        "rule_id": "fraud.impossible_travel",
        "rule_version": 1,
        "agent_id": "A-1",
        "outcome": "completed",
        "detail": "x" * 1_000_000,
        "at": datetime.now(UTC).isoformat(),
    }
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, max_request_size=2_000_000)
    producer.send(settings.events_by_customer_topic, key=b"C-1", value=b"\xff not json").get(timeout=30)
    producer.send(settings.outcomes_topic, key=b"C-1", value=orjson.dumps(outcome)).get(timeout=30)
    producer.close()

    letters = consume(settings.kafka_bootstrap_servers, [settings.dead_letter_topic], expected=2, timeout=60)
    decoded = [codecs.loads(DEAD_LETTER_CODEC, record.value) for record in letters]
    assert len(decoded) == 2
    assert {letter.origin.topic for letter in decoded} == {settings.events_by_customer_topic, settings.outcomes_topic}
    assert all("ValueDecodeError" in letter.reason for letter in decoded)
    assert all(letter.original_bytes is None or letter.original_bytes > 128 * 1024 for letter in decoded)
    wait_until_flowing(settings)  # both agents still run
    assert worker.poll() is None

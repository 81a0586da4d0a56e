"""The ingest agent on a real broker: valid events are repartitioned, bad ones dead-lettered;
and ``ctxi events produce``, which feeds the input topics as source systems do."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from faust.serializers import codecs
from kafka import KafkaConsumer, KafkaProducer

from ctxi.agents.codecs import CONTEXT_CODEC, DEAD_LETTER_CODEC, EVENT_CODEC
from ctxi.schemas.dead_letter import DeadLetter
from ctxi.schemas.events import SOURCES, CheckinEvent
from ctxi.streams.topics import changelog_topic
from tests.conftest import REPO_ROOT
from tests.integration.conftest import Namespace, WorkerFactory

MORNING = REPO_ROOT / "examples" / "morning.jsonl"

CHECKIN = {
    "event_id": "evt-it-01",
    "type": "social.checkin",
    "customer_id": "C-1001",
    "occurred_at": "2026-03-01T10:00:00Z",
    "source_system": "instagram",
    "payload": {
        "network": "instagram",
        "location": {"lat": 40.7580, "lon": -73.9855, "city": "New York", "country": "US"},
    },
}
# A naive timestamp and a number sent as a string: two reasons in one message.
BAD_CHECKIN = {
    **CHECKIN,
    "event_id": "evt-it-02",
    "occurred_at": "2026-03-01T10:00:00",
    "payload": {**CHECKIN["payload"], "location": {"lat": "40.7580", "lon": -73.9855}},
}


def consume(bootstrap: str, topics: list[str], expected: int, timeout: float = 90.0) -> list:
    consumer = KafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=1000
    )
    records: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def test_a_keyed_event_is_joined_where_read_a_mis_keyed_one_repartitioned_and_an_invalid_one_dead_lettered(
    namespace: Namespace, run_worker: WorkerFactory
) -> None:
    """The same customer's check-in produced to each input partition: on the partition its key
    hashes to (as the by-customer topic's) it is joined where ingest reads it, one hop; on the
    other it is forwarded to the by-customer topic keyed by customer, so it still reaches the
    partition that owns the customer's context. Both end up in that one context."""
    settings = namespace.settings
    worker = run_worker(namespace)

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    input_topic = settings.input_topic("social")
    for partition in (0, 1):
        producer.send(
            input_topic,
            key=b"C-1001",
            value=orjson.dumps({**CHECKIN, "event_id": f"evt-it-p{partition}"}),
            partition=partition,
        ).get(timeout=30)
    bad = producer.send(input_topic, key=b"C-1001", value=orjson.dumps(BAD_CHECKIN)).get(timeout=30)
    producer.close()

    contexts = changelog_topic(settings, "customer_context")
    topics = [settings.events_by_customer_topic, settings.dead_letter_topic, contexts]
    records = consume(settings.kafka_bootstrap_servers, topics, expected=4)
    assert worker.poll() is None, "the worker must survive bad input"
    by_topic: dict[str, list] = {topic: [r for r in records if r.topic == topic] for topic in topics}
    assert len(records) == 4 and [len(by_topic[topic]) for topic in topics] == [1, 1, 2], records

    [forwarded] = by_topic[settings.events_by_customer_topic]
    assert forwarded.key == b"C-1001"
    event = codecs.loads(EVENT_CODEC, forwarded.value)
    assert isinstance(event, CheckinEvent)
    assert event.payload.location.city == "New York"
    owner = forwarded.partition  # where the customer's context lives
    assert event.event_id == f"evt-it-p{1 - owner}", "only the event read on the other partition crosses"
    # the context, on the owner's partition, has both: the one joined where read and the one forwarded
    assert {record.partition for record in by_topic[contexts]} == {owner}
    latest = codecs.loads(CONTEXT_CODEC, by_topic[contexts][-1].value)
    assert {seen.event_id for seen in latest.seen} == {"evt-it-p0", "evt-it-p1"}

    [dead] = by_topic[settings.dead_letter_topic]
    letter = codecs.loads(DEAD_LETTER_CODEC, dead.value)
    assert isinstance(letter, DeadLetter)
    assert letter.event_id == "evt-it-02"
    assert {error.loc for error in letter.errors} == {"occurred_at", "payload.location.lat"}
    assert "without UTC offset" in letter.reason
    assert orjson.loads(letter.original) == BAD_CHECKIN
    assert (letter.origin.topic, letter.origin.partition, letter.origin.offset) == (
        input_topic,
        bad.partition,
        bad.offset,
    )


def test_garbage_is_dead_lettered_and_the_events_after_it_still_flow(
    namespace: Namespace, run_worker: WorkerFactory
) -> None:
    settings = namespace.settings
    run_worker(namespace)
    input_topic = settings.input_topic("crm")
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    garbage = [b"this line is not JSON", b"\xff\xfe\x00\x01", b"", b"[1, 2, 3]"]
    for value in garbage:
        producer.send(input_topic, key=b"C-9", value=value)
    after = {**CHECKIN, "event_id": "evt-after-garbage", "customer_id": "C-9"}
    producer.send(settings.input_topic("social"), key=b"C-9", value=orjson.dumps(after))
    producer.flush()
    producer.close()

    contexts = changelog_topic(settings, "customer_context")  # keyed by customer: joined where read
    records = consume(
        settings.kafka_bootstrap_servers, [settings.dead_letter_topic, contexts], expected=len(garbage) + 1
    )
    letters = [codecs.loads(DEAD_LETTER_CODEC, r.value) for r in records if r.topic == settings.dead_letter_topic]
    joined = [codecs.loads(CONTEXT_CODEC, r.value) for r in records if r.topic == contexts]
    assert [[seen.event_id for seen in context.seen] for context in joined] == [["evt-after-garbage"]]
    assert sorted(letter.origin.offset for letter in letters) == [0, 1, 2, 3]
    reasons = {letter.origin.offset: letter.reason for letter in letters}
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1].startswith("not valid JSON")
    assert reasons[2] == "empty message"
    assert reasons[3] == "not a JSON object"
    binary = next(letter for letter in letters if letter.origin.offset == 1)
    assert binary.original_encoding == "base64"


def test_events_produce_routes_by_source_and_shifts_the_file_to_now(namespace: Namespace) -> None:
    settings = namespace.settings
    started = datetime.now(UTC).replace(microsecond=0)
    result = subprocess.run(
        [sys.executable, "-m", "ctxi.cli", "events", "produce", "--shift-to-now", "--interval", "0.01", str(MORNING)],
        env={**os.environ, **namespace.env},
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in MORNING.read_bytes().splitlines() if line.strip()]
    assert "shifting every timestamp by" in result.stderr
    records = consume(settings.kafka_bootstrap_servers, [settings.input_topic(s) for s in SOURCES], len(lines))
    assert len(records) == len(lines)
    times = [datetime.fromisoformat(orjson.loads(record.value)["occurred_at"]) for record in records]
    assert started <= max(times) <= datetime.now(UTC)  # the latest event happened as it was sent
    for record in records:
        document = orjson.loads(record.value)
        assert record.topic == settings.input_topic(document["type"].partition(".")[0])


def test_events_produce_reports_a_line_too_large_to_send_and_sends_the_rest(
    namespace: Namespace, tmp_path: Path
) -> None:
    """It once stopped at such a line with a traceback, never sending the lines after it."""
    settings = namespace.settings
    huge = {**CHECKIN, "event_id": "evt-huge", "payload": {**CHECKIN["payload"], "place_name": "x" * 2_000_000}}
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        b"\n".join(orjson.dumps({**CHECKIN, "event_id": f"evt-{n}"}) for n in (1, 2)).replace(
            b"\n", b"\n" + orjson.dumps(huge) + b"\n"
        )
        + b"\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ctxi.cli", "events", "produce", str(events)],
        env={**os.environ, **namespace.env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr  # it ran: the line not sent is reported
    assert f"{events}:2: too large (" in result.stderr and "Traceback" not in result.stderr
    assert "1 line(s) not sent" in result.stderr
    records = consume(settings.kafka_bootstrap_servers, [settings.input_topic("social")], expected=2)
    assert sorted(orjson.loads(record.value)["event_id"] for record in records) == ["evt-1", "evt-2"]


def test_simulate_sends_its_stream_to_the_input_topics_at_a_rate(namespace: Namespace, tmp_path: Path) -> None:
    settings = namespace.settings
    truth = tmp_path / "sim.truth.json"
    started = time.monotonic()
    command = ["simulate", "--kafka", "--rate", "200", "--customers", "20", "--truth", str(truth)]
    result = subprocess.run(
        [sys.executable, "-m", "ctxi.cli", *command],
        env={**os.environ, **namespace.env},
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.monotonic() - started
    sent = int(result.stdout.split("sent ")[1].split(" lines")[0].replace(",", ""))
    records = consume(settings.kafka_bootstrap_servers, [settings.input_topic(s) for s in SOURCES], sent)
    assert len(records) == sent > 50
    assert elapsed >= sent / 200  # the rate held them back
    assert orjson.loads(truth.read_bytes())["planted"]

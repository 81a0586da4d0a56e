"""validate_event: every kind of bad input becomes a dead letter with a reason and its origin."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from ctxi.ingest import validate_event
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin, KafkaOrigin
from ctxi.schemas.events import CheckinEvent

ORIGIN = KafkaOrigin(topic="events.social", partition=3, offset=42, key="C-1001")
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHECKIN = {
    "event_id": "evt-01",
    "type": "social.checkin",
    "customer_id": "C-1001",
    "occurred_at": "2026-03-01T10:00:00Z",
    "payload": {"network": "instagram", "location": {"lat": 40.758, "lon": -73.9855}},
}


def rejected(raw: bytes | None) -> DeadLetter:
    outcome = validate_event(raw, ORIGIN, now=NOW)
    assert isinstance(outcome, DeadLetter), outcome
    assert outcome.origin == ORIGIN
    assert outcome.rejected_at == NOW
    return outcome


def test_valid_bytes_become_a_typed_event() -> None:
    event = validate_event(orjson.dumps(CHECKIN), ORIGIN)
    assert isinstance(event, CheckinEvent)
    assert event.payload.location.lat == 40.758


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not valid JSON: expected ident at line 1 column 2"),
        (b'{"event_id": "e", ', "not valid JSON: EOF while parsing a value at line 1 column 18"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"", "empty message"),
        (None, "empty message"),
        (b"{}", "type: Field required"),
    ],
)
def test_unusable_messages(raw: bytes | None, reason: str) -> None:
    assert rejected(raw).reason == reason


def test_unknown_type_names_the_type_and_the_known_ones() -> None:
    letter = rejected(orjson.dumps({**CHECKIN, "type": "social.like"}))
    assert letter.errors[0].loc == "type"
    assert letter.reason.startswith("type: unknown event type 'social.like'; expected one of 'crm.customer_profile'")
    assert letter.event_type == "social.like"


def test_every_problem_is_listed_with_its_path() -> None:
    document = {**CHECKIN, "occurred_at": "2026-03-01T10:00:00", "payload": {"network": "instagram"}}
    del document["customer_id"]
    letter = rejected(orjson.dumps(document))
    assert [(error.loc, error.type) for error in letter.errors] == [
        ("customer_id", "missing"),
        ("occurred_at", "timezone_aware"),
        ("payload.location", "missing"),
    ]
    assert letter.reason == (
        "customer_id: Field required; "
        "occurred_at: timestamp without UTC offset (RFC 3339 needs one, e.g. 2026-03-01T10:00:00Z); "
        "payload.location: Field required"
    )


def test_identity_of_a_rejected_event_is_kept_for_triage() -> None:
    letter = rejected(orjson.dumps({**CHECKIN, "occurred_at": "yesterday"}))
    assert (letter.event_id, letter.event_type) == ("evt-01", "social.checkin")


def test_identity_is_left_empty_when_it_is_not_a_string() -> None:
    letter = rejected(orjson.dumps({**CHECKIN, "event_id": 7, "occurred_at": "yesterday"}))
    assert (letter.event_id, letter.event_type) == (None, "social.checkin")


def test_original_text_is_kept_as_is() -> None:
    raw = b'{"type": "social.checkin", "note": "caf\xc3\xa9"}'
    letter = rejected(raw)
    assert (letter.original, letter.original_encoding) == (raw.decode("utf-8"), "utf-8")


def test_original_bytes_that_are_not_utf8_are_kept_as_base64() -> None:
    raw = b"\xff\xfe\x00binary"
    letter = rejected(raw)
    assert letter.original_encoding == "base64"
    assert base64.b64decode(letter.original) == raw
    assert letter.reason.startswith("not valid JSON")


def test_file_origin_reads_as_file_and_line() -> None:
    outcome = validate_event(b"nope", FileOrigin(path="events.jsonl", line=7))
    assert isinstance(outcome, DeadLetter)
    assert str(outcome.origin) == "events.jsonl:7"
    assert str(ORIGIN) == "events.social[3]@42"


def test_reason_never_carries_field_values() -> None:
    document = {**CHECKIN, "payload": {"network": "instagram", "location": {"lat": "40.758 secret", "lon": 1}}}
    letter = rejected(orjson.dumps(document))
    assert "secret" not in letter.reason
    assert all("secret" not in error.msg for error in letter.errors)

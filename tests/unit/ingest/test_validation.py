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


# --- what a hostile probe once got through (issue 29) ------------------------------------

HOSTILE_BASE = {
    "event_id": "e-1",
    "type": "crm.customer_profile",
    "customer_id": "C-1",
    "occurred_at": "2026-03-01T10:00:00Z",
    "payload": {"tier": "gold", "lifetime_value": 10.0, "attributes": {"segment": "a"}},
}


def reason_of(raw: bytes) -> str:
    from ctxi.schemas.dead_letter import FileOrigin

    outcome = validate_event(raw, FileOrigin(path="probe", line=1), now=datetime(2026, 3, 1, 12, tzinfo=UTC))
    return outcome.reason if isinstance(outcome, DeadLetter) else "accepted"


@pytest.mark.parametrize(
    "timestamp",
    [
        "1772359200",
        "1772359200000",
        "1772359200.5",
        "2026-03-01T10:00:00+0100",
        "2026-03-01T10:00Z",
        "20260301T100000Z",
    ],
)
def test_a_time_in_any_form_but_rfc_3339_is_a_dead_letter(timestamp: str) -> None:
    """Once taken as Unix time: the contract says RFC 3339 with an offset."""
    reason = reason_of(orjson.dumps({**HOSTILE_BASE, "occurred_at": timestamp}))
    assert (
        reason
        == "occurred_at: not an RFC 3339 timestamp (like 2026-03-01T10:00:00Z); Unix times and other forms are refused"
    )


@pytest.mark.parametrize(
    "timestamp", ["2026-03-01T10:00:00Z", "2026-03-01t10:00:00.123456789z", "2026-03-01 11:00:00+01:00"]
)
def test_every_rfc_3339_form_is_read(timestamp: str) -> None:
    assert reason_of(orjson.dumps({**HOSTILE_BASE, "occurred_at": timestamp})) == "accepted"


@pytest.mark.parametrize("invisible", ["\u200b\u200b", "\ufeff", "\u202e\u200d", "\x00", " \u2060 "])
def test_an_id_no_one_can_see_is_a_dead_letter(invisible: str) -> None:
    reason = reason_of(orjson.dumps({**HOSTILE_BASE, "customer_id": invisible}))
    assert reason == "customer_id: blank (only whitespace, invisible or control characters)"


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"event_id": "e-2", ' + orjson.dumps(HOSTILE_BASE)[1:], "event_id"),
        (orjson.dumps(HOSTILE_BASE).replace(b'"tier":"gold"', b'"tier":"gold","tier":"standard"'), "tier"),
        (orjson.dumps(HOSTILE_BASE).replace(b'"tier":"gold"', b'"tier" :"gold", "tier"\t: "standard"'), "tier"),
        # escapes in the text: the exact, slower reading
        (orjson.dumps(HOSTILE_BASE).replace(b'"segment":"a"', b'"segment":"a\\"b","segment":"c"'), "segment"),
    ],
)
def test_a_key_given_twice_is_a_dead_letter(raw: bytes, where: str) -> None:
    """pydantic keeps the last of the two, silently; another reader of the same bytes may take the first."""
    assert reason_of(raw) == f"{where}: a key given twice in one object"


def test_quotes_and_colons_inside_texts_are_not_keys() -> None:
    document = {**HOSTILE_BASE, "payload": {**HOSTILE_BASE["payload"], "attributes": {"note": 'he said "a": b'}}}
    assert reason_of(orjson.dumps(document)) == "accepted"
    assert reason_of(orjson.dumps(document, option=orjson.OPT_INDENT_2)) == "accepted"


def test_a_name_with_control_characters_is_escaped_in_the_reason() -> None:
    """A newline in a key once forged an [ERROR] line in the worker's log."""
    document = {**HOSTILE_BASE, "payload": {**HOSTILE_BASE["payload"], "attributes": {"x\n[ERROR] forged\u200b": 1}}}
    reason = reason_of(orjson.dumps(document))
    assert "\n" not in reason and "\u200b" not in reason
    assert "payload.attributes.x\\n[ERROR] forged\\u200b" in reason


@pytest.mark.parametrize("value", [b"NaN", b"1e400", b"-Infinity", b"1" * 40])
def test_a_value_only_pydantic_reads_in_an_ignored_field_does_not_stop_the_duplicate_key_check(value: bytes) -> None:
    """Once, NaN in a field the contract ignores made orjson fail inside the check: validation raised."""
    raw = orjson.dumps(HOSTILE_BASE).replace(b'"tier":"gold"', b'"tier":"gold","extra":' + value)
    assert reason_of(raw) == "accepted"
    assert reason_of(raw.replace(b'"tier":"gold"', b'"tier":"gold","tier":"silver"')) == (
        "tier: a key given twice in one object"
    )

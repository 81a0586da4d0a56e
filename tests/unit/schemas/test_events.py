"""Every event type of the SPEC catalogue: a valid example and the typical invalid variants."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from ctxi.schemas.events import (
    EVENT_ADAPTER,
    EVENT_TYPES,
    SOURCES,
    FleetEventEnvelope,
    FlightStatusEvent,
    WeatherAlertEvent,
)

EXAMPLES_FILE = Path(__file__).resolve().parents[3] / "examples" / "events.jsonl"
EXAMPLES: dict[str, dict[str, Any]] = {
    document["type"]: document for document in map(orjson.loads, EXAMPLES_FILE.read_bytes().splitlines())
}
FLEET_TYPES = {name for name, model in EVENT_TYPES.items() if issubclass(model, FleetEventEnvelope)}
CUSTOMER_TYPES = sorted(set(EVENT_TYPES) - FLEET_TYPES)


def example(event_type: str) -> dict[str, Any]:
    return copy.deepcopy(EXAMPLES[event_type])


def errors_of(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        EVENT_ADAPTER.validate_json(orjson.dumps(document))
    # drop the discriminator tag pydantic puts first in each location
    return {".".join(map(str, error["loc"][1:])): error["type"] for error in caught.value.errors()}


def required_payload_fields() -> list[tuple[str, str]]:
    cases = []
    for event_type, model in EVENT_TYPES.items():
        payload_model = model.model_fields["payload"].annotation
        cases += [(event_type, name) for name, field in payload_model.model_fields.items() if field.is_required()]
    return cases


def test_the_catalogue_is_the_specs() -> None:
    assert sorted(EVENT_TYPES) == sorted(
        [
            "crm.customer_profile",
            "crm.case_opened",
            "crm.case_closed",
            "crm.interaction",
            "billing.card_transaction",
            "billing.payment_failed",
            "billing.balance_low",
            "billing.dispute_opened",
            "social.checkin",
            "social.post",
            "travel.booking",
            "travel.flight_status",
            "travel.weather_alert",
            "device.session",
        ]
    )
    assert SOURCES == ("crm", "billing", "social", "travel", "device")
    assert {"travel.flight_status", "travel.weather_alert"} == FLEET_TYPES


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_valid_example_parses_to_its_model(event_type: str) -> None:
    event = EVENT_ADAPTER.validate_json(orjson.dumps(example(event_type)))
    assert type(event) is EVENT_TYPES[event_type]
    assert event.type == event_type
    assert event.occurred_at.utcoffset() is not None
    assert event.source == event_type.partition(".")[0]


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_serialized_event_parses_back_to_an_equal_event(event_type: str) -> None:
    event = EVENT_ADAPTER.validate_json(orjson.dumps(example(event_type)))
    assert EVENT_ADAPTER.validate_json(orjson.dumps(EVENT_ADAPTER.dump_python(event))) == event


@pytest.mark.parametrize(("event_type", "field"), required_payload_fields())
def test_missing_required_payload_field_is_rejected(event_type: str, field: str) -> None:
    document = example(event_type)
    document["payload"].pop(field, None)
    assert errors_of(document).get(f"payload.{field}") == "missing"


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@pytest.mark.parametrize("field", ["event_id", "type", "occurred_at", "payload"])
def test_missing_envelope_field_is_rejected(event_type: str, field: str) -> None:
    document = example(event_type)
    del document[field]
    with pytest.raises(ValidationError):
        EVENT_ADAPTER.validate_json(orjson.dumps(document))


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
@pytest.mark.parametrize(
    "timestamp", ["2026-03-01T10:00:00", "2026-03-01", "yesterday", 1772359200, "2026-13-01T10:00:00Z"]
)
def test_occurred_at_must_be_an_rfc3339_timestamp_with_offset(event_type: str, timestamp: object) -> None:
    document = example(event_type)
    document["occurred_at"] = timestamp
    assert "occurred_at" in errors_of(document)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_any_offset_is_accepted(event_type: str) -> None:
    document = example(event_type)
    document["occurred_at"] = "2026-03-01T11:00:00+01:00"
    event = EVENT_ADAPTER.validate_json(orjson.dumps(document))
    assert event.occurred_at.isoformat() == "2026-03-01T11:00:00+01:00"


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_unknown_envelope_field_is_rejected(event_type: str) -> None:
    document = example(event_type)
    document["occured_at"] = document["occurred_at"]  # a typo must not pass unnoticed
    assert errors_of(document) == {"occured_at": "extra_forbidden"}


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_unknown_payload_field_is_ignored(event_type: str) -> None:
    document = example(event_type)
    document["payload"]["added_by_the_source_later"] = 1
    assert type(EVENT_ADAPTER.validate_json(orjson.dumps(document))) is EVENT_TYPES[event_type]


@pytest.mark.parametrize("event_type", CUSTOMER_TYPES)
@pytest.mark.parametrize("customer_id", ["<missing>", "", None, 1001])
def test_customer_events_need_a_customer_id(event_type: str, customer_id: object) -> None:
    document = example(event_type)
    if customer_id == "<missing>":
        del document["customer_id"]
    else:
        document["customer_id"] = customer_id
    assert "customer_id" in errors_of(document)


@pytest.mark.parametrize("event_type", CUSTOMER_TYPES)
def test_customer_events_are_keyed_by_customer(event_type: str) -> None:
    event = EVENT_ADAPTER.validate_json(orjson.dumps(example(event_type)))
    assert event.partition_key == event.customer_id


def test_fleet_events_are_keyed_by_flight_or_airport_until_fanned_out() -> None:
    status = EVENT_ADAPTER.validate_json(orjson.dumps(example("travel.flight_status")))
    assert isinstance(status, FlightStatusEvent)
    assert status.customer_id is None
    assert status.partition_key == "flight:BA178:2026-03-03"
    alert = EVENT_ADAPTER.validate_json(orjson.dumps(example("travel.weather_alert")))
    assert isinstance(alert, WeatherAlertEvent)
    assert alert.partition_key == "airport:LHR"
    fanned_out = status.model_copy(update={"customer_id": "C-4004"})
    assert fanned_out.partition_key == "C-4004"


def test_weather_alert_by_location_is_keyed_by_rounded_coordinates() -> None:
    document = example("travel.weather_alert")
    del document["payload"]["airport"]
    document["payload"]["location"] = {"lat": 51.4700, "lon": -0.4543}
    assert EVENT_ADAPTER.validate_json(orjson.dumps(document)).partition_key == "location:51.47,-0.45"


def test_unknown_type_is_rejected() -> None:
    document = example("social.checkin")
    document["type"] = "social.like"
    with pytest.raises(ValidationError) as caught:
        EVENT_ADAPTER.validate_json(orjson.dumps(document))
    assert [error["type"] for error in caught.value.errors()] == ["union_tag_invalid"]


@pytest.mark.parametrize(
    ("event_type", "path", "value", "error_loc"),
    [
        # numbers as numbers, booleans as booleans
        ("billing.card_transaction", ["amount"], "1249.00", "payload.amount"),
        ("billing.card_transaction", ["card_present"], "true", "payload.card_present"),
        ("billing.card_transaction", ["card_present"], 1, "payload.card_present"),
        ("social.post", ["followers"], "80412", "payload.followers"),
        ("social.post", ["followers"], -1, "payload.followers"),
        ("social.post", ["followers"], 1.5, "payload.followers"),
        ("social.post", ["mentions_brand"], "yes", "payload.mentions_brand"),
        ("social.post", ["sentiment"], -1.5, "payload.sentiment"),
        ("crm.customer_profile", ["lifetime_value"], -10, "payload.lifetime_value"),
        ("crm.customer_profile", ["nps"], 11, "payload.nps"),
        ("crm.customer_profile", ["csat"], 0, "payload.csat"),
        ("crm.interaction", ["sentiment"], 2, "payload.sentiment"),
        # enums as listed
        ("crm.customer_profile", ["tier"], "diamond", "payload.tier"),
        ("crm.customer_profile", ["tier"], "Gold", "payload.tier"),
        ("crm.customer_profile", ["preferred_channel"], "pigeon", "payload.preferred_channel"),
        ("crm.case_opened", ["severity"], "urgent", "payload.severity"),
        ("billing.card_transaction", ["status"], "pending", "payload.status"),
        ("travel.flight_status", ["status"], "late", "payload.status"),
        ("travel.weather_alert", ["severity"], "bad", "payload.severity"),
        ("device.session", ["actor"], "bot", "payload.actor"),
        ("device.session", ["device_type"], "watch", "payload.device_type"),
        ("device.session", ["channel"], "fax", "payload.channel"),
        # codes and locations
        ("billing.card_transaction", ["currency"], "eur", "payload.currency"),
        ("billing.card_transaction", ["location", "lat"], 91.0, "payload.location.lat"),
        ("billing.card_transaction", ["location", "lon"], -181.0, "payload.location.lon"),
        ("billing.card_transaction", ["location", "country"], "FRA", "payload.location.country"),
        ("social.checkin", ["location", "accuracy_km"], -1, "payload.location.accuracy_km"),
        ("travel.flight_status", ["flight"], "British Airways 178", "payload.flight"),
        ("travel.weather_alert", ["airport"], "London", "payload.airport"),
        ("billing.balance_low", ["upcoming_debit", "due_date"], "in two days", "payload.upcoming_debit.due_date"),
        # nested timestamps need an offset too
        ("travel.flight_status", ["scheduled_departure"], "2026-03-03T22:00:00", "payload.scheduled_departure"),
        ("travel.weather_alert", ["valid_to"], "2026-03-04T18:00:00", "payload.valid_to"),
    ],
)
def test_wrong_field_values_are_rejected(event_type: str, path: list[str], value: object, error_loc: str) -> None:
    document = example(event_type)
    target = document["payload"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert error_loc in errors_of(document)


def test_booking_segment_must_arrive_after_it_departs() -> None:
    document = example("travel.booking")
    segment = document["payload"]["segments"][0]
    segment["arrives_at"] = segment["departs_at"]
    assert "payload.segments.0" in errors_of(document)


def test_booking_segment_timestamps_need_an_offset() -> None:
    document = example("travel.booking")
    document["payload"]["segments"][1]["departs_at"] = "2026-03-04T11:10:00"
    assert "payload.segments.1.departs_at" in errors_of(document)


def test_booking_segments_must_be_in_flight_order() -> None:
    document = example("travel.booking")
    document["payload"]["segments"].reverse()
    with pytest.raises(ValidationError, match="flight order"):
        EVENT_ADAPTER.validate_json(orjson.dumps(document))


def test_booking_needs_a_segment() -> None:
    document = example("travel.booking")
    document["payload"]["segments"] = []
    assert "payload.segments" in errors_of(document)


def test_weather_alert_needs_an_airport_or_a_location() -> None:
    document = example("travel.weather_alert")
    del document["payload"]["airport"]
    with pytest.raises(ValidationError, match="either airport or location"):
        EVENT_ADAPTER.validate_json(orjson.dumps(document))


def test_weather_alert_must_end_after_it_starts() -> None:
    document = example("travel.weather_alert")
    document["payload"]["valid_to"] = document["payload"]["valid_from"]
    with pytest.raises(ValidationError, match="valid_to must be after valid_from"):
        EVENT_ADAPTER.validate_json(orjson.dumps(document))


def test_balance_may_be_negative() -> None:
    document = example("billing.balance_low")
    document["payload"]["balance"] = -35.5
    assert EVENT_ADAPTER.validate_json(orjson.dumps(document)).payload.balance == -35.5


def test_schema_version_defaults_to_one_and_must_be_positive() -> None:
    assert EVENT_ADAPTER.validate_json(orjson.dumps(example("social.post"))).schema_version == 1
    document = example("social.post")
    document["schema_version"] = 0
    assert "schema_version" in errors_of(document)


def test_attributes_carry_bounded_scalars_rules_can_read() -> None:
    base = {"event_id": "i1", "type": "crm.interaction", "customer_id": "C-1", "occurred_at": "2026-03-01T10:00:00Z"}
    ok = {"wait_s": 340, "topic": "refund", "vip": True, "score": 0.5, "note": None}
    event = EVENT_ADAPTER.validate_json(orjson.dumps({**base, "payload": {"channel": "phone", "attributes": ok}}))
    assert event.payload.attributes == ok and event.payload.case_id is None
    for attributes, where in [
        ({"nested": {"a": 1}}, "payload.attributes.nested"),
        ({"bad key": 1}, "payload.attributes.bad key.[key]"),
        ({f"k{i}": i for i in range(33)}, "payload.attributes"),
        ({"text": "x" * 1001}, "payload.attributes.text"),
    ]:
        with pytest.raises(ValidationError) as caught:
            EVENT_ADAPTER.validate_json(
                orjson.dumps({**base, "payload": {"channel": "phone", "attributes": attributes}})
            )
        locations = {".".join(str(p) for p in error["loc"][1:]) for error in caught.value.errors()}
        assert any(location.startswith(where) for location in locations), (where, locations)

from datetime import UTC, datetime, timedelta, timezone

from pydantic import TypeAdapter

from ctxi.schemas.context import CustomerContext, Observation
from ctxi.schemas.encoding import dumps_model

CONTEXTS = TypeAdapter(CustomerContext)


def test_a_row_leaves_defaults_out_writes_utc_as_z_and_reads_back_equal() -> None:
    at = datetime(2026, 3, 1, 9, 30, 0, 125000, tzinfo=UTC)
    context = CustomerContext(
        customer_id="C-1",
        watermark=at,
        observations=[
            Observation(at=at, lat=48.85, lon=2.35, accuracy_km=0.1, source="social.checkin", event_id="e1"),
            Observation(
                at=at.astimezone(timezone(timedelta(hours=2))),  # an offset other than UTC is kept as it came
                lat=40.7,
                lon=-74.0,
                accuracy_km=1.0,
                source="device.session",
                event_id="e2",
            ),
        ],
        activity=[1_772_357_400],
    )
    row = dumps_model(CONTEXTS, context, state=True)
    assert b'"watermark":"2026-03-01T09:30:00.125000Z"' in row and b"+00:00" not in row
    assert b'"at":"2026-03-01T11:30:00.125000+02:00"' in row
    assert b'"posts"' not in row and b'"billing"' not in row and b'"city"' not in row  # defaults left out
    assert CONTEXTS.validate_json(row) == context


def test_a_message_keeps_every_field() -> None:
    message = dumps_model(CONTEXTS, CustomerContext(customer_id="C-1"))
    assert b'"posts":[]' in message and b'"billing":{' in message

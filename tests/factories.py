"""Builders of valid contract objects for tests; override only what a test is about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ctxi.schemas.events import EVENT_ADAPTER
from ctxi.schemas.task import Task

TASK_CREATED_AT = datetime(2026, 3, 1, 11, 31, tzinfo=UTC)


def make_task(**overrides: Any) -> Task:
    fields: dict[str, Any] = {
        "task_id": "task-1",
        "customer_id": "C-1001",
        "queue": "fraud",
        "action": "verify_card_activity",
        "title": "Verify card activity",
        "priority": 90,
        "reason": "card used 5,800 km from the customer's check-in 90 min earlier",
        "steps": ["Call the customer on the phone number on file", "Confirm the Paris purchase"],
        "evidence": ["evt-0005", "evt-0006"],
        "rule_id": "fraud.impossible_travel",
        "rule_version": 1,
        "created_at": TASK_CREATED_AT,
        "not_before": None,
        "expires_at": TASK_CREATED_AT + timedelta(hours=4),
    }
    return Task(**{**fields, **overrides})


def make_event(event_type: str, payload: dict[str, Any], *, at: str, customer_id: str | None = "C-1", **envelope: Any):
    """A validated event of ``event_type`` (through the same JSON path as ingest)."""
    document: dict[str, Any] = {
        "event_id": envelope.pop("event_id", f"{event_type}@{at}"),
        "type": event_type,
        "occurred_at": at,
        "payload": payload,
        **envelope,
    }
    if customer_id is not None:
        document["customer_id"] = customer_id
    return EVENT_ADAPTER.validate_json(orjson.dumps(document))


def checkin(at: str, lat: float, lon: float, **extra: Any):
    return make_event("social.checkin", {"network": "instagram", "location": {"lat": lat, "lon": lon, **extra}}, at=at)


def card(
    at: str, lat: float | None, lon: float | None, *, present: bool = True, status: str = "approved", **extra: Any
):
    payload: dict[str, Any] = {
        "transaction_id": f"TX@{at}",
        "amount": 100.0,
        "currency": "EUR",
        "merchant": "Shop",
        "card_present": present,
        "status": status,
    }
    if lat is not None and lon is not None:
        payload["location"] = {"lat": lat, "lon": lon, **extra}
    return make_event("billing.card_transaction", payload, at=at)


def segment(flight: str, origin: str, destination: str, departs: str, arrives: str) -> dict[str, str]:
    return {
        "flight": flight,
        "origin": origin,
        "destination": destination,
        "departs_at": departs,
        "arrives_at": arrives,
    }


def booking(
    *segments: dict[str, str], at: str = "2026-02-20T15:00:00Z", booking_id: str = "PNR-1", customer_id: str = "C-1"
):
    return make_event(
        "travel.booking",
        {"booking_id": booking_id, "segments": list(segments)},
        at=at,
        customer_id=customer_id,
        event_id=f"booking-{booking_id}-{customer_id}",
    )


JFK_LHR_FCO = (
    segment("BA178", "JFK", "LHR", "2026-03-03T22:00:00Z", "2026-03-04T09:55:00Z"),
    segment("BA548", "LHR", "FCO", "2026-03-04T11:10:00Z", "2026-03-04T13:40:00Z"),
)


def flight_status(flight: str, scheduled: str, status: str, *, at: str, customer_id: str | None = None, **extra: Any):
    payload = {"flight": flight, "scheduled_departure": scheduled, "status": status, **extra}
    return make_event("travel.flight_status", payload, at=at, customer_id=customer_id, event_id=f"fs-{flight}-{at}")


def joined(*events: Any, config: Any = None):
    """The context after joining ``events`` in the order given."""
    from ctxi.engine.event_types import builtin_event_types
    from ctxi.settings import EngineConfig

    context = None
    for event in events:
        context = builtin_event_types().join(context, event, config or EngineConfig()).context
    return context


def loyalty_pack(version: int = 1) -> str:
    """A small pack of another team's (loyalty): thank a customer who got in touch."""
    return f"""\
pack: loyalty
owner: loyalty@acme.example
rules:
  - id: loyalty.thank_for_contact
    version: {version}
    owner: loyalty@acme.example
    description: Thank a customer who got in touch.
    on: [crm.interaction]
    when: "true"
    then:
      queue: service
      action: thank_customer
      title: "Thank the customer (v{version})"
      reason: "They got in touch."
      steps: ["Send a thank-you note."]
      severity: low
      expires_in: 4h
"""

"""Every event type the engine decides on, declared in one place, with what it needs end to end.

Each row pairs an event model (``schemas/events.py``) with its joiner, how its events change
the customer's context (``context/join.py``; ``keeps_nothing`` for a type whose events change
nothing but the seen ids), and a sample of it: the rows' samples, in this order, make one
customer's day, which ``pack_tools/samples.py`` runs through the engine so that a pack's
templates are tried on every type a rule listens to. Enrichers register themselves by the
types they read (``enrichers/registry.py``); :class:`EventTypes` lists them per type. How an
event reads in a task's evidence is with the other descriptions (``rules/evidence.py``).

:meth:`EventTypes.build` checks the declaration against the contract when an engine is
built, so an event type added without its joiner, its sample or its description stops a
worker at start, naming what is missing, instead of doing less (or failing its rules) in
silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ctxi.context import join
from ctxi.context.join import Joiner, JoinResult, apply_event
from ctxi.enrichers.registry import Enricher, enrichers_for, load_builtin_enrichers
from ctxi.rules.evidence import DESCRIPTIONS
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import (
    EVENT_MODELS,
    BalanceLowEvent,
    BookingEvent,
    CardTransactionEvent,
    CaseClosedEvent,
    CaseOpenedEvent,
    CheckinEvent,
    CustomerProfileEvent,
    DisputeOpenedEvent,
    Event,
    EventEnvelope,
    FlightStatusEvent,
    InteractionEvent,
    PaymentFailedEvent,
    PostEvent,
    SessionEvent,
    WeatherAlertEvent,
    type_name,
)
from ctxi.settings import EngineConfig


@dataclass(frozen=True)
class Sample:
    """One sample event of a type: when it happens in the sample day, and its payload."""

    at: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class EventType:
    model: type[EventEnvelope]
    join: Joiner | None
    sample: Sample | None

    @property
    def name(self) -> str:
        return type_name(self.model)


_LOCATION = {"lat": 40.758, "lon": -73.9855, "city": "New York", "country": "US"}
DECLARED: tuple[EventType, ...] = (
    EventType(
        CustomerProfileEvent,
        join.join_profile,
        Sample(
            "2026-03-01T08:00:00Z",
            {
                "tier": "gold",
                "lifetime_value": 18250.0,
                "home_location": _LOCATION,
                "nps": 9,
                "csat": 5,
                "preferred_channel": "phone",
            },
        ),
    ),
    EventType(
        BookingEvent,
        join.join_booking,
        Sample(
            "2026-03-01T08:30:00Z",
            {
                "booking_id": "PNR-SAMPLE",
                "segments": [
                    {
                        "flight": "BA178",
                        "origin": "JFK",
                        "destination": "LHR",
                        "departs_at": "2026-03-01T22:00:00Z",
                        "arrives_at": "2026-03-02T09:55:00Z",
                    },
                    {
                        "flight": "BA548",
                        "origin": "LHR",
                        "destination": "FCO",
                        "departs_at": "2026-03-02T11:10:00Z",
                        "arrives_at": "2026-03-02T13:40:00Z",
                    },
                ],
            },
        ),
    ),
    EventType(
        SessionEvent,
        join.join_session,
        Sample(
            "2026-03-01T09:00:00Z",
            {
                "actor": "customer",
                "device_type": "phone",
                "device_id": "dev-7f3a",
                "ip_address": "203.0.113.24",
                "channel": "app",
                "ip_location": _LOCATION,
                "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
            },
        ),
    ),
    EventType(
        CheckinEvent,
        join.join_checkin,
        Sample("2026-03-01T10:00:00Z", {"network": "instagram", "location": _LOCATION, "place_name": "Times Square"}),
    ),
    EventType(
        CardTransactionEvent,
        join.join_card_transaction,
        Sample(
            "2026-03-01T11:30:00Z",
            {
                "transaction_id": "TX-SAMPLE",
                "amount": 1249.0,
                "currency": "EUR",
                "merchant": "Galeries Lafayette",
                "card_present": True,
                "status": "approved",
                "card_id": "card-9d41",
                "location": {"lat": 48.8738, "lon": 2.332, "city": "Paris", "country": "FR"},
            },
        ),
    ),
    EventType(
        PaymentFailedEvent,
        join.join_payment_failed,
        Sample(
            "2026-03-01T12:00:00Z",
            {"amount": 89.9, "currency": "USD", "reason": "insufficient_funds", "invoice_id": "INV-SAMPLE"},
        ),
    ),
    EventType(
        BalanceLowEvent,
        join.join_balance_low,
        Sample(
            "2026-03-01T12:30:00Z",
            {
                "balance": 112.4,
                "currency": "USD",
                "upcoming_debit": {"amount": 1450.0, "due_date": "2026-03-03", "payee": "Riverside Apartments"},
            },
        ),
    ),
    EventType(
        DisputeOpenedEvent,
        join.join_dispute_opened,
        Sample(
            "2026-03-01T13:00:00Z", {"transaction_id": "TX-SAMPLE", "amount": 312.0, "reason": "goods not received"}
        ),
    ),
    EventType(
        CaseOpenedEvent,
        join.join_case_opened,
        Sample(
            "2026-03-01T13:30:00Z",
            {"case_id": "CASE-SAMPLE", "subject": "Refund not received", "severity": "high", "channel": "phone"},
        ),
    ),
    EventType(
        InteractionEvent,
        join.join_interaction,
        Sample("2026-03-01T13:45:00Z", {"channel": "phone", "sentiment": -0.6, "summary": "Angry about the refund"}),
    ),
    EventType(
        PostEvent,
        join.join_post,
        Sample(
            "2026-03-01T14:00:00Z",
            {
                "network": "x",
                "post_id": "P-SAMPLE",
                "text": "Three hours on hold and still no refund.",
                "followers": 80412,
                "mentions_brand": True,
                "sentiment": -0.85,
            },
        ),
    ),
    EventType(
        CaseClosedEvent,
        join.join_case_closed,
        Sample("2026-03-01T15:00:00Z", {"case_id": "CASE-SAMPLE", "resolution": "refunded"}),
    ),
    EventType(
        FlightStatusEvent,
        join.keeps_nothing,
        Sample(
            "2026-03-01T21:30:00Z",
            {
                "flight": "BA178",
                "scheduled_departure": "2026-03-01T22:00:00Z",
                "status": "delayed",
                "delay_minutes": 120,
                "estimated_departure": "2026-03-02T00:00:00Z",
            },
        ),
    ),
    EventType(
        WeatherAlertEvent,
        join.keeps_nothing,
        Sample(
            "2026-03-02T06:00:00Z",
            {
                "airport": "LHR",
                "severity": "severe",
                "description": "Storm with gusts above 100 km/h",
                "valid_from": "2026-03-02T08:00:00Z",
                "valid_to": "2026-03-02T18:00:00Z",
            },
        ),
    ),
)


class IncompleteEventTypes(ValueError):
    """Event types of the contract that the engine cannot run end to end, each with what it lacks."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("event types not declared end to end (engine/event_types.py):\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class EventTypes:
    """The declared event types, checked complete: each one's joiner, enrichers and sample."""

    declared: tuple[EventType, ...]
    joiners: dict[type[EventEnvelope], Joiner]

    @classmethod
    def build(
        cls, models: Sequence[type[EventEnvelope]] = EVENT_MODELS, declared: Sequence[EventType] = DECLARED
    ) -> EventTypes:
        """The declaration of ``models``; :class:`IncompleteEventTypes` names every type without a
        row, a joiner or a sample, and every row of a type the contract lacks."""
        load_builtin_enrichers()
        rows = {row.model: row for row in declared}
        problems = []
        for model in models:
            row = rows.get(model)
            if row is None:
                problems.append(f"{type_name(model)}: not declared (its joiner and its sample)")
                continue
            if row.join is None:
                problems.append(
                    f"{row.name}: no joiner (how its events change the customer's context, context/join.py; "
                    "join.keeps_nothing if they change nothing)"
                )
            if row.sample is None:
                problems.append(f"{row.name}: no sample (an event of the sample day pack checks render templates on)")
            if model not in DESCRIPTIONS:
                problems.append(f"{row.name}: no one-line description for a task's evidence (rules/evidence.py)")
        problems += [
            f"{row.name}: declared but not in the contract (schemas/events.py EVENT_MODELS)"
            for row in declared
            if row.model not in models
        ]
        if problems:
            raise IncompleteEventTypes(problems)
        return cls(tuple(declared), {row.model: row.join for row in declared if row.join is not None})

    def join(self, context: CustomerContext | None, event: Event, config: EngineConfig) -> JoinResult:
        """Join ``event`` into its customer's ``context`` with its type's joiner (context/join.py)."""
        return apply_event(context, event, config, self.joiners[type(event)])

    def enrichers(self, name: str) -> tuple[Enricher, ...]:
        """The enrichers events of type ``name`` run through, in registration order."""
        return enrichers_for(name)


@lru_cache(maxsize=1)
def builtin_event_types() -> EventTypes:
    """The contract's event types as declared here (checked once; :class:`IncompleteEventTypes` if not complete)."""
    return EventTypes.build()

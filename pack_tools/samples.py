"""Typed sample data a rule pack is tried on before it is accepted.

One customer's day touching every event type of the contract, run through the engine
(join and enrichers, no rules): for each event type, the ``event``, ``customer`` and
``signals`` a rule triggered by it would see. Loading a pack renders every template of
every rule with the samples of its ``on`` types, so that what the sandbox forbids and
what goes past the cost limits (rule_language/sandbox.py) is an error at ``ctxi rules check``,
not on a live event. A template that needs data these samples lack (a signal a sample
does not raise) is left to run time: that is data, not a fault of the rule.
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from typing import Any

import orjson
from jinja2.sandbox import SecurityError

from ctxi.engine.pipeline import Engine
from ctxi.rule_language.sandbox import render
from ctxi.rules.evaluate import RuleVariables
from ctxi.rules.loader import CompiledRule
from ctxi.schemas.events import EVENT_ADAPTER
from ctxi.settings import EngineConfig

_CUSTOMER = "C-SAMPLE"
_LOCATION = {"lat": 40.758, "lon": -73.9855, "city": "New York", "country": "US"}
_SAMPLES: list[dict[str, Any]] = [
    {"type": "crm.customer_profile", "at": "2026-03-01T08:00:00Z",
     "payload": {"tier": "gold", "lifetime_value": 18250.0, "home_location": _LOCATION, "nps": 9, "csat": 5,
                 "preferred_channel": "phone"}},
    {"type": "travel.booking", "at": "2026-03-01T08:30:00Z",
     "payload": {"booking_id": "PNR-SAMPLE", "segments": [
         {"flight": "BA178", "origin": "JFK", "destination": "LHR",
          "departs_at": "2026-03-01T22:00:00Z", "arrives_at": "2026-03-02T09:55:00Z"},
         {"flight": "BA548", "origin": "LHR", "destination": "FCO",
          "departs_at": "2026-03-02T11:10:00Z", "arrives_at": "2026-03-02T13:40:00Z"}]}},
    {"type": "device.session", "at": "2026-03-01T09:00:00Z",
     "payload": {"actor": "customer", "device_type": "phone", "device_id": "dev-7f3a", "ip_address": "203.0.113.24",
                 "channel": "app", "ip_location": _LOCATION,
                 "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148"}},
    {"type": "social.checkin", "at": "2026-03-01T10:00:00Z",
     "payload": {"network": "instagram", "location": _LOCATION, "place_name": "Times Square"}},
    {"type": "billing.card_transaction", "at": "2026-03-01T11:30:00Z",
     "payload": {"transaction_id": "TX-SAMPLE", "amount": 1249.0, "currency": "EUR", "merchant": "Galeries Lafayette",
                 "card_present": True, "status": "approved", "card_id": "card-9d41",
                 "location": {"lat": 48.8738, "lon": 2.332, "city": "Paris", "country": "FR"}}},
    {"type": "billing.payment_failed", "at": "2026-03-01T12:00:00Z",
     "payload": {"amount": 89.9, "currency": "USD", "reason": "insufficient_funds", "invoice_id": "INV-SAMPLE"}},
    {"type": "billing.balance_low", "at": "2026-03-01T12:30:00Z",
     "payload": {"balance": 112.4, "currency": "USD",
                 "upcoming_debit": {"amount": 1450.0, "due_date": "2026-03-03", "payee": "Riverside Apartments"}}},
    {"type": "billing.dispute_opened", "at": "2026-03-01T13:00:00Z",
     "payload": {"transaction_id": "TX-SAMPLE", "amount": 312.0, "reason": "goods not received"}},
    {"type": "crm.case_opened", "at": "2026-03-01T13:30:00Z",
     "payload": {"case_id": "CASE-SAMPLE", "subject": "Refund not received", "severity": "high", "channel": "phone"}},
    {"type": "crm.interaction", "at": "2026-03-01T13:45:00Z",
     "payload": {"channel": "phone", "sentiment": -0.6, "summary": "Angry about the refund"}},
    {"type": "social.post", "at": "2026-03-01T14:00:00Z",
     "payload": {"network": "x", "post_id": "P-SAMPLE", "text": "Three hours on hold and still no refund.",
                 "followers": 80412, "mentions_brand": True, "sentiment": -0.85}},
    {"type": "crm.case_closed", "at": "2026-03-01T15:00:00Z",
     "payload": {"case_id": "CASE-SAMPLE", "resolution": "refunded"}},
    {"type": "travel.flight_status", "at": "2026-03-01T21:30:00Z", "fleet": True,
     "payload": {"flight": "BA178", "scheduled_departure": "2026-03-01T22:00:00Z", "status": "delayed",
                 "delay_minutes": 120, "estimated_departure": "2026-03-02T00:00:00Z"}},
    {"type": "travel.weather_alert", "at": "2026-03-02T06:00:00Z", "fleet": True,
     "payload": {"airport": "LHR", "severity": "severe", "description": "Storm with gusts above 100 km/h",
                 "valid_from": "2026-03-02T08:00:00Z", "valid_to": "2026-03-02T18:00:00Z"}},
]  # fmt: skip


@lru_cache(maxsize=1)
def sample_variables() -> dict[str, dict[str, Any]]:
    """Per event type, the variables a rule triggered by it sees (``event``, ``customer``, ``signals``)."""
    engine = Engine(EngineConfig(), {}, {})
    variables: dict[str, dict[str, Any]] = {}
    for index, sample in enumerate(_SAMPLES):
        document = {
            "event_id": f"sample-{index}",
            "type": sample["type"],
            "occurred_at": sample["at"],
            "payload": sample["payload"],
        }
        if not sample.get("fleet"):
            document["customer_id"] = _CUSTOMER
        pending: deque[Any] = deque([EVENT_ADAPTER.validate_json(orjson.dumps(document))])
        while pending:
            message = pending.popleft()
            output = engine.handle(message)
            pending.extend(output.forwards)
            if output.outcome == "joined" and output.context is not None:
                signals = output.enriched.signals if output.enriched is not None else []
                variables[message.type] = RuleVariables(message, output.context, signals).all()
    return variables


def render_problems(compiled: CompiledRule) -> list[str]:
    """What the sandbox or the cost limits refuse when ``compiled``'s templates render with the samples."""
    templates = {"title": compiled.title, "reason": compiled.reason, "dedup_key": compiled.dedup_key}
    templates.update({f"steps.{index}": step for index, step in enumerate(compiled.steps)})
    samples = sample_variables()
    problems: list[str] = []
    for field_name, template in templates.items():
        if template is None:
            continue
        for event_type in compiled.rule.on:
            try:
                render(template, samples[event_type])
            except SecurityError as exc:  # the cost limits' errors among them
                problems.append(f"{field_name} on a sample {event_type}: {exc}")
                break
            except Exception:  # data the samples lack: the rule's to meet at run time
                continue
    return problems

"""Every event type is declared end to end (joiner, enrichers, sample), and the engine refuses
to build on a declaration that is not: a half-added event type fails at start, by name."""

from __future__ import annotations

from typing import Literal

import orjson
import pytest

from ctxi.context import join
from ctxi.engine.event_types import (
    DECLARED,
    EventType,
    EventTypes,
    IncompleteEventTypes,
    Sample,
    builtin_event_types,
)
from ctxi.engine.pipeline import EVENT_STEPS, Engine
from ctxi.rules.evidence import DESCRIPTIONS
from ctxi.schemas.common import Location
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import EVENT_ADAPTER, EVENT_MODELS, EVENT_TYPES, EventEnvelope, FleetEventEnvelope, Payload
from ctxi.settings import EngineConfig
from tests.factories import card, checkin


class AddressChanged(Payload):
    home_location: Location


class AddressChangedEvent(EventEnvelope):
    """What a CRM would send when a customer moves: an event type the contract does not have."""

    type: Literal["crm.address_changed"]
    payload: AddressChanged


MOVED = Sample("2026-03-01T16:00:00Z", {"home_location": {"lat": 51.5, "lon": -0.12, "city": "London"}})


def test_the_engine_refuses_an_event_type_added_without_its_joiner_and_names_it() -> None:
    declared = (*DECLARED, EventType(AddressChangedEvent, join=None, sample=MOVED))
    with pytest.raises(IncompleteEventTypes) as refused:
        Engine(EngineConfig(), {}, {}, event_types=EventTypes.build((*EVENT_MODELS, AddressChangedEvent), declared))
    assert refused.value.problems == [
        "crm.address_changed: no joiner (how its events change the customer's context, context/join.py; "
        "join.keeps_nothing if they change nothing)",
        "crm.address_changed: no one-line description for a task's evidence (rules/evidence.py)",
    ]
    assert "crm.address_changed: no joiner" in str(refused.value)


def test_an_event_type_not_declared_at_all_or_without_a_sample_is_named_too() -> None:
    with pytest.raises(IncompleteEventTypes) as undeclared:
        EventTypes.build((*EVENT_MODELS, AddressChangedEvent), DECLARED)
    assert undeclared.value.problems == ["crm.address_changed: not declared (its joiner and its sample)"]

    no_sample = (*DECLARED, EventType(AddressChangedEvent, join=join.keeps_nothing, sample=None))
    with pytest.raises(IncompleteEventTypes, match=r"crm\.address_changed: no sample"):
        EventTypes.build((*EVENT_MODELS, AddressChangedEvent), no_sample)


def test_a_declared_type_the_contract_lacks_is_refused() -> None:
    declared = (*DECLARED, EventType(AddressChangedEvent, join=join.keeps_nothing, sample=MOVED))
    with pytest.raises(IncompleteEventTypes, match=r"crm\.address_changed: declared but not in the contract"):
        EventTypes.build(EVENT_MODELS, declared)


def test_an_event_type_declared_end_to_end_is_joined_with_its_own_joiner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DESCRIPTIONS, AddressChangedEvent, lambda event: f"moved to {event.payload.home_location.city}")

    def join_address(context: CustomerContext, event: AddressChangedEvent, config: EngineConfig) -> None:
        context.observations.clear()  # what a real joiner would change: here, something visible

    types = EventTypes.build(
        (*EVENT_MODELS, AddressChangedEvent), (*DECLARED, EventType(AddressChangedEvent, join_address, MOVED))
    )
    engine = Engine(EngineConfig(), {}, {}, event_types=types)
    engine.handle(checkin("2026-03-01T10:00:00Z", 40.71, -74.0))
    assert engine.contexts["C-1"].observations
    moved = AddressChangedEvent.model_validate(
        {
            "event_id": "moved-1",
            "type": "crm.address_changed",
            "customer_id": "C-1",
            "occurred_at": MOVED.at,
            "payload": MOVED.payload,
        }
    )
    assert engine.handle(moved).outcome == "joined"
    assert engine.contexts["C-1"].observations == []


def test_the_contract_is_declared_in_full_each_type_once_with_a_valid_sample() -> None:
    names = [row.name for row in builtin_event_types().declared]
    assert sorted(names) == sorted(EVENT_TYPES) and len(set(names)) == len(names)
    for row in DECLARED:
        assert row.sample is not None
        document = {"event_id": "e", "type": row.name, "occurred_at": row.sample.at, "payload": row.sample.payload}
        if not issubclass(row.model, FleetEventEnvelope):
            document["customer_id"] = "C-1"
        assert type(EVENT_ADAPTER.validate_json(orjson.dumps(document))) is row.model


def test_each_step_of_a_customer_event_is_timed_by_its_name() -> None:
    assert [name for name, _ in EVENT_STEPS] == ["join", "enrich", "features", "decide", "deadlines"]
    output = Engine(EngineConfig(), {}, {}).handle(card("2026-03-01T11:30:00Z", 48.86, 2.35))
    assert list(output.timings) == ["join", "enrich", "features", "decide", "deadlines"]

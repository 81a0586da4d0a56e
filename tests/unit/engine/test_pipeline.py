"""Engine.decide leaves the tables alone; Engine.store writes what it changed.

The worker relies on this split to store state only after what it led to is on the broker.
"""

from __future__ import annotations

from datetime import timedelta

from ctxi.context.fleet import FleetIndex, index_entries
from ctxi.context.state import CustomerContext
from ctxi.engine.config import EngineConfig
from ctxi.engine.pipeline import Engine
from tests.factories import JFK_LHR_FCO, booking, checkin, flight_status


def engine() -> Engine:
    contexts: dict[str, CustomerContext] = {}
    index: dict[str, FleetIndex] = {}
    return Engine(EngineConfig(), contexts, index)


def test_decide_does_not_store_and_a_redo_before_the_store_decides_the_same() -> None:
    e = engine()
    event = booking(*JFK_LHR_FCO, customer_id="C-9")
    first = e.decide(event)
    assert e.contexts == {} and first.context is not None
    again = e.decide(event)  # the worker died before storing: the next owner redoes the message
    assert again.outcome == "joined" and again.forwards == first.forwards
    e.store(again)
    assert e.contexts["C-9"] is again.context
    assert e.decide(event).outcome == "duplicate"  # once stored, a redelivery is one


def test_fleet_index_rows_are_stored_by_store() -> None:
    e = engine()
    [entry, *_] = index_entries(booking(*JFK_LHR_FCO, customer_id="C-9"), timedelta(hours=24))
    indexed = e.decide(entry)
    assert e.fleet_index == {} and indexed.fleet_index is not None
    e.store(indexed)
    status = flight_status("BA178", "2026-03-03T22:00:00Z", "delayed", delay_minutes=90, at="2026-03-03T21:30:00Z")
    fanned = e.handle(status)
    assert [copy.customer_id for copy in fanned.forwards] == ["C-9"]
    assert e.fleet_index[entry.key].recent == [status]


def test_handle_decides_and_stores() -> None:
    e = engine()
    output = e.handle(checkin("2026-03-03T10:00:00Z", 40.71, -74.0))
    assert e.contexts["C-1"] is output.context

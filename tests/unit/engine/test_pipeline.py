"""Engine.decide leaves the tables alone; Engine.store writes what it changed.

The worker relies on this split to store state only after what it led to is on the broker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ctxi.context.fleet import FleetIndex, index_entries
from ctxi.engine.pipeline import Engine, RowExpiry
from ctxi.schemas.context import CustomerContext
from ctxi.settings import EngineConfig
from tests.factories import JFK_LHR_FCO, booking, card, checkin, flight_status


def engine() -> Engine:
    contexts: dict[str, CustomerContext] = {}
    index: dict[str, FleetIndex] = {}
    return Engine(EngineConfig(), contexts, index)


def test_decide_does_not_store_and_the_next_owner_redoes_what_was_not_stored() -> None:
    e = engine()
    event = booking(*JFK_LHR_FCO, customer_id="C-9")
    first = e.decide(event)
    assert e.contexts == {} and first.context is not None
    # the worker died before storing: the partition's next owner has the same tables
    next_owner = Engine(EngineConfig(), e.contexts, e.fleet_index)
    again = next_owner.decide(event)
    assert again.outcome == "joined" and again.forwards == first.forwards
    next_owner.store(again)
    assert next_owner.contexts["C-9"] is again.context
    assert next_owner.decide(event).outcome == "duplicate"  # once stored, a redelivery is one


def test_the_next_message_builds_on_a_copy_of_the_row_not_stored_yet() -> None:
    e = engine()
    new_york = e.decide(checkin("2026-03-03T10:00:00Z", 40.71, -74.0))
    paris = e.decide(card("2026-03-03T11:30:00Z", 48.86, 2.35))
    assert e.contexts == {}  # neither stored yet, and the card saw the check-in
    assert any(signal.kind == "location_conflict" for signal in paris.enriched.signals)
    assert new_york.context is not paris.context
    e.store(new_york)
    assert [seen.event_id for seen in e.contexts["C-1"].seen] == [new_york.context.seen[0].event_id]
    assert e.unstored_contexts["C-1"] is paris.context  # the older store leaves the newer row pending
    e.store(paris)
    assert e.unstored_contexts == {} and len(e.contexts["C-1"].seen) == 2


def test_fan_outs_in_a_row_each_keep_their_own_index() -> None:
    e = engine()
    [entry, *_] = index_entries(booking(*JFK_LHR_FCO, customer_id="C-9"), timedelta(hours=24))
    indexed = e.decide(entry)
    delayed = flight_status("BA178", "2026-03-03T22:00:00Z", "delayed", delay_minutes=90, at="2026-03-03T21:30:00Z")
    fanned = e.decide(delayed)
    assert [copy.customer_id for copy in fanned.forwards] == ["C-9"]  # it saw the pending entry
    assert indexed.fleet_index is not None and indexed.fleet_index.recent == []  # its own row, unchanged
    assert fanned.fleet_index is not None and fanned.fleet_index.recent == [delayed]


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


def test_an_expiry_drops_a_row_nobody_needs_and_keeps_one_booked_since() -> None:
    e = engine()
    [entry, *_] = index_entries(booking(*JFK_LHR_FCO, customer_id="C-9"), timedelta(hours=24))
    e.handle(entry)
    later = datetime(2026, 3, 9, tzinfo=UTC)
    kept = e.handle(RowExpiry(table="fleet_index", key=entry.key, as_of=datetime(2026, 3, 4, tzinfo=UTC)))
    assert kept.outcome == "row_kept" and entry.key in e.fleet_index  # C-9 still booked
    dropped = e.handle(RowExpiry(table="fleet_index", key=entry.key, as_of=later))
    assert dropped.outcome == "row_expired" and entry.key not in e.fleet_index
    assert e.handle(RowExpiry(table="fleet_index", key=entry.key, as_of=later)).outcome == "row_kept"  # gone


def test_stream_time_is_the_latest_event_time_decided_on() -> None:
    e = engine()
    e.handle(checkin("2026-03-03T10:00:00Z", 40.71, -74.0))
    e.handle(checkin("2026-03-03T09:00:00Z", 40.71, -74.0))  # out of order: the clock does not go back
    assert e.stream_time == datetime(2026, 3, 3, 10, tzinfo=UTC)


def test_an_event_behind_the_grace_window_is_joined_and_flagged_late() -> None:
    e = engine()
    grace = timedelta(seconds=EngineConfig().late_grace_seconds)
    assert not e.handle(checkin("2026-03-03T10:00:00Z", 40.71, -74.0)).late
    within = datetime(2026, 3, 3, 10, tzinfo=UTC) - grace / 2
    assert not e.handle(checkin(within.isoformat().replace("+00:00", "Z"), 40.71, -74.0)).late
    behind = e.handle(checkin("2026-03-02T10:00:00Z", 40.71, -74.0))
    assert behind.outcome == "joined" and behind.late

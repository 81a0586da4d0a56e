from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ctxi.context.fleet import (
    RECENT_FLEET_EVENTS,
    add_to_index,
    fan_out,
    index_entries,
    is_expired,
    rekey_location_alert,
)
from tests.factories import JFK_LHR_FCO, booking, flight_status, make_event


def test_a_booking_is_indexed_by_each_flight_and_airport() -> None:
    entries = index_entries(booking(*JFK_LHR_FCO, customer_id="C-7"), timedelta(hours=24))
    assert [e.key for e in entries] == [
        "flight:BA178:2026-03-03",
        "flight:BA548:2026-03-04",
        "airport:JFK",
        "airport:LHR",
        "airport:FCO",
    ]
    assert {e.until for e in entries} == {datetime(2026, 3, 5, 13, 40, tzinfo=UTC)}
    assert {e.partition_key for e in entries} == {e.key for e in entries}


def test_a_flight_status_fans_out_to_every_booked_customer() -> None:
    index = None
    for customer in ("C-2", "C-1"):
        for entry in index_entries(booking(*JFK_LHR_FCO, customer_id=customer), timedelta(hours=24)):
            if entry.key == "flight:BA178:2026-03-03":
                index, missed = add_to_index(index, entry)
                assert missed == []
    status = flight_status("BA178", "2026-03-03T22:00:00Z", "delayed", delay_minutes=120, at="2026-03-03T21:30:00Z")
    assert status.partition_key == "flight:BA178:2026-03-03"
    copies, index = fan_out(status, index)
    assert [(c.customer_id, c.partition_key, c.event_id) for c in copies] == [
        ("C-1", "C-1", status.event_id),
        ("C-2", "C-2", status.event_id),
    ]


def test_expired_members_are_dropped() -> None:
    [entry, *_] = index_entries(booking(*JFK_LHR_FCO), timedelta(hours=1))
    status = flight_status("BA178", "2026-03-03T22:00:00Z", "delayed", delay_minutes=5, at="2026-03-06T00:00:00Z")
    copies, index = fan_out(status, add_to_index(None, entry)[0])
    assert copies == [] and index.members == {}


def test_nobody_booked_means_no_copies() -> None:
    status = flight_status("XX1", "2026-03-03T22:00:00Z", "cancelled", at="2026-03-03T21:30:00Z")
    copies, index = fan_out(status, None)
    assert copies == [] and index.members == {} and index.recent == [status]


def test_a_booking_processed_after_a_later_status_still_gets_it() -> None:
    """On a backlog a flight's status can be read before a booking made days earlier."""
    status = flight_status("BA178", "2026-03-03T22:00:00Z", "delayed", delay_minutes=120, at="2026-03-03T21:30:00Z")
    copies, index = fan_out(status, None)
    assert copies == []
    [entry, *_] = index_entries(booking(*JFK_LHR_FCO, customer_id="C-late"), timedelta(hours=24))
    index, missed = add_to_index(index, entry)
    assert [(c.customer_id, c.event_id) for c in missed] == [("C-late", status.event_id)]
    assert add_to_index(index, entry)[1] == []  # the same booking again: already caught up


def test_a_late_booking_gets_every_status_it_missed_in_event_time() -> None:
    """A minor delay, then a cancellation, both read before the booking: the customer hears both, in turn."""
    cancelled = flight_status("BA178", "2026-03-03T22:00:00Z", "cancelled", at="2026-03-03T21:50:00Z")
    delayed = flight_status("BA178", "2026-03-03T22:00:00Z", "delayed", delay_minutes=20, at="2026-03-03T21:30:00Z")
    index = None
    for status in (cancelled, delayed, delayed):  # read out of order, and once twice
        _, index = fan_out(status, index)
    [entry, *_] = index_entries(booking(*JFK_LHR_FCO, customer_id="C-late"), timedelta(hours=24))
    _, missed = add_to_index(index, entry)
    assert [c.event_id for c in missed] == [delayed.event_id, cancelled.event_id]


def test_a_key_remembers_a_bounded_number_of_fleet_events() -> None:
    index = None
    for minute in range(RECENT_FLEET_EVENTS + 5):
        status = flight_status(
            "BA178", "2026-03-03T22:00:00Z", "delayed", delay_minutes=minute, at=f"2026-03-03T20:{minute:02d}:00Z"
        )
        _, index = fan_out(status, index)
    assert index is not None and len(index.recent) == RECENT_FLEET_EVENTS
    assert index.recent[-1].payload.delay_minutes == RECENT_FLEET_EVENTS + 4  # the newest are kept


def test_a_booking_made_after_the_status_does_not_get_it() -> None:
    status = flight_status("BA178", "2026-03-03T22:00:00Z", "delayed", delay_minutes=120, at="2026-03-03T21:30:00Z")
    _, index = fan_out(status, None)
    [entry, *_] = index_entries(booking(*JFK_LHR_FCO, customer_id="C-new"), timedelta(hours=24))
    late_booking = entry.model_copy(update={"booked_at": datetime(2026, 3, 3, 21, 45, tzinfo=UTC)})
    assert add_to_index(index, late_booking)[1] == []  # replay, in event time, would not send it either


def test_a_location_alert_becomes_an_alert_per_nearby_airport() -> None:
    alert = make_event(
        "travel.weather_alert",
        {
            "location": {"lat": 51.47, "lon": -0.4543},
            "severity": "severe",
            "description": "Storm",
            "valid_from": "2026-03-04T08:00:00Z",
            "valid_to": "2026-03-04T18:00:00Z",
        },
        at="2026-03-04T06:00:00Z",
        customer_id=None,
    )
    rekeyed = rekey_location_alert(alert, 5)
    assert [a.payload.airport for a in rekeyed] == ["LHR"]
    assert rekeyed[0].partition_key == "airport:LHR"


def test_a_row_expires_once_nobody_is_booked_and_its_events_are_old() -> None:
    [entry, *_] = index_entries(booking(*JFK_LHR_FCO, customer_id="C-1"), timedelta(hours=24))
    index, _ = add_to_index(None, entry)  # booked until 2026-03-05 13:40
    status = flight_status("BA178", "2026-03-03T22:00:00Z", "delayed", delay_minutes=30, at="2026-03-03T21:30:00Z")
    _, index = fan_out(status, index)
    keep = timedelta(hours=24)
    assert not is_expired(index, datetime(2026, 3, 5, 12, tzinfo=UTC), keep)  # still booked
    assert is_expired(index, datetime(2026, 3, 5, 14, tzinfo=UTC), keep)  # booking over, status a day and more old
    fresh = flight_status("BA178", "2026-03-03T22:00:00Z", "on_time", at="2026-03-05T10:00:00Z")
    _, index = fan_out(fresh, index)
    assert not is_expired(index, datetime(2026, 3, 5, 14, tzinfo=UTC), keep)  # a late booking could still want it

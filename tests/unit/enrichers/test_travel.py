"""Delays against itineraries (JFK->LHR->FCO with a 75 min connection at Heathrow) and weather."""

from __future__ import annotations

from ctxi.enrichers.travel import flight_disruption, weather_risk
from ctxi.settings import EngineConfig
from tests.factories import JFK_LHR_FCO, booking, flight_status, joined, make_event, segment

CONFIG = EngineConfig()
BOOKED = booking(*JFK_LHR_FCO)


def disruption(status_event):
    return list(flight_disruption(status_event, joined(BOOKED, status_event), CONFIG))


def test_120_minute_delay_breaks_the_75_minute_connection() -> None:
    [signal] = disruption(
        flight_status(
            "BA178", "2026-03-03T22:00:00Z", "delayed", delay_minutes=120, at="2026-03-03T21:30:00Z", customer_id="C-1"
        )
    )
    assert signal.missed_connection
    assert (signal.connecting_flight, signal.connection_airport) == ("BA548", "LHR")
    assert (signal.scheduled_connection_minutes, signal.connection_minutes_after_delay) == (75, -45)
    assert signal.min_connection_minutes == 60  # US -> UK -> Italy: international
    assert signal.minutes_until_next_departure == 13 * 60 + 40


def test_10_minute_delay_leaves_the_connection_alone() -> None:
    [signal] = disruption(
        flight_status(
            "BA178", "2026-03-03T22:00:00Z", "delayed", delay_minutes=10, at="2026-03-03T21:30:00Z", customer_id="C-1"
        )
    )
    assert not signal.missed_connection
    assert signal.connection_minutes_after_delay == 65


def test_delay_computed_from_the_estimated_departure() -> None:
    [signal] = disruption(
        flight_status(
            "BA178",
            "2026-03-03T22:00:00Z",
            "delayed",
            estimated_departure="2026-03-03T23:30:00Z",
            at="2026-03-03T21:30:00Z",
            customer_id="C-1",
        )
    )
    assert signal.delay_minutes == 90 and signal.missed_connection


def test_cancellation_misses_the_connection() -> None:
    [signal] = disruption(
        flight_status("BA178", "2026-03-03T22:00:00Z", "cancelled", at="2026-03-03T20:00:00Z", customer_id="C-1")
    )
    assert signal.missed_connection and signal.delay_minutes is None


def test_delay_of_the_last_leg_has_no_connection() -> None:
    [signal] = disruption(
        flight_status(
            "BA548", "2026-03-04T11:10:00Z", "delayed", delay_minutes=200, at="2026-03-04T10:00:00Z", customer_id="C-1"
        )
    )
    assert signal.connecting_flight is None and not signal.missed_connection


def test_same_flight_number_on_another_day_is_not_ours() -> None:
    status = flight_status(
        "BA178", "2026-03-04T22:00:00Z", "delayed", delay_minutes=120, at="2026-03-04T21:00:00Z", customer_id="C-1"
    )
    assert disruption(status) == []


def test_on_time_is_no_signal() -> None:
    status = flight_status("BA178", "2026-03-03T22:00:00Z", "on_time", at="2026-03-03T21:00:00Z", customer_id="C-1")
    assert disruption(status) == []


def test_domestic_connection_uses_the_domestic_minimum() -> None:
    domestic = booking(
        segment("AA100", "BOS", "ORD", "2026-03-03T12:00:00Z", "2026-03-03T15:00:00Z"),
        segment("AA200", "ORD", "DEN", "2026-03-03T15:50:00Z", "2026-03-03T18:30:00Z"),
    )
    status = flight_status(
        "AA100", "2026-03-03T12:00:00Z", "delayed", delay_minutes=3, at="2026-03-03T11:00:00Z", customer_id="C-1"
    )
    [signal] = flight_disruption(status, joined(domestic, status), CONFIG)
    # 50 - 3 = 47 min at O'Hare: enough for a domestic connection (45), not an international one (60)
    assert signal.min_connection_minutes == 45
    assert signal.connection_minutes_after_delay == 47
    assert not signal.missed_connection


def weather(airport: str, start: str, end: str):
    payload = {"airport": airport, "severity": "severe", "description": "Storm", "valid_from": start, "valid_to": end}
    return make_event("travel.weather_alert", payload, at="2026-03-04T06:00:00Z", customer_id="C-1")


def test_storm_at_the_connecting_airport() -> None:
    alert = weather("LHR", "2026-03-04T08:00:00Z", "2026-03-04T18:00:00Z")
    [signal] = weather_risk(alert, joined(BOOKED, alert), CONFIG)
    assert signal.connecting and signal.flights == ["BA178", "BA548"]


def test_storm_after_the_customer_has_flown_through_is_no_risk() -> None:
    alert = weather("LHR", "2026-03-04T20:00:00Z", "2026-03-04T23:00:00Z")
    assert weather_risk(alert, joined(BOOKED, alert), CONFIG) == []


def test_storm_at_an_airport_not_on_the_itinerary() -> None:
    alert = weather("CDG", "2026-03-04T08:00:00Z", "2026-03-04T18:00:00Z")
    assert weather_risk(alert, joined(BOOKED, alert), CONFIG) == []

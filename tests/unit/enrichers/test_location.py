"""Impossible travel with real geography: New York, Paris, Jersey City, London."""

from __future__ import annotations

import pytest

from ctxi.enrichers.location import location_conflict
from ctxi.schemas.signals import LocationConflict
from ctxi.settings import EngineConfig
from tests.factories import booking, card, checkin, joined, make_event, segment

CONFIG = EngineConfig()
TIMES_SQUARE = (40.7580, -73.9855)
PARIS = (48.8738, 2.3320)
JERSEY_CITY = (40.7282, -74.0776)


def conflicts(*events) -> list[LocationConflict]:
    context = joined(*events)
    return list(location_conflict(events[-1], context, CONFIG))


def test_card_in_paris_90_minutes_after_a_new_york_checkin_conflicts() -> None:
    [signal] = conflicts(checkin("2026-03-01T10:00:00Z", *TIMES_SQUARE), card("2026-03-01T11:30:00Z", *PARIS))
    assert signal.distance_km == pytest.approx(5835, abs=15)
    assert signal.elapsed_minutes == 90
    assert signal.speed_kmh == pytest.approx(3890, abs=15)
    assert (signal.earlier.source, signal.later.source) == ("social.checkin", "billing.card_transaction")
    assert not signal.explained_by_travel


def test_jersey_city_20_minutes_later_is_within_location_accuracy() -> None:
    assert conflicts(checkin("2026-03-01T10:00:00Z", *TIMES_SQUARE), card("2026-03-01T10:20:00Z", *JERSEY_CITY)) == []


def test_same_place_never_conflicts() -> None:
    assert conflicts(checkin("2026-03-01T10:00:00Z", *PARIS), card("2026-03-01T10:00:00Z", *PARIS)) == []


def test_event_without_location_yields_nothing() -> None:
    assert conflicts(checkin("2026-03-01T10:00:00Z", *TIMES_SQUARE), card("2026-03-01T11:30:00Z", None, None)) == []


def test_card_not_present_is_not_a_location() -> None:
    events = (checkin("2026-03-01T10:00:00Z", *TIMES_SQUARE), card("2026-03-01T11:30:00Z", *PARIS, present=False))
    assert conflicts(*events) == []


def test_two_observations_from_the_same_source_are_not_compared() -> None:
    assert conflicts(checkin("2026-03-01T10:00:00Z", *TIMES_SQUARE), checkin("2026-03-01T11:30:00Z", *PARIS)) == []


def test_out_of_order_pair_is_ordered_by_event_time() -> None:
    # the card arrives first, the earlier check-in second: still one conflict, earlier = check-in
    [signal] = conflicts(card("2026-03-01T11:30:00Z", *PARIS), checkin("2026-03-01T10:00:00Z", *TIMES_SQUARE))
    assert signal.earlier.source == "social.checkin"
    assert signal.elapsed_minutes == 90


def test_slow_enough_move_does_not_conflict() -> None:
    # New York to Paris in 9 hours is about 650 km/h: a flight, not a conflict
    assert conflicts(checkin("2026-03-01T10:00:00Z", *TIMES_SQUARE), card("2026-03-01T19:00:00Z", *PARIS)) == []


def test_antimeridian_move_uses_the_short_distance() -> None:
    fiji, samoa = (-18.14, 178.44), (-13.83, -171.76)
    # 1,150 km in 2 hours = 575 km/h: not a conflict (the long way round would be 9,000+ km/h)
    assert conflicts(checkin("2026-03-01T10:00:00Z", *fiji), card("2026-03-01T12:00:00Z", *samoa)) == []


def test_ip_location_accuracy_widens_the_margin() -> None:
    session = make_event(
        "device.session",
        {"actor": "customer", "channel": "web", "ip_location": {"lat": 41.2, "lon": -73.9}},  # ~50 km north of NYC
        at="2026-03-01T10:10:00Z",
    )
    assert conflicts(checkin("2026-03-01T10:00:00Z", *TIMES_SQUARE), session) == []


def test_a_booked_flight_explains_the_move() -> None:
    # 5,820 km in 5 h is too fast, but the customer is booked JFK->CDG in between (the
    # terminal's clock or a delayed posting is likelier than fraud): flagged as explained.
    flight = booking(segment("AF23", "JFK", "CDG", "2026-03-01T10:30:00Z", "2026-03-01T17:40:00Z"))
    events = (flight, checkin("2026-03-01T10:00:00Z", 40.6413, -73.7781), card("2026-03-01T15:00:00Z", *PARIS))
    [signal] = conflicts(*events)
    assert signal.explained_by_travel
    assert signal.explaining_booking == "PNR-1"


def test_a_booking_elsewhere_explains_nothing() -> None:
    flight = booking(segment("BA178", "JFK", "LHR", "2026-03-01T10:30:00Z", "2026-03-01T17:40:00Z"))
    [signal] = conflicts(flight, checkin("2026-03-01T10:00:00Z", *TIMES_SQUARE), card("2026-03-01T15:00:00Z", *PARIS))
    assert not signal.explained_by_travel


def test_threshold_is_configurable() -> None:
    context = joined(checkin("2026-03-01T10:00:00Z", *TIMES_SQUARE), card("2026-03-01T19:00:00Z", *PARIS))
    strict = EngineConfig(max_speed_kmh=300)
    assert len(location_conflict(card("2026-03-01T19:00:00Z", *PARIS), context, strict)) == 1

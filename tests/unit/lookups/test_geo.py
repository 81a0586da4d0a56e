from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctxi.lookups.geo import airport, airports_near, distance_km

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)


def test_new_york_to_paris_is_about_5840_km() -> None:
    assert distance_km(40.7580, -73.9855, 48.8566, 2.3522) == pytest.approx(5840, abs=15)


def test_manhattan_to_newark_is_short() -> None:
    assert distance_km(40.7580, -73.9855, 40.7357, -74.1724) == pytest.approx(16, abs=2)


def test_same_place_is_zero() -> None:
    assert distance_km(48.8566, 2.3522, 48.8566, 2.3522) == 0


def test_across_the_antimeridian_is_the_short_way_round() -> None:
    # Fiji (178.4 E) to Samoa (171.8 W): about 1,150 km, not 19,000
    assert distance_km(-18.14, 178.44, -13.83, -171.76) == pytest.approx(1150, abs=30)


@given(latitudes, longitudes, latitudes, longitudes)
def test_distance_is_symmetric_non_negative_and_at_most_half_the_circumference(
    lat1: float, lon1: float, lat2: float, lon2: float
) -> None:
    d = distance_km(lat1, lon1, lat2, lon2)
    assert d == pytest.approx(distance_km(lat2, lon2, lat1, lon1), abs=1e-6)
    assert 0 <= d <= 20016


@given(latitudes, longitudes, latitudes, longitudes, latitudes, longitudes)
def test_triangle_inequality(lat1: float, lon1: float, lat2: float, lon2: float, lat3: float, lon3: float) -> None:
    direct = distance_km(lat1, lon1, lat3, lon3)
    assert direct <= distance_km(lat1, lon1, lat2, lon2) + distance_km(lat2, lon2, lat3, lon3) + 1e-6


def test_airports_come_from_airportsdata() -> None:
    heathrow = airport("LHR")
    assert heathrow is not None and heathrow.country == "GB"
    assert airport("ZZZ") is None
    assert [a.iata for a in airports_near(heathrow.lat, heathrow.lon, 1)] == ["LHR"]

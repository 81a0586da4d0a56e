"""Geography: great-circle distances and airports (from the airportsdata package)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import airportsdata

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)


class Airport(NamedTuple):
    iata: str
    name: str
    city: str
    country: str
    lat: float
    lon: float


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance; correct across the antimeridian, at the poles and between
    antipodes (Vincenty's formula for the sphere: haversine's ``asin`` loses metres there)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dlambda = math.radians(lon2 - lon1)
    sin1, cos1, sin2, cos2 = math.sin(phi1), math.cos(phi1), math.sin(phi2), math.cos(phi2)
    cos_dl = math.cos(dlambda)
    across = math.hypot(cos2 * math.sin(dlambda), cos1 * sin2 - sin1 * cos2 * cos_dl)
    return EARTH_RADIUS_KM * math.atan2(across, sin1 * sin2 + cos1 * cos2 * cos_dl)


@lru_cache(maxsize=1)
def _airports() -> dict[str, Airport]:
    return {
        code: Airport(code, row["name"], row["city"], row["country"], float(row["lat"]), float(row["lon"]))
        for code, row in airportsdata.load("IATA").items()
    }


def airport(iata: str) -> Airport | None:
    return _airports().get(iata)


def airports_near(lat: float, lon: float, radius_km: float) -> list[Airport]:
    """Airports within ``radius_km``, nearest first."""
    found = [(distance_km(lat, lon, a.lat, a.lon), a) for a in _airports().values()]
    return [a for d, a in sorted(found) if d <= radius_km]

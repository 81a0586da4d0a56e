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
    """Great-circle (haversine) distance; correct across the antimeridian and at the poles."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


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

"""The real-world data the simulator draws from: cities, airports, user agents, names.

Cities are Faker's places on land (real coordinates, names and countries); airports are
the airportsdata entries that serve one of those cities and call themselves
international; user agents are Faker's, parsed the same way ingest parses them. All of it
comes from a seeded ``random.Random`` and a seeded Faker, so a seed gives the same world.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cached_property

from ctxi.lookups.geo import distance_km

try:
    from faker import Faker
    from faker.providers.geo import Provider as GeoProvider
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError('ctxi simulate needs Faker: pip install "ctxi[sim]"') from exc

import itertools

import airportsdata


@dataclass(frozen=True)
class Place:
    city: str
    country: str
    lat: float
    lon: float

    def location(self) -> dict[str, object]:
        return {"lat": self.lat, "lon": self.lon, "city": self.city, "country": self.country}

    def km_to(self, other: Place) -> float:
        return distance_km(self.lat, self.lon, other.lat, other.lon)


@dataclass(frozen=True)
class Hub:
    """An international airport and the city it serves."""

    iata: str
    place: Place


class World:
    """Seeded sources of realistic values."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.faker = Faker()
        self.faker.seed_instance(seed)

    @cached_property
    def places(self) -> list[Place]:
        return [
            Place(city=name, country=country, lat=float(lat), lon=float(lon))
            for lat, lon, name, country, _tz in GeoProvider.land_coords
        ]

    @cached_property
    def hubs(self) -> list[Hub]:
        by_city = {(p.city, p.country): p for p in self.places}
        hubs = []
        for code, row in sorted(airportsdata.load("IATA").items()):
            place = by_city.get((row["city"], row["country"]))
            if place is not None and "International" in row["name"]:
                hubs.append(Hub(code, Place(place.city, place.country, float(row["lat"]), float(row["lon"]))))
        return hubs

    @cached_property
    def neighbours(self) -> list[tuple[Place, Place]]:
        """Pairs of distinct real places 5-60 km apart: close enough never to conflict."""
        pairs = []
        for i, a in enumerate(self.places):
            for b in self.places[i + 1 :]:
                if abs(a.lat - b.lat) < 1 and 5 <= a.km_to(b) <= 60:
                    pairs.append((a, b))
        return pairs

    def place(self) -> Place:
        return self.random.choice(self.places)

    def place_at_least(self, origin: Place, km: float) -> Place:
        """A real place at least ``km`` away from ``origin``."""
        far = [p for p in self.places if origin.km_to(p) >= km]
        return self.random.choice(far)

    def hub_pair(self, min_km: float = 1500) -> tuple[Hub, Hub]:
        while True:
            origin, destination = self.random.sample(self.hubs, 2)
            if origin.place.km_to(destination.place) >= min_km:
                return origin, destination

    def hub_route(self, legs: int) -> list[Hub]:
        """``legs + 1`` distinct hubs, each leg at least 500 km."""
        while True:
            route = self.random.sample(self.hubs, legs + 1)
            if all(a.place.km_to(b.place) >= 500 for a, b in itertools.pairwise(route)):
                return route

    def user_agent(self, phone: bool) -> str:
        if phone:
            return self._ios_agent() if self.random.random() < 0.5 else self._android_agent()
        return self.faker.chrome() if self.random.random() < 0.7 else self.faker.firefox()

    def _ios_agent(self) -> str:
        return (
            f"Mozilla/5.0 ({self.faker.ios_platform_token()}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            f"Version/{self.random.randint(15, 18)}.0 Mobile/15E148 Safari/604.1"
        )

    def _android_agent(self) -> str:
        return (
            f"Mozilla/5.0 (Linux; {self.faker.android_platform_token()}; Mobile) AppleWebKit/537.36 "
            f"(KHTML, like Gecko) Chrome/{self.random.randint(100, 130)}.0.0.0 Mobile Safari/537.36"
        )

    def followers(self) -> int:
        """A heavy-tailed audience: Pareto with shape 1.2 (most have a few hundred, a few have millions)."""
        return int(50 * self.random.paretovariate(1.2))

    def money(self, low: float, high: float) -> float:
        return round(math.exp(self.random.uniform(math.log(low), math.log(high))), 2)

"""Location conflict ("impossible travel"): two places too far apart for the time between them.

The new observation is compared with the customer's recent observations from *other*
sources. Each source's accuracy is taken off the distance (an IP location is tens of km
off, a card terminal is not), and moves shorter than ``min_conflict_distance_km`` never
count, so Newark and Manhattan do not conflict. A conflict is *explained* when a booked
itinerary flies from near the earlier place to near the later one in between.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctxi.enrichers.registry import enricher
from ctxi.lookups.geo import airport, distance_km
from ctxi.schemas.context import CustomerContext, Itinerary, Observation
from ctxi.schemas.events import Event
from ctxi.schemas.signals import LocationConflict
from ctxi.settings import EngineConfig

_MIN_ELAPSED_HOURS = 1 / 60  # two observations in the same minute: speed over one minute


@enricher("social.checkin", "billing.card_transaction", "device.session")
def location_conflict(event: Event, context: CustomerContext, config: EngineConfig) -> Sequence[LocationConflict]:
    new = next((o for o in context.observations if o.event_id == event.event_id), None)
    if new is None:
        return []  # the event carried no usable location
    worst: LocationConflict | None = None
    for other in context.observations:
        if other.source == new.source:
            continue
        conflict = _conflict(new, other, context.itineraries, config)
        if conflict is not None and (worst is None or conflict.speed_kmh > worst.speed_kmh):
            worst = conflict
    return [worst] if worst else []


def _conflict(
    a: Observation, b: Observation, itineraries: list[Itinerary], config: EngineConfig
) -> LocationConflict | None:
    earlier, later = (a, b) if (a.at, a.event_id) <= (b.at, b.event_id) else (b, a)
    distance = distance_km(earlier.lat, earlier.lon, later.lat, later.lon)
    effective = max(0.0, distance - earlier.accuracy_km - later.accuracy_km)
    if effective < config.min_conflict_distance_km:
        return None
    hours = max((later.at - earlier.at).total_seconds() / 3600, _MIN_ELAPSED_HOURS)
    speed = effective / hours
    if speed <= config.max_speed_kmh:
        return None
    booking = _explaining_booking(earlier, later, itineraries, config.travel_match_radius_km)
    return LocationConflict(
        distance_km=round(distance, 1),
        effective_distance_km=round(effective, 1),
        elapsed_minutes=round((later.at - earlier.at).total_seconds() / 60, 1),
        speed_kmh=round(speed, 1),
        earlier=earlier,
        later=later,
        explained_by_travel=booking is not None,
        explaining_booking=booking,
    )


def _explaining_booking(
    earlier: Observation, later: Observation, itineraries: list[Itinerary], radius_km: float
) -> str | None:
    """A booking with flights from near ``earlier`` to near ``later``, flown between the two (±6 h)."""
    for itinerary in itineraries:
        segments = itinerary.segments
        for start, first in enumerate(segments):
            if not _near(first.origin, earlier, radius_km):
                continue
            for last in segments[start:]:
                if _near(last.destination, later, radius_km) and (
                    (first.departs_at - earlier.at).total_seconds() > -6 * 3600
                    and (last.arrives_at - later.at).total_seconds() < 6 * 3600
                ):
                    return itinerary.booking_id
    return None


def _near(iata: str, observation: Observation, radius_km: float) -> bool:
    place = airport(iata)
    if place is None:
        return False
    return distance_km(place.lat, place.lon, observation.lat, observation.lon) <= radius_km + observation.accuracy_km

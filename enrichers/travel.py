"""Travel: flight delays and cancellations against the itinerary, and weather on the way."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from ctxi.enrichers.registry import enricher
from ctxi.lookups.geo import airport
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import FlightSegment, FlightStatusCode, FlightStatusEvent, WeatherAlertEvent
from ctxi.schemas.signals import FlightDisruption, WeatherRisk
from ctxi.settings import EngineConfig

_WEATHER_MARGIN = timedelta(hours=1)  # a flight an hour outside the alert is still exposed


def _minutes(delta: timedelta) -> int:
    return round(delta.total_seconds() / 60)


def _is_international(*segments: FlightSegment) -> bool:
    countries = set()
    for segment in segments:
        for code in (segment.origin, segment.destination):
            place = airport(code)
            countries.add(place.country if place else code)
    return len(countries) > 1


def delay_minutes(event: FlightStatusEvent) -> int | None:
    status = event.payload
    if status.delay_minutes is not None:
        return status.delay_minutes
    if status.estimated_departure is not None:
        return max(0, _minutes(status.estimated_departure - status.scheduled_departure))
    return 0 if status.status is FlightStatusCode.ON_TIME else None


@enricher("travel.flight_status")
def flight_disruption(
    event: FlightStatusEvent, context: CustomerContext, config: EngineConfig
) -> Sequence[FlightDisruption]:
    status = event.payload
    if status.status is FlightStatusCode.ON_TIME:
        return []
    delay = delay_minutes(event)
    signals = []
    for itinerary in context.itineraries:
        segments = itinerary.segments
        for index, segment in enumerate(segments):
            if segment.flight != status.flight or segment.departs_at.date() != status.scheduled_departure.date():
                continue
            following = segments[index + 1] if index + 1 < len(segments) else None
            disruption = {
                "booking_id": itinerary.booking_id,
                "flight": segment.flight,
                "status": status.status,
                "delay_minutes": delay,
            }
            if following is None or following.origin != segment.destination:
                signals.append(FlightDisruption(**disruption))
                continue
            minimum = (
                config.min_connection_minutes_international
                if _is_international(segment, following)
                else config.min_connection_minutes_domestic
            )
            scheduled = _minutes(following.departs_at - segment.arrives_at)
            after = None if delay is None else scheduled - delay
            cancelled = status.status is FlightStatusCode.CANCELLED
            signals.append(
                FlightDisruption(
                    **disruption,
                    connecting_flight=following.flight,
                    connection_airport=following.origin,
                    connection_destination=following.destination,
                    scheduled_connection_minutes=scheduled,
                    connection_minutes_after_delay=after,
                    min_connection_minutes=minimum,
                    missed_connection=cancelled or (after is not None and after < minimum),
                    next_departure_at=following.departs_at,
                    minutes_until_next_departure=_minutes(following.departs_at - event.occurred_at),
                )
            )
    return signals


def _exposed(at: datetime, event: WeatherAlertEvent) -> bool:
    alert = event.payload
    return alert.valid_from - _WEATHER_MARGIN <= at <= alert.valid_to + _WEATHER_MARGIN


@enricher("travel.weather_alert")
def weather_risk(event: WeatherAlertEvent, context: CustomerContext, config: EngineConfig) -> Sequence[WeatherRisk]:
    alert = event.payload
    if alert.airport is None:
        return []  # location alerts reach customers re-keyed to the airports they cover
    signals = []
    for itinerary in context.itineraries:
        segments = itinerary.segments
        flights = [
            s.flight
            for s in segments
            if (s.origin == alert.airport and _exposed(s.departs_at, event))
            or (s.destination == alert.airport and _exposed(s.arrives_at, event))
        ]
        if flights:
            connecting = any(a.destination == alert.airport == b.origin for a, b in itertools.pairwise(segments))
            signals.append(
                WeatherRisk(
                    airport=alert.airport,
                    severity=alert.severity,
                    description=alert.description,
                    booking_id=itinerary.booking_id,
                    flights=list(dict.fromkeys(flights)),
                    connecting=connecting,
                    valid_from=alert.valid_from,
                    valid_to=alert.valid_to,
                )
            )
    return signals

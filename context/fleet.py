"""Fleet-wide events (flight status, weather) reach customers through an index of bookings.

A booking registers its customer under every flight (``flight:<number>:<date>``) and
airport (``airport:<IATA>``) of its itinerary. The index entry travels on the by-customer
topic keyed by that flight or airport, so the index lives on the same partition as the
fleet events with that key, and the fan-out reads it without a remote lookup.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ctxi.lookups.geo import airports_near
from ctxi.schemas.events import (
    BookingEvent,
    FlightSegment,
    FlightStatusEvent,
    WeatherAlertEvent,
)

FleetEvent = Annotated[FlightStatusEvent | WeatherAlertEvent, Field(discriminator="type")]


class FleetIndexEntry(BaseModel):
    """'This customer is booked on/through ``key`` until ``until``' (an internal message)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["ctxi.fleet_index_entry"] = "ctxi.fleet_index_entry"
    key: str
    customer_id: str
    booking_id: str
    until: datetime
    booked_at: datetime | None = Field(None, description="When the booking was made (event time).")

    @property
    def partition_key(self) -> str:
        return self.key


class FleetIndex(BaseModel):
    """The customers booked on one flight or through one airport, each until a time."""

    model_config = ConfigDict(extra="forbid")
    key: str
    members: dict[str, datetime] = Field(default_factory=dict)
    # The last fleet events on this key, oldest first, for bookings processed after them
    # although made before them: on a backlog (a restart, a rebalance) partitions are read
    # in no particular order between them, and a late booking must still see each status
    # in turn (a 20-minute delay, then the cancellation), as a replay in event time would.
    recent: list[FleetEvent] = Field(default_factory=list)


RECENT_FLEET_EVENTS = 16
"""Fleet events a key remembers for late bookings (a flight has a handful of statuses a day)."""


def flight_key(flight: str, departure: datetime) -> str:
    return f"flight:{flight}:{departure.date().isoformat()}"


def airport_key(iata: str) -> str:
    return f"airport:{iata}"


def index_entries(booking: BookingEvent, keep_after_arrival: timedelta) -> list[FleetIndexEntry]:
    """The index entries of a booking: one per flight and one per airport it touches."""
    assert booking.customer_id is not None
    segments: list[FlightSegment] = booking.payload.segments
    until = segments[-1].arrives_at + keep_after_arrival
    keys = [flight_key(segment.flight, segment.departs_at) for segment in segments]
    keys += list(dict.fromkeys(airport_key(code) for s in segments for code in (s.origin, s.destination)))
    return [
        FleetIndexEntry(
            key=key,
            customer_id=booking.customer_id,
            booking_id=booking.payload.booking_id,
            until=until,
            booked_at=booking.occurred_at,
        )
        for key in keys
    ]


def add_to_index(
    index: FleetIndex | None, entry: FleetIndexEntry
) -> tuple[FleetIndex, list[FlightStatusEvent | WeatherAlertEvent]]:
    """The index with the entry's customer; and, for that customer, the fleet events that came
    after the booking was made and while it was still on (it missed their fan-out), in event time."""
    index = index or FleetIndex(key=entry.key)
    current = index.members.get(entry.customer_id)
    if current is None or entry.until > current:
        index.members[entry.customer_id] = entry.until
    if current is not None or entry.booked_at is None:
        return index, []
    booked_at = entry.booked_at
    missed = [event for event in index.recent if booked_at <= event.occurred_at <= entry.until]
    return index, [event.model_copy(update={"customer_id": entry.customer_id}) for event in missed]


def fan_out(
    event: FlightStatusEvent | WeatherAlertEvent, index: FleetIndex | None
) -> tuple[list[FlightStatusEvent | WeatherAlertEvent], FleetIndex]:
    """Copies of a fleet event for every customer still booked; also the index without expired
    members, remembering the event among the key's recent ones."""
    index = index or FleetIndex(key=event.fleet_key)
    at = event.occurred_at
    index.members = {customer: until for customer, until in index.members.items() if until >= at}
    copies = [event.model_copy(update={"customer_id": customer}) for customer in sorted(index.members)]
    if all(known.event_id != event.event_id for known in index.recent):
        index.recent.append(event)
        index.recent.sort(key=lambda known: known.occurred_at)
        del index.recent[:-RECENT_FLEET_EVENTS]
    return copies, index


def is_expired(index: FleetIndex, as_of: datetime, keep: timedelta) -> bool:
    """Nobody on the key is booked any more, and its fleet events are older than ``keep``: too old
    for a late booking (one read that far behind the stream is not waited for)."""
    return all(until < as_of for until in index.members.values()) and all(
        event.occurred_at < as_of - keep for event in index.recent
    )


def rekey_location_alert(event: WeatherAlertEvent, radius_km: float) -> list[WeatherAlertEvent]:
    """A weather alert given by location becomes one alert per airport within ``radius_km``."""
    location = event.payload.location
    assert location is not None
    return [
        event.model_copy(update={"payload": event.payload.model_copy(update={"airport": nearby.iata})})
        for nearby in airports_near(location.lat, location.lon, radius_km)
    ]

"""Typed signals: what the enrichers conclude, with the figures behind each conclusion."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from ctxi.schemas.context import Observation
from ctxi.schemas.events import Actor, ContactChannel, DeviceType, FlightStatusCode, SessionChannel, WeatherSeverity

SIGNAL_CONFIG = ConfigDict(frozen=True, extra="forbid")


class LocationConflict(BaseModel):
    """Two observations from different sources too far apart for the time between them."""

    model_config = SIGNAL_CONFIG
    kind: Literal["location_conflict"] = "location_conflict"
    distance_km: float
    effective_distance_km: float = Field(description="Distance less both sources' accuracy.")
    elapsed_minutes: float
    speed_kmh: float
    earlier: Observation
    later: Observation
    explained_by_travel: bool
    explaining_booking: str | None = None


class DeviceSignal(BaseModel):
    model_config = SIGNAL_CONFIG
    kind: Literal["device"] = "device"
    actor: Actor
    device_type: DeviceType | None
    device_source: Literal["explicit", "user_agent", "unknown"]
    channel: SessionChannel
    on_phone: bool
    reach_via: ContactChannel | None = Field(description="How to reach this customer now.")


class FlightDisruption(BaseModel):
    model_config = SIGNAL_CONFIG
    kind: Literal["flight_disruption"] = "flight_disruption"
    booking_id: str
    flight: str
    status: FlightStatusCode
    delay_minutes: int | None
    connecting_flight: str | None = None
    connection_airport: str | None = None
    connection_destination: str | None = None
    scheduled_connection_minutes: int | None = None
    connection_minutes_after_delay: int | None = None
    min_connection_minutes: int | None = None
    missed_connection: bool = False
    next_departure_at: datetime | None = None
    minutes_until_next_departure: int | None = None


class WeatherRisk(BaseModel):
    model_config = SIGNAL_CONFIG
    kind: Literal["weather_risk"] = "weather_risk"
    airport: str
    severity: WeatherSeverity
    description: str
    booking_id: str
    flights: list[str]
    connecting: bool = Field(description="The airport is a connection on the itinerary.")
    valid_from: datetime
    valid_to: datetime


class BalanceShortfall(BaseModel):
    model_config = SIGNAL_CONFIG
    kind: Literal["balance_shortfall"] = "balance_shortfall"
    balance: float
    currency: str
    debit_amount: float
    payee: str
    due_date: date
    days_until_due: int
    shortfall: float


class PaymentFailures(BaseModel):
    model_config = SIGNAL_CONFIG
    kind: Literal["payment_failures"] = "payment_failures"
    count: int  # failures in ``currency`` (the currency of the failure just seen) within the window
    total_amount: float
    currency: str
    window_days: float


class DisputeSignal(BaseModel):
    model_config = SIGNAL_CONFIG
    kind: Literal["dispute"] = "dispute"
    transaction_id: str
    amount: float
    currency: str | None = None
    open_disputes: int


class SocialSignal(BaseModel):
    model_config = SIGNAL_CONFIG
    kind: Literal["social"] = "social"
    network: str
    sentiment: float
    sentiment_source: Literal["payload", "vader"]
    followers: int
    reach: float = Field(description="0-1, log scale of followers.")
    mentions_brand: bool


class EngagementScore(BaseModel):
    model_config = SIGNAL_CONFIG
    kind: Literal["engagement"] = "engagement"
    score: float = Field(description="0-100: weighted sum of the parts.")
    emotional: float | None = Field(description="0-1 from NPS and CSAT; None when neither is known.")
    behavioural: float = Field(description="0-1 from the customer's recent activity.")
    social: float = Field(description="0-1: the largest reach among recent posts.")
    weights: tuple[float, float, float]


Signal = Annotated[
    Union[  # noqa: UP007 (pydantic needs the explicit Union inside Annotated)
        LocationConflict,
        DeviceSignal,
        FlightDisruption,
        WeatherRisk,
        BalanceShortfall,
        PaymentFailures,
        DisputeSignal,
        SocialSignal,
        EngagementScore,
    ],
    Field(discriminator="kind"),
]

"""What ctxi remembers about one customer: the joined, bounded context enrichers read.

Every section keeps only what an enricher needs, within a horizon measured in event time
(see :mod:`ctxi.context.join` for the limits and how they are enforced).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ctxi.schemas.common import Location
from ctxi.schemas.events import (
    CaseSeverity,
    ContactChannel,
    DeviceType,
    FlightSegment,
    SessionChannel,
    Tier,
    UpcomingDebit,
)
from ctxi.schemas.features import FeatureState

STATE_CONFIG = ConfigDict(extra="forbid")
# Empty lists and maps below come from factories: pydantic deep-copies a plain default (``[]``,
# ``BillingState()``) for every model it builds, a new observation or post on every event.

ObservationSource = Literal["social.checkin", "billing.card_transaction", "device.session"]


class Observation(BaseModel):
    """The customer was seen at a place at a time, by a source with a known accuracy."""

    model_config = STATE_CONFIG
    at: datetime
    lat: float
    lon: float
    accuracy_km: float
    source: ObservationSource
    event_id: str
    city: str | None = None
    country: str | None = None


class Profile(BaseModel):
    model_config = STATE_CONFIG
    tier: Tier
    lifetime_value: float
    currency: str | None = None
    # the profile's extra fields, for rules
    attributes: dict[str, str | bool | int | float | None] = Field(default_factory=dict)
    home_location: Location | None = None
    nps: int | None = None
    csat: int | None = None
    preferred_channel: ContactChannel | None = None
    as_of: datetime


class OpenCase(BaseModel):
    model_config = STATE_CONFIG
    case_id: str
    subject: str
    severity: CaseSeverity
    opened_at: datetime


class Itinerary(BaseModel):
    model_config = STATE_CONFIG
    booking_id: str
    segments: list[FlightSegment]
    booked_at: datetime


class DeviceState(BaseModel):
    model_config = STATE_CONFIG
    device_type: DeviceType | None = None
    channel: SessionChannel
    seen_at: datetime


class PostSummary(BaseModel):
    model_config = STATE_CONFIG
    at: datetime
    event_id: str
    network: str
    followers: int
    mentions_brand: bool
    sentiment: float


class PaymentFailure(BaseModel):
    model_config = STATE_CONFIG
    at: datetime
    event_id: str
    amount: float
    currency: str


class Dispute(BaseModel):
    model_config = STATE_CONFIG
    at: datetime
    event_id: str
    transaction_id: str
    amount: float


class BillingState(BaseModel):
    model_config = STATE_CONFIG
    balance: float | None = None
    currency: str | None = None
    balance_as_of: datetime | None = None
    upcoming_debit: UpcomingDebit | None = None
    payment_failures: list[PaymentFailure] = Field(default_factory=list)
    open_disputes: list[Dispute] = Field(default_factory=list)


class SeenEvent(BaseModel):
    model_config = STATE_CONFIG
    event_id: str
    at: datetime


class RecentTask(BaseModel):
    """A task proposed recently: until ``until``, the same rule and dedup key update it."""

    model_config = STATE_CONFIG
    rule_id: str
    dedup_key: str
    until: datetime
    task_id: str
    created_at: datetime
    revision: int = 1


class Rejection(BaseModel):
    """An agent dismissed a task with this action for this customer (the contact policy counts them)."""

    model_config = STATE_CONFIG
    task_id: str
    action: str
    at: datetime


class CustomerContext(BaseModel):
    """The per-customer join of every source, as stored in the context table."""

    model_config = STATE_CONFIG
    customer_id: str
    watermark: datetime | None = Field(None, description="The latest event time seen for this customer.")
    profile: Profile | None = None
    observations: list[Observation] = Field(
        default_factory=list, description="Where the customer was seen, oldest first."
    )
    open_cases: list[OpenCase] = Field(default_factory=list)
    itineraries: list[Itinerary] = Field(default_factory=list)
    customer_device: DeviceState | None = Field(None, description="The latest session of the customer.")
    agent_device: DeviceState | None = Field(None, description="The latest session of one of our agents.")
    posts: list[PostSummary] = Field(default_factory=list)
    billing: BillingState = Field(default_factory=BillingState)
    activity: list[int] = Field(
        default_factory=list, description="Event times in Unix seconds (engagement's behavioural part)."
    )

    last_sentiment: float | None = Field(None, description="-1..1, from the latest post or interaction (4 decimals).")
    seen: list[SeenEvent] = Field(default_factory=list)
    recent_tasks: list[RecentTask] = Field(default_factory=list)
    rejections: list[Rejection] = Field(default_factory=list)
    late_events: int = Field(0, description="Events that arrived after later ones of this customer.")
    # the rule packs' features, by definition (rules read them as features)
    features: dict[str, FeatureState] = Field(default_factory=dict)

    def last_location(self) -> Observation | None:
        return self.observations[-1] if self.observations else None

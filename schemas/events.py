"""The input event contract (SPEC "Event contract"): an envelope discriminated on ``type``.

Every model is strict (see :data:`ctxi.schemas.common.STRICT`). Envelopes forbid unknown
top-level fields, since the envelope is ours; payloads ignore fields they do not know,
so a source system can add data without its events being dead-lettered.
"""

from __future__ import annotations

import functools
import itertools
from abc import abstractmethod
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, IPvAnyAddress, TypeAdapter, model_validator

from ctxi.schemas.common import (
    MAX_ATTRIBUTES,
    MAX_INT64,
    AirportCode,
    Attributes,
    Balance,
    CurrencyCode,
    FlightNumber,
    Identifier,
    Location,
    Money,
    NonBlankText,
    NonEmptyStr,
    Sentiment,
    Text,
    Timestamp,
)

PAYLOAD_CONFIG = ConfigDict(strict=True, frozen=True, extra="ignore", allow_inf_nan=False)

MAX_SEGMENTS = 16  # flights in one booking
MAX_DELAY_MINUTES = 7 * 24 * 60  # a flight a week late is cancelled, not delayed
MAX_FOLLOWERS = 10_000_000_000  # more than any account on any network has
MAX_PAYLOAD_SPAN = timedelta(days=400)  # times in a payload (flights, validity, debits) from the event's own time


# --- enumerations --------------------------------------------------------------------


class Tier(StrEnum):
    STANDARD = "standard"
    SILVER = "silver"
    GOLD = "gold"
    PLATINUM = "platinum"


class ContactChannel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    SMS = "sms"
    CHAT = "chat"
    APP = "app"


class CaseSeverity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class TransactionStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"


class FlightStatusCode(StrEnum):
    ON_TIME = "on_time"
    DELAYED = "delayed"
    CANCELLED = "cancelled"
    DIVERTED = "diverted"


class WeatherSeverity(StrEnum):
    """The severity scale of the Common Alerting Protocol (CAP 1.2)."""

    MINOR = "minor"
    MODERATE = "moderate"
    SEVERE = "severe"
    EXTREME = "extreme"


class Actor(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"


class DeviceType(StrEnum):
    PHONE = "phone"
    TABLET = "tablet"
    DESKTOP = "desktop"


class SessionChannel(StrEnum):
    WEB = "web"
    APP = "app"
    IVR = "ivr"
    CHAT = "chat"
    DESK = "desk"


# --- payloads ------------------------------------------------------------------------


class Payload(BaseModel):
    """What every event's payload has: fields the contract does not know yet go in ``attributes``."""

    model_config = PAYLOAD_CONFIG
    attributes: Attributes = Field(
        default_factory=dict,
        description=f"Up to {MAX_ATTRIBUTES} extra fields (name: string, number, boolean or null) rules can read.",
    )


class CustomerProfile(Payload):
    tier: Tier
    lifetime_value: Money
    currency: CurrencyCode | None = None  # of lifetime_value
    home_location: Location | None = None
    nps: Annotated[int, Field(ge=0, le=10)] | None = None
    csat: Annotated[int, Field(ge=1, le=5)] | None = None
    preferred_channel: ContactChannel | None = None


class CaseOpened(Payload):
    case_id: Identifier
    subject: NonBlankText
    severity: CaseSeverity
    channel: NonEmptyStr


class CaseClosed(Payload):
    case_id: Identifier
    resolution: Text | None = None


class Interaction(Payload):
    channel: NonEmptyStr
    case_id: Identifier | None = None  # the open case the contact is about
    sentiment: Sentiment | None = None
    summary: Text | None = None


class CardTransaction(Payload):
    transaction_id: Identifier
    amount: Money
    currency: CurrencyCode
    merchant: NonEmptyStr
    card_present: bool
    card_id: Identifier | None = None  # the card's token or fingerprint, never its number
    location: Location | None = None
    status: TransactionStatus


class PaymentFailed(Payload):
    amount: Money
    currency: CurrencyCode
    reason: NonEmptyStr
    invoice_id: Identifier | None = None


class UpcomingDebit(BaseModel):
    model_config = PAYLOAD_CONFIG
    amount: Money
    due_date: date
    payee: NonEmptyStr


class BalanceLow(Payload):
    balance: Balance
    currency: CurrencyCode
    upcoming_debit: UpcomingDebit | None = None


class DisputeOpened(Payload):
    transaction_id: Identifier
    amount: Money
    currency: CurrencyCode | None = None
    reason: NonEmptyStr


class Checkin(Payload):
    network: NonEmptyStr
    location: Location
    place_name: NonEmptyStr | None = None


class Post(Payload):
    network: NonEmptyStr
    post_id: Identifier
    text: Text
    followers: Annotated[int, Field(ge=0, le=MAX_FOLLOWERS)]
    mentions_brand: bool
    sentiment: Sentiment | None = None


class FlightSegment(BaseModel):
    model_config = PAYLOAD_CONFIG
    flight: FlightNumber
    origin: AirportCode
    destination: AirportCode
    departs_at: Timestamp
    arrives_at: Timestamp

    @model_validator(mode="after")
    def _arrives_after_departure(self) -> FlightSegment:
        if self.arrives_at <= self.departs_at:
            raise ValueError("arrives_at must be after departs_at")
        if self.origin == self.destination:
            raise ValueError("origin and destination must differ")
        return self


class Booking(Payload):
    booking_id: Identifier
    segments: Annotated[list[FlightSegment], Field(min_length=1, max_length=MAX_SEGMENTS)]

    @model_validator(mode="after")
    def _segments_in_order(self) -> Booking:
        for earlier, later in itertools.pairwise(self.segments):
            if later.departs_at < earlier.arrives_at:
                raise ValueError(
                    f"segment {later.flight} departs before {earlier.flight} arrives: segments must be in flight order"
                )
        return self


class FlightStatus(Payload):
    flight: FlightNumber
    scheduled_departure: Timestamp
    status: FlightStatusCode
    delay_minutes: Annotated[int, Field(ge=0, le=MAX_DELAY_MINUTES)] | None = None
    estimated_departure: Timestamp | None = None


class WeatherAlert(Payload):
    airport: AirportCode | None = None
    location: Location | None = None
    severity: WeatherSeverity
    description: Text
    valid_from: Timestamp
    valid_to: Timestamp

    @model_validator(mode="after")
    def _where_and_when(self) -> WeatherAlert:
        if self.airport is None and self.location is None:
            raise ValueError("either airport or location is required")
        if self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self


class Session(Payload):
    actor: Actor
    actor_id: Identifier | None = None
    user_agent: Text | None = None
    device_type: DeviceType | None = None
    device_id: Identifier | None = None  # the device's own identifier (an app install, a browser fingerprint)
    ip_address: IPvAnyAddress | None = None
    channel: SessionChannel
    ip_location: Location | None = None


def _times(value: object, path: str) -> Iterator[tuple[str, date]]:
    """Every timestamp and date inside a payload, with its dotted path."""
    if isinstance(value, date):  # a datetime is a date too
        yield path, value
    elif isinstance(value, BaseModel):
        for name in _time_fields(type(value)):
            yield from _times(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _times(item, f"{path}.{index}")


@functools.cache
def _time_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` that may hold a date or a time (most payloads have none: nothing to walk)."""
    return tuple(name for name, field in model.model_fields.items() if _may_hold_times(field.annotation))


def _may_hold_times(annotation: object) -> bool:
    if annotation in (date, datetime, AwareDatetime):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return bool(_time_fields(annotation))
    return any(_may_hold_times(argument) for argument in get_args(annotation))


# --- envelopes -----------------------------------------------------------------------


class EventEnvelope(BaseModel):
    """Fields every event carries. ``customer_id`` is the join key and the Kafka key."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid", allow_inf_nan=False)

    event_id: Identifier
    type: str  # narrowed to one Literal by each event model
    customer_id: Identifier
    occurred_at: Timestamp
    source_system: NonEmptyStr | None = None
    schema_version: Annotated[int, Field(ge=1, le=MAX_INT64)] = 1

    @model_validator(mode="after")
    def _payload_times_near_event_time(self) -> EventEnvelope:
        for path, value in _times(getattr(self, "payload", None), "payload"):
            at = self.occurred_at if isinstance(value, datetime) else self.occurred_at.date()
            if abs(value - at) > MAX_PAYLOAD_SPAN:
                raise ValueError(f"{path} is more than {MAX_PAYLOAD_SPAN.days} days from occurred_at")
        return self

    @property
    def source(self) -> str:
        """The source system family: the part of ``type`` before the dot."""
        return self.type.partition(".")[0]

    @property
    def partition_key(self) -> str:
        """The Kafka key events are repartitioned by: the customer they concern."""
        return self.customer_id


class FleetEventEnvelope(EventEnvelope):
    """A fleet-wide event, about a flight or an airport rather than one customer.

    It arrives without ``customer_id`` and is fanned out to every booked customer;
    the fanned-out copies carry the customer's id.
    """

    customer_id: Identifier | None = None  # type: ignore[assignment]  # fleet events arrive without one

    @property
    @abstractmethod
    def fleet_key(self) -> str:
        """What the event is about, e.g. ``flight:BA117:2026-03-01`` or ``airport:LHR``."""

    @property
    def partition_key(self) -> str:
        return self.customer_id if self.customer_id is not None else self.fleet_key


class CustomerProfileEvent(EventEnvelope):
    type: Literal["crm.customer_profile"]
    payload: CustomerProfile


class CaseOpenedEvent(EventEnvelope):
    type: Literal["crm.case_opened"]
    payload: CaseOpened


class CaseClosedEvent(EventEnvelope):
    type: Literal["crm.case_closed"]
    payload: CaseClosed


class InteractionEvent(EventEnvelope):
    type: Literal["crm.interaction"]
    payload: Interaction


class CardTransactionEvent(EventEnvelope):
    type: Literal["billing.card_transaction"]
    payload: CardTransaction


class PaymentFailedEvent(EventEnvelope):
    type: Literal["billing.payment_failed"]
    payload: PaymentFailed


class BalanceLowEvent(EventEnvelope):
    type: Literal["billing.balance_low"]
    payload: BalanceLow


class DisputeOpenedEvent(EventEnvelope):
    type: Literal["billing.dispute_opened"]
    payload: DisputeOpened


class CheckinEvent(EventEnvelope):
    type: Literal["social.checkin"]
    payload: Checkin


class PostEvent(EventEnvelope):
    type: Literal["social.post"]
    payload: Post


class BookingEvent(EventEnvelope):
    type: Literal["travel.booking"]
    payload: Booking


class FlightStatusEvent(FleetEventEnvelope):
    type: Literal["travel.flight_status"]
    payload: FlightStatus

    @property
    def fleet_key(self) -> str:
        return f"flight:{self.payload.flight}:{self.payload.scheduled_departure.date().isoformat()}"


class WeatherAlertEvent(FleetEventEnvelope):
    type: Literal["travel.weather_alert"]
    payload: WeatherAlert

    @property
    def fleet_key(self) -> str:
        if self.payload.airport is not None:
            return f"airport:{self.payload.airport}"
        location = self.payload.location
        assert location is not None  # guaranteed by WeatherAlert's validator
        return f"location:{location.lat:.2f},{location.lon:.2f}"


class SessionEvent(EventEnvelope):
    type: Literal["device.session"]
    payload: Session


Event = Annotated[
    CustomerProfileEvent
    | CaseOpenedEvent
    | CaseClosedEvent
    | InteractionEvent
    | CardTransactionEvent
    | PaymentFailedEvent
    | BalanceLowEvent
    | DisputeOpenedEvent
    | CheckinEvent
    | PostEvent
    | BookingEvent
    | FlightStatusEvent
    | WeatherAlertEvent
    | SessionEvent,
    Field(discriminator="type"),
]
"""Any input event; pydantic picks the model from ``type``. A new event type joins this union (and
``engine/event_types.py``: its joiner and its sample)."""
EVENT_MODELS: tuple[type[EventEnvelope], ...] = get_args(get_args(Event)[0])

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def type_name(model: type[EventEnvelope]) -> str:
    """The ``type`` an event of ``model`` carries, e.g. ``crm.customer_profile`` (its Literal's value)."""
    name: str = get_args(model.model_fields["type"].annotation)[0]
    return name


EVENT_TYPES: dict[str, type[EventEnvelope]] = {type_name(model): model for model in EVENT_MODELS}
SOURCES: tuple[str, ...] = tuple(dict.fromkeys(name.partition(".")[0] for name in EVENT_TYPES))

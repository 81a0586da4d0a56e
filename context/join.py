"""Apply one event to a customer's context: de-duplicate, place it in event time, bound the state.

Pure: a function of (context, event, config). The stream worker stores the result in its
faust table; ``ctxi replay`` keeps it in a dict.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from ctxi.context.fleet import FleetIndexEntry, index_entries
from ctxi.lookups.devices import device_type_of
from ctxi.lookups.sentiment import text_sentiment
from ctxi.schemas.common import Location
from ctxi.schemas.context import (
    BillingState,
    CustomerContext,
    DeviceState,
    Dispute,
    Itinerary,
    Observation,
    OpenCase,
    PaymentFailure,
    PostSummary,
    Profile,
    Rejection,
    SeenEvent,
)
from ctxi.schemas.events import (
    Actor,
    BalanceLowEvent,
    BookingEvent,
    CardTransactionEvent,
    CaseClosedEvent,
    CaseOpenedEvent,
    CheckinEvent,
    CustomerProfileEvent,
    DisputeOpenedEvent,
    Event,
    InteractionEvent,
    PaymentFailedEvent,
    PostEvent,
    SessionEvent,
)
from ctxi.schemas.task import TaskOutcome
from ctxi.settings import EngineConfig

COORDINATE_DECIMALS = 5  # an observation's latitude and longitude are kept to about a metre
SENTIMENT_DECIMALS = 4  # the latest sentiment (-1..1) is kept to 0.0001: plenty for a priority, 12 bytes fewer


class _Timed(Protocol):
    at: datetime


T = TypeVar("T", bound=_Timed)
Item = TypeVar("Item")
TimeOrder = TypeVar("TimeOrder", datetime, int)

# How an event changes its customer's context (in place); a booking also returns its fleet index entries.
# Each takes its own event model: the declaration (engine/event_types.py) pairs them.
Joiner = Callable[[CustomerContext, Any, EngineConfig], list[FleetIndexEntry] | None]


class JoinStatus(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"


@dataclass
class JoinResult:
    context: CustomerContext
    status: JoinStatus
    late: bool = False
    index_entries: list[FleetIndexEntry] = field(default_factory=list)


def apply_event(context: CustomerContext | None, event: Event, config: EngineConfig, join: Joiner) -> JoinResult:
    """Join ``event`` into ``context`` (mutated in place and returned; a new one if None) with ``join``, its
    type's joiner (declared with the type in ``engine/event_types.py``)."""
    assert event.customer_id is not None, "fleet events reach a context only after fan-out"
    context = context or CustomerContext(customer_id=event.customer_id)
    if any(seen.event_id == event.event_id for seen in context.seen):
        return JoinResult(context, JoinStatus.DUPLICATE)

    at = event.occurred_at
    late = context.watermark is not None and at < context.watermark - timedelta(seconds=config.late_grace_seconds)
    if late:
        context.late_events += 1
    if context.watermark is None or at > context.watermark:
        context.watermark = at
    context.seen.append(SeenEvent(event_id=event.event_id, at=at))
    bisect.insort_right(context.activity, int(at.timestamp()))

    entries = join(context, event, config) or []
    _bound(context, config)
    return JoinResult(context, JoinStatus.APPLIED, late=late, index_entries=entries)


# --- one joiner per event type (engine/event_types.py says which is whose) ---------------


def keeps_nothing(context: CustomerContext, event: Event, config: EngineConfig) -> None:
    """For an event type whose events change nothing but the seen ids and activity (fanned-out
    flight status and weather alerts: enrichers read them with the itineraries)."""


def join_profile(context: CustomerContext, event: CustomerProfileEvent, config: EngineConfig) -> None:
    if context.profile is None or event.occurred_at >= context.profile.as_of:  # an older profile never wins
        context.profile = Profile(**event.payload.model_dump(), as_of=event.occurred_at)


def join_case_opened(context: CustomerContext, event: CaseOpenedEvent, config: EngineConfig) -> None:
    payload = event.payload
    context.open_cases = [case for case in context.open_cases if case.case_id != payload.case_id]
    context.open_cases.append(
        OpenCase(
            case_id=payload.case_id, subject=payload.subject, severity=payload.severity, opened_at=event.occurred_at
        )
    )


def join_case_closed(context: CustomerContext, event: CaseClosedEvent, config: EngineConfig) -> None:
    context.open_cases = [case for case in context.open_cases if case.case_id != event.payload.case_id]


def join_interaction(context: CustomerContext, event: InteractionEvent, config: EngineConfig) -> None:
    if event.payload.sentiment is not None:
        context.last_sentiment = round(event.payload.sentiment, SENTIMENT_DECIMALS)


def join_card_transaction(context: CustomerContext, event: CardTransactionEvent, config: EngineConfig) -> None:
    payload = event.payload
    if payload.card_present and payload.location is not None:
        _observe(context, event, payload.location, config.card_accuracy_km)


def join_payment_failed(context: CustomerContext, event: PaymentFailedEvent, config: EngineConfig) -> None:
    failure = PaymentFailure(
        at=event.occurred_at, event_id=event.event_id, amount=event.payload.amount, currency=event.payload.currency
    )
    _insert_by_time(context.billing.payment_failures, failure)


def join_balance_low(context: CustomerContext, event: BalanceLowEvent, config: EngineConfig) -> None:
    billing = context.billing
    if billing.balance_as_of is None or event.occurred_at >= billing.balance_as_of:
        billing.balance, billing.currency = event.payload.balance, event.payload.currency
        billing.balance_as_of = event.occurred_at
        billing.upcoming_debit = event.payload.upcoming_debit


def join_dispute_opened(context: CustomerContext, event: DisputeOpenedEvent, config: EngineConfig) -> None:
    payload = event.payload
    disputes = [d for d in context.billing.open_disputes if d.transaction_id != payload.transaction_id]
    dispute = Dispute(
        at=event.occurred_at, event_id=event.event_id, transaction_id=payload.transaction_id, amount=payload.amount
    )
    _insert_by_time(disputes, dispute)
    context.billing.open_disputes = disputes


def join_checkin(context: CustomerContext, event: CheckinEvent, config: EngineConfig) -> None:
    _observe(context, event, event.payload.location, config.checkin_accuracy_km)


def join_post(context: CustomerContext, event: PostEvent, config: EngineConfig) -> None:
    payload = event.payload
    sentiment = payload.sentiment if payload.sentiment is not None else text_sentiment(payload.text)
    post = PostSummary(
        at=event.occurred_at,
        event_id=event.event_id,
        network=payload.network,
        followers=payload.followers,
        mentions_brand=payload.mentions_brand,
        sentiment=sentiment,
    )
    _insert_by_time(context.posts, post)
    if context.posts[-1] is post:
        context.last_sentiment = round(sentiment, SENTIMENT_DECIMALS)


def join_booking(context: CustomerContext, event: BookingEvent, config: EngineConfig) -> list[FleetIndexEntry]:
    payload = event.payload
    context.itineraries = [i for i in context.itineraries if i.booking_id != payload.booking_id]
    context.itineraries.append(
        Itinerary(booking_id=payload.booking_id, segments=payload.segments, booked_at=event.occurred_at)
    )
    context.itineraries.sort(key=lambda itinerary: itinerary.segments[0].departs_at)
    return index_entries(event, timedelta(hours=config.itinerary_keep_hours))


def join_session(context: CustomerContext, event: SessionEvent, config: EngineConfig) -> None:
    payload = event.payload
    device = DeviceState(device_type=device_type_of(payload), channel=payload.channel, seen_at=event.occurred_at)
    if payload.actor is Actor.AGENT:
        if context.agent_device is None or device.seen_at >= context.agent_device.seen_at:
            context.agent_device = device
        return
    if context.customer_device is None or device.seen_at >= context.customer_device.seen_at:
        context.customer_device = device
    if payload.ip_location is not None:
        _observe(context, event, payload.ip_location, config.ip_accuracy_km)


# --- helpers -------------------------------------------------------------------------------


def _observe(context: CustomerContext, event: Event, location: Location, default_accuracy_km: float) -> None:
    observation = Observation(
        at=event.occurred_at,
        # finer says nothing about where a person is, and costs bytes in every context
        lat=round(location.lat, COORDINATE_DECIMALS),
        lon=round(location.lon, COORDINATE_DECIMALS),
        accuracy_km=location.accuracy_km if location.accuracy_km is not None else default_accuracy_km,
        source=event.type,
        event_id=event.event_id,
        city=location.city,
        country=location.country,
    )
    _insert_by_time(context.observations, observation)


def _at(item: _Timed) -> datetime:
    return item.at


def _insert_by_time(items: list[T], item: T) -> None:
    bisect.insort_right(items, item, key=_at)


def _recent(items: list[T], since: datetime, limit: int) -> list[T]:
    """``items`` (in time order) from ``since`` on, at most the last ``limit``; the same list if nothing goes."""
    cut = max(bisect.bisect_left(items, since, key=_at), len(items) - limit)
    return items[cut:] if cut > 0 else items


def _recent_times(times: list[TimeOrder], since: TimeOrder, limit: int) -> list[TimeOrder]:
    cut = max(bisect.bisect_left(times, since), len(times) - limit)
    return times[cut:] if cut > 0 else times


def apply_outcome(context: CustomerContext | None, outcome: TaskOutcome, config: EngineConfig) -> CustomerContext:
    """Remember a dismissal (once per task) for the contact policy; a completion changes nothing."""
    context = context or CustomerContext(customer_id=outcome.customer_id)
    if outcome.outcome == "dismissed" and all(r.task_id != outcome.task_id for r in context.rejections):
        _insert_by_time(context.rejections, Rejection(task_id=outcome.task_id, action=outcome.action, at=outcome.at))
        context.rejections = _recent(
            context.rejections, outcome.at - timedelta(days=config.contact_policy_days), config.max_rejections
        )
    return context


def _bound(context: CustomerContext, config: EngineConfig) -> None:
    """Forget what no enricher needs any more, measured back from the customer's watermark.

    A list is assigned only when something went: most events cut nothing, and a model's
    assignment costs more than the check."""
    now = context.watermark
    assert now is not None
    _cut(context, "seen", _recent(context.seen, now - timedelta(hours=config.dedup_window_hours), config.dedup_max_ids))
    _cut(
        context,
        "observations",
        _recent(context.observations, now - timedelta(hours=config.observation_horizon_hours), config.max_observations),
    )
    _cut(context, "posts", _recent(context.posts, now - timedelta(days=config.post_horizon_days), config.max_posts))
    activity_since = int((now - timedelta(days=config.activity_horizon_days)).timestamp())
    _cut(context, "activity", _recent_times(context.activity, activity_since, config.max_activity))
    _cut(context, "open_cases", _last(context.open_cases, config.max_open_cases))
    billing: BillingState = context.billing
    failures_since = now - timedelta(days=config.payment_failure_horizon_days)
    _cut(billing, "payment_failures", _recent(billing.payment_failures, failures_since, config.max_payment_failures))
    _cut(billing, "open_disputes", _last(billing.open_disputes, config.max_open_disputes))
    keep_until = now - timedelta(hours=config.itinerary_keep_hours)
    if any(i.segments[-1].arrives_at < keep_until for i in context.itineraries):
        context.itineraries = [i for i in context.itineraries if i.segments[-1].arrives_at >= keep_until]


def _cut(model: BaseModel, name: str, kept: list[Any]) -> None:
    if kept is not getattr(model, name):
        setattr(model, name, kept)


def _last(items: list[Item], limit: int) -> list[Item]:
    """The last ``limit`` of ``items``; the same list if nothing goes."""
    return items[-limit:] if len(items) > limit else items

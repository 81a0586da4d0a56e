"""The evidence of a task in words an agent reads at a glance: one line per event it rests on.

The triggering event is described from its full payload; the other side of a conflict
(the check-in 90 minutes earlier) only survives in the customer's context as an
:class:`~ctxi.schemas.context.Observation`, so it is described from that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ctxi.rule_language.formatting import money
from ctxi.rule_language.model import ContextEvidence
from ctxi.schemas.common import Location, shorten
from ctxi.schemas.context import CustomerContext, Observation, PostSummary
from ctxi.schemas.events import (
    BalanceLowEvent,
    BookingEvent,
    CardTransactionEvent,
    CaseClosedEvent,
    CaseOpenedEvent,
    CheckinEvent,
    CustomerProfileEvent,
    DisputeOpenedEvent,
    Event,
    FlightStatusEvent,
    InteractionEvent,
    PaymentFailedEvent,
    PostEvent,
    SessionEvent,
    WeatherAlertEvent,
)
from ctxi.schemas.signals import Signal
from ctxi.schemas.task import EvidenceItem

_POST_EXCERPT = 120  # characters of a post shown; the rest is one click away in the source system

_OBSERVED_AS = {
    "social.checkin": "Checked in at",
    "billing.card_transaction": "Card used in",
    "device.session": "Online session from",
}


def place(location: Location | Observation) -> str:
    """``Paris, FR`` when the place is known by name, else its coordinates."""
    named = ", ".join(part for part in (location.city, location.country) if part)
    return named or f"{location.lat:.3f}, {location.lon:.3f}"


def _profile(event: CustomerProfileEvent) -> str:
    p = event.payload
    return f"Profile: {p.tier} tier, lifetime value {money(p.lifetime_value, p.currency)}"


def _case_opened(event: CaseOpenedEvent) -> str:
    p = event.payload
    return f"Case {p.case_id} opened ({p.severity} severity, via {p.channel}): {p.subject}"


def _case_closed(event: CaseClosedEvent) -> str:
    p = event.payload
    return f"Case {p.case_id} closed" + (f": {p.resolution}" if p.resolution else "")


def _interaction(event: InteractionEvent) -> str:
    p = event.payload
    return f"Contact via {p.channel}" + (f": {p.summary}" if p.summary else "")


def _card(event: CardTransactionEvent) -> str:
    p = event.payload
    how = "card present" if p.card_present else "card not present"
    where = f" in {place(p.location)}" if p.location else ""
    return f"Card {p.status}: {money(p.amount, p.currency)} at {p.merchant}{where} ({how})"


def _payment_failed(event: PaymentFailedEvent) -> str:
    p = event.payload
    invoice = f" for invoice {p.invoice_id}" if p.invoice_id else ""
    return f"Payment of {money(p.amount, p.currency)}{invoice} failed: {p.reason}"


def _balance_low(event: BalanceLowEvent) -> str:
    p = event.payload
    text = f"Balance low: {money(p.balance, p.currency)}"
    if p.upcoming_debit:
        debit = p.upcoming_debit
        text += f"; {money(debit.amount, p.currency)} to {debit.payee} due {debit.due_date.isoformat()}"
    return text


def _dispute(event: DisputeOpenedEvent) -> str:
    p = event.payload
    return f"Dispute opened on transaction {p.transaction_id} ({money(p.amount, p.currency)}): {p.reason}"


def _checkin(event: CheckinEvent) -> str:
    p = event.payload
    at = f"{p.place_name}, {place(p.location)}" if p.place_name else place(p.location)
    return f"Checked in on {p.network} at {at}"


def _post(event: PostEvent) -> str:
    p = event.payload
    text = p.text if len(p.text) <= _POST_EXCERPT else p.text[: _POST_EXCERPT - 1] + "…"
    about = ", mentions the brand" if p.mentions_brand else ""
    return f'Post on {p.network} ({p.followers:,} followers{about}): "{text}"'


def _booking(event: BookingEvent) -> str:
    route = " → ".join([event.payload.segments[0].origin, *(s.destination for s in event.payload.segments)])
    flights = ", ".join(s.flight for s in event.payload.segments)
    return f"Booking {event.payload.booking_id}: {route} ({flights})"


def _flight(event: FlightStatusEvent) -> str:
    p = event.payload
    text = f"Flight {p.flight} scheduled {p.scheduled_departure:%d %b %H:%M}Z: {p.status.replace('_', ' ')}"
    if p.delay_minutes:
        text += f" by {p.delay_minutes} min"
    if p.estimated_departure:
        text += f", now departing {p.estimated_departure:%H:%M}Z"
    return text


def _weather(event: WeatherAlertEvent) -> str:
    p = event.payload
    where = p.airport or place(p.location)  # type: ignore[arg-type]  # one of them is set
    return f"{p.severity.capitalize()} weather at {where}: {p.description}"


def _session(event: SessionEvent) -> str:
    p = event.payload
    device = f" on a {p.device_type}" if p.device_type else ""
    where = f" from {place(p.ip_location)}" if p.ip_location else ""
    return f"{p.actor.capitalize()} session via {p.channel}{device}{where}"


# how each event type reads as one line in a task's evidence (the engine checks every type has one)
DESCRIPTIONS: dict[type, Callable[[Any], str]] = {
    CustomerProfileEvent: _profile,
    CaseOpenedEvent: _case_opened,
    CaseClosedEvent: _case_closed,
    InteractionEvent: _interaction,
    CardTransactionEvent: _card,
    PaymentFailedEvent: _payment_failed,
    BalanceLowEvent: _balance_low,
    DisputeOpenedEvent: _dispute,
    CheckinEvent: _checkin,
    PostEvent: _post,
    BookingEvent: _booking,
    FlightStatusEvent: _flight,
    WeatherAlertEvent: _weather,
    SessionEvent: _session,
}


def summary(event: Event) -> str:
    """What the event says, as one readable line."""
    return shorten(DESCRIPTIONS[type(event)](event))


def describe(event: Event) -> EvidenceItem:
    """The event as one readable line."""
    return EvidenceItem(event_id=event.event_id, type=event.type, occurred_at=event.occurred_at, summary=summary(event))


def describe_observation(observation: Observation) -> EvidenceItem:
    """An earlier event known only as where the customer was seen, as one readable line."""
    accuracy = f" (within {observation.accuracy_km:g} km)" if observation.accuracy_km else ""
    return EvidenceItem(
        event_id=observation.event_id,
        type=observation.source,
        occurred_at=observation.at,
        summary=f"{_OBSERVED_AS[observation.source]} {place(observation)}{accuracy}",
    )


def _post_summary(post: PostSummary) -> str:
    about = ", mentions the brand" if post.mentions_brand else ""
    return f"Post on {post.network} ({post.followers:,} followers{about}), sentiment {post.sentiment:+.2f}"


def _record(event_type: str, summary: Callable[[Any], str]) -> Callable[[Any], EvidenceItem]:
    """How a record of the customer's context that kept its event's id, time and facts reads as evidence."""
    return lambda record: EvidenceItem(
        event_id=record.event_id, type=event_type, occurred_at=record.at, summary=shorten(summary(record))
    )


# What a rule's `evidence: [{from: ...}]` may name: the records of the customer's context that
# keep the event they came from, and how each reads as a line of evidence.
CONTEXT_EVIDENCE: dict[str, tuple[Callable[[CustomerContext], Sequence[Any]], Callable[[Any], EvidenceItem]]] = {
    "customer.observations": (lambda context: context.observations, describe_observation),
    "customer.posts": (lambda context: context.posts, _record("social.post", _post_summary)),
    "customer.billing.payment_failures": (
        lambda context: context.billing.payment_failures,
        _record("billing.payment_failed", lambda f: f"Payment of {money(f.amount, f.currency)} failed"),
    ),
    "customer.billing.open_disputes": (
        lambda context: context.billing.open_disputes,
        _record(
            "billing.dispute_opened", lambda d: f"Dispute opened on transaction {d.transaction_id} ({money(d.amount)})"
        ),
    ),
}


def evidence(
    event: Event,
    signals: Sequence[Signal],
    context: CustomerContext | None = None,
    wanted: Sequence[ContextEvidence] = (),
) -> list[EvidenceItem]:
    """The triggering event, then every event a signal rests on (the two sides of a conflict), then
    the earlier events the rule names from the customer's context (``wanted``), each once."""
    items = [describe(event)]
    for signal in signals:
        for side in ("earlier", "later"):
            observation = getattr(signal, side, None)
            if observation is not None and all(item.event_id != observation.event_id for item in items):
                items.append(describe_observation(observation))
    for source in wanted if context is not None else ():
        assert context is not None
        records, describe_record = CONTEXT_EVIDENCE[source.source]
        since = event.occurred_at - source.within
        known = {item.event_id for item in items}
        recent = sorted(
            (r for r in records(context) if since <= r.at <= event.occurred_at and r.event_id not in known),
            key=lambda record: record.at,
        )
        items += [describe_record(record) for record in recent[-source.limit :]]  # the latest, oldest first
    return items

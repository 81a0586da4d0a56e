"""Planted situations: each one a customer's events with the decisions they must (not) lead to.

A situation is registered with the action it tests (``watch``) and what the rules should
propose for its customer (``expect``): the positive cases (impossible travel, a missed
connection) expect the action; their look-alikes (nearby cities, travel a booking
explains, a short delay) expect nothing of it. Adding a situation is writing one function
here with ``@situation``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ctxi.simulate.world import Hub, Place, World

Event = dict[str, Any]


@dataclass
class Delivery:
    """An event and when it reaches ctxi (its own time, unless planted late or twice)."""

    event: Event
    at: datetime


@dataclass
class Stage:
    """What a situation function gets: the world, its customer and when it happens."""

    world: World
    customer_id: str
    at: datetime
    serial: int  # unique per situation in a stream: its flight numbers never collide
    airline: str = "ZZ"  # differs between seeds, so two streams' flights never collide either
    events: list[Delivery] = field(default_factory=list)

    def emit(self, kind: str, at: datetime, payload: dict[str, Any], *, customer: bool = True, tag: str = "") -> Event:
        event: Event = {
            "event_id": f"{self.customer_id}-{kind.replace('.', '-')}-{tag or len(self.events)}",
            "type": kind,
            "occurred_at": iso(at),
            "payload": payload,
        }
        if customer:
            event["customer_id"] = self.customer_id
        self.events.append(Delivery(event, at))
        return event


@dataclass(frozen=True)
class SituationKind:
    name: str
    plant: Callable[[Stage], None]
    expect: tuple[str, ...]
    watch: tuple[str, ...]
    description: str


SITUATIONS: dict[str, SituationKind] = {}

FRAUD = "verify_card_activity"
REBOOK = "rebook_connection"
WARN_DEBIT = "warn_debit_will_fail"
RESPOND = "respond_to_negative_post"
NEGATIVE_TEXTS = (
    "Worst service ever from @AcmeBank. Hours on hold and nobody helps. Furious and done with them.",
    "@AcmeBank blocked my card abroad again, terrible, useless support. Never again.",
    "Absolutely awful experience with @AcmeBank today, rude staff and a fee I never agreed to. Angry.",
    "@AcmeBank lost my refund twice. Horrible, incompetent and disappointing.",
)


def situation(name: str, *, expect: tuple[str, ...], watch: tuple[str, ...]):
    def register(plant: Callable[[Stage], None]) -> Callable[[Stage], None]:
        SITUATIONS[name] = SituationKind(name, plant, expect, watch, (plant.__doc__ or "").strip())
        return plant

    return register


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _checkin(stage: Stage, at: datetime, place: Place) -> Event:
    return stage.emit("social.checkin", at, {"network": "instagram", "location": place.location()}, tag="checkin")


def _card(stage: Stage, at: datetime, place: Place) -> Event:
    return stage.emit(
        "billing.card_transaction",
        at,
        {
            "transaction_id": f"TX-{stage.customer_id}-{stage.serial}",
            "amount": stage.world.money(8, 900),
            "currency": "EUR",
            "merchant": stage.world.faker.company(),
            "card_present": True,
            "card_id": f"card-{stage.customer_id}",
            "status": "approved",
            "location": place.location(),
        },
        tag="card",
    )


def _impossible_pair(stage: Stage) -> tuple[Place, Place, datetime]:
    """A check-in, then a card payment too far away too soon: 30-120 min, > 1.5x airliner speed."""
    minutes = stage.world.random.randint(30, 120)
    origin = stage.world.place()
    far = stage.world.place_at_least(origin, max(2000.0, 1500 * minutes / 60 + 200))
    return origin, far, stage.at + timedelta(minutes=minutes)


@situation("impossible_travel", expect=(FRAUD,), watch=(FRAUD,))
def impossible_travel(stage: Stage) -> None:
    """Check-in in one city, card present in a city thousands of km away within two hours."""
    origin, far, card_at = _impossible_pair(stage)
    _checkin(stage, stage.at, origin)
    _card(stage, card_at, far)


@situation("impossible_travel_delivered_twice", expect=(FRAUD,), watch=(FRAUD,))
def delivered_twice(stage: Stage) -> None:
    """Impossible travel whose card payment is delivered twice: still exactly one task."""
    origin, far, card_at = _impossible_pair(stage)
    _checkin(stage, stage.at, origin)
    card = _card(stage, card_at, far)
    stage.events.append(Delivery(dict(card), card_at + timedelta(seconds=stage.world.random.randint(1, 120))))


@situation("impossible_travel_out_of_order", expect=(FRAUD,), watch=(FRAUD,))
def out_of_order(stage: Stage) -> None:
    """Impossible travel whose check-in reaches ctxi only after the card payment."""
    origin, far, card_at = _impossible_pair(stage)
    _checkin(stage, stage.at, origin)
    _card(stage, card_at, far)
    stage.events[0].at = card_at + timedelta(minutes=stage.world.random.randint(1, 4))


@situation("nearby_city", expect=(), watch=(FRAUD,))
def nearby_city(stage: Stage) -> None:
    """Check-in, then a card payment in a real city 5-60 km away: no conflict."""
    here, there = stage.world.random.choice(stage.world.neighbours)
    _checkin(stage, stage.at, here)
    _card(stage, stage.at + timedelta(minutes=stage.world.random.randint(15, 60)), there)


@situation("travel_explained_by_booking", expect=(), watch=(FRAUD,))
def explained_by_booking(stage: Stage) -> None:
    """Check-in at the departure city, a booked flight, a card payment at the destination."""
    origin, destination = stage.world.hub_pair()
    departs = stage.at + timedelta(minutes=stage.world.random.randint(60, 120))
    arrives = departs + _flight_time(origin, destination)
    _booking(stage, [(origin, destination, departs, arrives)], booked_at=stage.at - timedelta(days=10))
    _checkin(stage, stage.at, origin.place)
    _card(stage, arrives + timedelta(minutes=stage.world.random.randint(45, 120)), destination.place)


def _flight_time(origin: Hub, destination: Hub) -> timedelta:
    return timedelta(minutes=round(origin.place.km_to(destination.place) / 800 * 60) + 30)


def _flight_number(stage: Stage, leg: int) -> str:
    return f"{stage.airline}{(stage.serial * 2 + leg) % 10000}"


def _booking(
    stage: Stage, legs: list[tuple[Hub, Hub, datetime, datetime]], booked_at: datetime
) -> list[dict[str, str]]:
    segments = [
        {
            "flight": _flight_number(stage, leg),
            "origin": origin.iata,
            "destination": destination.iata,
            "departs_at": iso(departs),
            "arrives_at": iso(arrives),
        }
        for leg, (origin, destination, departs, arrives) in enumerate(legs)
    ]
    stage.emit("travel.booking", booked_at, {"booking_id": f"PNR-{stage.serial}", "segments": segments}, tag="booking")
    return segments


def _connection(stage: Stage, connection_minutes: int, delay_minutes: int) -> None:
    """A two-leg booking, then the first leg's delay announced 45 minutes before it departs."""
    origin, hub, destination = stage.world.hub_route(2)
    departs = stage.at + timedelta(minutes=45)
    lands = departs + _flight_time(origin, hub)
    onward = lands + timedelta(minutes=connection_minutes)
    legs = [(origin, hub, departs, lands), (hub, destination, onward, onward + _flight_time(hub, destination))]
    segments = _booking(stage, legs, booked_at=stage.at - timedelta(days=stage.world.random.randint(3, 30)))
    stage.emit(
        "travel.flight_status",
        stage.at,
        {
            "flight": segments[0]["flight"],
            "scheduled_departure": segments[0]["departs_at"],
            "status": "delayed",
            "delay_minutes": delay_minutes,
            "estimated_departure": iso(departs + timedelta(minutes=delay_minutes)),
        },
        customer=False,
        tag="status",
    )


@situation("missed_connection", expect=(REBOOK,), watch=(REBOOK,))
def missed_connection(stage: Stage) -> None:
    """A 70-120 min connection; the first leg's delay leaves under 45 min to connect."""
    connection = stage.world.random.randint(70, 120)
    _connection(stage, connection, connection - stage.world.random.randint(0, 40))


@situation("short_delay", expect=(), watch=(REBOOK,))
def short_delay(stage: Stage) -> None:
    """A 120-180 min connection and a 5-20 min delay: the connection holds (an FYI at most)."""
    _connection(stage, stage.world.random.randint(120, 180), stage.world.random.randint(5, 20))


def _balance_low(stage: Stage, due_in_days: int) -> None:
    amount = stage.world.money(600, 2500)
    stage.emit(
        "billing.balance_low",
        stage.at,
        {
            "balance": round(stage.world.random.uniform(5, 0.5 * amount), 2),
            "currency": "EUR",
            "upcoming_debit": {
                "amount": amount,
                "due_date": (stage.at + timedelta(days=due_in_days)).date().isoformat(),
                "payee": f"{stage.world.faker.company()} (rent)",
            },
        },
        tag="balance",
    )


@situation("debit_will_fail", expect=(WARN_DEBIT,), watch=(WARN_DEBIT,))
def debit_will_fail(stage: Stage) -> None:
    """The balance is short of a debit due in 1-3 days."""
    _balance_low(stage, stage.world.random.randint(1, 3))


@situation("distant_debit", expect=(), watch=(WARN_DEBIT,))
def distant_debit(stage: Stage) -> None:
    """The balance is short of a debit, but it is due in 6-12 days: too early to call."""
    _balance_low(stage, stage.world.random.randint(6, 12))


def _complaint(stage: Stage, followers: int) -> None:
    stage.emit(
        "social.post",
        stage.at,
        {
            "network": stage.world.random.choice(["x", "instagram", "facebook"]),
            "post_id": f"P-{stage.serial}",
            "text": stage.world.random.choice(NEGATIVE_TEXTS),
            "followers": followers,
            "mentions_brand": True,
        },
        tag="post",
    )


@situation("influential_complaint", expect=(RESPOND,), watch=(RESPOND,))
def influential_complaint(stage: Stage) -> None:
    """A negative post about the brand to 10,000+ followers (heavy-tailed)."""
    _complaint(stage, 10_000 + 20 * stage.world.followers())


@situation("minor_complaint", expect=(RESPOND,), watch=(RESPOND,))
def minor_complaint(stage: Stage) -> None:
    """The same kind of post to a few dozen followers: a task, ranked lower."""
    _complaint(stage, stage.world.random.randint(10, 200))

"""A simulated stream: customers, their everyday events, planted situations, bad lines.

``simulate(SimulationSpec(...))`` is pure and reproducible: the same spec (seed included)
gives the same lines in the same delivery order and the same ground truth.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from ctxi.simulate.situations import SITUATIONS, Delivery, Stage, iso
from ctxi.simulate.world import World

DEFAULT_START = datetime(2026, 3, 1, tzinfo=UTC)
TIERS = ("standard", "silver", "gold", "platinum")
POSITIVE_TEXTS = (
    "Great service from @AcmeBank today, quick and friendly. Thank you!",
    "Loving the new @AcmeBank app, so easy to use.",
    "Coffee with friends, lovely afternoon.",
    "Thanks @AcmeBank for sorting my card in minutes, brilliant help.",
)


class SimulationSpec(BaseModel):
    model_config = ConfigDict(frozen=True)
    customers: int = Field(200, ge=1)
    seed: int = 7
    start: datetime = DEFAULT_START
    hours: float = Field(6.0, gt=0, description="How long the simulated stretch of live events lasts.")
    situation_share: float = Field(0.4, ge=0, le=1, description="Share of customers given a planted situation.")
    events_per_customer: int = Field(6, ge=1, description="Everyday events per customer over the stretch.")
    malformed_share: float = Field(0.01, ge=0, lt=1, description="Bad lines added, as a share of the events.")
    duplicate_share: float = Field(0.02, ge=0, lt=1, description="Everyday events delivered a second time.")


class PlantedTruth(BaseModel):
    kind: str
    customer_id: str
    expect: list[str] = Field(description="Actions the rules must propose for this customer, once each.")
    watch: list[str] = Field(description="Actions this situation tests: any other task with one is a false alarm.")


class GroundTruth(BaseModel):
    spec: SimulationSpec
    events: int = Field(description="Lines that are valid events (duplicates included).")
    malformed: int = Field(description="Lines that must be dead-lettered.")
    planted: list[PlantedTruth]
    everyday_customers: list[str] = Field(description="Customers with no planted situation: no watched task is right.")


def simulate(spec: SimulationSpec) -> tuple[list[bytes], GroundTruth]:
    """The stream's lines in delivery order, and what ctxi should decide on them."""
    world = World(spec.seed)
    deliveries: list[Delivery] = []
    planted: list[PlantedTruth] = []
    everyday: list[str] = []
    kinds = sorted(SITUATIONS)
    situation_customers = round(spec.customers * spec.situation_share)
    live_from, span = spec.start, timedelta(hours=spec.hours)
    for number in range(spec.customers):
        customer_id = f"S{spec.seed}-{number:06d}"  # the seed in ids: runs never share customers
        home = world.place()
        deliveries.append(
            _profile(world, customer_id, home, spec.start - timedelta(days=world.random.randint(30, 900)))
        )
        if number < situation_customers:
            # nothing else from these customers: an everyday payment at home would be a second,
            # unplanned conflict with the situation's places
            kind = SITUATIONS[kinds[number % len(kinds)]]  # round robin: every kind gets its share
            # the last hour is left free so that every situation's later events still fit in
            at = live_from + timedelta(seconds=world.random.uniform(0, max(span.total_seconds() - 3 * 3600, 60)))
            stage = Stage(world, customer_id, at, serial=number, airline=_airline(spec.seed))
            kind.plant(stage)
            deliveries.extend(stage.events)
            planted.append(
                PlantedTruth(kind=kind.name, customer_id=customer_id, expect=list(kind.expect), watch=list(kind.watch))
            )
        else:
            deliveries.extend(_everyday(world, customer_id, home, live_from, span, spec.events_per_customer))
            everyday.append(customer_id)
    deliveries.extend(_duplicates(world, deliveries, spec.duplicate_share))
    deliveries.sort(key=lambda d: (d.at, d.event["event_id"]))
    lines = [orjson.dumps(d.event) for d in deliveries]
    malformed = _malformed(world, lines, spec.malformed_share)
    for line in malformed:  # at random places in the stream, as real bad input arrives
        lines.insert(world.random.randrange(len(lines) + 1), line)
    truth = GroundTruth(
        spec=spec, events=len(deliveries), malformed=len(malformed), planted=planted, everyday_customers=everyday
    )
    return lines, truth


def _airline(seed: int) -> str:
    """A two-letter airline designator of the seed's own (Z plus a letter)."""
    return "Z" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[seed % 26]


def _profile(world: World, customer_id: str, home: Any, at: datetime) -> Delivery:
    tier = world.random.choices(TIERS, weights=(60, 25, 10, 5))[0]
    event = {
        "event_id": f"{customer_id}-profile",
        "type": "crm.customer_profile",
        "customer_id": customer_id,
        "occurred_at": iso(at),
        "source_system": "crm",
        "payload": {
            "tier": tier,
            "lifetime_value": world.money(50, 250_000),
            "home_location": home.location(),
            "preferred_channel": world.random.choice(["phone", "email", "sms", "app"]),
        },
    }
    return Delivery(event, at)


def _everyday(
    world: World, customer_id: str, home: Any, start: datetime, span: timedelta, count: int
) -> list[Delivery]:
    """Ordinary life at home: payments, check-ins, app sessions, friendly posts. No task is right."""
    out = []
    phone = world.random.random() < 0.6
    for index in range(count):
        at = start + timedelta(seconds=world.random.uniform(0, span.total_seconds()))
        kind = world.random.choices(("card", "checkin", "session", "post"), weights=(45, 20, 25, 10))[0]
        if kind == "card":
            payload: dict[str, Any] = {
                "transaction_id": f"TX-{customer_id}-{index}",
                "amount": world.money(3, 400),
                "currency": "EUR",
                "merchant": world.faker.company(),
                "card_present": True,
                "card_id": f"card-{customer_id}",
                "status": "approved",
                "location": home.location(),
            }
            kind_name = "billing.card_transaction"
        elif kind == "checkin":
            payload, kind_name = {"network": "instagram", "location": home.location()}, "social.checkin"
        elif kind == "session":
            payload = {"actor": "customer", "user_agent": world.user_agent(phone), "channel": "app" if phone else "web"}
            kind_name = "device.session"
        else:
            text = world.random.choice(POSITIVE_TEXTS)
            payload = {
                "network": "x",
                "post_id": f"P-{customer_id}-{index}",
                "text": text,
                "followers": world.followers(),
                "mentions_brand": "@AcmeBank" in text,
            }
            kind_name = "social.post"
        event = {
            "event_id": f"{customer_id}-e{index}",
            "type": kind_name,
            "customer_id": customer_id,
            "occurred_at": iso(at),
            "payload": payload,
        }
        out.append(Delivery(event, at))
    return out


def _duplicates(world: World, deliveries: list[Delivery], share: float) -> list[Delivery]:
    """Some events delivered again a little later, as an at-least-once source does."""
    chosen = [d for d in deliveries if world.random.random() < share]
    return [Delivery(dict(d.event), d.at + timedelta(seconds=world.random.randint(1, 300))) for d in chosen]


def _malformed(world: World, lines: list[bytes], share: float) -> list[bytes]:
    """Bad lines of the kinds sources send: truncated JSON, a naive time, a missing field, an unknown type."""
    bad = []
    for number in range(round(len(lines) * share)):
        original = orjson.loads(world.random.choice(lines))
        damage = number % 4
        if damage == 0:
            bad.append(orjson.dumps(original)[:-7])
        elif damage == 1:
            bad.append(
                orjson.dumps({**original, "event_id": f"bad-{number}", "occurred_at": original["occurred_at"][:19]})
            )
        elif damage == 2:
            bad.append(
                orjson.dumps({k: v for k, v in original.items() if k != "payload"} | {"event_id": f"bad-{number}"})
            )
        else:
            bad.append(orjson.dumps({**original, "event_id": f"bad-{number}", "type": "crm.unheard_of"}))
    return bad

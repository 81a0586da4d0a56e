"""Replay throughput and context bytes per customer, on a synthetic mixed stream.

Run: python benchmarks/engine.py [--customers 2000] [--events-per-customer 40] [--repeats 3] [--seed 1]

Each customer gets a profile, then a month of events across all five sources in
event-time order: check-ins, card transactions (some declined, some abroad), sessions
with real user agents, posts, billing events, cases and a booking whose flights get
status updates (fanned out from the fleet index). The file is written once, then
replayed ``--repeats`` times through ``ctxi.engine.replay`` (the ``ctxi replay`` path,
parsing included). Prints the median events/s and the distribution of the stored
context size (the bytes the changelog holds per customer).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from faust.serializers import codecs

from ctxi.agents.codecs import CONTEXT_CODEC
from ctxi.engine.replay import replay
from ctxi.settings import EngineConfig

CITIES = [
    ("New York", "US", 40.7580, -73.9855),
    ("Paris", "FR", 48.8566, 2.3522),
    ("London", "GB", 51.5072, -0.1276),
    ("Rome", "IT", 41.9028, 12.4964),
    ("Chicago", "US", 41.8781, -87.6298),
    ("Berlin", "DE", 52.52, 13.405),
]
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
]
START = datetime(2026, 3, 1, tzinfo=UTC)


def generate(customers: int, per_customer: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    lines: list[tuple[datetime, bytes]] = []
    flights = [f"BA{100 + i}" for i in range(50)]

    def add(event_id: str, kind: str, customer: str | None, at: datetime, payload: dict) -> None:
        document = {"event_id": event_id, "type": kind, "occurred_at": at.isoformat(), "payload": payload}
        if customer:
            document["customer_id"] = customer
        lines.append((at, orjson.dumps(document)))

    def place() -> dict:
        city, country, lat, lon = rng.choice(CITIES)
        return {
            "lat": lat + rng.uniform(-0.05, 0.05),
            "lon": lon + rng.uniform(-0.05, 0.05),
            "city": city,
            "country": country,
        }

    for c in range(customers):
        customer = f"C-{c:06d}"
        at = START + timedelta(minutes=rng.randint(0, 600))
        add(
            f"{customer}-p",
            "crm.customer_profile",
            customer,
            at,
            {
                "tier": rng.choice(["standard", "silver", "gold", "platinum"]),
                "lifetime_value": rng.uniform(100, 50000),
                "nps": rng.randint(0, 10),
                "csat": rng.randint(1, 5),
            },
        )
        departs = START + timedelta(days=rng.randint(5, 20), hours=rng.randint(0, 23))
        flight = rng.choice(flights)
        add(
            f"{customer}-b",
            "travel.booking",
            customer,
            at + timedelta(minutes=1),
            {
                "booking_id": f"PNR-{c}",
                "segments": [
                    {
                        "flight": flight,
                        "origin": "JFK",
                        "destination": "LHR",
                        "departs_at": departs.isoformat(),
                        "arrives_at": (departs + timedelta(hours=7)).isoformat(),
                    }
                ],
            },
        )
        for n in range(per_customer - 2):
            at += timedelta(minutes=rng.randint(10, 1440))
            event_id, roll = f"{customer}-{n}", rng.random()
            if roll < 0.25:
                add(event_id, "social.checkin", customer, at, {"network": "instagram", "location": place()})
            elif roll < 0.55:
                add(
                    event_id,
                    "billing.card_transaction",
                    customer,
                    at,
                    {
                        "transaction_id": event_id,
                        "amount": round(rng.uniform(5, 500), 2),
                        "currency": "EUR",
                        "merchant": "Shop",
                        "card_present": rng.random() < 0.7,
                        "card_id": f"card-{customer}",
                        "location": place(),
                        "status": "declined" if rng.random() < 0.05 else "approved",
                    },
                )
            elif roll < 0.75:
                session = {
                    "actor": "customer",
                    "user_agent": rng.choice(USER_AGENTS),
                    "channel": rng.choice(["web", "app"]),
                    "ip_location": {**place(), "accuracy_km": 25.0},
                }
                add(event_id, "device.session", customer, at, session)
            elif roll < 0.85:
                add(
                    event_id,
                    "social.post",
                    customer,
                    at,
                    {
                        "network": "x",
                        "post_id": event_id,
                        "text": "Still waiting for my refund, not happy",
                        "followers": int(rng.paretovariate(1.2) * 50),
                        "mentions_brand": rng.random() < 0.5,
                    },
                )
            elif roll < 0.93:
                add(
                    event_id,
                    "billing.balance_low",
                    customer,
                    at,
                    {
                        "balance": round(rng.uniform(-50, 300), 2),
                        "currency": "EUR",
                        "upcoming_debit": {
                            "amount": 900.0,
                            "due_date": (at + timedelta(days=2)).date().isoformat(),
                            "payee": "Rent",
                        },
                    },
                )
            else:
                add(event_id, "crm.interaction", customer, at, {"channel": "phone", "sentiment": rng.uniform(-1, 1)})
    for f, flight in enumerate(flights):
        for day in range(5, 21):
            scheduled = START + timedelta(days=day, hours=12)
            add(
                f"fs-{f}-{day}",
                "travel.flight_status",
                None,
                scheduled - timedelta(hours=1),
                {
                    "flight": flight,
                    "scheduled_departure": scheduled.isoformat(),
                    "status": "delayed",
                    "delay_minutes": rng.choice([10, 45, 120]),
                },
            )
    lines.sort(key=lambda pair: pair[0])
    return [line for _, line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events-per-customer", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    lines = generate(args.customers, args.events_per_customer, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        rates, summary = [], None
        for _ in range(args.repeats):
            summary = replay([path], EngineConfig(), lambda enriched: None, lambda letter: None)
            rates.append(summary.events / summary.seconds)
    assert summary is not None
    sizes = sorted(len(codecs.dumps(CONTEXT_CODEC, context)) for context in summary.contexts.values())
    print(
        f"{len(lines)} events, {len(summary.contexts)} customers, {summary.outcomes['fanned_out']} fleet events "
        f"fanned out, {summary.published} enriched events published"
    )
    print(
        f"replay throughput: median {statistics.median(rates):,.0f} events/s over {args.repeats} runs "
        f"(runs: {', '.join(f'{rate:,.0f}' for rate in rates)})"
    )
    print(
        f"context bytes per customer: median {statistics.median(sizes):,.0f}, "
        f"p95 {sizes[int(len(sizes) * 0.95)]:,}, max {sizes[-1]:,}"
    )


if __name__ == "__main__":
    main()

"""A feature's plain evaluation (rule_language/plain.py) gives CEL's values, and leaves to CEL what it does not take."""

from __future__ import annotations

from pathlib import Path

import orjson

from ctxi.engine.replay import replay
from ctxi.pack_tools.load import load_rule_texts
from ctxi.rules.evaluate import RuleSet
from ctxi.settings import EngineConfig

PACK = """\
pack: team
owner: team@acme.example
reference:
  usd_per: {USD: 1.0, EUR: 1.5, JPY: 1}
features:
  - id: spend_usd
    description: d
    on: [billing.card_transaction]
    where: event.payload.currency in reference.usd_per
    value: event.payload.amount * reference.usd_per[event.payload.currency]
    aggregate: sum
    window: 1h
rules:
  - id: team.big_spend
    version: 1
    owner: team@acme.example
    description: d
    on: [billing.card_transaction]
    when: features.spend_usd.value > 1000.0
    then: {queue: fraud, action: review, title: t, reason: r, steps: [s], severity: low, expires_in: 1h}
"""


def card(index: int, amount: float, currency: str) -> bytes:
    payload = {"transaction_id": f"t{index}", "amount": amount, "currency": currency, "merchant": "Shop"}
    payload |= {"card_present": True, "status": "approved"}
    document = {
        "event_id": f"e{index}",
        "type": "billing.card_transaction",
        "customer_id": "C-1",
        "occurred_at": f"2026-03-02T08:0{index}:00Z",
        "payload": payload,
    }
    return orjson.dumps(document)


def test_lookups_and_products_count_plain_and_a_type_cel_refuses_fails_with_cels_message(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    cards = [card(1, 10.0, "EUR"), card(2, 5.0, "USD"), card(3, 100.0, "JPY"), card(4, 7.0, "GBP")]
    path.write_bytes(b"\n".join(cards))
    rules = RuleSet(load_rule_texts({"team.yaml": PACK}, frozenset({"fraud"})))
    expression = rules.features.by_id["spend_usd"].value
    assert expression is not None and expression.plain is not None  # no conversion for CEL on the way
    summary = replay([path], EngineConfig(), lambda e: None, lambda d: None, rules=rules)
    state = next(value for key, value in summary.contexts["C-1"].features.items() if key.startswith("spend_usd@"))
    assert sum(count for _, count, *_ in state.slices) == 2 and sum(s[2] for s in state.slices) == 20.0
    # JPY's rate is an int: a double times an int, which CEL refuses; the failure is CEL's own
    assert summary.feature_failures == {"spend_usd": 1}
    assert "CEL does not coerce between types" in summary.failure_samples[("feature", "spend_usd")][0]

"""Features kept per entity across customers: counted once in the entity's row, brought to the customer's rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ctxi.engine.pipeline import Engine, Message, RowExpiry
from ctxi.features.entities import EntityFeatureVisit, count_in_row, is_expired
from ctxi.pack_tools.load import load_rule_texts
from ctxi.rules.evaluate import Decision, RuleSet
from ctxi.rules.loader import RulePackError
from ctxi.schemas.events import EVENT_ADAPTER, Event
from ctxi.settings import EngineConfig

PACK = """\
pack: team
owner: team@acme.example
features:
  - id: card_customers
    description: d
    on: [billing.card_transaction]
    where: event.payload.status == "approved"
    entity: event.payload.card_id
    value: event.customer_id
    aggregate: count_distinct
    window: 24h
  - id: merchant_spend
    description: d
    on: [billing.card_transaction]
    entity: event.payload.merchant
    value: event.payload.amount
    aggregate: sum
    window: 1h
rules:
  - id: team.shared_card
    version: 1
    owner: team@acme.example
    description: d
    on: [billing.card_transaction]
    when: features.card_customers.value >= 2
    then:
      queue: fraud
      action: review
      title: "{{ features.card_customers.value }} customers, {{ features.merchant_spend.value }} at the merchant"
      reason: r
      steps: [s]
      severity: high
      expires_in: 1h
"""
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def card(event_id: str, customer: str, minutes: int, card_id: str | None, status: str = "approved") -> Event:
    payload = {
        "transaction_id": f"TX-{event_id}",
        "amount": 10.0,
        "currency": "USD",
        "merchant": "Games",
        "card_present": False,
        "status": status,
    }
    if card_id is not None:
        payload["card_id"] = card_id
    document = {
        "event_id": event_id,
        "type": "billing.card_transaction",
        "customer_id": customer,
        "occurred_at": (START + timedelta(minutes=minutes)).isoformat(),
        "payload": payload,
    }
    return EVENT_ADAPTER.validate_python(document, strict=False)


def engine() -> Engine:
    rules = RuleSet(load_rule_texts({"team.yaml": PACK}, frozenset({"fraud"})))
    return Engine(EngineConfig(), {}, {}, rules=rules)


def run(e: Engine, message: Message) -> tuple[list[str], list[Decision]]:
    """Handle ``message`` and everything it leads to, as replay does; the outcomes in order, the decisions."""
    pending: list[Message] = [message]
    outcomes, decisions = [], []
    while pending:
        output = e.handle(pending.pop(0))
        pending[:0] = output.forwards
        outcomes.append(output.outcome)
        decisions += output.decisions
    return outcomes, decisions


def test_an_event_visits_its_entities_rows_then_its_customer_whose_rules_read_them() -> None:
    e = engine()
    assert run(e, card("k1", "C-1", 0, "card-7"))[0] == ["to_entities", "entity_counted", "entity_counted", "joined"]
    _, decisions = run(e, card("k2", "C-2", 10, "card-7"))
    assert [d.task.title for d in decisions] == ["2 customers, 20.0 at the merchant"]
    assert decisions[0].task.customer_id == "C-2"
    # each row is keyed by its definition and its entity, and lives apart from the customers' contexts
    assert sorted(key.split("/", 1)[1] for key in e.entity_features) == ['["Games"]', '["card-7"]']
    assert all(not context.features for context in e.contexts.values())


def test_an_event_is_counted_once_in_a_row_even_when_it_comes_again() -> None:
    e = engine()
    run(e, card("k1", "C-1", 0, "card-7"))
    run(e, card("k1", "C-1", 0, "card-7"))  # the source sent it twice: the customer's join drops it
    visit = EntityFeatureVisit(event=card("k1", "C-1", 0, "card-7"), pending=sorted(e.entity_features))
    outcomes, _ = run(e, visit)  # a visit redone after a crash: read, not counted again
    merchant = next(row for key, row in e.entity_features.items() if "Games" in key)
    assert merchant.state.slices[0][1] == 1
    assert outcomes == ["entity_counted", "entity_counted", "duplicate"]
    outcomes, decisions = run(e, card("k2", "C-1", 5, "card-7"))
    assert decisions == []  # one customer, however many payments


def test_an_event_without_the_entity_or_filtered_out_is_not_counted_there() -> None:
    e = engine()
    outcomes, _ = run(e, card("k1", "C-1", 0, None, status="declined"))
    assert outcomes == ["to_entities", "entity_counted", "joined"]  # the merchant only
    assert [key.split("/", 1)[1] for key in e.entity_features] == ['["Games"]']


def test_rows_expire_a_window_after_their_last_event() -> None:
    e = engine()
    run(e, card("k1", "C-1", 0, "card-7"))
    key = next(key for key in e.entity_features if "card-7" in key)
    within = RowExpiry(table="entity_features", key=key, as_of=START + timedelta(hours=23))
    assert e.handle(within).outcome == "row_kept"
    after = RowExpiry(table="entity_features", key=key, as_of=START + timedelta(hours=24, minutes=1))
    assert e.handle(after).outcome == "row_expired" and key not in e.entity_features


def test_entity_rows_are_bounded_and_the_one_seen_least_recently_goes() -> None:
    """Once, 2,000 card ids from one source made 2,000 rows for a day."""
    rules = RuleSet(load_rule_texts({"team.yaml": PACK}, frozenset({"fraud"})))
    e = Engine(EngineConfig(max_entity_rows=5), {}, {}, rules=rules)
    run(e, card("k0", "C-1", 0, "card-0"))  # rows: the merchant, card-0
    for n in range(1, 2_000):
        run(e, card(f"k{n}", "C-1", n % 60, f"card-{n}"))

    def cards() -> list[str]:
        return sorted(key.split("/", 1)[1] for key in e.entity_features)

    # the merchant is seen at every payment: it stays
    assert cards() == ['["Games"]', '["card-1996"]', '["card-1997"]', '["card-1998"]', '["card-1999"]']
    assert e.counts["entity_rows_evicted"] == 2_001 - 5
    run(e, card("k-again", "C-2", 59, "card-1996"))  # seen again: no longer the least recent
    run(e, card("k-new", "C-2", 59, "card-new"))
    assert cards() == ['["Games"]', '["card-1996"]', '["card-1998"]', '["card-1999"]', '["card-new"]']


def test_a_row_remembers_a_bounded_number_of_recent_event_ids() -> None:
    row = None
    for index in range(40):
        event = card(f"k{index}", "C-1", index, "card-7")
        row = count_in_row(row, "f/x", event, "count", timedelta(hours=1), None, timedelta(hours=24), 32)
    assert row is not None and len(row.counted) == 32 and "k39" in row.counted and "k0" not in row.counted
    assert row.until == int((START + timedelta(minutes=39, hours=1)).timestamp())
    assert not is_expired(row, START + timedelta(hours=1)) and is_expired(row, START + timedelta(hours=2))
    again = count_in_row(row, "f/x", card("k39", "C-1", 39, "card-7"), "count", timedelta(hours=1), None,
                         timedelta(hours=24), 32)  # fmt: skip
    assert again is row


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("    entity: event.payload.card_id\n", "    entity: event.payload.card_id\n    by: [event.customer_id]\n"),
            "cannot also be split 'by'",
        ),
        (
            ("    entity: event.payload.card_id\n", "    entity: event.payload.card\n"),
            "event.payload.card",
        ),
        (
            ("on: [billing.card_transaction]\n    when:", "on: [billing.card_transaction, device.session]\n    when:"),
            "features.card_customers is kept per entity (event.payload.card_id) and reaches rules on the events "
            "it counts (billing.card_transaction), not on device.session",
        ),
    ],
)
def test_entity_features_are_checked_before_they_ship(change: tuple[str, str], message: str) -> None:
    with pytest.raises(RulePackError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_rule_texts({"team.yaml": PACK.replace(*change)}, frozenset({"fraud"}))


def test_ingest_routes_an_event_straight_to_its_first_entity_row() -> None:
    e = engine()
    routed, failures = e.route(card("k1", "C-1", 0, "card-7"))
    assert isinstance(routed, EntityFeatureVisit) and failures == []
    assert routed.partition_key == routed.pending[0] and len(routed.pending) == 2
    outcomes, _ = run(e, routed)
    assert outcomes == ["entity_counted", "entity_counted", "joined"]  # no hop through the customer first
    declined, _ = e.route(card("k2", "C-1", 1, None, status="declined"))  # the merchant's row only
    assert isinstance(declined, EntityFeatureVisit) and [key.split("/")[1] for key in declined.pending] == ['["Games"]']
    profile = EVENT_ADAPTER.validate_python(
        {
            "event_id": "p1",
            "type": "crm.customer_profile",
            "customer_id": "C-1",
            "occurred_at": START.isoformat(),
            "payload": {"tier": "gold", "lifetime_value": 10.0},
        },
        strict=False,
    )
    assert e.route(profile) == (profile, [])  # no entity feature counts profiles: it goes as it is


@pytest.mark.parametrize(
    ("title", "read"),
    [
        ("{{ features.card_customers.value }} customers", frozenset({"card_customers"})),
        ("a title", frozenset()),
        ("{{ features | tojson }}", None),
        ("{{ features[event.payload.merchant].value }}", None),  # a computed name: any feature
    ],
)
def test_a_task_reads_only_the_features_its_templates_name(title: str, read: frozenset[str] | None) -> None:
    original = '"{{ features.card_customers.value }} customers, {{ features.merchant_spend.value }} at the merchant"'
    text = PACK.replace(original, f"'{title}'")
    rules = load_rule_texts({"team.yaml": text}, frozenset({"fraud"}))
    assert rules.rules[0].template_features == read

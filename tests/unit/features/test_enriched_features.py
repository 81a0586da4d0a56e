"""Features read what rules read about the event: the enrichers' signals and the customer's context.

Once they read only the raw event: a session known only by its user agent had no device
type for them, so the built-in new-device rule missed account takeovers from such sessions,
and the home country was out of reach.
"""

from __future__ import annotations

from typing import Any

import pytest

from ctxi.engine.pipeline import Engine
from ctxi.pack_tools.load import load_rule_dir, load_rule_texts
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import Decision, RuleSet
from ctxi.rules.loader import RulePackError
from ctxi.settings import EngineConfig
from tests.factories import make_event

QUEUES = frozenset({"fraud", "travel", "service"})
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"


def decisions_of(rules: RuleSet, events: list[Any]) -> list[Decision]:
    engine, decided = Engine(EngineConfig(), {}, {}, rules=rules), []
    for event in events:
        pending = [event]
        while pending:
            output = engine.handle(pending.pop(0))
            pending += output.forwards
            decided += output.decisions
    return decided


def session(at: str, **payload: Any):
    return make_event("device.session", {"actor": "customer", "channel": "web", **payload}, at=at)


def payment(at: str, amount: float = 800.0, country: str = "US"):
    return make_event(
        "billing.card_transaction",
        {
            "transaction_id": f"TX@{at}",
            "amount": amount,
            "currency": "USD",
            "merchant": "Electronics",
            "card_present": False,
            "status": "approved",
            "location": {"lat": 40.7, "lon": -74.0, "country": country},
        },
        at=at,
    )


def test_the_new_device_rule_fires_on_a_session_known_only_by_its_user_agent() -> None:
    rules = RuleSet(load_rule_dir(BUILTIN_PACKS, QUEUES))
    events = [
        session("2026-03-01T09:00:00Z", device_type="desktop"),  # the customer's usual desktop
        session("2026-03-05T20:00:00Z", user_agent=IPHONE, channel="app"),  # a phone, said only by its user agent
        payment("2026-03-05T20:10:00Z"),
    ]
    fired = [d.task.rule_id for d in decisions_of(rules, events)]
    assert "fraud.new_device_spend" in fired
    usual = [session("2026-03-01T09:00:00Z", user_agent=IPHONE), *events[1:]]  # the phone was known already
    assert "fraud.new_device_spend" not in [d.task.rule_id for d in decisions_of(rules, usual)]


ABROAD = """\
pack: travel_spend
owner: fraud-team@acme.example
features:
  - id: spend_abroad_7d
    description: Card payments outside the customer's home country in the last 7 days.
    on: [billing.card_transaction]
    where: >
      customer.profile != null && customer.profile.home_location != null &&
      customer.profile.home_location.country != null && event.payload.location != null &&
      event.payload.location.country != null &&
      event.payload.location.country != customer.profile.home_location.country
    value: event.payload.amount
    aggregate: sum
    window: 7d
rules:
  - id: travel_spend.abroad
    version: 1
    owner: fraud-team@acme.example
    description: Three payments abroad in a week.
    on: [billing.card_transaction]
    when: features.spend_abroad_7d.count >= 3
    then:
      queue: fraud
      action: review_spend_abroad
      title: "{{ features.spend_abroad_7d.count }} payments abroad"
      reason: "Spending outside the home country."
      steps: ["Check the customer is travelling."]
      severity: low
      expires_in: 4h
"""


def test_a_feature_reads_the_customers_context() -> None:
    rules = RuleSet(load_rule_texts({"abroad.yaml": ABROAD}, QUEUES))
    profile = make_event(
        "crm.customer_profile",
        {"tier": "gold", "lifetime_value": 100.0, "home_location": {"lat": 40.7, "lon": -74.0, "country": "US"}},
        at="2026-03-01T08:00:00Z",
    )
    at_home = [payment(f"2026-03-0{day}T10:00:00Z", country="US") for day in (2, 3, 4)]
    abroad = [payment(f"2026-03-0{day}T10:00:00Z", country="FR") for day in (2, 3, 4)]
    assert decisions_of(rules, [profile, *at_home]) == []
    [task] = [d.task for d in decisions_of(rules, [profile, *abroad])]
    assert task.title == "3 payments abroad"


def test_a_feature_kept_per_entity_reads_the_event_alone() -> None:
    per_card = ABROAD.replace("    aggregate: sum\n", "    aggregate: sum\n    entity: event.payload.transaction_id\n")
    with pytest.raises(RulePackError) as refused:
        load_rule_texts({"abroad.yaml": per_card}, QUEUES)
    assert "unknown variable(s) ['customer'] in 'where'; use ['event', 'reference'] (a feature kept per entity" in str(
        refused.value
    )


CONTACTS = """\
pack: care
owner: care@acme.example
features:
  - id: contacts_1h
    description: Contacts in the last hour.
    on: [crm.interaction]
    aggregate: count
    window: 1h
rules:
  - id: care.second_contact
    version: 1
    owner: care@acme.example
    description: A second contact within an hour.
    on: [crm.interaction]
    when: features.contacts_1h.count >= 2
    then:
      queue: service
      action: call_back
      title: "Call back"
      reason: "Two contacts in an hour."
      steps: ["Call the customer."]
      severity: low
      expires_in: 4h
      cooldown: 7d
      dedup_key: "{{ customer.customer_id }}:second_contact"
"""


def test_out_of_order_events_within_the_grace_window_raise_what_replay_raises() -> None:
    """Live, the later contact may come first; its rule then reads the features as of the
    customer's latest event, as replay (in event-time order) does: one task either way."""
    rules = RuleSet(load_rule_texts({"care.yaml": CONTACTS}, QUEUES))
    earlier = make_event("crm.interaction", {"channel": "phone"}, at="2026-03-02T10:00:00Z", event_id="c1")
    later = make_event("crm.interaction", {"channel": "phone"}, at="2026-03-02T10:03:00Z", event_id="c2")
    in_order = [d.task for d in decisions_of(rules, [earlier, later])]
    out_of_order = [d.task for d in decisions_of(rules, [later, earlier])]  # 3 minutes: inside the 5-minute grace
    assert [task.rule_id for task in in_order] == [task.rule_id for task in out_of_order] == ["care.second_contact"]
    assert in_order[0].dedup_key == out_of_order[0].dedup_key

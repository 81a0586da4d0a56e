"""Evidence in words: every event type reads as one line, and a task shows both sides of a conflict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

from ctxi.ingest.jsonl import read_jsonl
from ctxi.rule_language.model import ContextEvidence, EvidenceSource
from ctxi.rules.evidence import CONTEXT_EVIDENCE, describe, describe_observation, evidence
from ctxi.schemas.context import CustomerContext, Observation, PaymentFailure, PostSummary
from ctxi.schemas.dead_letter import DeadLetter
from ctxi.schemas.events import EVENT_TYPES
from tests.factories import card, checkin, make_event
from tests.unit.rules.test_evaluate import run, the

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.jsonl"))


def test_every_event_type_of_the_examples_reads_as_one_line() -> None:
    outcomes = [record.outcome for path in EXAMPLES for record in read_jsonl(path)]
    events = [outcome for outcome in outcomes if not isinstance(outcome, DeadLetter)]
    described = {event.type: describe(event).summary for event in events}
    assert set(described) == set(EVENT_TYPES)
    assert all(summary and "\n" not in summary for summary in described.values())


def test_a_card_transaction_reads_as_a_sentence() -> None:
    event = card("2026-03-01T11:30:00Z", 48.87, 2.33, city="Paris", country="FR")
    item = describe(event)
    assert item.summary == "Card approved: EUR 100.00 at Shop in Paris, FR (card present)"
    assert (item.event_id, item.type, item.occurred_at) == (event.event_id, event.type, event.occurred_at)


def test_a_place_without_a_name_shows_its_coordinates() -> None:
    assert describe(checkin("2026-03-01T10:00:00Z", 40.7128, -74.006)).summary == (
        "Checked in on instagram at 40.713, -74.006"
    )


def test_a_long_post_is_cut_to_an_excerpt() -> None:
    post = make_event(
        "social.post",
        {"network": "x", "post_id": "p1", "text": "word " * 100, "followers": 80412, "mentions_brand": True},
        at="2026-03-01T10:00:00Z",
    )
    summary = describe(post).summary
    assert summary.startswith('Post on x (80,412 followers, mentions the brand): "word word')
    assert summary.endswith('…"') and len(summary) < 200


def test_an_earlier_observation_reads_with_its_accuracy() -> None:
    observation = Observation(
        at=datetime(2026, 3, 1, 10, tzinfo=UTC),
        lat=40.75,
        lon=-73.99,
        accuracy_km=1.0,
        source="social.checkin",
        event_id="evt-1",
        city="New York",
        country="US",
    )
    assert describe_observation(observation).summary == "Checked in at New York, US (within 1 km)"


def test_without_signals_the_evidence_is_the_event_alone() -> None:
    event = card("2026-03-01T11:30:00Z", None, None)
    assert [item.event_id for item in evidence(event, [])] == [event.event_id]


def test_the_impossible_travel_task_describes_both_events() -> None:
    decisions, _ = run()
    task = the(decisions, "C-1001", "verify_card_activity")
    assert [item.event_id for item in task.evidence_details] == task.evidence == ["sc-003", "sc-002"]
    card_line, checkin_line = (item.summary for item in task.evidence_details)
    assert card_line.startswith("Card approved: EUR 1,249.00 at Galeries Lafayette in Paris, FR")
    assert checkin_line.startswith("Checked in at New York, US")


def test_a_rule_names_earlier_events_from_the_customers_context_the_latest_within_its_window() -> None:
    event = card("2026-03-10T12:00:00Z", 48.87, 2.33)
    context = CustomerContext(customer_id=event.customer_id)
    at = datetime(2026, 3, 10, 12, tzinfo=UTC)
    context.billing.payment_failures = [
        PaymentFailure(at=at - timedelta(days=days), event_id=f"pf-{days}", amount=10.0 * days, currency="USD")
        for days in (9, 3, 2, 1)
    ]
    context.posts = [
        PostSummary(at=at - timedelta(hours=1), event_id="p-1", network="x", followers=1200, mentions_brand=True,
                    sentiment=-0.8),
    ]  # fmt: skip
    wanted = [
        ContextEvidence.model_validate({"from": "customer.billing.payment_failures", "within": "7d", "limit": 2}),
        ContextEvidence.model_validate({"from": "customer.posts", "within": "1d"}),
    ]
    items = evidence(event, [], context, wanted)
    assert [item.event_id for item in items] == [event.event_id, "pf-2", "pf-1", "p-1"]
    assert items[1].summary == "Payment of USD 20.00 failed" and items[1].type == "billing.payment_failed"
    assert items[3].summary == "Post on x (1,200 followers, mentions the brand), sentiment -0.80"
    # every source a pack may name has a way to read it
    assert set(get_args(EvidenceSource)) == set(CONTEXT_EVIDENCE)

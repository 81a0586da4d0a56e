"""The customer view is what the stored context holds, with engagement worked out as the enricher does."""

from __future__ import annotations

from datetime import UTC, datetime

from ctxi.engine.pipeline import Engine
from ctxi.enrichers.engagement import engagement_of
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.customer_view import CustomerView, StoredView, customer_view
from ctxi.settings import EngineConfig
from tests.factories import card, checkin, make_event

NOW = datetime(2026, 3, 3, 12, tzinfo=UTC)


def stored(*events) -> CustomerContext:  # type: ignore[no-untyped-def]
    engine = Engine(EngineConfig(), {}, {})
    for event in events:
        engine.store(engine.decide(event))
    return engine.contexts["C-1"]


def test_the_view_shows_the_latest_location_device_and_engagement_of_the_stored_row() -> None:
    context = stored(
        make_event(
            "crm.customer_profile",
            {
                "tier": "gold",
                "lifetime_value": 18250.0,
                "currency": "USD",
                "nps": 9,
                "csat": 5,
                "attributes": {"email": "Ann@Example.com"},
            },
            at="2026-03-01T08:00:00Z",
        ),
        checkin("2026-03-03T10:00:00Z", 40.71, -74.0),
        card("2026-03-03T11:30:00Z", 48.86, 2.35),
        make_event(
            "device.session", {"actor": "customer", "channel": "app", "device_type": "phone"}, at="2026-03-03T11:40:00Z"
        ),
    )
    view = customer_view(StoredView(written_at=NOW, engagement=engagement_of(context, EngineConfig()), context=context))
    assert view.location is not None and (view.location.source, view.location.at) == (
        "billing.card_transaction",
        datetime(2026, 3, 3, 11, 30, tzinfo=UTC),
    )
    assert view.device is not None and view.device.seen_at == datetime(2026, 3, 3, 11, 40, tzinfo=UTC)
    assert view.engagement == engagement_of(context, EngineConfig())
    assert view.engagement.emotional == 0.95  # NPS 9 and CSAT 5, each scaled to 0-1
    assert view.profile is not None and view.profile.attributes["email"] == "Ann@Example.com"
    assert (view.as_of, view.written_at) == (datetime(2026, 3, 3, 11, 40, tzinfo=UTC), NOW)
    # what a worker writes, the gateway reads back as it was
    assert CustomerView.model_validate_json(view.model_dump_json(exclude_none=True)) == view


def test_a_feature_s_facts_are_its_counted_events_and_the_latest() -> None:
    context = CustomerContext.model_validate(
        {
            "customer_id": "C-1",
            "features": {
                "card_spend_24h": {
                    "since": 1,
                    "slices": [[100, 2, 30.0], [200, 3, 12.5]],
                    "latest": 1772532000,
                    "last": 12.5,
                }
            },
        }
    )
    engagement = engagement_of(context, EngineConfig())
    [facts] = customer_view(StoredView(written_at=NOW, engagement=engagement, context=context)).features
    assert (facts.feature_id, facts.events, facts.last) == ("card_spend_24h", 5, 12.5)
    assert facts.latest_at == datetime.fromtimestamp(1772532000, UTC)

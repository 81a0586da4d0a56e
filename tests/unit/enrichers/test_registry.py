from __future__ import annotations

import pytest

from ctxi.enrichers.registry import enricher, enrichers_for, load_builtin_enrichers, registered


def test_builtin_enrichers_cover_the_issue_list() -> None:
    load_builtin_enrichers()
    names = {e.name for e in registered()}
    assert {
        "location.location_conflict",
        "device.device",
        "travel.flight_disruption",
        "travel.weather_risk",
        "billing.balance_shortfall",
        "billing.payment_failures",
        "billing.dispute",
        "social.social",
        "engagement.engagement",
    } <= names


def test_an_event_runs_only_the_enrichers_that_listen_to_its_type() -> None:
    load_builtin_enrichers()
    assert [e.name for e in enrichers_for("billing.balance_low")] == ["billing.balance_shortfall"]
    assert {e.name for e in enrichers_for("social.post")} == {"social.social", "engagement.engagement"}


def test_registering_needs_known_event_types() -> None:
    with pytest.raises(ValueError, match="unknown"):
        enricher("social.like")

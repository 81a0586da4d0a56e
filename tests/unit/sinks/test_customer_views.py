"""What a worker keeps for the customer views until it writes them: bounded, latest customer last."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from ctxi.engine.pipeline import Engine
from ctxi.engine.rows import EncodedRows
from ctxi.enrichers.engagement import engagement_of
from ctxi.rules.evidence import describe
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.customer_view import StoredView
from ctxi.schemas.task import EvidenceItem
from ctxi.settings import EngineConfig
from ctxi.sinks import customer_views
from ctxi.sinks.customer_view_store import CustomerViewKeys, identifier_key_part
from ctxi.sinks.customer_views import CustomerViewSink, timeline_entry
from tests.factories import checkin, make_event


class NoRedis:
    """The sink registers its script with the client at once; these tests write nothing."""

    def register_script(self, script: str) -> None:
        return None


def sink(identifiers: frozenset[str] = frozenset()) -> CustomerViewSink:
    return CustomerViewSink(NoRedis(), CustomerViewKeys("ctxi"), EngineConfig(), 86400, identifiers)  # type: ignore[arg-type]


def test_a_customer_marked_twice_is_written_once_with_both_events() -> None:
    views = sink()
    first, second = checkin("2026-03-03T10:00:00Z", 40.71, -74.0), checkin("2026-03-03T11:00:00Z", 40.7, -74.1)
    views.add("C-1", first)
    views.add("C-2", None)
    views.add("C-1", second)
    assert list(views.pending) == ["C-2", "C-1"]  # the latest marked last
    assert views.pending["C-1"] == [timeline_entry(first), timeline_entry(second)]
    assert EvidenceItem.model_validate_json(views.pending["C-1"][0]) == describe(first)  # what the gateway reads


def test_while_redis_is_away_the_oldest_customers_are_dropped_and_counted(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(customer_views, "MAX_PENDING", 3)
    views = sink()
    for customer in ("C-1", "C-2", "C-3", "C-4", "C-2"):
        views.add(customer, None)
    assert (list(views.pending), views.dropped) == (["C-3", "C-4", "C-2"], 1)


def test_an_identifier_is_looked_up_however_it_was_written() -> None:
    assert identifier_key_part(" Ann@Example.COM ") == identifier_key_part("ann@example.com")
    assert CustomerViewKeys("p").identifier("+44 20 7946 0000") == "p:identifier:+442079460000"


def test_a_profile_names_its_customer_by_the_identifiers_configured() -> None:
    views = sink(frozenset({"email"}))
    profile = {"tier": "gold", "lifetime_value": 1.0, "attributes": {"email": "Ann@Example.com", "phone": "+1 555"}}
    views.add("C-1", make_event("crm.customer_profile", profile, at="2026-03-01T08:00:00Z"))
    assert views.named == {"ctxi:identifier:ann@example.com": "C-1"}  # the phone is not configured


def test_the_view_written_is_the_stored_row_as_it_is_with_its_engagement() -> None:
    engine = Engine(EngineConfig(), EncodedRows(CustomerContext, {}, 10), {})
    for event in (
        make_event(
            "crm.customer_profile", {"tier": "gold", "lifetime_value": 1.0, "nps": 9}, at="2026-03-01T08:00:00Z"
        ),
        checkin("2026-03-03T10:00:00Z", 40.71, -74.0),
    ):
        engine.store(engine.decide(event))
    rows = engine.contexts
    assert isinstance(rows, EncodedRows)
    now = datetime(2026, 3, 3, 12, tzinfo=UTC)
    stored = StoredView.model_validate_json(sink()._stored(rows, "C-1", orjson.dumps(now)))
    assert stored.context == rows["C-1"] and stored.written_at == now
    assert stored.engagement == engagement_of(rows["C-1"], EngineConfig())
    assert sink()._stored(rows, "C-2", orjson.dumps(now)) == b""  # not this worker's row: the owner writes it

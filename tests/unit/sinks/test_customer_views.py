"""What a worker keeps for the customer views until it writes them: bounded, latest customer last."""

from __future__ import annotations

from ctxi.settings import EngineConfig
from ctxi.sinks import customer_views
from ctxi.sinks.customer_views import CustomerViewKeys, CustomerViewSink, identifier_key_part
from tests.factories import checkin


def sink() -> CustomerViewSink:
    return CustomerViewSink(None, CustomerViewKeys("ctxi"), EngineConfig(), 86400, frozenset())  # type: ignore[arg-type]


def test_a_customer_marked_twice_is_written_once_with_both_events() -> None:
    views = sink()
    first, second = checkin("2026-03-03T10:00:00Z", 40.71, -74.0), checkin("2026-03-03T11:00:00Z", 40.7, -74.1)
    views.add("C-1", first)
    views.add("C-2", None)
    views.add("C-1", second)
    assert list(views.pending) == ["C-2", "C-1"]  # the latest marked last
    assert views.pending["C-1"] == [first, second]


def test_while_redis_is_away_the_oldest_customers_are_dropped_and_counted(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(customer_views, "MAX_PENDING", 3)
    views = sink()
    for customer in ("C-1", "C-2", "C-3", "C-4", "C-2"):
        views.add(customer, None)
    assert (list(views.pending), views.dropped) == (["C-3", "C-4", "C-2"], 1)


def test_an_identifier_is_looked_up_however_it_was_written() -> None:
    assert identifier_key_part(" Ann@Example.COM ") == identifier_key_part("ann@example.com")
    assert CustomerViewKeys("p").identifier("+44 20 7946 0000") == "p:identifier:+442079460000"

"""Joining events into a customer's context: duplicates, event time, bounded state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ctxi.context.join import JoinStatus
from ctxi.engine.event_types import builtin_event_types
from ctxi.settings import EngineConfig
from tests.factories import card, checkin, joined, make_event

CONFIG = EngineConfig()


def profile(tier: str, at: str):
    return make_event("crm.customer_profile", {"tier": tier, "lifetime_value": 100.0}, at=at, event_id=f"p-{at}")


def test_a_duplicate_event_changes_nothing() -> None:
    event = checkin("2026-03-01T10:00:00Z", 40.7, -74.0)
    first = builtin_event_types().join(None, event, CONFIG)
    before = first.context.model_dump()
    second = builtin_event_types().join(first.context, event, CONFIG)
    assert second.status is JoinStatus.DUPLICATE
    assert second.context.model_dump() == before


def test_out_of_order_observations_are_placed_in_event_time() -> None:
    context = joined(
        checkin("2026-03-01T10:00:00Z", 40.7, -74.0),
        checkin("2026-03-01T12:00:00Z", 41.0, -74.0),
        card("2026-03-01T11:00:00Z", 40.8, -74.0),  # arrives last, happened in between
    )
    assert [o.at.hour for o in context.observations] == [10, 11, 12]
    assert context.watermark == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert context.late_events == 1  # an hour behind the watermark: beyond the 5 min grace


def test_within_the_grace_window_an_event_is_not_late() -> None:
    context = joined(checkin("2026-03-01T10:05:00Z", 40.7, -74.0), card("2026-03-01T10:01:00Z", 40.7, -74.0))
    assert context.late_events == 0
    assert [o.source for o in context.observations] == ["billing.card_transaction", "social.checkin"]


def test_an_older_profile_arriving_late_does_not_overwrite_a_newer_one() -> None:
    context = joined(profile("platinum", "2026-03-02T00:00:00Z"), profile("silver", "2026-03-01T00:00:00Z"))
    assert context.profile is not None and context.profile.tier == "platinum"
    assert context.late_events == 1


def test_cases_open_and_close() -> None:
    opened = make_event(
        "crm.case_opened",
        {"case_id": "K1", "subject": "Refund", "severity": "critical", "channel": "phone"},
        at="2026-03-01T10:00:00Z",
    )
    closed = make_event("crm.case_closed", {"case_id": "K1"}, at="2026-03-01T11:00:00Z")
    assert [case.case_id for case in joined(opened).open_cases] == ["K1"]
    assert joined(opened, closed).open_cases == []


def test_observations_beyond_the_horizon_are_forgotten() -> None:
    context = joined(checkin("2026-03-01T10:00:00Z", 40.7, -74.0), checkin("2026-03-05T10:00:00Z", 48.8, 2.3))
    assert [o.at.day for o in context.observations] == [5]


def test_fleet_event_copies_join_without_changing_state_but_count_as_activity() -> None:
    status = make_event(
        "travel.flight_status",
        {"flight": "BA178", "scheduled_departure": "2026-03-03T22:00:00Z", "status": "delayed", "delay_minutes": 5},
        at="2026-03-03T21:00:00Z",
    )
    context = joined(status)
    assert len(context.activity) == 1 and context.itineraries == []


START = datetime(2026, 3, 1, tzinfo=UTC)
observation_events = st.lists(
    st.tuples(st.integers(0, 14 * 24 * 60), st.floats(-60, 60), st.floats(-179, 179), st.booleans()),
    min_size=1,
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(observation_events)
def test_state_stays_bounded_whatever_arrives(items: list[tuple[int, float, float, bool]]) -> None:
    context = None
    for index, (minute, lat, lon, is_card) in enumerate(items):
        at = (START + timedelta(minutes=minute)).isoformat()
        event = card(at, lat, lon) if is_card else checkin(at, lat, lon)
        event = event.model_copy(update={"event_id": f"e{index}"})
        context = builtin_event_types().join(context, event, CONFIG).context
    assert context is not None
    assert len(context.observations) <= CONFIG.max_observations
    assert len(context.seen) <= CONFIG.dedup_max_ids
    assert len(context.activity) <= CONFIG.max_activity
    assert [o.at for o in context.observations] == sorted(o.at for o in context.observations)
    assert all(
        o.at >= context.watermark - timedelta(hours=CONFIG.observation_horizon_hours) for o in context.observations
    )
    assert len(orjson.dumps(context.model_dump())) < 4096

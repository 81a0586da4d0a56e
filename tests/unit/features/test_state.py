"""Feature state: sliding event-time windows, bounded memory, warmth (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctxi.features.state import MAX_VALUES, SLICES, add, read
from ctxi.schemas.features import FeatureState

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def fed(aggregate: str, window: timedelta, events: list[tuple[int, object]]) -> FeatureState | None:
    """``events`` as (minutes after T0, value), added in the order given."""
    state = None
    for minutes, value in events:
        state = add(state, aggregate, window, T0 + timedelta(minutes=minutes), value)
    return state


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_the_current_event_counts_and_older_ones_leave_the_window() -> None:
    state = fed("sum", HOUR, [(0, 900.0), (12, 900.0), (25, 900.0), (41, 900.0)])
    fourth = read(state, "sum", HOUR, at(41), live_since=T0)
    assert (fourth["count"], fourth["value"], fourth["at"]) == (4, 3600.0, "2026-03-02T10:41:00Z")
    # an hour and a slice (36 s) after the first, it has left; the other three remain
    later = read(state, "sum", HOUR, at(61), live_since=T0)
    assert (later["count"], later["value"]) == (3, 2700.0)


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [("count", 3), ("sum", 60.0), ("min", 10.0), ("max", 30.0), ("avg", 20.0), ("count_distinct", 3)],
)
def test_each_number_aggregate(aggregate: str, expected: float) -> None:
    state = fed(aggregate, HOUR, [(0, 10.0), (5, 30.0), (9, 20.0)])
    assert read(state, aggregate, HOUR, at(10), live_since=T0)["value"] == expected


def test_empty_windows_read_zero_or_null() -> None:
    for aggregate, empty in [("count", 0), ("sum", 0.0), ("min", None), ("avg", None), ("last", None)]:
        assert read(None, aggregate, HOUR, T0, live_since=T0)["value"] == empty
    assert read(None, "distinct", HOUR, T0, live_since=T0)["value"] == []


def test_distinct_first_seen_last_seen_and_last() -> None:
    sessions = [(0, "desktop"), (60, "desktop"), (120, "phone")]
    window = timedelta(days=90)
    assert read(fed("distinct", window, sessions), "distinct", window, at(120), T0)["value"] == ["desktop", "phone"]
    first = read(fed("first_seen", window, sessions), "first_seen", window, at(120), T0)["value"]
    assert first == {"desktop": "2026-03-02T10:00:00Z", "phone": "2026-03-02T12:00:00Z"}
    last_seen = read(fed("last_seen", window, sessions), "last_seen", window, at(120), T0)["value"]
    assert last_seen["desktop"] == "2026-03-02T11:00:00Z"
    assert read(fed("last", window, sessions), "last", window, at(120), T0)["value"] == "phone"


def test_a_value_unseen_for_a_whole_window_is_new_again() -> None:
    window = timedelta(days=1)
    state = fed("first_seen", window, [(0, "tablet"), (3 * 24 * 60, "tablet")])
    assert read(state, "first_seen", window, at(3 * 24 * 60), T0)["value"] == {"tablet": "2026-03-05T10:00:00Z"}


def test_a_late_event_counts_in_its_own_window() -> None:
    state = fed("count", HOUR, [(0, None), (50, None), (10, None)])  # the third happened at 10:10, arrived last
    assert read(state, "count", HOUR, at(10), T0)["count"] == 2  # 10:00 and itself, not 10:50
    assert read(state, "count", HOUR, at(50), T0)["count"] == 3


def test_memory_is_bounded_however_many_events_arrive() -> None:
    window = timedelta(days=90)
    events = [(minutes, f"device-{minutes % 500}") for minutes in range(0, 90 * 24 * 60, 7)]
    state = fed("count_distinct", window, events)
    assert len(state.slices) <= SLICES + 1 and len(state.values) == MAX_VALUES
    assert read(state, "count_distinct", window, at(events[-1][0]), T0)["count"] == len(events)


def test_warm_once_a_whole_window_has_been_counted() -> None:
    state = fed("count", HOUR, [(0, None)])
    assert read(state, "count", HOUR, at(30), live_since=T0)["warm"] is False
    assert read(state, "count", HOUR, at(60), live_since=T0)["warm"] is True
    # a customer first seen late is warm if the engine has computed the feature for a window already
    assert read(None, "count", HOUR, at(120), live_since=T0)["warm"] is True


@settings(max_examples=200, deadline=None)
@given(
    aggregate=st.sampled_from(["count", "sum", "min", "max", "avg"]),
    window_minutes=st.sampled_from([30, 60, 24 * 60]),
    events=st.lists(
        st.tuples(
            # seconds after T0, on an 18 s grid so that slice edges (18, 36 or 864 s) are often hit exactly
            st.one_of(st.integers(0, 600), st.integers(0, 14_400)).map(lambda steps: steps * 18),
            st.integers(-1_000, 1_000).map(lambda quarters: quarters / 4),
        ),
        min_size=1,
        max_size=60,
    ),
)
def test_number_aggregates_read_what_their_window_holds(
    aggregate: str, window_minutes: int, events: list[tuple[int, float]]
) -> None:
    """At the latest event, a feature reads exactly the events whose slice is inside the window,
    whatever order they arrived in: checked against the events themselves."""
    window = timedelta(minutes=window_minutes)
    state = None
    for offset, value in events:
        state = add(state, aggregate, window, T0 + timedelta(seconds=offset), value)
    now = max(offset for offset, _ in events)
    width = -(-window_minutes * 60 // SLICES)
    start = int(T0.timestamp())
    inside = [
        value
        for offset, value in events
        if start + now - window_minutes * 60 - width < (start + offset) - (start + offset) % width <= start + now
    ]
    read_now = read(state, aggregate, window, T0 + timedelta(seconds=now), live_since=T0)
    expected = {
        "count": len(inside),
        "sum": sum(inside),
        "min": min(inside, default=None),
        "max": max(inside, default=None),
        "avg": sum(inside) / len(inside) if inside else None,
    }[aggregate]
    assert read_now["count"] == len(inside)
    assert read_now["value"] == (pytest.approx(expected, abs=1e-6) if expected is not None else None)


def test_an_empty_read_hands_out_a_container_of_its_own() -> None:
    first = read(None, "distinct", HOUR, T0, live_since=T0)["value"]
    first.append("tampered")  # what a reader does with it stays with that reader
    assert read(None, "distinct", HOUR, T0, live_since=T0)["value"] == []
    assert read(None, "first_seen", HOUR, T0, live_since=T0)["value"] == {}
    assert read(None, "sum", HOUR, T0, live_since=T0)["value"] == 0

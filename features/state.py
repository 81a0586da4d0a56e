"""What one feature keeps for one customer, and its value at an event time: pure functions.

A feature aggregates the values of the events it counts over a sliding event-time window.
The window is kept in ``SLICES`` slices of equal width (a 1 h window in 36 s slices), each
holding the count, sum, minimum and maximum of what fell in it, so the state never grows
beyond ``SLICES + 1`` slices however many events arrive. An event counts from its own time
and leaves the window up to one slice after the window has passed it (1% of the window).

``distinct``, ``count_distinct``, ``first_seen`` and ``last_seen`` keep, per value, when it
was first and last seen, for at most ``MAX_VALUES`` values (the least recently seen is
forgotten first); a value unseen for a whole window is forgotten, so a device type unused
for 90 days is new again. ``last`` keeps the latest value.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SLICES = 100
MAX_VALUES = 64

Aggregate = Literal[
    "count", "sum", "min", "max", "avg", "count_distinct", "distinct", "first_seen", "last_seen", "last"
]
VALUE_AGGREGATES = frozenset({"count_distinct", "distinct", "first_seen", "last_seen"})
NUMBER_AGGREGATES = frozenset({"sum", "min", "max", "avg"})
Scalar = str | bool | int | float | None


class FeatureState(BaseModel):
    """One feature's memory for one customer (stored in the customer's context)."""

    model_config = ConfigDict(extra="forbid")
    since: int  # Unix seconds of the first event counted: the feature is warm a window later
    slices: list[tuple[int, int, float, float, float]] = []  # (start, count, sum, min, max), oldest first
    values: dict[str, tuple[int, int]] = {}  # value -> (first seen, last seen), Unix seconds
    last: tuple[int, Scalar] | None = None  # (when, value for `last`) of the latest event


def seconds(at: datetime) -> int:
    return int(at.timestamp())


def slice_width(window: timedelta) -> int:
    return max(1, math.ceil(window.total_seconds() / SLICES))


def add(state: FeatureState | None, aggregate: Aggregate, window: timedelta, at: datetime, value: Any) -> FeatureState:
    """``state`` with one more event (at ``at``, valued ``value``); expired slices and values dropped."""
    now = seconds(at)
    state = state or FeatureState(since=now)
    width, span = slice_width(window), int(window.total_seconds())
    start = now - now % width
    number = float(value) if aggregate in NUMBER_AGGREGATES else 0.0
    slices = state.slices
    for index, (begin, count, total, low, high) in enumerate(slices):
        if begin == start:
            slices[index] = (begin, count + 1, total + number, min(low, number), max(high, number))
            break
    else:
        slices.append((start, 1, number, number, number))
        slices.sort(key=lambda item: item[0])
    newest = slices[-1][0] + width
    state.slices = [item for item in slices if item[0] + width > newest - span - width]
    if aggregate in VALUE_AGGREGATES:
        key = str(value)
        first, last = state.values.get(key, (now, now))
        if last <= now - span:  # unseen for a whole window: new again
            first = now
        state.values[key] = (min(first, now), max(last, now))
        recent = max(last for _, last in state.values.values())
        kept = sorted(
            ((k, v) for k, v in state.values.items() if v[1] > recent - span), key=lambda kv: kv[1][1], reverse=True
        )
        state.values = dict(kept[:MAX_VALUES])
    if state.last is None or now >= state.last[0]:  # the latest event's time (and, for `last`, its value)
        state.last = (now, value if aggregate == "last" else None)
    state.since = min(state.since, now)
    return state


def read(
    state: FeatureState | None, aggregate: Aggregate, window: timedelta, at: datetime, live_since: datetime
) -> dict[str, Any]:
    """The feature as rules read it at event time ``at``: ``value``, ``count``, ``at`` and ``warm``.

    ``warm``: the feature has counted for its whole window, from the customer's first counted
    event or from ``live_since`` (when this engine began computing it), whichever is earlier.
    """
    now, span = seconds(at), int(window.total_seconds())
    width = slice_width(window)
    since = min(state.since if state else now, seconds(live_since))
    inside = [item for item in (state.slices if state else []) if now - span < item[0] + width and item[0] <= now]
    count = sum(item[1] for item in inside)
    values = {k: v for k, v in (state.values if state else {}).items() if now - span < v[1] and v[0] <= now}
    result: dict[str, Any] = {"count": count, "warm": now - since >= span, "at": None}
    if state and state.last and now - span < state.last[0] <= now:
        result["at"] = _iso(state.last[0])
    result["value"] = _value(aggregate, inside, values, count, state, now, span)
    return result


def _value(aggregate: Aggregate, inside: list, values: dict, count: int, state: Any, now: int, span: int) -> Any:
    if aggregate == "count":
        return count
    if aggregate == "sum":
        return round(sum(item[2] for item in inside), 6)
    if aggregate in ("min", "max", "avg"):
        if not count:
            return None
        if aggregate == "avg":
            return round(sum(item[2] for item in inside) / count, 6)
        return (min if aggregate == "min" else max)(item[3 if aggregate == "min" else 4] for item in inside)
    if aggregate == "count_distinct":
        return len(values)
    if aggregate == "distinct":
        return sorted(values)
    if aggregate in ("first_seen", "last_seen"):
        position = 0 if aggregate == "first_seen" else 1
        return {key: _iso(seen[position]) for key, seen in sorted(values.items())}
    # last
    if state and state.last and now - span < state.last[0] <= now:
        return state.last[1]
    return None


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")

"""What one feature keeps for one customer, and its value at an event time: pure functions.

A feature aggregates the values of the events it counts over a sliding event-time window.
The window is kept in ``SLICES`` slices of equal width (a 1 h window in 36 s slices), each
holding how many events fell in it and, for ``sum``/``avg``, ``min`` or ``max``, their sum,
minimum or maximum, so the state never grows beyond ``SLICES + 1`` slices however many
events arrive. An event counts from its own time
and leaves the window up to one slice after the window has passed it (1% of the window).

``distinct``, ``count_distinct``, ``first_seen`` and ``last_seen`` keep, per value, when it
was first and last seen, for at most ``MAX_VALUES`` values (the least recently seen is
forgotten first); a value unseen for a whole window is forgotten, so a device type unused
for 90 days is new again. ``last`` keeps the latest value.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ctxi.schemas.features import Aggregate, FeatureState

SLICES = 100
MAX_VALUES = 64

VALUE_AGGREGATES = frozenset({"count_distinct", "distinct", "first_seen", "last_seen"})
NUMBER_AGGREGATES = frozenset({"sum", "min", "max", "avg"})


def seconds(at: datetime) -> int:
    return int(at.timestamp())


def slice_width(window: timedelta) -> int:
    return max(1, math.ceil(window.total_seconds() / SLICES))


_SPANS: dict[timedelta, tuple[int, int]] = {}


def _span(window: timedelta) -> tuple[int, int]:
    """The window's length and its slices' width, in seconds (every add and read needs both)."""
    found = _SPANS.get(window)
    if found is None:
        found = _SPANS[window] = (int(window.total_seconds()), slice_width(window))
    return found


_COMBINE: dict[str, Callable[..., Any]] = {"sum": operator.add, "avg": operator.add, "min": min, "max": max}


def add(state: FeatureState | None, aggregate: Aggregate, window: timedelta, at: datetime, value: Any) -> FeatureState:
    """``state`` with one more event (at ``at``, valued ``value``); expired slices and values dropped."""
    now = seconds(at)
    state = state or FeatureState(since=now)
    span, width = _span(window)
    start = now - now % width
    combine = _COMBINE.get(aggregate)
    slices: list[Any] = state.slices  # (start, count), or (start, count, value) for sum/avg/min/max
    for index in range(len(slices) - 1, -1, -1):  # events mostly come in time order: the newest slice first
        item = slices[index]
        if item[0] == start:
            slices[index] = (start, item[1] + 1, combine(item[2], value)) if combine else (start, item[1] + 1)
            break
    else:
        slices.append((start, 1, float(value)) if combine else (start, 1))
        if len(slices) > 1 and slices[-2][0] > start:
            slices.sort(key=lambda item: item[0])
    horizon = slices[-1][0] - span - width
    if slices[0][0] <= horizon:
        state.slices = [item for item in slices if item[0] > horizon]
    if aggregate in VALUE_AGGREGATES:
        key = str(value)
        first, last = state.values.get(key, (now, now))
        if last <= now - span:  # unseen for a whole window: new again
            first = now
        values = state.values
        values[key] = (min(first, now), max(last, now))
        horizon = max(last for _, last in values.values()) - span
        if len(values) > MAX_VALUES or any(last <= horizon for _, last in values.values()):
            kept = sorted(((k, v) for k, v in values.items() if v[1] > horizon), key=lambda kv: kv[1][1], reverse=True)
            state.values = dict(kept[:MAX_VALUES])
    if state.latest is None or now >= state.latest:
        state.latest = now
        if aggregate == "last":
            state.last = value
    if now < state.since:
        state.since = now
    return state


def read(
    state: FeatureState | None, aggregate: Aggregate, window: timedelta, at: datetime, live_since: datetime
) -> dict[str, Any]:
    """The feature as rules read it at event time ``at``: ``value``, ``count``, ``at`` and ``warm``.

    ``warm``: the feature has counted for its whole window, from the customer's first counted
    event or from ``live_since`` (when this engine began computing it), whichever is earlier.
    """
    now, live = seconds(at), seconds(live_since)
    span, width = _span(window)
    if state is None:
        return {"count": 0, "warm": now - live >= span, "at": None, "value": _empty(aggregate)}
    result: dict[str, Any] = {"count": 0, "warm": now - min(state.since, live) >= span, "at": None, "value": None}
    oldest = now - span - width  # a slice that began after this still holds counted events
    inside: list[Any] = [item for item in state.slices if oldest < item[0] <= now]  # (start, count[, value])
    count = 0
    for item in inside:
        count += item[1]
    result["count"] = count
    latest = state.latest
    if latest is not None and now - span < latest <= now:
        result["at"] = _iso(latest)
    if aggregate == "count":
        result["value"] = count
    elif aggregate == "sum":
        result["value"] = round(sum([item[2] for item in inside]), 6)
    elif count and aggregate == "avg":
        result["value"] = round(sum([item[2] for item in inside]) / count, 6)
    elif count and aggregate in ("min", "max"):
        result["value"] = _COMBINE[aggregate](item[2] for item in inside)
    elif aggregate in VALUE_AGGREGATES:
        seen = {k: v for k, v in state.values.items() if now - span < v[1] and v[0] <= now}
        if aggregate == "count_distinct":
            result["value"] = len(seen)
        elif aggregate == "distinct":
            result["value"] = sorted(seen)
        else:
            position = 0 if aggregate == "first_seen" else 1
            result["value"] = {key: _iso(times[position]) for key, times in sorted(seen.items())}
    elif aggregate == "last" and result["at"] is not None:
        result["value"] = state.last
    return result


def _empty(aggregate: Aggregate) -> Any:
    """What a feature reads before it has counted anything: a new container each time (a reader may keep it)."""
    if aggregate in ("count", "sum", "count_distinct"):
        return 0
    if aggregate == "distinct":
        return []
    return {} if aggregate in ("first_seen", "last_seen") else None


@functools.lru_cache(maxsize=4096)  # a customer's latest event is read by every rule on its next events
def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")

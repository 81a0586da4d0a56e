"""Move recorded events to the present, so that example files make current tasks.

Tasks expire (``expires_at``) and deadlines count down from the events' own times, so
events recorded months ago would make tasks that are already gone from a desktop.
Shifting every timestamp of a file by the same amount keeps the story intact (the
check-in still comes 90 minutes before the card payment; the connection still departs
75 minutes after the delayed flight lands) and makes its latest event happen now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import orjson

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def latest_occurrence(lines: Iterable[bytes]) -> datetime | None:
    """The latest ``occurred_at`` among the lines that are events with a readable time."""
    latest = None
    for line in lines:
        try:
            document = orjson.loads(line)
            at = datetime.fromisoformat(document["occurred_at"])
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError):
            continue  # a bad line is sent unchanged; it does not set the clock
        if at.tzinfo is not None and (latest is None or at > latest):
            latest = at
    return latest


def shift_line(line: bytes, delta: timedelta) -> bytes:
    """``line`` with every timestamp moved by ``delta`` (dates by whole days); not JSON: unchanged."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return line
    return orjson.dumps(_shift(document, delta, round(delta / timedelta(days=1))))


def _shift(value: Any, delta: timedelta, days: int) -> Any:
    if isinstance(value, dict):
        return {key: _shift(item, delta, days) for key, item in value.items()}
    if isinstance(value, list):
        return [_shift(item, delta, days) for item in value]
    if isinstance(value, str):
        try:
            if _DATETIME.match(value):
                return (datetime.fromisoformat(value) + delta).isoformat().replace("+00:00", "Z")
            if _DATE.match(value):
                return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
        except ValueError:
            pass  # looks like a time but is not one (month 13): the event's validation will say so
    return value

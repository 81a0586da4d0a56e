"""When a task stops being useful: the earliest deadline its signals name."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time

from ctxi.enrichers.signals import BalanceShortfall, FlightDisruption, Signal


def due_by(signals: Sequence[Signal]) -> datetime | None:
    """The next flight to catch, the day a debit is taken; None when nothing is due."""
    deadlines = []
    for signal in signals:
        if isinstance(signal, FlightDisruption) and signal.next_departure_at is not None:
            deadlines.append(signal.next_departure_at)
        elif isinstance(signal, BalanceShortfall):
            deadlines.append(datetime.combine(signal.due_date, time.min, tzinfo=UTC))
    return min(deadlines, default=None)

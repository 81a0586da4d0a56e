"""When a task stops being useful: the earliest deadline its signals name, and what it is."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import NamedTuple

from ctxi.schemas.signals import BalanceShortfall, FlightDisruption, Signal


class Deadline(NamedTuple):
    at: datetime
    what: str  # said beside the countdown, so an agent knows which flight or debit it is about


def deadline(signals: Sequence[Signal]) -> Deadline | None:
    """The next flight to catch, the day a debit is taken; None when nothing is due."""
    deadlines = []
    for signal in signals:
        if isinstance(signal, FlightDisruption) and signal.next_departure_at is not None:
            leaves = f" leaves {signal.connection_airport}" if signal.connection_airport else " leaves"
            deadlines.append(Deadline(signal.next_departure_at, f"{signal.connecting_flight or signal.flight}{leaves}"))
        elif isinstance(signal, BalanceShortfall):
            day = datetime.combine(signal.due_date, time.min, tzinfo=UTC)
            deadlines.append(Deadline(day, f"the {signal.payee} debit is taken"))
    return min(deadlines, default=None, key=lambda d: d.at)

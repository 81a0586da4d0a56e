"""What one feature keeps for one customer: the state ``features/state.py`` adds events to and
reads a value from, stored in the customer's context (``schemas/context.py``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Aggregate = Literal[
    "count", "sum", "min", "max", "avg", "count_distinct", "distinct", "first_seen", "last_seen", "last"
]
Scalar = str | bool | int | float | None


class FeatureState(BaseModel):
    """One feature's memory for one customer (stored in the customer's context, so kept small)."""

    model_config = ConfigDict(extra="forbid")
    since: int  # Unix seconds of the first event counted: the feature is warm a window later
    # (start, count) per slice, oldest first; sum, avg, min and max add what they need of the values
    slices: list[tuple[int, int] | tuple[int, int, float]] = Field(default_factory=list)
    # value -> (first seen, last seen): the value aggregates
    values: dict[str, tuple[int, int]] = Field(default_factory=dict)
    latest: int | None = None  # when the latest counted event happened
    last: Scalar = None  # its value, for `last`

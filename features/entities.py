"""Features kept per entity across customers (a card, a device, an IP address, a merchant).

A customer's feature lives in the customer's context, on the customer's partition. An
entity's cannot: the customers who used one card sit on many partitions. So an entity
feature's state is a row of its own (:class:`EntityFeatureRow`), keyed by the feature and
the entity, on the partition that key hashes to, like the fleet index. An event of a type
such features count travels to each of its entities' rows in turn as an
:class:`EntityFeatureVisit` on the by-customer topic, keyed by the row, where it is counted
and the feature read; then back to its customer, whose rules read the values it carries.

Each hop is idempotent: a row remembers the events it counted (as a customer's context
does), so an event redone after a crash is read, not counted twice; the customer's join
drops the second arrival as a duplicate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ctxi.features.state import add, seconds
from ctxi.schemas.events import Event
from ctxi.schemas.features import Aggregate, FeatureState


class EntityFeatureRow(BaseModel):
    """One entity's feature (the customers of one card over a day), kept across customers."""

    model_config = ConfigDict(extra="forbid")
    key: str  # the feature's state key / the entity, as JSON
    state: FeatureState
    # event_id -> Unix seconds: the events counted lately, to count each once
    counted: dict[str, int] = Field(default_factory=dict)
    until: int  # Unix seconds: the latest counted event has left the window then; the row may go


class EntityFeatureVisit(BaseModel):
    """An event on its way through the rows of its entity features, then to its customer (an internal message)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["ctxi.entity_feature_visit"] = "ctxi.entity_feature_visit"
    event: Event
    pending: list[str] = Field(description="The rows still to visit, in order; none: the event goes to its customer.")
    values: dict[str, dict[str, Any]] = Field(
        {}, description="Per feature id, what rules read (value, count, at, warm) from the rows visited."
    )

    @property
    def partition_key(self) -> str:
        if self.pending:
            return self.pending[0]
        assert self.event.customer_id is not None
        return self.event.customer_id


def count_in_row(
    row: EntityFeatureRow | None,
    key: str,
    event: Event,
    aggregate: Aggregate,
    window: timedelta,
    value: Any,
    dedup: timedelta,
    dedup_max_ids: int,
) -> EntityFeatureRow:
    """A new row: ``row`` (None: an empty one) with ``event`` counted; ``row`` itself if it counted the event already.

    The row remembers the events counted within ``dedup`` of its latest, at most ``dedup_max_ids``,
    like a customer's context remembers its events' ids.
    """
    at = seconds(event.occurred_at)
    if row is not None and event.event_id in row.counted:
        return row
    # `add` changes the slices and values in place; their items are immutable tuples
    previous = (
        row.state.model_copy(update={"slices": list(row.state.slices), "values": dict(row.state.values)})
        if row is not None
        else None
    )
    state = add(previous, aggregate, window, event.occurred_at, value)
    counted = dict(row.counted) if row is not None else {}
    counted[event.event_id] = at
    horizon = max(counted.values()) - dedup.total_seconds()
    recent = sorted(((t, i) for i, t in counted.items() if t > horizon), reverse=True)[:dedup_max_ids]
    until = max(at + int(window.total_seconds()), row.until if row is not None else 0)
    # built from values already checked: no validation on the per-event path
    return EntityFeatureRow.model_construct(key=key, state=state, counted={i: t for t, i in recent}, until=until)


def is_expired(row: EntityFeatureRow, as_of: datetime) -> bool:
    """Every event the row counted has left its window by ``as_of``: nothing to read any more."""
    return row.until < seconds(as_of)

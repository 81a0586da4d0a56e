"""Customer views in Redis: what a worker writes as it decides a customer's events, and what the
gateway reads when an agent opens the customer (schemas/customer_view.py).

Layout (``<p>`` is ``CTXI_REDIS_PREFIX``; every key lives ``CTXI_CUSTOMER_VIEW_DAYS`` after the
customer's last event):

- ``<p>:view:<customer_id>``: the view's JSON, written from the stored context row;
- ``<p>:timeline:<customer_id>``: the latest ``TIMELINE_KEPT`` events, described as a task's
  evidence is, newest first (an event a worker decided twice, after a crash, shows once);
- ``<p>:identifier:<identifier>``: the customer an identifier of their profile names (the profile
  attributes ``CTXI_CUSTOMER_IDENTIFIERS`` lists, e.g. an email), for lookups;
- ``<p>:closed_by_customer:<customer_id>``: the latest closes of the customer's tasks (the gateway
  keeps them as agents close tasks), newest first;
- ``<p>:customer_views``: the audit trail, a stream of who opened whom, when, from which task.

A worker marks the customers whose rows it stored (:meth:`CustomerViewSink.add`, a dict entry on
the event's path) and writes their views in one pipeline every ``CTXI_CUSTOMER_VIEW_SECONDS``
(:meth:`CustomerViewSink.flush`), each from the row as stored then: a customer with ten events in
that time is written once. Views are a reading aid, never on the decision path: while Redis is
away they wait (up to ``MAX_PENDING`` customers, the oldest dropped and counted) and decisions go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from ctxi.engine.customer_view import customer_view
from ctxi.rules.evidence import describe
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.customer_view import CustomerView
from ctxi.schemas.events import Event
from ctxi.schemas.task import EvidenceItem
from ctxi.settings import EngineConfig

logger = logging.getLogger(__name__)
TIMELINE_KEPT = 20
CLOSED_KEPT = 10
MAX_PENDING = 50_000  # customers waiting for their view while Redis is away
AUDIT_KEPT = 100_000  # entries of the audit trail (Redis trims the oldest)


def identifier_key_part(identifier: str) -> str:
    """An identifier as looked up: the same email or phone however it was written."""
    return "".join(identifier.split()).casefold()


@dataclass(frozen=True)
class CustomerViewKeys:
    prefix: str

    def view(self, customer_id: str) -> str:
        return f"{self.prefix}:view:{customer_id}"

    def timeline(self, customer_id: str) -> str:
        return f"{self.prefix}:timeline:{customer_id}"

    def identifier(self, identifier: str) -> str:
        return f"{self.prefix}:identifier:{identifier_key_part(identifier)}"

    def closed(self, customer_id: str) -> str:
        return f"{self.prefix}:closed_by_customer:{customer_id}"

    @property
    def audit(self) -> str:
        return f"{self.prefix}:customer_views"


@dataclass
class CustomerViewSink:
    """The views of the customers a worker decides, written to Redis a batch at a time."""

    client: aioredis.Redis
    keys: CustomerViewKeys
    config: EngineConfig
    keep_seconds: int
    identifiers: frozenset[str]
    pending: dict[str, list[Event]] = field(default_factory=dict)  # customer -> events since the last flush
    dropped: int = 0  # customers whose view waited too long for Redis (counted, logged)

    def add(self, customer_id: str, event: Event | None) -> None:
        """Mark ``customer_id``'s row as stored anew, by ``event`` (None: a change with no event of theirs)."""
        events = self.pending.pop(customer_id, None)
        if events is None:
            events = []
            if len(self.pending) >= MAX_PENDING:
                del self.pending[next(iter(self.pending))]
                self.dropped += 1
        self.pending[customer_id] = events  # last in the dict: the oldest is dropped first
        if event is not None:
            events.append(event)

    async def flush(self, stored_row: Callable[[str], CustomerContext | None], now: datetime | None = None) -> int:
        """Write the views of the customers marked since the last flush; their number. A customer
        whose row is no longer here (its partition handed over) gets only its timeline: the new
        owner writes the view. On a Redis error the marks wait for the next flush."""
        if not self.pending:
            return 0
        batch, self.pending = self.pending, {}
        now = now or datetime.now(UTC)
        pipe = self.client.pipeline(transaction=False)
        for customer_id, events in batch.items():
            row = stored_row(customer_id)
            if row is not None:
                self._write_view(pipe, customer_view(row, self.config, now))
            if events:
                timeline = self.keys.timeline(customer_id)
                pipe.lpush(timeline, *(orjson.dumps(describe(event).model_dump(mode="json")) for event in events))
                pipe.ltrim(timeline, 0, TIMELINE_KEPT - 1)
                pipe.expire(timeline, self.keep_seconds)
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            logger.warning("customer views not written (%s): %d customers wait for the next try", exc, len(batch))
            for customer_id, events in batch.items():
                self.add(customer_id, None)
                self.pending[customer_id] += events
            return 0
        return len(batch)

    def _write_view(self, pipe: Any, view: CustomerView) -> None:
        pipe.set(self.keys.view(view.customer_id), view.model_dump_json(exclude_none=True), ex=self.keep_seconds)
        attributes = view.profile.attributes if view.profile else {}
        for name in self.identifiers:
            value = attributes.get(name)
            if isinstance(value, str) and value.strip():
                pipe.set(self.keys.identifier(value), view.customer_id, ex=self.keep_seconds)


@dataclass
class CustomerViewStore:
    """What the gateway reads and keeps of customer views."""

    client: aioredis.Redis
    keys: CustomerViewKeys
    keep_seconds: int

    async def view(self, customer_id: str) -> tuple[CustomerView, list[EvidenceItem]] | None:
        """The customer's view and timeline (newest first, each event once); None if no worker wrote one."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.view(customer_id))
        pipe.lrange(self.keys.timeline(customer_id), 0, -1)
        body, entries = await pipe.execute()
        if body is None:
            return None
        seen: set[str] = set()
        timeline = []
        for entry in entries:
            item = EvidenceItem.model_validate_json(entry)
            if item.event_id not in seen:
                seen.add(item.event_id)
                timeline.append(item)
        timeline.sort(key=lambda item: item.occurred_at, reverse=True)  # late events in their place
        return CustomerView.model_validate_json(body), timeline

    async def customer_named_by(self, identifier: str) -> str | None:
        found = await self.client.get(self.keys.identifier(identifier))
        return None if found is None else cast(bytes, found).decode()

    async def keep_close(self, customer_id: str, close: dict[str, Any]) -> None:
        key = self.keys.closed(customer_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(key, orjson.dumps(close))
        pipe.ltrim(key, 0, CLOSED_KEPT - 1)
        pipe.expire(key, self.keep_seconds)
        await pipe.execute()

    async def closes(self, customer_id: str) -> list[dict[str, Any]]:
        return [orjson.loads(entry) for entry in await self.client.lrange(self.keys.closed(customer_id), 0, -1)]

    async def audit(self, entry: dict[str, str]) -> None:
        fields: dict[Any, Any] = dict(entry)  # redis-py types a stream entry's fields invariantly
        await self.client.xadd(self.keys.audit, fields, maxlen=AUDIT_KEPT, approximate=True)

    async def audit_trail(self, count: int) -> list[dict[str, str]]:
        """The latest ``count`` views recorded, newest first."""
        entries = cast(
            list[tuple[bytes, dict[bytes, bytes]]], await self.client.xrevrange(self.keys.audit, count=count)
        )
        return [{key.decode(): value.decode() for key, value in fields.items()} for _, fields in entries]

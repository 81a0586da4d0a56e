"""Customer views in Redis: what a worker writes as it decides a customer's events, and what the
gateway reads when an agent opens the customer (schemas/customer_view.py).

Layout (``<p>`` is ``CTXI_REDIS_PREFIX``; every key lives ``CTXI_CUSTOMER_VIEW_DAYS`` after it was
last written):

- ``<p>:view:<customer_id>``: the customer's context row as the worker stored it (the very bytes
  of its changelog record) with its engagement and when it was written (a ``StoredView``);
- ``<p>:timeline:<customer_id>``: the latest ``TIMELINE_KEPT`` events, described as a task's
  evidence is, newest first (an event a worker decided twice, after a crash, shows once);
- ``<p>:identifier:<identifier>``: the customer an identifier of their profile names (the profile
  attributes ``CTXI_CUSTOMER_IDENTIFIERS`` lists, e.g. an email), for lookups;
- ``<p>:closed_by_customer:<customer_id>``: the latest closes of the customer's tasks (the gateway
  keeps them as agents close tasks), newest first;
- ``<p>:customer_views``: the audit trail, a stream of who opened whom, when, from which task, and
  ``<p>:viewing:<viewer>:<customer_id>:<task_id>``, held five minutes after a look is recorded so
  the page's reads of an open view are not recorded again.

A worker marks the customers whose rows it stored (:meth:`CustomerViewSink.add`, a dict entry on
the event's path) and every ``CTXI_CUSTOMER_VIEW_SECONDS`` writes the marked customers' rows and
events in one script call (:meth:`CustomerViewSink.flush`): a customer with ten events in that
time is written once, and nothing is encoded again (the row's stored bytes go as they are; the
gateway makes the view). Views are a reading aid, never on the decision path: while Redis is
away they wait (up to ``MAX_PENDING`` customers, the oldest dropped and counted) and decisions go on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from ctxi.engine.rows import EncodedRows
from ctxi.enrichers.engagement import engagement_of
from ctxi.rules.evidence import summary
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import CustomerProfileEvent, Event
from ctxi.settings import EngineConfig
from ctxi.sinks.customer_view_store import TIMELINE_KEPT, CustomerViewKeys

logger = logging.getLogger(__name__)
MAX_PENDING = 50_000  # customers waiting for their view while Redis is away

# One call for a flush: per customer (KEYS: its view and timeline) the stored view ('' when its
# row is not here) and its new events; then each identifier key and the customer it names.
_WRITE_VIEWS = """
local ttl, kept, customers = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local at = 4
for i = 1, customers do
  local view, timeline = KEYS[2 * i - 1], KEYS[2 * i]
  if ARGV[at] ~= '' then redis.call('SET', view, ARGV[at], 'EX', ttl) end
  local events = tonumber(ARGV[at + 1])
  if events > 0 then
    redis.call('LPUSH', timeline, unpack(ARGV, at + 2, at + 1 + events))
    redis.call('LTRIM', timeline, 0, kept - 1)
    redis.call('EXPIRE', timeline, ttl)
  end
  at = at + 2 + events
end
for k = 2 * customers + 1, #KEYS do
  redis.call('SET', KEYS[k], ARGV[at], 'EX', ttl)
  at = at + 1
end
return customers
"""


def timeline_entry(event: Event) -> bytes:
    """``event`` as the timeline keeps it: an ``EvidenceItem``'s JSON, written without the model."""
    return orjson.dumps(
        {"event_id": event.event_id, "type": event.type, "occurred_at": event.occurred_at, "summary": summary(event)}
    )


@dataclass
class CustomerViewSink:
    """The views of the customers a worker decides, written to Redis a batch at a time."""

    client: aioredis.Redis
    keys: CustomerViewKeys
    config: EngineConfig
    keep_seconds: int
    identifiers: frozenset[str]
    pending: dict[str, list[bytes]] = field(default_factory=dict)  # customer -> timeline entries since the last flush
    named: dict[str, str] = field(default_factory=dict)  # identifier key -> customer, from profiles since then
    dropped: int = 0  # customers whose view waited too long for Redis (counted, logged)

    def __post_init__(self) -> None:
        self._write = self.client.register_script(_WRITE_VIEWS)

    def add(self, customer_id: str, event: Event | None) -> None:
        """Mark ``customer_id``'s row as stored anew, by ``event`` (None: a change with no event of theirs)."""
        entries = self.pending.pop(customer_id, None)
        if entries is None:
            entries = []
            if len(self.pending) >= MAX_PENDING:
                del self.pending[next(iter(self.pending))]
                self.dropped += 1
        self.pending[customer_id] = entries  # last in the dict: the oldest is dropped first
        if event is None:
            return
        entries.append(timeline_entry(event))
        if isinstance(event, CustomerProfileEvent):  # the only event that changes a profile's attributes
            for name in self.identifiers:
                value = event.payload.attributes.get(name)
                if isinstance(value, str) and value.strip():
                    self.named[self.keys.identifier(value)] = customer_id

    async def flush(self, rows: EncodedRows[CustomerContext], now: datetime | None = None) -> int:
        """Write the views of the customers marked since the last flush; their number. A customer
        whose row is no longer here (its partition handed over) gets only its timeline: the new
        owner writes the view. On a Redis error the marks wait for the next flush."""
        if not self.pending and not self.named:
            return 0
        batch, named = self.pending, self.named
        self.pending, self.named = {}, {}
        written_at = orjson.dumps(now or datetime.now(UTC))
        keys: list[str] = []
        args: list[bytes | str | int] = [self.keep_seconds, TIMELINE_KEPT, len(batch)]
        for customer_id, entries in batch.items():
            keys += [self.keys.view(customer_id), self.keys.timeline(customer_id)]
            args += [self._stored(rows, customer_id, written_at), len(entries), *entries]
        keys += list(named)
        args += list(named.values())
        try:
            await self._write(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            logger.warning(
                "customer views not written (%s): %d customers wait for the next try (%d dropped so far: more waited)",
                exc,
                len(batch),
                self.dropped,
            )
            for customer_id, entries in batch.items():
                self.add(customer_id, None)
                self.pending[customer_id] += entries
            self.named = named | self.named
            return 0
        return len(batch)

    def _stored(self, rows: EncodedRows[CustomerContext], customer_id: str, written_at: bytes) -> bytes:
        """A ``StoredView`` of the row as stored (its bytes, not encoded again); b'' if it is not here."""
        encoded, row = rows.encoded.get(customer_id), rows.peek(customer_id)
        if encoded is None or row is None:
            return b""
        engagement = engagement_of(row, self.config).model_dump_json().encode()
        return b'{"written_at":' + written_at + b',"engagement":' + engagement + b',"context":' + encoded + b"}"

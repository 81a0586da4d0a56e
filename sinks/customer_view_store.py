"""Customer views in Redis as the gateway reads them (the keys are described in
sinks/customer_views.py, which workers write them with): a customer's view and timeline, the
customer an identifier names, the latest closes of their tasks, and the audit trail of views.

Kept apart from the writer so the gateway needs neither the engine nor the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis import asyncio as aioredis

from ctxi.schemas.customer_view import CustomerView, StoredView, customer_view
from ctxi.schemas.task import EvidenceItem

TIMELINE_KEPT = 20
CLOSED_KEPT = 10
AUDIT_KEPT = 100_000  # entries of the audit trail (Redis trims the oldest)

_RECORD_LOOK = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
  return 1
end
return 0
"""


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
class CustomerViewStore:
    """What the gateway reads and keeps of customer views."""

    client: aioredis.Redis
    keys: CustomerViewKeys
    keep_seconds: int

    def __post_init__(self) -> None:
        self._record = self.client.register_script(_RECORD_LOOK)

    async def view(self, customer_id: str) -> tuple[CustomerView, list[EvidenceItem]] | None:
        """The customer's view and timeline (newest first, each event once); None if no worker wrote one."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.view(customer_id))
        pipe.lrange(self.keys.timeline(customer_id), 0, -1)
        body, entries = await pipe.execute()
        if body is None:
            return None
        view = customer_view(StoredView.model_validate_json(body))
        seen: set[str] = set()
        timeline = []
        for entry in entries:
            item = EvidenceItem.model_validate_json(entry)
            if item.event_id not in seen:
                seen.add(item.event_id)
                timeline.append(item)
        timeline.sort(key=lambda item: item.occurred_at, reverse=True)  # late events in their place
        return view, timeline

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

    async def record_look(self, entry: dict[str, str], window_seconds: int) -> bool:
        """Record ``entry`` (a look: viewer, customer_id, task_id...) in the audit trail, unless the same
        person's look at the same customer from the same task was recorded in the last
        ``window_seconds`` (a page reads an open view every quarter second); whether it was. One
        script: a look is never taken as recorded without its entry."""
        seen = f"{self.keys.prefix}:viewing:{entry['viewer']}:{entry['customer_id']}:{entry['task_id']}"
        fields = [item for pair in entry.items() for item in pair]
        return bool(await self._record(keys=[seen, self.keys.audit], args=[window_seconds, AUDIT_KEPT, *fields]))

    async def audit_trail(self, count: int) -> list[dict[str, str]]:
        """The latest ``count`` views recorded, newest first."""
        entries = cast(
            list[tuple[bytes, dict[bytes, bytes]]], await self.client.xrevrange(self.keys.audit, count=count)
        )
        return [{key.decode(): value.decode() for key, value in fields.items()} for _, fields in entries]

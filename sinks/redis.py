"""Tasks in Redis for desktops: a priority index per queue, the task bodies, live notifications.

Layout (``<p>`` is ``CTXI_REDIS_PREFIX``):

- ``<p>:task:<task_id>``: the task's JSON, expiring at its ``expires_at``;
- ``<p>:queue:<queue>``: a sorted set of task ids, highest priority first, older first
  among equals (score = priority × 10^10 + (10^10 − created_at in Unix seconds));
- ``<p>:expiry:<queue>``: the same ids scored by ``expires_at``, to drop expired ones;
- ``<p>:deferred:<queue>``: ids scored by ``not_before``, to announce when they show;
- ``<p>:customer_tasks:<customer_id>``: a customer's task ids scored by their ``expires_at``, to
  close superseded ones and show the customer view's tasks; each write drops the expired ones,
  a close its own, and the key expires with the last of them;
- ``<p>:closing:<task_id>``: held while an agent's close of the task is under way;
- ``<p>:closed:<task_id>``: set when an agent closes the task (how, by whom, when), until the
  end of its rule's cool-down (``updates_until``, else its expiry): a revision then does not
  reopen it but goes to ``<p>:after_close:<task_id>`` (the latest ``AFTER_CLOSE_KEPT``);
- ``<p>:claimed_at:<task_id>``: when the task's claim was taken (Unix seconds), for the outcome;
- ``<p>:escalated:<task_id>``: the stage an unclaimed task escalated to and the points its
  stages add (its queue score carries them; a revision keeps them);
- ``<p>:breached:<stage>:<task_id>``: set once a task is known to have missed a deadline (stage
  ``claim``: unclaimed past ``claim_by``; ``resolve``: claimed and open past ``resolve_by``), by a
  gateway's sweep or the late claim or close: the breach is counted and announced once;
- ``<p>:resolve_watch:<queue>``: the claimed tasks with a ``resolve_by``, scored by it;
- ``<p>:claim_watch:<queue>``: the unclaimed tasks with a ``claim_by``, scored by when the
  gateway's sweep is to look at them next: ``claim_by`` at first (the breach; no escalation
  stage is due before), then the time of their next stage; a claim takes a task out. With
  the resolve watch, the sweep reads only what is due each second, not every open task;
- ``<p>:claims:<queue>``, ``<p>:closes:<queue>``: the last hour's claims and closes (JSON
  entries scored by their time), for the supervisor view;
- ``<p>:outcome_key``: the key gateways sign outcomes with and workers check them by, made by
  the first of them to start when ``CTXI_OUTCOME_KEYS`` is empty (ingest/outcomes.py);
- ``<p>:notify:<queue>``: a pub/sub channel with ``{"change": ..., "task_id"}``: added,
  visible (a deferred task's time came), claimed, completed, dismissed, expired, escalated,
  breached (a missed ``claim_by`` or ``resolve_by``, with its stage).

A write is one Lua script, so it is atomic and idempotent by ``task_id`` and ``revision``:
a task written twice (a worker that crashed and reprocessed) is indexed and announced
once, and an older revision never overwrites a newer one (an update announces ``updated``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, cast

import orjson
import redis
import redis.asyncio as aioredis
from pydantic import TypeAdapter, ValidationError
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ctxi.schemas.encoding import dumps_model
from ctxi.schemas.task import Task, TaskClosure
from ctxi.service_levels.policy import arrived

logger = logging.getLogger(__name__)
_SCORE_SPAN = 10**10
RECENT_SECONDS = 3600  # how far back supervisors' claim and close figures look
WATCH_BATCH = 1000  # tasks a sweep looks at per queue and watch: a backlog of due ones takes a few sweeps
_TASKS = TypeAdapter(Task)

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, ''} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EXAT', ARGV[2]) then
  redis.call('SET', KEYS[4], ARGV[4], 'EXAT', ARGV[2])
  redis.call('ZREM', KEYS[5], ARGV[5])
  redis.call('PUBLISH', KEYS[3], ARGV[3])
  if ARGV[7] ~= '' then redis.call('ZADD', KEYS[7], ARGV[7], ARGV[5]) end
  local first_breach = 0
  if ARGV[6] == '1' and redis.call('SET', KEYS[6], '1', 'NX', 'EXAT', ARGV[2]) then first_breach = 1 end
  return {1, ARGV[1], first_breach}
end
return {2, redis.call('GET', KEYS[2])}
"""

# Escalate an open, unclaimed task to a stage, once: the stage and the points all stages so
# far add are kept beside the task; its place in the queue rises by what this stage adds.
_ESCALATE = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local stage, points = 0, 0
local current = redis.call('GET', KEYS[4])
if current then
  local done = cjson.decode(current)
  stage, points = done.stage, done.points
end
if stage >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[4], ARGV[6], 'EXAT', ARGV[4])
redis.call('ZINCRBY', KEYS[3], (tonumber(ARGV[3]) - points) * 1e10, ARGV[1])
redis.call('PUBLISH', KEYS[5], ARGV[5])
return 1
"""

# A task still unclaimed past its claim_by (stage claim), or claimed and still open past its
# resolve_by (stage resolve): the breach is recorded and announced once, by whoever sees it first.
_BREACH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if (redis.call('EXISTS', KEYS[2]) == 1) ~= (ARGV[3] == 'resolve') then return 0 end
if redis.call('SET', KEYS[3], '1', 'NX', 'EXAT', ARGV[2]) then
  redis.call('PUBLISH', KEYS[4], ARGV[1])
  return 1
end
return 0
"""

_BEGIN_CLOSE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
return 2
"""

_CLOSE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[10], ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[11])
redis.call('ZREM', KEYS[13], ARGV[2])
redis.call('SET', KEYS[12], ARGV[4], 'EXAT', ARGV[5])
redis.call('PUBLISH', KEYS[5], ARGV[3])
return 1
"""

_WRITE = """
local stored = tonumber(redis.call('GET', KEYS[6]) or '0')
if stored >= tonumber(ARGV[7]) then return 0 end
local closed_for = redis.call('TTL', KEYS[10])
if closed_for > 0 then
  redis.call('SET', KEYS[6], ARGV[7], 'EX', closed_for)
  redis.call('RPUSH', KEYS[11], ARGV[1])
  redis.call('LTRIM', KEYS[11], -tonumber(ARGV[9]), -1)
  redis.call('EXPIRE', KEYS[11], closed_for)
  return 2
end
redis.call('SET', KEYS[6], ARGV[7], 'EXAT', ARGV[2])
if redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2]) then
  local score = tonumber(ARGV[3])
  local escalated = redis.call('GET', KEYS[8])
  if escalated then score = score + cjson.decode(escalated).points * 1e10 end
  redis.call('ZADD', KEYS[2], score, ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
  if ARGV[6] ~= '' then redis.call('ZADD', KEYS[5], ARGV[6], ARGV[4]) end
  if ARGV[8] ~= '' then redis.call('ZADD', KEYS[9], 'LT', ARGV[8], ARGV[4]) end
  redis.call('ZADD', KEYS[7], ARGV[2], ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', '(' .. ARGV[10])
  local last = redis.call('ZRANGE', KEYS[7], -1, -1, 'WITHSCORES')
  if last[2] then redis.call('EXPIREAT', KEYS[7], last[2]) end
  redis.call('PUBLISH', KEYS[4], ARGV[5])
  return 1
end
return 0
"""


CLOSING_SECONDS = 30  # a close whose gateway died before it finished frees the task after this


AFTER_CLOSE_KEPT = 10  # revisions kept with a closed task (the latest)


class Written(IntEnum):
    """What :meth:`RedisTaskStore.write` did with a task."""

    ALREADY_THERE = 0  # this revision, or a later one, was written before
    WRITTEN = 1
    KEPT_CLOSED = 2  # an agent closed the task inside its rule's cool-down: kept with it, not reopened


class CloseStart(IntEnum):
    """What :meth:`RedisTaskStore.begin_close` found."""

    NOT_CLAIMER = 0
    STARTED = 1
    CLOSING = 2  # another close of the same task is under way


def outcome_keys(url: str, prefix: str, configured: list[str]) -> list[bytes]:
    """The keys outcomes are signed with (the first) and checked by: ``configured``, else the one
    kept in Redis, made now (at random) if no gateway or worker has made it yet."""
    if configured:
        return [key.encode() for key in configured]
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.set(f"{prefix}:outcome_key", secrets.token_hex(32), nx=True)  # the first to start makes it
        return [client.get(f"{prefix}:outcome_key")]
    finally:
        client.close()


class OutcomeKeys:
    """:func:`outcome_keys` for a worker, which may start while Redis is away: read once it answers."""

    RETRY_SECONDS = 2.0

    def __init__(self, url: str, prefix: str, configured: list[str]) -> None:
        self._source = (url, prefix, configured)
        self.current: list[bytes] | None = [key.encode() for key in configured] or None
        self._said = False  # that Redis is away: once, not at every try

    def load_now(self) -> list[bytes] | None:
        """Try once (blocking); None while Redis is away."""
        if self.current is None:
            try:
                self.current = outcome_keys(*self._source)
            except (RedisError, OSError) as exc:
                if not self._said:
                    logger.warning("outcome keys not read yet (Redis: %s); outcomes wait for them", exc)
                    self._said = True
        return self.current

    async def wait(self) -> list[bytes]:
        """The keys, once Redis has answered (tried every ``RETRY_SECONDS``, off the event loop)."""
        while (keys := self.current or await asyncio.to_thread(self.load_now)) is None:
            await asyncio.sleep(self.RETRY_SECONDS)
        return keys


def _readable(ids: list[str], bodies: Sequence[bytes | str | None]) -> list[tuple[str, Task]]:
    """The tasks of ``bodies`` (by id) that are there and readable; one that is not (another writer
    of Redis, an older version's body) is logged and left out, so it cannot stop the others."""
    tasks = []
    for task_id, body in zip(ids, bodies, strict=True):
        if body is None:
            continue
        try:
            tasks.append((task_id, Task.model_validate_json(body)))
        except ValidationError as exc:
            logger.error("task %r in Redis cannot be read, left out: %s", task_id, exc.errors()[0]["msg"])
    return tasks


def connect_redis(url: str) -> aioredis.Redis:
    """A client for ``url``; connections are opened lazily and health-checked when idle, and a
    command that meets a dead pooled connection (Redis restarted since) is tried once more on a
    new one, instead of failing once per stale connection."""
    return aioredis.Redis.from_url(
        url,
        health_check_interval=30,
        socket_connect_timeout=5,
        retry=Retry(NoBackoff(), retries=1),
        retry_on_error=[RedisConnectionError],
    )


def queue_score(task: Task) -> float:
    """Higher priority first, then the longer wait (from when it reached the queue)."""
    return task.priority * _SCORE_SPAN + (_SCORE_SPAN - int((task.queued_at or task.created_at).timestamp()))


class RedisTaskStore:
    """Writes tasks for desktops and reads a queue in priority order."""

    def __init__(self, client: aioredis.Redis, prefix: str = "ctxi") -> None:
        self.client = client
        self.prefix = prefix
        self._write = client.register_script(_WRITE)
        self._claim = client.register_script(_CLAIM)
        self._breach = client.register_script(_BREACH)
        self._escalate = client.register_script(_ESCALATE)
        self._close = client.register_script(_CLOSE)
        self._begin_close = client.register_script(_BEGIN_CLOSE)

    def claim_key(self, task_id: str) -> str:
        return f"{self.prefix}:claim:{task_id}"

    def closing_key(self, task_id: str) -> str:
        return f"{self.prefix}:closing:{task_id}"

    def claimed_at_key(self, task_id: str) -> str:
        return f"{self.prefix}:claimed_at:{task_id}"

    def task_key(self, task_id: str) -> str:
        return f"{self.prefix}:task:{task_id}"

    def queue_key(self, queue: str) -> str:
        return f"{self.prefix}:queue:{queue}"

    def expiry_key(self, queue: str) -> str:
        return f"{self.prefix}:expiry:{queue}"

    def customer_tasks_key(self, customer_id: str) -> str:
        return f"{self.prefix}:customer_tasks:{customer_id}"

    def revision_key(self, task_id: str) -> str:
        return f"{self.prefix}:revision:{task_id}"

    def deferred_key(self, queue: str) -> str:
        return f"{self.prefix}:deferred:{queue}"

    def channel(self, queue: str) -> str:
        return f"{self.prefix}:notify:{queue}"

    async def write(self, task: Task) -> Written:
        """Store, index and announce ``task``. A revision of a task an agent has closed inside its
        rule's cool-down does not reopen it: it is kept with the closed task (:meth:`after_close`),
        since the agent decided already; after the cool-down the rule's next firing is a new task.
        A task is stamped with when it reached its queue (:func:`arrived`: its waits and service
        levels count from then), unless it carries that already; a revision keeps the first's."""
        if task.queued_at is None:
            task = arrived(task, await self._arrival(task))
        expires = int(task.expires_at.timestamp())
        change = "added" if task.revision == 1 else "updated"
        notice = orjson.dumps({"change": change, "task_id": task.task_id, "priority": task.priority})
        not_before = "" if task.not_before is None else int(task.not_before.timestamp())
        written = await self._write(
            keys=[
                self.task_key(task.task_id),
                self.queue_key(task.queue),
                self.expiry_key(task.queue),
                self.channel(task.queue),
                self.deferred_key(task.queue),
                self.revision_key(task.task_id),
                self.customer_tasks_key(task.customer_id),
                self.escalated_key(task.task_id),  # a revision keeps its escalation's place
                self.claim_watch_key(task.queue),
                self.closed_key(task.task_id),
                self.after_close_key(task.task_id),
            ],
            args=[
                dumps_model(_TASKS, task),
                expires,
                queue_score(task),
                task.task_id,
                notice,
                not_before,
                task.revision,
                "" if task.claim_by is None else task.claim_by.timestamp(),
                AFTER_CLOSE_KEPT,
                int(time.time()),  # the customer's tasks expired before this are dropped
            ],
        )
        if written == Written.KEPT_CLOSED:  # for supervisors: the rule fired again after the agent's decision
            entry = {"task_id": task.task_id, "rule_id": task.rule_id, "rule_version": task.rule_version}
            await self.record(task.queue, "kept_closed", datetime.now(UTC), {**entry, "revision": task.revision})
        return Written(written)

    async def after_close(self, task_id: str) -> list[Task]:
        """The revisions that came after an agent closed ``task_id``, inside its cool-down (oldest first)."""
        return [
            Task.model_validate_json(body) for body in await self.client.lrange(self.after_close_key(task_id), 0, -1)
        ]

    async def _arrival(self, task: Task) -> datetime:
        """Now, or for a revision, when its task first reached the queue (a read: revisions are rare)."""
        if task.revision > 1:
            stored = await self.get(task.task_id)
            if stored is not None and stored.queued_at is not None:
                return stored.queued_at
        return datetime.now(UTC)

    async def get(self, task_id: str) -> Task | None:
        body = await self.client.get(self.task_key(task_id))
        return None if body is None else Task.model_validate_json(body)

    async def claimed_by(self, task_id: str) -> str | None:
        holder = await self.client.get(self.claim_key(task_id))
        return None if holder is None else holder.decode()

    async def claimed_at(self, task_id: str) -> datetime | None:
        """When the task's claim was taken (None: not claimed, or claimed before this was kept)."""
        at = await self.client.get(self.claimed_at_key(task_id))
        return None if at is None else datetime.fromtimestamp(float(at), UTC)

    async def claim(self, task: Task, agent_id: str, now: datetime | None = None) -> tuple[bool, str | None, bool]:
        """Atomically give ``task`` to ``agent_id``: (True, agent, ...) or (False, who has it; None
        if gone, False). The third: a claim past ``claim_by`` whose breach no sweep had recorded
        yet (it is recorded now, so it is counted once)."""
        now = now or datetime.now(UTC)
        late = task.claim_by is not None and now > task.claim_by
        notice = orjson.dumps({"change": "claimed", "task_id": task.task_id, "agent_id": agent_id})
        status, holder, *first_breach = await self._claim(
            keys=[
                self.task_key(task.task_id),
                self.claim_key(task.task_id),
                self.channel(task.queue),
                self.claimed_at_key(task.task_id),
                self.claim_watch_key(task.queue),
                self.breached_key(task.task_id, "claim"),
                self.resolve_watch_key(task.queue),
            ],
            args=[
                agent_id,
                int(task.expires_at.timestamp()),
                notice,
                repr(now.timestamp()),
                task.task_id,
                "1" if late else "0",
                "" if task.resolve_by is None else task.resolve_by.timestamp(),
            ],
        )
        holder = holder.decode() if isinstance(holder, bytes) else holder or None
        return status == 1, holder, bool(first_breach and first_breach[0])

    async def begin_close(self, task: Task, agent_id: str) -> CloseStart:
        """Take the right to close ``task`` (its claimer only, one close at a time), for
        ``CLOSING_SECONDS`` at most: the outcome is sent once, by the close that goes on."""
        started = await self._begin_close(
            keys=[self.claim_key(task.task_id), self.closing_key(task.task_id)], args=[agent_id, CLOSING_SECONDS]
        )
        return CloseStart(started)

    async def abort_close(self, task: Task) -> None:
        """Give up the close :meth:`begin_close` took (its outcome could not be sent): it may be tried again."""
        await self.client.delete(self.closing_key(task.task_id))

    async def close(self, task: Task, agent_id: str, change: str) -> bool:
        """Take ``task`` off its queue (completed or dismissed) if ``agent_id`` holds its claim; it
        stays closed to its rule's revisions until its cool-down ends (``updates_until``)."""
        notice = orjson.dumps({"change": change, "task_id": task.task_id, "agent_id": agent_id})
        closed = {"change": change, "agent_id": agent_id, "at": datetime.now(UTC).isoformat()}
        until = max(task.expires_at, task.updates_until or task.expires_at)
        done = await self._close(
            keys=[
                self.task_key(task.task_id),
                self.claim_key(task.task_id),
                self.queue_key(task.queue),
                self.expiry_key(task.queue),
                self.channel(task.queue),
                self.closing_key(task.task_id),
                self.claimed_at_key(task.task_id),
                self.escalated_key(task.task_id),
                self.breached_key(task.task_id, "claim"),
                self.resolve_watch_key(task.queue),
                self.breached_key(task.task_id, "resolve"),
                self.closed_key(task.task_id),
                self.customer_tasks_key(task.customer_id),
            ],
            args=[agent_id, task.task_id, notice, orjson.dumps(closed), int(until.timestamp()) + 1],
        )
        return bool(done)

    async def customer_task_ids(self, customer_id: str) -> list[str]:
        """The ids of the customer's tasks not closed and not known to have expired (some may have since)."""
        return [member.decode() for member in await self.client.zrange(self.customer_tasks_key(customer_id), 0, -1)]

    async def close_superseded(self, closure: TaskClosure) -> list[str]:
        """Take the customer's open tasks with the closure's actions, made before the closure's
        fact, off their queues; announce each."""
        customer_tasks = self.customer_tasks_key(closure.customer_id)
        ids = await self.customer_task_ids(closure.customer_id)
        bodies = await self.client.mget([self.task_key(task_id) for task_id in ids]) if ids else []
        closed = []
        for task_id, body in zip(ids, bodies, strict=True):
            if body is None:
                await self.client.zrem(customer_tasks, task_id)  # expired, or superseded by a closure before
                continue
            task = Task.model_validate_json(body)
            # only tasks the new fact came after: a closure processed late (partitions are read
            # in no order between them) must not take a task made from a later event
            if task.action not in closure.actions or task.created_at > closure.at:
                continue
            notice = orjson.dumps({"change": "superseded", "task_id": task_id, "reason": closure.reason})
            async with self.client.pipeline(transaction=True) as pipe:
                for key in (
                    self.queue_key(task.queue),
                    self.expiry_key(task.queue),
                    self.deferred_key(task.queue),
                    self.claim_watch_key(task.queue),
                    self.resolve_watch_key(task.queue),
                ):
                    pipe.zrem(key, task_id)
                pipe.delete(self.task_key(task_id), self.claim_key(task_id))
                pipe.zrem(customer_tasks, task_id)
                pipe.publish(self.channel(task.queue), notice)
                await pipe.execute()
            closed.append(task_id)
        return closed

    async def remove_expired(self, queue: str, now: datetime | None = None) -> list[str]:
        """Drop the tasks of ``queue`` whose time has passed; announce each."""
        now_epoch = int((now or datetime.now(UTC)).timestamp())
        expired = [member.decode() for member in await self.client.zrangebyscore(self.expiry_key(queue), 0, now_epoch)]
        if expired:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.zrem(self.queue_key(queue), *expired)
                pipe.zrem(self.expiry_key(queue), *expired)
                pipe.zrem(self.deferred_key(queue), *expired)
                pipe.zrem(self.claim_watch_key(queue), *expired)
                pipe.zrem(self.resolve_watch_key(queue), *expired)
                pipe.delete(*(self.task_key(task_id) for task_id in expired))
                pipe.delete(*(self.revision_key(task_id) for task_id in expired))
                for task_id in expired:
                    pipe.publish(self.channel(queue), orjson.dumps({"change": "expired", "task_id": task_id}))
                await pipe.execute()
        return expired

    async def release_deferred(self, queue: str, now: datetime | None = None) -> list[str]:
        """Announce the deferred tasks of ``queue`` whose ``not_before`` has come."""
        now_epoch = int((now or datetime.now(UTC)).timestamp())
        due = [member.decode() for member in await self.client.zrangebyscore(self.deferred_key(queue), 0, now_epoch)]
        if due:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.zrem(self.deferred_key(queue), *due)
                for task_id in due:
                    pipe.publish(self.channel(queue), orjson.dumps({"change": "visible", "task_id": task_id}))
                await pipe.execute()
        return due

    async def waiting(self, queue: str, now: datetime | None = None) -> tuple[int, datetime | None]:
        """How many of ``queue``'s tasks wait for an agent (visible, unclaimed), and when the
        oldest of them reached the queue (None: none waits); read from the index, no task bodies."""
        now = now or datetime.now(UTC)
        members = await self.client.zrange(self.queue_key(queue), 0, -1, withscores=True)
        if not members:
            return 0, None
        deferred = {
            m.decode() for m in await self.client.zrangebyscore(self.deferred_key(queue), now.timestamp(), "+inf")
        }
        claims = await self.client.mget([self.claim_key(member.decode()) for member, _ in members])
        queued = [
            _SCORE_SPAN - int(score) % _SCORE_SPAN  # queue_score keeps the second it reached the queue
            for (member, score), claim in zip(members, claims, strict=True)
            if claim is None and member.decode() not in deferred
        ]
        return len(queued), datetime.fromtimestamp(min(queued), UTC) if queued else None

    def escalated_key(self, task_id: str) -> str:
        return f"{self.prefix}:escalated:{task_id}"

    def closed_key(self, task_id: str) -> str:
        return f"{self.prefix}:closed:{task_id}"

    def after_close_key(self, task_id: str) -> str:
        return f"{self.prefix}:after_close:{task_id}"

    def claim_watch_key(self, queue: str) -> str:
        return f"{self.prefix}:claim_watch:{queue}"

    def resolve_watch_key(self, queue: str) -> str:
        return f"{self.prefix}:resolve_watch:{queue}"

    def breached_key(self, task_id: str, stage: str) -> str:
        return f"{self.prefix}:breached:{stage}:{task_id}"

    async def breach(self, task: Task, stage: str) -> bool:
        """Record that ``task`` missed a deadline and announce it (``breached``): ``claim``, still
        unclaimed past ``claim_by``; ``resolve``, claimed and still open past ``resolve_by``. True
        for the one caller that does it first, across gateways; False if done already, or the task
        is gone or not in that state."""
        notice = orjson.dumps({"change": "breached", "task_id": task.task_id, "stage": stage})
        keys = [
            self.task_key(task.task_id),
            self.claim_key(task.task_id),
            self.breached_key(task.task_id, stage),
            self.channel(task.queue),
        ]
        return bool(await self._breach(keys=keys, args=[notice, int(task.expires_at.timestamp()), stage]))

    async def due_for_resolving(self, queue: str, now: datetime, limit: int = WATCH_BATCH) -> list[Task]:
        """The claimed tasks of ``queue`` still open past their ``resolve_by`` (at most ``limit``),
        taken out of the resolve watch: each is looked at once."""
        key = self.resolve_watch_key(queue)
        ids = [m.decode() for m in await self.client.zrangebyscore(key, "-inf", now.timestamp(), 0, limit)]
        if not ids:
            return []
        bodies = await self.client.mget([self.task_key(task_id) for task_id in ids])
        await self.client.zrem(key, *ids)
        return [task for _, task in _readable(ids, bodies)]

    async def due_for_a_look(
        self, queue: str, now: datetime, limit: int = WATCH_BATCH
    ) -> list[tuple[Task, str | None]]:
        """The tasks of ``queue`` the sweep is to look at by ``now`` (at most ``limit``, the
        longest waiting first), each with who holds its claim; ids whose task is gone leave."""
        key = self.claim_watch_key(queue)
        ids = [m.decode() for m in await self.client.zrangebyscore(key, "-inf", now.timestamp(), 0, limit)]
        if not ids:
            return []
        bodies = await self.client.mget([self.task_key(task_id) for task_id in ids])
        claims = dict(zip(ids, await self.client.mget([self.claim_key(task_id) for task_id in ids]), strict=True))
        readable = _readable(ids, bodies)
        gone = set(ids) - {task_id for task_id, _ in readable}  # no task, or none a model can read
        if gone:
            await self.client.zrem(key, *gone)
        return [(task, None if claims[task_id] is None else claims[task_id].decode()) for task_id, task in readable]

    async def look_again(self, task: Task, at: datetime | None) -> None:
        """When the sweep is to look at unclaimed ``task`` next (None: never, it has no stage left).
        A task claimed meanwhile stays out."""
        key = self.claim_watch_key(task.queue)
        if at is None:
            await self.client.zrem(key, task.task_id)
        else:
            await self.client.zadd(key, {task.task_id: at.timestamp()}, xx=True)

    async def index_deadlines(self, queue: str, now: datetime | None = None) -> int:
        """Put ``queue``'s open unclaimed tasks with a ``claim_by`` in the claim watch, and its claimed
        ones with a ``resolve_by`` in the resolve watch, those there already kept as they are (tasks
        written before the watches existed); how many unclaimed ones were added."""
        open_tasks = await self.open_tasks(queue, now)
        unclaimed = {t.task_id: t.claim_by.timestamp() for t, holder in open_tasks if holder is None and t.claim_by}
        claimed = {t.task_id: t.resolve_by.timestamp() for t, holder in open_tasks if holder and t.resolve_by}
        if claimed:
            await self.client.zadd(self.resolve_watch_key(queue), claimed, nx=True)
        return cast(int, await self.client.zadd(self.claim_watch_key(queue), unclaimed, nx=True)) if unclaimed else 0

    async def escalate(self, task: Task, stage: int, points: int, at: datetime) -> bool:
        """Raise unclaimed ``task`` to escalation ``stage`` (its stages add ``points`` in all), once
        whichever gateway asks first; announced as ``escalated``. False: done already, claimed, gone."""
        escalation = {"stage": stage, "points": points, "at": at.timestamp()}
        notice = orjson.dumps({"change": "escalated", "task_id": task.task_id, **escalation})
        escalated = await self._escalate(
            keys=[
                self.task_key(task.task_id),
                self.claim_key(task.task_id),
                self.queue_key(task.queue),
                self.escalated_key(task.task_id),
                self.channel(task.queue),
            ],
            args=[task.task_id, stage, points, int(task.expires_at.timestamp()), notice, orjson.dumps(escalation)],
        )
        return bool(escalated)

    async def escalations(self, task_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The escalation of each of ``task_ids`` that has one: ``{"stage", "points", "at"}``."""
        found = await self.client.mget([self.escalated_key(task_id) for task_id in task_ids]) if task_ids else []
        return {task_id: orjson.loads(body) for task_id, body in zip(task_ids, found, strict=True) if body}

    def recent_key(self, queue: str, kind: str) -> str:
        return f"{self.prefix}:{kind}:{queue}"

    async def record(self, queue: str, kind: str, at: datetime, entry: dict[str, Any]) -> None:
        """Keep ``entry`` (a claim or a close) in ``queue``'s last hour of ``kind`` for supervisors."""
        key = self.recent_key(queue, kind)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {orjson.dumps(entry): at.timestamp()})
            pipe.zremrangebyscore(key, 0, at.timestamp() - RECENT_SECONDS)
            pipe.expire(key, RECENT_SECONDS)
            await pipe.execute()

    async def recent(self, queue: str, kind: str, now: datetime | None = None) -> list[dict[str, Any]]:
        """``queue``'s claims or closes of the last hour, oldest first."""
        now = now or datetime.now(UTC)
        entries = await self.client.zrangebyscore(
            self.recent_key(queue, kind), now.timestamp() - RECENT_SECONDS, "+inf"
        )
        return [orjson.loads(entry) for entry in cast(list[bytes], entries)]  # members are bytes (no decoding)

    async def open_tasks(
        self, queue: str, now: datetime | None = None, limit: int | None = None
    ) -> list[tuple[Task, str | None]]:
        """``queue``'s visible open tasks, most urgent first (the first ``limit``), each with who holds its claim."""
        tasks = await self.list_queue(queue, now, limit=limit)
        claims = await self.client.mget([self.claim_key(task.task_id) for task in tasks]) if tasks else []
        return [(task, None if claim is None else claim.decode()) for task, claim in zip(tasks, claims, strict=True)]

    async def list_queue(self, queue: str, now: datetime | None = None, limit: int | None = 100) -> list[Task]:
        """The queue's visible tasks, most urgent first: not expired, and past their ``not_before``.

        Read a page at a time from the top of the queue until ``limit`` are visible, so a long
        queue costs a listing about ``limit`` bodies, not all of them."""
        now = now or datetime.now(UTC)
        await self.remove_expired(queue, now)
        page = limit or 0  # 0: all in one reading
        visible: list[Task] = []
        start = 0
        while limit is None or len(visible) < limit:
            ids = await self.client.zrevrange(self.queue_key(queue), start, start + page - 1 if page else -1)
            if not ids:
                break
            bodies = await self.client.mget([self.task_key(task_id.decode()) for task_id in ids])
            tasks = [Task.model_validate_json(body) for body in bodies if body is not None]
            visible += [task for task in tasks if task.not_before is None or task.not_before <= now]
            if not page or len(ids) < page:
                break
            start += page
        return visible[:limit]

"""The supervisor view: the ``/supervisor`` page and the API it reads, over the queues a
supervisor token watches (an agent token gets 403 here).

    GET /supervisor                the supervisor page (desktop/static/supervisor.html)
    GET /api/supervisor/queues     per queue: what waits, what is worked, the last hour's service level
    GET /api/supervisor/breaches   open tasks past the deadline that counts now, most urgent first, a page
                                   at a time (?offset=, ?limit= up to 200; 50 by default), with the total
    GET /api/supervisor/agents     per agent: the last hour's claims and closes, what it holds now
    GET /api/supervisor/rules      per queue and rule version: how agents treated its tasks

The last hour's figures come from the claims and closes the gateway keeps as agents work
(:func:`record_claim`, :func:`record_close`) in Redis, so every gateway answers the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from ctxi.desktop import STATIC
from ctxi.gateway.api import QUEUES, REDIS_UNREACHABLE, ROLE, STORE, ApiError, json_response, shown_task, waited
from ctxi.rules.report import RuleUsefulness, rule_usefulness
from ctxi.schemas.task import Task, TaskOutcome
from ctxi.sinks.redis import RECENT_SECONDS, RedisTaskStore

logger = logging.getLogger(__name__)
TOP_REASONS = 3  # dismissal reasons shown per rule


class SharedReads:
    """A queue's open tasks for the supervisor routes, read once for every request that asks
    while a reading is under way: a supervisor page asks four routes at once on every change,
    several pages may be open, and reading a queue's open tasks reads every body (150 ms at
    5,000). A request gets the reading under way when it asks, else a new one: never one that
    had ended before it asked."""

    def __init__(self, store: RedisTaskStore) -> None:
        self.store = store
        self._under_way: dict[str, asyncio.Future[list[tuple[Task, str | None]]]] = {}

    async def open_tasks(self, queue: str) -> list[tuple[Task, str | None]]:
        reading = self._under_way.get(queue)
        if reading is None or reading.done():
            reading = asyncio.ensure_future(self.store.open_tasks(queue))
            self._under_way[queue] = reading
        return await asyncio.shield(reading)  # one request going away does not end the others' reading


READS = web.AppKey("supervisor_reads", SharedReads)


class ClosedTask(TaskOutcome):
    """A close as the supervisor view keeps it: the outcome sent, when its task reached the queue, and
    whether it came past ``resolve_by`` (None: the task had none)."""

    queued_at: datetime | None = None
    late: bool | None


async def record_claim(store: RedisTaskStore, task: Task, agent_id: str, late: bool | None) -> None:
    """Keep a claim: how long the task waited from reaching its queue, and whether past its
    ``claim_by`` (None: it had none, and counts neither in time nor late)."""
    entry = {"task_id": task.task_id, "agent_id": agent_id, "waited": waited(task), "late": late}
    await _record(store, task.queue, "claims", datetime.now(UTC), entry)


async def record_close(
    store: RedisTaskStore, outcome: TaskOutcome, late: bool | None, queued_at: datetime | None
) -> None:
    closed = ClosedTask(**outcome.model_dump(), queued_at=queued_at, late=late)
    await _record(store, outcome.queue, "closes", outcome.at, closed.model_dump(mode="json"))


async def _record(store: RedisTaskStore, queue: str, kind: str, at: datetime, entry: dict[str, Any]) -> None:
    """Keep a claim or a close for the supervisor view; the action itself is done already, so
    Redis failing now costs the figures one entry, not the agent an error."""
    try:
        await store.record(queue, kind, at, entry)
    except REDIS_UNREACHABLE as exc:
        logger.warning("could not keep a %s of %s for the supervisor view: %s", kind, entry["task_id"], exc)


async def _closes(store: RedisTaskStore, queue: str, now: datetime) -> list[ClosedTask]:
    closes = []
    for entry in await store.recent(queue, "closes", now):
        try:
            closes.append(ClosedTask.model_validate(entry))
        except ValidationError:  # kept by an older gateway: gone within the hour
            logger.debug("skipping a close in an older form: %s", entry)
    return closes


def _supervisors_only(request: web.Request) -> None:
    if request[ROLE] != "supervisor":
        raise ApiError(403, "this needs a supervisor token")


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _seconds(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else max(0.0, (end - start).total_seconds())


def _breach(task: Task, holder: str | None, now: datetime) -> tuple[str, datetime] | None:
    """The deadline that counts now (claim until claimed, then resolve) if it has passed."""
    stage, deadline = ("resolve", task.resolve_by) if holder else ("claim", task.claim_by)
    return (stage, deadline) if deadline is not None and deadline < now else None


async def queues(request: web.Request) -> web.Response:
    """Per supervised queue: what waits, what is being worked, and the last hour's service level."""
    _supervisors_only(request)
    store, now = request.app[STORE], datetime.now(UTC)
    rows = []
    queues = request[QUEUES]
    for queue in sorted(queues):
        open_tasks = await request.app[READS].open_tasks(queue)
        waiting = [task for task, holder in open_tasks if holder is None]
        claims, closes = await store.recent(queue, "claims", now), await _closes(store, queue, now)
        to_resolve = [
            s for close in closes if (s := _seconds(close.queued_at or close.created_at, close.at)) is not None
        ]
        with_deadline = [claim["late"] for claim in claims if claim.get("late") is not None]
        rows.append(
            {
                "queue": queue,
                "backlog": len(waiting),
                "claimed": len(open_tasks) - len(waiting),
                "oldest_waiting_seconds": max((waited(task, now) for task in waiting), default=0.0),
                "claim_p50_seconds": _percentile([claim["waited"] for claim in claims], 0.5),
                "claim_p90_seconds": _percentile([claim["waited"] for claim in claims], 0.9),
                "resolve_p50_seconds": _percentile(to_resolve, 0.5),
                # over the claims of tasks that had a claim_by: none, no figure ("–"), not 100%
                "sla_attainment": (sum(not late for late in with_deadline) / len(with_deadline))
                if with_deadline
                else None,
                "breached": sum(1 for task, holder in open_tasks if _breach(task, holder, now)),
            }
        )
    return json_response({"queues": rows, "window_seconds": RECENT_SECONDS})


BREACHES_PAGE = 50  # breaching tasks in one answer unless ?limit= asks (at most MAX_BREACHES_PAGE)
MAX_BREACHES_PAGE = 200


def _page(request: web.Request) -> tuple[int, int]:
    """``?offset=`` and ``?limit=`` of a listing, checked."""
    try:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", str(BREACHES_PAGE)))
    except ValueError:
        raise ApiError(400, "offset and limit are whole numbers") from None
    if offset < 0 or not 1 <= limit <= MAX_BREACHES_PAGE:
        raise ApiError(400, f"offset is 0 or more, limit 1 to {MAX_BREACHES_PAGE}")
    return offset, limit


async def breaches(request: web.Request) -> web.Response:
    """The supervised queues' open tasks past their deadline, most urgent first (priority with
    any escalation, then the priority before it, then the longest wait), each with which deadline it missed: a page of
    them (``?offset=``, ``?limit=``, 50 by default), with how many there are in all. Once every
    one was sent each second: 1,004 breaching tasks were 1.45 MB per look."""
    _supervisors_only(request)
    offset, limit = _page(request)
    store, now = request.app[STORE], datetime.now(UTC)
    late = []  # (sort key, overdue seconds, task, holder, stage, deadline, escalation)
    queues = request[QUEUES]
    for queue in sorted(queues):
        open_tasks = await request.app[READS].open_tasks(queue)
        due = [(task, holder, b) for task, holder in open_tasks if (b := _breach(task, holder, now)) is not None]
        escalations = await store.escalations([task.task_id for task, _, _ in due])
        for task, holder, (stage, deadline) in due:
            escalation = escalations.get(task.task_id)
            priority = min(100, task.priority + escalation["points"]) if escalation else task.priority
            # after escalation several may show 100: the more urgent before it first, then the longer wait
            key = (-priority, -task.priority, -waited(task, now))
            late.append((key, (now - deadline).total_seconds(), task, holder, stage, deadline, escalation))
    late.sort(key=lambda entry: entry[0])
    page = [
        {
            **shown_task(task, holder, escalation),
            "breached": stage,
            "deadline": deadline.isoformat(),
            "overdue_seconds": overdue,
        }
        for _, overdue, task, holder, stage, deadline, escalation in late[offset : offset + limit]
    ]
    following = offset + limit if offset + limit < len(late) else None
    return json_response({"tasks": page, "total": len(late), "next_offset": following})


async def agents(request: web.Request) -> web.Response:
    """Per agent seen on the supervised queues: the last hour's claims and closes, and what it holds now."""
    _supervisors_only(request)
    store, now = request.app[STORE], datetime.now(UTC)
    rows: dict[str, dict[str, Any]] = {}

    def agent(agent_id: str) -> dict[str, Any]:
        empty = {"claimed": 0, "completed": 0, "dismissed": 0, "handle_times": [], "current_tasks": []}
        return rows.setdefault(agent_id, {"agent_id": agent_id, **empty})

    queues = request[QUEUES]
    for queue in sorted(queues):
        for claim in await store.recent(queue, "claims", now):
            agent(claim["agent_id"])["claimed"] += 1
        for close in await _closes(store, queue, now):
            row = agent(close.agent_id)
            row[close.outcome] += 1
            if (handled := _seconds(close.claimed_at, close.at)) is not None:
                row["handle_times"].append(handled)
        for task, holder in await request.app[READS].open_tasks(queue):
            if holder is not None:
                agent(holder)["current_tasks"].append({"task_id": task.task_id, "queue": queue, "title": task.title})
    shown = []
    for row in sorted(rows.values(), key=lambda row: row["agent_id"]):
        handle_times = row.pop("handle_times")
        shown.append({**row, "median_handle_seconds": _percentile(handle_times, 0.5)})
    return json_response({"agents": shown, "window_seconds": RECENT_SECONDS})


async def rules(request: web.Request) -> web.Response:
    """Per supervised queue and rule version: its open tasks and how agents closed its tasks in
    the last hour, flagged as not useful as ``ctxi rules report`` flags it."""
    _supervisors_only(request)
    store, now = request.app[STORE], datetime.now(UTC)
    queues_shown = []
    queues = request[QUEUES]
    for queue in sorted(queues):
        open_tasks = await request.app[READS].open_tasks(queue)
        open_by_rule = Counter((task.rule_id, task.rule_version) for task, _ in open_tasks)
        # times from when each task reached its queue, as the tiles count them (the outcomes on
        # the topic, which `ctxi rules report` reads, carry only the task's creation)
        closes = [
            close.model_copy(update={"created_at": close.queued_at or close.created_at})
            for close in await _closes(store, queue, now)
        ]
        closed = {(row.rule_id, row.rule_version): row for row in rule_usefulness([], closes)}
        # fired again inside the cool-down of a task an agent had closed: kept with it, not reopened
        kept = Counter((e["rule_id"], e["rule_version"]) for e in await store.recent(queue, "kept_closed", now))
        rows = [
            {**_usefulness(closed.get(key) or RuleUsefulness(*key), open_by_rule[key]), "kept_closed": kept[key]}
            for key in sorted(set(open_by_rule) | set(closed) | set(kept))
        ]
        queues_shown.append({"queue": queue, "rules": rows})
    return json_response({"queues": queues_shown, "window_seconds": RECENT_SECONDS})


def _usefulness(row: RuleUsefulness, open_tasks: int) -> dict[str, Any]:
    median_claim, median_resolve = row.median_to_claim, row.median_to_resolve
    return {
        "rule_id": row.rule_id,
        "rule_version": row.rule_version,
        "open": open_tasks,
        "completed": row.completed,
        "dismissed": row.dismissed,
        "top_dismissal_reasons": [{"reason": reason, "count": count} for reason, count in row.top_reasons(TOP_REASONS)],
        "claim_p50_seconds": median_claim.total_seconds() if median_claim is not None else None,
        "resolve_p50_seconds": median_resolve.total_seconds() if median_resolve is not None else None,
        "not_useful": row.not_useful,
    }


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "supervisor.html")


def install(app: web.Application) -> None:
    """The supervisor page and routes, on an app holding the task store."""
    app[READS] = SharedReads(app[STORE])
    app.router.add_get("/supervisor", page)
    app.router.add_get("/api/supervisor/queues", queues)
    app.router.add_get("/api/supervisor/breaches", breaches)
    app.router.add_get("/api/supervisor/agents", agents)
    app.router.add_get("/api/supervisor/rules", rules)

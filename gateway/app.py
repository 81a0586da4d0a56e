"""The desktop gateway: the agent desktop page, and the HTTP API it uses to read, follow,
claim and close tasks.

Every ``/api/`` route needs ``Authorization: Bearer <token>``; an agent only sees and
works the queues its token allows. Errors are JSON: ``{"error": "..."}``. The page
itself (``/`` and ``/desktop/``) holds no data: it signs in with a token and calls the API.

    GET  /                              the agent desktop page (desktop/static/)
    GET  /api/me                        the agent and its queues
    GET  /api/queues/{queue}/tasks      visible tasks, most urgent first
    GET  /api/queues/{queue}/events     Server-Sent Events: added, claimed, completed, ...
    POST /api/tasks/{task_id}/claim     atomic: one agent wins, the others get 409
    POST /api/tasks/{task_id}/complete  {"outcome": "..."}   (the claimer only)
    POST /api/tasks/{task_id}/dismiss   {"reason": "..."}    (the claimer only)
    GET  /metrics                       Prometheus metrics (no token: no customer data in them)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import Histogram
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

import ctxi.desktop
from ctxi.gateway.auth import Directory
from ctxi.gateway.feed import ENDED, QueueFeed, TooManyStreams
from ctxi.gateway.metrics import (
    EVENT_STREAMS,
    SERVICE_LEVEL_BREACHES,
    TASK_ACTIONS,
    TIME_TO_CLAIM,
    TIME_TO_RESOLVE,
    measured,
    metrics,
)
from ctxi.prioritize.formula import priority_band
from ctxi.schemas.common import MAX_TEXT_LENGTH
from ctxi.schemas.task import Task, TaskOutcome
from ctxi.sinks.redis import RECENT_SECONDS, CloseStart, RedisTaskStore

logger = logging.getLogger(__name__)
OutcomeSender = Callable[[TaskOutcome], Awaitable[None]]

STORE = web.AppKey("store", RedisTaskStore)
DIRECTORY = web.AppKey("directory", Directory)
SEND_OUTCOME = web.AppKey("send_outcome", Callable)  # type: ignore[arg-type]
FOLLOWERS = web.AppKey("followers", set)  # the handler tasks of open event streams
FEED = web.AppKey("feed", QueueFeed)
KEEP_ALIVE_SECONDS = 15.0
MAX_BODY_BYTES = 64 * 1024  # a claim or a close carries a few words (MAX_TEXT_LENGTH at most)
AGENT = web.RequestKey("agent_id", str)
QUEUES = web.RequestKey("queues", frozenset)
ROLE = web.RequestKey("role", str)  # "agent" or "supervisor"

PAGE_DIR = Path(ctxi.desktop.__file__).parent / "static"
# The page runs only its own script and style and talks only to this origin, so a task
# text that slipped markup past the page's textContent rendering could still run nothing.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class ApiError(Exception):
    """A client error, answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


REDIS_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


def error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


@web.middleware
async def errors_as_json(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    try:
        return await handler(request)
    except ApiError as exc:
        return error(exc.status, exc.message)
    except web.HTTPException as exc:  # aiohttp's own: no such route, wrong method
        return error(exc.status, exc.reason)
    except REDIS_UNREACHABLE as exc:  # an outage, not a bug: the desktop retries
        logger.warning("task store unreachable on %s %s: %s", request.method, request.path, exc)
        return error(503, "the task store is unreachable; try again shortly")
    except Exception:  # a bug must answer 500, not take the gateway down
        logger.exception("gateway error on %s %s", request.method, request.path)
        return error(500, "internal error")


@web.middleware
async def authenticated(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    if not request.path.startswith("/api/"):
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    identity = request.app[DIRECTORY].authenticate(token) if scheme.lower() == "bearer" and token else None
    if identity is None:
        return error(401, "a valid agent token is required (Authorization: Bearer <token>)")
    request[AGENT], request[QUEUES], request[ROLE] = identity
    return await handler(request)


def _agents_only(request: web.Request) -> None:
    if request[ROLE] != "agent":
        raise ApiError(403, "a supervisor token watches queues; it cannot claim or close tasks")


def _supervisors_only(request: web.Request) -> None:
    if request[ROLE] != "supervisor":
        raise ApiError(403, "this needs a supervisor token")


def _allowed_queue(request: web.Request) -> str:
    queue = request.match_info["queue"]
    if queue not in request[QUEUES]:
        raise ApiError(403, f"this token may not use queue {queue!r}")
    return queue


async def _task_for(request: web.Request) -> Task:
    """The task named in the path, if this agent's queues hold it (else 404: nothing is revealed)."""
    task = await request.app[STORE].get(request.match_info["task_id"])
    if task is None or task.queue not in request[QUEUES]:
        raise ApiError(404, "no such task")
    return task


async def _text_field(request: web.Request, name: str) -> str:
    try:
        body = orjson.loads(await request.read())
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(
            413, f"the body is over {MAX_BODY_BYTES:,} bytes; {name!r} may have {MAX_TEXT_LENGTH:,} characters"
        ) from None
    except orjson.JSONDecodeError:
        raise ApiError(400, "the body must be JSON") from None
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"the body needs a non-empty string {name!r}")
    if len(value.strip()) > MAX_TEXT_LENGTH:
        raise ApiError(413, f"{name!r} has {len(value.strip()):,} characters; the limit is {MAX_TEXT_LENGTH:,}")
    return value.strip()


async def me(request: web.Request) -> web.Response:
    return json_response({"agent_id": request[AGENT], "queues": sorted(request[QUEUES]), "role": request[ROLE]})


async def list_tasks(request: web.Request) -> web.Response:
    queue = _allowed_queue(request)
    store = request.app[STORE]
    tasks = await store.list_queue(queue)
    claims = [await store.claimed_by(task.task_id) for task in tasks]
    escalations = await store.escalations([task.task_id for task in tasks])
    return json_response(
        {
            "queue": queue,
            "tasks": [_shown(t, c, escalations.get(t.task_id)) for t, c in zip(tasks, claims, strict=True)],
        }
    )


def _shown(task: Task, claimed_by: str | None, escalation: dict[str, Any] | None) -> dict[str, Any]:
    """A task as desktops read it: its band, who claims it, and its priority raised by an
    escalation (the stage, the points and when, for the breakdown's line)."""
    shown = {**task.model_dump(mode="json"), "claimed_by": claimed_by, "escalation": escalation}
    if escalation is not None:
        shown["priority"] = min(100, task.priority + escalation["points"])
    shown["band"] = priority_band(shown["priority"])
    return shown


async def follow(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: one ``data:`` line per change on the queue, as it happens.

    Should Redis go away the stream ends, and the desktop reconnects (answered 503 until
    Redis is back) and lists the queue again: changes made meanwhile are in that listing.
    """
    queue = _allowed_queue(request)
    try:
        async with request.app[FEED].follow(request[AGENT], queue) as notices:  # an outage answers 503 here
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await _relay(notices, response, queue, request.app)
    except TooManyStreams as exc:
        raise ApiError(429, f"{exc}; close one (another tab?) first") from None
    return response


async def _relay(notices: asyncio.Queue[bytes], response: web.StreamResponse, queue: str, app: web.Application) -> None:
    handler = asyncio.current_task()
    app[FOLLOWERS].add(handler)
    EVENT_STREAMS.inc()
    try:
        await response.write(b": following " + queue.encode() + b"\n\n")
        while True:
            try:
                notice = await asyncio.wait_for(notices.get(), timeout=KEEP_ALIVE_SECONDS)
            except TimeoutError:  # a comment line keeps proxies from closing a quiet stream
                await response.write(b": keep-alive\n\n")
                continue
            if notice == ENDED:
                return
            await response.write(b"data: " + notice + b"\n\n")
    except (ConnectionResetError, RuntimeError):
        pass  # the desktop went away
    finally:
        EVENT_STREAMS.dec()
        app[FOLLOWERS].discard(handler)


async def end_streams(app: web.Application) -> None:
    """On shutdown, end the open event streams: they never finish by themselves (desktops reconnect)."""
    for handler in list(app[FOLLOWERS]):
        handler.cancel()


async def claim(request: web.Request) -> web.Response:
    _agents_only(request)
    task = await _task_for(request)
    if task.not_before is not None and task.not_before > datetime.now(UTC):
        TASK_ACTIONS.labels("claim", "deferred").inc()
        raise ApiError(409, f"the task is deferred until {task.not_before.isoformat()}; it cannot be claimed before")
    won, holder = await request.app[STORE].claim(task, request[AGENT])
    TASK_ACTIONS.labels("claim", "won" if won else "missing" if holder is None else "taken").inc()
    if won:
        late = _measure_wait(task, "claim", TIME_TO_CLAIM, task.claim_by)
        await _record(
            request,
            task.queue,
            "claims",
            datetime.now(UTC),
            {
                "task_id": task.task_id,
                "agent_id": request[AGENT],
                "waited": _waited(task),
                "late": late,
            },
        )
        return json_response({"task_id": task.task_id, "claimed_by": request[AGENT]})
    if holder is None:
        return error(404, "no such task")
    return json_response({"error": "already claimed", "claimed_by": holder}, 409)


def _waited(task: Task) -> float:
    """Seconds since ``task`` was created (none when a source's clock runs ahead of ours)."""
    return max(0.0, (datetime.now(UTC) - task.created_at).total_seconds())


def _measure_wait(task: Task, stage: str, waited: Histogram, deadline: datetime | None) -> bool:
    """How long ``task`` waited for this stage; True (a breach, counted) when past its deadline."""
    waited.labels(task.queue).observe(_waited(task))
    late = deadline is not None and datetime.now(UTC) > deadline
    if late:
        SERVICE_LEVEL_BREACHES.labels(task.queue, stage).inc()
    return late


async def _close(request: web.Request, change: str, field: str) -> web.Response:
    _agents_only(request)
    task = await _task_for(request)
    detail = await _text_field(request, field)
    store = request.app[STORE]
    # One close at a time: of concurrent closes by the claimer, the first goes on, the
    # others are refused, so the outcome is sent once, for the close that happens.
    started = await store.begin_close(task, request[AGENT])
    if started is not CloseStart.STARTED:
        TASK_ACTIONS.labels(change, "refused").inc()
        if started is CloseStart.NOT_CLAIMER:
            return error(409, "claim the task before closing it")
        return error(409, "the task is being closed already")
    outcome = TaskOutcome(
        task_id=task.task_id,
        customer_id=task.customer_id,
        queue=task.queue,
        action=task.action,
        rule_id=task.rule_id,
        rule_version=task.rule_version,
        agent_id=request[AGENT],
        outcome=change,
        detail=detail,
        at=datetime.now(UTC),
        created_at=task.created_at,
        claimed_at=await request.app[STORE].claimed_at(task.task_id),
    )

    async def send_then_close() -> bool:
        try:
            await request.app[SEND_OUTCOME](outcome)  # first: an outcome is never lost once the task is gone
        except BaseException:
            await store.abort_close(task)  # the agent may try again
            raise
        return await store.close(task, request[AGENT], change)

    # shielded: a desktop that goes away mid-close must not leave an outcome sent for a task still open
    if not await asyncio.shield(send_then_close()):
        TASK_ACTIONS.labels(change, "refused").inc()
        return error(409, "the task changed hands while closing it")
    TASK_ACTIONS.labels(change, "done").inc()
    late = _measure_wait(task, "resolve", TIME_TO_RESOLVE, task.resolve_by)
    handled = (outcome.at - outcome.claimed_at).total_seconds() if outcome.claimed_at else None
    await _record(
        request,
        task.queue,
        "closes",
        outcome.at,
        {
            "task_id": task.task_id,
            "agent_id": request[AGENT],
            "outcome": change,
            "waited": _waited(task),
            "handled": handled,
            "late": late,
        },
    )
    return json_response(outcome.model_dump(mode="json"))


async def _record(request: web.Request, queue: str, kind: str, at: datetime, entry: dict[str, Any]) -> None:
    """Keep a claim or a close for the supervisor view; the action itself is done already, so
    Redis failing now costs the figures one entry, not the agent an error."""
    try:
        await request.app[STORE].record(queue, kind, at, entry)
    except REDIS_UNREACHABLE as exc:
        logger.warning("could not keep a %s of %s for the supervisor view: %s", kind, entry["task_id"], exc)


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def supervisor_queues(request: web.Request) -> web.Response:
    """Per supervised queue: what waits, what is being worked, and the last hour's service level."""
    _supervisors_only(request)
    store, now = request.app[STORE], datetime.now(UTC)
    queues = []
    for queue in sorted(request[QUEUES]):
        open_tasks = await store.open_tasks(queue, now)
        waiting = [task for task, holder in open_tasks if holder is None]
        claims, closes = await store.recent(queue, "claims", now), await store.recent(queue, "closes", now)
        queues.append(
            {
                "queue": queue,
                "backlog": len(waiting),
                "claimed": len(open_tasks) - len(waiting),
                "oldest_waiting_seconds": max((_waited(task) for task in waiting), default=0.0),
                "claim_p50_seconds": _percentile([c["waited"] for c in claims], 0.5),
                "claim_p90_seconds": _percentile([c["waited"] for c in claims], 0.9),
                "resolve_p50_seconds": _percentile([c["waited"] for c in closes], 0.5),
                "sla_attainment": (sum(not c["late"] for c in claims) / len(claims)) if claims else None,
                "breached": sum(
                    1
                    for task, holder in open_tasks
                    if (deadline := task.resolve_by if holder else task.claim_by) is not None and deadline < now
                ),
            }
        )
    return json_response({"queues": queues, "window_seconds": RECENT_SECONDS})


async def supervisor_agents(request: web.Request) -> web.Response:
    """Per agent seen on the supervised queues: the last hour's claims and closes, and what it holds now."""
    _supervisors_only(request)
    store, now = request.app[STORE], datetime.now(UTC)
    agents: dict[str, dict[str, Any]] = {}

    def agent(agent_id: str) -> dict[str, Any]:
        return agents.setdefault(
            agent_id,
            {
                "agent_id": agent_id,
                "claimed": 0,
                "completed": 0,
                "dismissed": 0,
                "handle_times": [],
                "current_tasks": [],
            },
        )

    for queue in sorted(request[QUEUES]):
        for claim_entry in await store.recent(queue, "claims", now):
            agent(claim_entry["agent_id"])["claimed"] += 1
        for close in await store.recent(queue, "closes", now):
            row = agent(close["agent_id"])
            row[close["outcome"]] += 1
            if close["handled"] is not None:
                row["handle_times"].append(close["handled"])
        for task, holder in await store.open_tasks(queue, now):
            if holder is not None:
                agent(holder)["current_tasks"].append({"task_id": task.task_id, "queue": queue, "title": task.title})
    rows = []
    for row in sorted(agents.values(), key=lambda row: row["agent_id"]):
        handle_times = row.pop("handle_times")
        rows.append({**row, "median_handle_seconds": _percentile(handle_times, 0.5)})
    return json_response({"agents": rows, "window_seconds": RECENT_SECONDS})


async def complete(request: web.Request) -> web.Response:
    return await _close(request, "completed", "outcome")


async def dismiss(request: web.Request) -> web.Response:
    return await _close(request, "dismissed", "reason")


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGE_DIR / "index.html")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Server"] = "ctxi"  # no versions for whoever probes
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"  # customer data: never kept by a browser or a proxy
    else:
        response.headers["Content-Security-Policy"] = PAGE_POLICY
        response.headers["Cache-Control"] = "no-cache"  # a new release's page is picked up at once


async def close_feed(app: web.Application) -> None:
    await app[FEED].close()


def create_app(
    store: RedisTaskStore, directory: Directory, send_outcome: OutcomeSender, max_streams_per_agent: int
) -> web.Application:
    app = web.Application(middlewares=[measured, errors_as_json, authenticated], client_max_size=MAX_BODY_BYTES)
    app[STORE], app[DIRECTORY], app[SEND_OUTCOME] = store, directory, send_outcome
    app[FEED] = QueueFeed(store, max_streams_per_agent)
    app.on_cleanup.append(close_feed)
    app[FOLLOWERS] = set()
    app.on_response_prepare.append(security_headers)
    app.on_shutdown.append(end_streams)
    app.router.add_get("/", page)
    app.router.add_static("/desktop/", PAGE_DIR)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/queues/{queue}/tasks", list_tasks)
    app.router.add_get("/api/queues/{queue}/events", follow)
    app.router.add_post("/api/tasks/{task_id}/claim", claim)
    app.router.add_post("/api/tasks/{task_id}/complete", complete)
    app.router.add_post("/api/tasks/{task_id}/dismiss", dismiss)
    app.router.add_get("/api/supervisor/queues", supervisor_queues)
    app.router.add_get("/api/supervisor/agents", supervisor_agents)
    return app

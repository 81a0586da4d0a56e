"""The desktop gateway: the agent desktop page, and the HTTP API it uses to read, follow,
claim and close tasks; the supervisor view's routes are in ``supervisor.py``.

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
    GET  /supervisor, /api/supervisor/  the supervisor view (supervisor.py)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
from aiohttp import web
from prometheus_client import Histogram

from ctxi.desktop import STATIC
from ctxi.gateway import customers, supervisor
from ctxi.gateway.api import (
    AGENT,
    LOOKUP,
    QUEUES,
    REDIS_UNREACHABLE,
    ROLE,
    STORE,
    ApiError,
    error,
    json_response,
    shown_task,
    waited,
)
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
from ctxi.schemas.common import MAX_TEXT_LENGTH
from ctxi.schemas.task import Task, TaskOutcome
from ctxi.sinks.customer_view_store import CustomerViewStore
from ctxi.sinks.redis import CloseStart, RedisTaskStore

logger = logging.getLogger(__name__)
OutcomeSender = Callable[[TaskOutcome], Awaitable[None]]

DIRECTORY = web.AppKey("directory", Directory)
SEND_OUTCOME: web.AppKey[OutcomeSender] = web.AppKey("send_outcome")
FOLLOWERS = web.AppKey("followers", set)  # the handler tasks of open event streams
FEED = web.AppKey("feed", QueueFeed)
KEEP_ALIVE_SECONDS = 15.0
LISTED_TASKS = 100  # a queue's listing: the most urgent this many
MAX_BODY_BYTES = 64 * 1024  # a claim or a close carries a few words (MAX_TEXT_LENGTH at most)

# The pages run only their own scripts and styles and talk only to this origin, so a task
# text that slipped markup past the page's textContent rendering could still run nothing.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


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
    request[AGENT], request[QUEUES], request[ROLE], request[LOOKUP] = identity
    return await handler(request)


def _agents_only(request: web.Request) -> None:
    if request[ROLE] != "agent":
        raise ApiError(403, "a supervisor token watches queues; it cannot claim or close tasks")


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
    queues = request[QUEUES]
    return json_response(
        {
            "agent_id": request[AGENT],
            "queues": sorted(queues),
            "role": request[ROLE],
            "customer_lookup": request[LOOKUP],
        }
    )


async def list_tasks(request: web.Request) -> web.Response:
    queue = _allowed_queue(request)
    store = request.app[STORE]
    listed = await store.open_tasks(queue, limit=LISTED_TASKS)
    escalations = await store.escalations([task.task_id for task, _ in listed])
    return json_response(
        {"queue": queue, "tasks": [shown_task(task, holder, escalations.get(task.task_id)) for task, holder in listed]}
    )


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
    followers = app[FOLLOWERS]
    for handler in list(followers):
        handler.cancel()


async def claim(request: web.Request) -> web.Response:
    _agents_only(request)
    task = await _task_for(request)
    if task.not_before is not None and task.not_before > datetime.now(UTC):
        TASK_ACTIONS.labels("claim", "deferred").inc()
        raise ApiError(409, f"the task is deferred until {task.not_before.isoformat()}; it cannot be claimed before")
    won, holder, first_breach = await request.app[STORE].claim(task, request[AGENT])
    TASK_ACTIONS.labels("claim", "won" if won else "missing" if holder is None else "taken").inc()
    if won:
        late = _measure_wait(task, TIME_TO_CLAIM, task.claim_by)
        if first_breach:  # late, and no sweep had seen it unclaimed past claim_by: counted here
            SERVICE_LEVEL_BREACHES.labels(task.queue, "claim").inc()
        await supervisor.record_claim(request.app[STORE], task, request[AGENT], late)
        return json_response({"task_id": task.task_id, "claimed_by": request[AGENT]})
    if holder is None:
        return error(404, "no such task")
    return json_response({"error": "already claimed", "claimed_by": holder}, 409)


def _measure_wait(task: Task, histogram: Histogram, deadline: datetime | None) -> bool | None:
    """How long ``task`` waited for this stage; whether past its deadline (None: it had none)."""
    histogram.labels(task.queue).observe(waited(task))
    return None if deadline is None else datetime.now(UTC) > deadline


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
    # past resolve_by with no sweep having seen it yet: the breach is recorded (and counted) now,
    # while the task is still open, so that it counts once
    if task.resolve_by is not None and datetime.now(UTC) > task.resolve_by and await store.breach(task, "resolve"):
        SERVICE_LEVEL_BREACHES.labels(task.queue, "resolve").inc()
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
        revision=task.revision,
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
    late = _measure_wait(task, TIME_TO_RESOLVE, task.resolve_by)
    await supervisor.record_close(store, outcome, late, task.queued_at)
    await _keep_for_customer_view(request, outcome)
    return json_response(outcome.model_dump(mode="json"))


async def _keep_for_customer_view(request: web.Request, outcome: TaskOutcome) -> None:
    """Keep the close among the customer's latest, for their view; the close is done already, so
    Redis failing now costs the view one entry, not the agent an error."""
    kept = outcome.model_dump(
        mode="json", include={"task_id", "queue", "action", "agent_id", "outcome", "detail", "at"}
    )
    try:
        await request.app[customers.CUSTOMERS].keep_close(outcome.customer_id, kept)
    except REDIS_UNREACHABLE as exc:
        logger.warning("could not keep the close of %s for the customer view: %s", outcome.task_id, exc)


async def complete(request: web.Request) -> web.Response:
    return await _close(request, "completed", "outcome")


async def dismiss(request: web.Request) -> web.Response:
    return await _close(request, "dismissed", "reason")


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


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
    store: RedisTaskStore,
    directory: Directory,
    send_outcome: OutcomeSender,
    max_streams_per_agent: int,
    customer_views: CustomerViewStore,
) -> web.Application:
    app = web.Application(middlewares=[measured, errors_as_json, authenticated], client_max_size=MAX_BODY_BYTES)
    app[STORE], app[DIRECTORY], app[SEND_OUTCOME] = store, directory, send_outcome
    app[FEED] = QueueFeed(store, max_streams_per_agent)
    app.on_cleanup.append(close_feed)
    app[FOLLOWERS] = set()
    app.on_response_prepare.append(security_headers)
    app.on_shutdown.append(end_streams)
    app.router.add_get("/", page)
    app.router.add_static("/desktop/", STATIC)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/queues/{queue}/tasks", list_tasks)
    app.router.add_get("/api/queues/{queue}/events", follow)
    app.router.add_post("/api/tasks/{task_id}/claim", claim)
    app.router.add_post("/api/tasks/{task_id}/complete", complete)
    app.router.add_post("/api/tasks/{task_id}/dismiss", dismiss)
    supervisor.install(app)
    customers.install(app, customer_views)
    return app

"""The gateway's Prometheus metrics (prometheus-client), served at ``GET /metrics``.

A registry of its own, so a gateway and a worker in one process (tests) never mix their
series. Labels are bounded: a route's pattern (``/api/tasks/{task_id}/claim``, never the
id), the method, the status code, the action and its result.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

REQUESTS = Counter(
    "ctxi_gateway_requests",
    "HTTP requests answered, by route pattern, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "ctxi_gateway_request_seconds",
    "Time to answer a request, by route pattern (event streams excluded: they last as long as the desktop).",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
EVENT_STREAMS = Gauge(
    "ctxi_gateway_event_streams", "Desktops following a queue right now (open SSE streams).", registry=REGISTRY
)
TASK_ACTIONS = Counter(
    "ctxi_gateway_task_actions",
    "What agents did: claim (won, taken, missing), completed and dismissed (done, refused).",
    ["action", "result"],
    registry=REGISTRY,
)
# service levels (service_levels/policy.py): how long tasks wait, per queue (a bounded set)
_WAIT_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)
TIME_TO_CLAIM = Histogram(
    "ctxi_gateway_time_to_claim_seconds",
    "From a task's creation to an agent's claim, per queue.",
    ["queue"],
    buckets=_WAIT_BUCKETS,
    registry=REGISTRY,
)
TIME_TO_RESOLVE = Histogram(
    "ctxi_gateway_time_to_resolve_seconds",
    "From a task's creation to its completion or dismissal, per queue.",
    ["queue"],
    buckets=_WAIT_BUCKETS,
    registry=REGISTRY,
)
SERVICE_LEVEL_BREACHES = Counter(
    "ctxi_gateway_service_level_breaches",
    "Missed deadlines, once per task and stage, when seen: unclaimed past claim_by (claim), "
    "open past resolve_by (resolve).",
    ["queue", "stage"],
    registry=REGISTRY,
)
ESCALATIONS = Counter(
    "ctxi_gateway_escalations",
    "Unclaimed tasks escalated, per queue and stage (each once, by whichever gateway got there first).",
    ["queue", "stage"],
    registry=REGISTRY,
)
QUEUE_BACKLOG = Gauge(
    "ctxi_gateway_queue_backlog",
    "Open tasks nobody has claimed, visible now (not deferred), per queue; every sweep.",
    ["queue"],
    registry=REGISTRY,
)
QUEUE_OLDEST_WAITING = Gauge(
    "ctxi_gateway_queue_oldest_waiting_seconds",
    "Age of the oldest of those tasks (0: none), per queue; every sweep.",
    ["queue"],
    registry=REGISTRY,
)
SWEEP_FAILURES = Counter(
    "ctxi_gateway_sweep_failures",
    "Sweeps of a queue that failed (logged; the next sweep carries on), per queue.",
    ["queue"],
    registry=REGISTRY,
)
DOCUMENT_STALE = Gauge(
    "ctxi_gateway_document_stale",
    "1 while a followed file (sla_policy) has changed but cannot be used: the one read before is in force.",
    ["document"],
    registry=REGISTRY,
)
STREAM_ROUTE = "/api/queues/{queue}/events"


def route_of(request: web.Request) -> str:
    """The route's pattern; requests no route matched share one label."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def measured(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    started = time.perf_counter()
    response = await handler(request)
    route = route_of(request)
    REQUESTS.labels(route, request.method, str(response.status)).inc()
    if route != STREAM_ROUTE:
        REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
    return response


async def metrics(request: web.Request) -> web.Response:
    """Prometheus' text format: the gateway's series and its process's."""
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

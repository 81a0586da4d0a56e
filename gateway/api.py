"""What the gateway's route modules share: the keys of the app and of an authenticated request,
JSON answers and errors, and how a task is shown to a desktop."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ctxi.prioritize.formula import priority_band
from ctxi.schemas.task import Task
from ctxi.sinks.redis import RedisTaskStore

STORE = web.AppKey("store", RedisTaskStore)
AGENT = web.RequestKey("agent_id", str)
QUEUES = web.RequestKey("queues", frozenset)
ROLE = web.RequestKey("role", str)  # "agent" or "supervisor"
LOOKUP = web.RequestKey("customer_lookup", bool)  # may open any customer (gateway/customers.py)

REDIS_UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


class ApiError(Exception):
    """A client error, answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


def shown_task(task: Task, claimed_by: str | None, escalation: dict[str, Any] | None) -> dict[str, Any]:
    """A task as desktops read it: its band, who claims it, and its priority raised by an
    escalation (the stage, the points and when, for the breakdown's line)."""
    shown = {
        **task.model_dump(mode="json"),
        "claimed_by": claimed_by,
        "escalation": escalation,
        "priority_before_escalation": task.priority,  # breaks ties among escalated tasks
    }
    if escalation is not None:
        shown["priority"] = min(100, task.priority + escalation["points"])
    shown["band"] = priority_band(shown["priority"])
    return shown


def waited(task: Task, now: datetime | None = None) -> float:
    """Seconds since ``task`` reached its queue (none when a source's clock runs ahead of ours)."""
    return max(0.0, ((now or datetime.now(UTC)) - (task.queued_at or task.created_at)).total_seconds())

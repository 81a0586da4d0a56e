"""The customer view's API: one customer as the live context holds them, with their latest events
and tasks, for the person serving them (schemas/customer_view.py; written by the workers,
sinks/customer_views.py).

    GET /api/customers/{customer_id}?task=ID   the view; ``task``: the task it was opened from
    GET /api/customers?identifier=X            the customer an identifier names (customer_lookup only)
    GET /api/supervisor/customer-views         who opened whom, when, from which task (supervisors)

Who may look: an agent, the customers with a task (open, or among their latest closes) in one of
its queues; a supervisor, those of the queues it watches; a token with ``customer_lookup``, anyone.
Any other customer answers 404, as one that does not exist does: nothing is revealed. Every
look is recorded in the audit trail before it is answered (one that cannot be recorded is not
shown); an open view's page reads it every quarter second, so the reads by one person of one
customer from one task are recorded at most once every ``LOOK_SECONDS``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ctxi.gateway.api import AGENT, LOOKUP, QUEUES, ROLE, STORE, ApiError, json_response, shown_task
from ctxi.schemas.customer_view import ShownCustomer
from ctxi.sinks.customer_view_store import CustomerViewStore

CUSTOMERS = web.AppKey("customers", CustomerViewStore)
AUDIT_SHOWN = 200  # entries of the audit trail a supervisor reads at most
NOT_SEEN = "no such customer, or not one of your queues' customers"
LOOK_SECONDS = 300  # one person's reads of one customer from one task: recorded once in this


async def _tasks_of(request: web.Request, customer_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The customer's open tasks and latest closes, in any queue (the caller's are picked later)."""
    store = request.app[STORE]
    open_tasks = []
    for task_id in await store.customer_task_ids(customer_id):
        task = await store.get(task_id)
        if task is not None:
            escalations = await store.escalations([task_id])
            open_tasks.append(shown_task(task, await store.claimed_by(task_id), escalations.get(task_id)))
    open_tasks.sort(key=lambda shown: (-shown["priority"], shown["created_at"]))
    return open_tasks, await request.app[CUSTOMERS].closes(customer_id)


async def customer(request: web.Request) -> web.Response:
    customer_id = request.match_info["customer_id"]
    queues: frozenset[str] = request[QUEUES]
    found = await request.app[CUSTOMERS].view(customer_id)
    open_tasks, closed = await _tasks_of(request, customer_id)
    theirs = {shown["queue"] for shown in open_tasks} | {close["queue"] for close in closed}
    if found is None or not (request[LOOKUP] or theirs & queues):
        raise ApiError(404, NOT_SEEN)
    task_id = request.query.get("task", "")
    if task_id and not any(shown["task_id"] == task_id for shown in open_tasks):
        task_id = ""  # only a task of this customer is recorded as where the view was opened from
    look = {
        "viewer": request[AGENT],
        "role": request[ROLE],
        "customer_id": customer_id,
        "task_id": task_id,
        "queues": ",".join(sorted(queues)),
        "at": datetime.now(UTC).isoformat(),
    }
    await request.app[CUSTOMERS].record_look(look, LOOK_SECONDS)
    view, timeline = found
    shown = ShownCustomer(
        view=view,
        timeline=timeline,
        open_tasks=[task for task in open_tasks if task["queue"] in queues],
        closed_tasks=[close for close in closed if close["queue"] in queues],
    )
    return json_response(shown.model_dump(mode="json"))


async def lookup(request: web.Request) -> web.Response:
    if not request[LOOKUP]:
        raise ApiError(403, "this token may open customers from its tasks only (customer_lookup is off)")
    identifier = request.query.get("identifier", "").strip()
    if not identifier:
        raise ApiError(400, "give ?identifier= (a customer id, or an email or phone their profile carries)")
    customers = request.app[CUSTOMERS]
    customer_id = await customers.customer_named_by(identifier)
    if customer_id is None and await customers.view(identifier) is not None:
        customer_id = identifier  # a customer id itself
    if customer_id is None:
        raise ApiError(404, "no customer with that id or identifier")
    return json_response({"customer_id": customer_id})


async def audit_trail(request: web.Request) -> web.Response:
    if request[ROLE] != "supervisor":
        raise ApiError(403, "the customer views' audit trail is for supervisors")
    watched: frozenset[str] = request[QUEUES]
    entries = await request.app[CUSTOMERS].audit_trail(AUDIT_SHOWN * 5)
    # the views of people who work the queues this supervisor watches, and lookups with no queue
    shown = [entry for entry in entries if not entry["queues"] or set(entry["queues"].split(",")) & watched]
    return json_response({"views": shown[:AUDIT_SHOWN]})


def install(app: web.Application, customers: CustomerViewStore) -> None:
    app[CUSTOMERS] = customers
    app.router.add_get("/api/customers", lookup)
    app.router.add_get("/api/customers/{customer_id}", customer)
    app.router.add_get("/api/supervisor/customer-views", audit_trail)

"""Acknowledge an event only once its agent has finished with it.

faust acknowledges an event in a ``finally`` as the agent's loop leaves it, so an agent
stopped in the middle of an event (SIGTERM, a shutdown, a crash) still has its offset
committed, and the unfinished part (a task not yet sent, a context not yet stored, a
Redis write still retrying) is never done by anyone. Here acknowledgement is manual
(faust's ``noack``): an event is acknowledged after ``process`` returns, so an event left
unfinished stays uncommitted and the partition's next owner does it again; the sinks and
the context's duplicate check make that redo harmless.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.types import EventT

Process = Callable[[EventT], Awaitable[Any]]


async def process_each(stream: faust.StreamT, process: Process) -> None:
    """Run ``process`` on every event of ``stream``, acknowledging each once it returned.

    An exception from ``process`` leaves its event unacknowledged (the partition's offset
    stops there until a rebalance redoes it); agents turn expected failures into dead
    letters instead of raising.
    """
    manual = stream.noack()
    async for event in manual.events():
        await process(event)
        await manual.ack(event)

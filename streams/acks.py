"""Acknowledge an event only once its agent has finished with it.

faust acknowledges an event in a ``finally`` as the agent's loop leaves it, so an agent
stopped in the middle of an event (SIGTERM, a shutdown, a crash) still has its offset
committed, and the unfinished part (a task not yet sent, a context not yet stored, a
Redis write still retrying) is never done by anyone. Here acknowledgement is manual
(faust's ``noack``): an event is acknowledged once its processing has finished, so an
event left unfinished stays uncommitted and the partition's next owner does it again;
the sinks and the context's duplicate check make that redo harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import faust
from faust.types import TP, EventT

logger = logging.getLogger(__name__)

Process = Callable[[EventT], Awaitable[Awaitable[Any] | None]]
T = TypeVar("T")


def value_of(record: EventT, kind: type[T]) -> T:
    """``record``'s value, which its topic's codec made a ``kind`` (faust types values as bytes or any model)."""
    value = record.value
    if not isinstance(value, kind):
        raise TypeError(f"a {type(value).__name__} on a topic of {kind.__name__}")
    return value


async def process_each(stream: faust.StreamT, process: Process) -> None:
    """Run ``process`` on every event of ``stream``; acknowledge each once it has finished.

    ``process`` returns None when it is done with the event, or an awaitable for the rest
    of the work (the broker taking the event's outputs, then the store): the agent goes on
    to the next event meanwhile, and this one is acknowledged when that is done. Should the
    rest fail, the event stays unacknowledged and the worker crashes, so the partition is
    redone from its last commit instead of skipped. An exception from ``process`` itself
    leaves its event unacknowledged too (agents dead-letter what they expect to fail).

    Every event is inside :data:`between_events` from the moment it is taken until it is
    acknowledged (or fails), so that under exactly-once a commit never falls in the middle
    of one (under at-least-once nothing closes that gate).
    """
    assert isinstance(stream, faust.Stream)  # what faust hands an agent
    manual = stream.noack()
    finishing: set[asyncio.Task[None]] = set()  # the event loop holds tasks only weakly

    def finished(task: asyncio.Task[None]) -> None:
        finishing.discard(task)
        between_events.leave()

    async for event in manual.events():
        await between_events.enter()
        epoch = aborted_partitions.epoch(event.message.tp)
        try:
            rest = await process(event)
        except BaseException:
            between_events.leave()  # before faust's error handling, which commits
            raise
        if rest is None:
            try:
                await _ack_unless_aborted(manual, event, epoch)
            finally:
                between_events.leave()
        else:
            task = asyncio.ensure_future(_ack_when_done(rest, manual, event, epoch))
            finishing.add(task)
            task.add_done_callback(finished)


async def _ack_when_done(rest: Awaitable[Any], stream: faust.StreamT, event: EventT, epoch: int) -> None:
    try:
        await rest
    except Exception as exc:
        message = event.message
        logger.critical("could not finish %s[%s]@%s: %r", message.topic, message.partition, message.offset, exc)
        await stream.app.crash(exc)
        return
    await _ack_unless_aborted(stream, event, epoch)


async def _ack_unless_aborted(stream: faust.StreamT, event: EventT, epoch: int) -> None:
    """Acknowledge ``event`` unless its partition's transaction was aborted since it was taken (it is redone)."""
    message = event.message
    if aborted_partitions.epoch(message.tp) != epoch:
        logger.info(
            "%s[%s]@%s is redone: its transaction was aborted", message.topic, message.partition, message.offset
        )
        return
    await stream.ack(event)


class StoresInOrder:
    """Table writes that each wait for their message's deliveries and for the write before them.

    So the agent decides the next messages while the broker takes this one's outputs, and a
    row still never reaches its changelog ahead of what it led to, nor after a newer row.
    The future :meth:`after` returns resolves once the write's own changelog records are on
    the broker too: only then may the message be acknowledged (and its offset committed).
    """

    def __init__(self) -> None:
        self.last_stored: asyncio.Future[None] | None = None

    def after(
        self, deliveries: list[Awaitable[Any]], store: Callable[[], Sequence[Awaitable[Any]]]
    ) -> asyncio.Future[None]:
        """Run ``store`` (which returns its changelog records) once ``deliveries`` are done and the
        previous store ran; the result resolves when the records are on the broker."""
        stored = asyncio.get_running_loop().create_future()
        done = asyncio.ensure_future(self._store(deliveries, self.last_stored, store, stored))
        self.last_stored = stored
        return done

    @staticmethod
    async def _store(
        deliveries: list[Awaitable[Any]],
        previous: asyncio.Future[None] | None,
        store: Callable[[], Sequence[Awaitable[Any]]],
        stored: asyncio.Future[None],
    ) -> None:
        try:
            await asyncio.gather(*deliveries)
            if previous is not None:
                await previous  # a failure there fails this one too: nothing after it is stored
            records = store()
        except asyncio.CancelledError:
            stored.cancel()
            raise
        except Exception as exc:
            stored.set_exception(exc)
            # the next store awaits it, if there is one; the caller sees the failure in this
            # task's own result either way, so an unawaited last link is not an error to log
            stored.exception()
            raise
        stored.set_result(None)
        await asyncio.gather(*records)  # the next store need not wait for these: the buffer keeps order


class EventGate:
    """Lets events through (from any number of agents at once) or a commit, never both.

    Under exactly-once a transaction holds the records of every event its partition's
    agents finished since the last commit; committing in the middle of an event would
    commit part of what it led to (its tasks without its context and offset), and a crash
    then would redo the event and send them again. A commit waits for the events inside to
    finish and holds new ones back until it is done.
    """

    def __init__(self) -> None:
        self._inside = 0
        self._empty = asyncio.Event()
        self._empty.set()
        self._open = asyncio.Event()
        self._open.set()
        self._committing = asyncio.Lock()

    async def enter(self) -> None:
        """Let an event in, once no commit is running."""
        while not self._open.is_set():  # checked again on waking: a commit may have closed it since
            await self._open.wait()
        self._inside += 1
        self._empty.clear()

    def leave(self) -> None:
        """An event that entered is done (acknowledged, or failed)."""
        self._inside -= 1
        if not self._inside:
            self._empty.set()

    @asynccontextmanager
    async def commit(self) -> AsyncIterator[None]:
        async with self._committing:
            self._open.clear()
            try:
                await self._empty.wait()
                yield
            finally:
                self._open.set()


between_events = EventGate()


class AbortedPartitions:
    """How many times each partition's transaction was aborted (exactly-once): the work of an
    event taken before its partition's abort is left undone (no store, no acknowledgement),
    since the abort took its outputs back and its partition is read again from the last commit.

    Left to finish, such an event would store its context in the partition's next transaction
    and acknowledge its offset: the redone event then met its own effects and counted as a
    duplicate, or was skipped, and its task, aborted with its transaction, was lost.
    """

    def __init__(self) -> None:
        self._aborts: Counter[TP] = Counter()
        self._listeners: list[Callable[[], None]] = []

    def epoch(self, tp: TP) -> int:
        return self._aborts[tp]

    def on_abort(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` at each abort (the engine forgets the rows it decided and has not stored)."""
        self._listeners.append(listener)

    def aborted(self, tps: Iterable[TP]) -> None:
        self._aborts.update(tps)
        for listener in self._listeners:
            listener()


aborted_partitions = AbortedPartitions()

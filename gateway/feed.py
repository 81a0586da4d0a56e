"""Live task notices for every open event stream of a gateway, from one Redis subscription.

A subscription per stream held a Redis connection per open desktop tab: one agent with
a hundred streams (or streams opened and closed in a loop, each kept until its next
keep-alive) took the whole connection pool, and every request of every agent then
failed. Here the process subscribes once, to every queue's channel (a pattern), and
hands each notice to the streams following that queue, through a bounded in-memory
queue each. An agent may hold ``max_per_agent`` streams at once; one more is refused.

Should Redis go away, every stream is ended (the desktops reconnect, and list their
queue again); the next stream opened subscribes again, or is answered 503 meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ctxi.sinks.redis import RedisTaskStore

logger = logging.getLogger(__name__)

ENDED = b""  # put on a stream's queue when its feed ends (Redis went away, or the stream fell behind)
NOTICES_BUFFERED = 1000  # per stream: a desktop this far behind is ended, and relists on reconnecting


class TooManyStreams(Exception):
    """The agent already holds as many event streams as it may."""


class QueueFeed:
    def __init__(self, store: RedisTaskStore, max_per_agent: int) -> None:
        self.store = store
        self.max_per_agent = max_per_agent
        self._followers: defaultdict[bytes, set[asyncio.Queue[bytes]]] = defaultdict(set)  # channel -> streams
        self._per_agent: Counter[str] = Counter()
        self._reader: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()

    @asynccontextmanager
    async def follow(self, agent_id: str, queue: str) -> AsyncIterator[asyncio.Queue[bytes]]:
        """A queue of ``queue``'s notices (JSON bytes; :data:`ENDED` when the feed ends) while open.

        Raises :class:`TooManyStreams` past the agent's cap, and Redis's connection errors
        when it cannot subscribe.
        """
        if self._per_agent[agent_id] >= self.max_per_agent:
            raise TooManyStreams(f"at most {self.max_per_agent} open event streams per agent")
        self._per_agent[agent_id] += 1
        notices: asyncio.Queue[bytes] = asyncio.Queue(maxsize=NOTICES_BUFFERED)
        channel = self.store.channel(queue).encode()
        try:
            await self._subscribed()
            self._followers[channel].add(notices)
            yield notices
        finally:
            self._followers[channel].discard(notices)
            if not self._followers[channel]:
                del self._followers[channel]
            self._per_agent[agent_id] -= 1
            if not self._per_agent[agent_id]:
                del self._per_agent[agent_id]

    async def _subscribed(self) -> None:
        async with self._connecting:
            if self._reader is not None and not self._reader.done():
                return
            pubsub = self.store.client.pubsub()
            try:
                await pubsub.psubscribe(self.store.channel("*"))
            except BaseException:
                await pubsub.aclose()
                raise
            self._reader = asyncio.create_task(self._read(pubsub), name="ctxi-gateway-feed")

    async def _read(self, pubsub: PubSub) -> None:
        try:
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                if message is None or message["type"] != "pmessage":
                    continue
                for notices in list(self._followers.get(message["channel"], ())):
                    try:
                        notices.put_nowait(message["data"])
                    except asyncio.QueueFull:
                        self._end(notices)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            logger.warning("task store unreachable: ending every event stream (desktops reconnect): %s", exc)
        finally:
            for streams in self._followers.values():
                for notices in streams:
                    self._end(notices)
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                await pubsub.aclose()  # its connection may be gone with Redis: nothing left to close

    @staticmethod
    def _end(notices: asyncio.Queue[bytes]) -> None:
        while not notices.empty():  # make room: the end must get through
            notices.get_nowait()
        notices.put_nowait(ENDED)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

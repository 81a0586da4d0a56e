"""A message no codec can read becomes a dead letter, not a crashed agent.

faust (0.11-0.15) acknowledges a message whose key or value fails to decode, then throws
the error into every agent reading it: the agent crashes and restarts, and the message
is gone without a trace. Ingest validates everything that enters, so on ctxi's own topics
this only happens to what validation let through and a codec could not carry (a bug), or
to what another producer wrote there; either way it is kept, with the error, on the
dead-letter topic, and the stream carries on.

faust has acknowledged the message before it calls these hooks, so the dead letter is
sent, not yet delivered, when the offset may be committed: a crash in that moment loses
the dead letter, not a task.
"""

from __future__ import annotations

import logging

import faust
from faust.types import Message

from ctxi.schemas.dead_letter import KafkaOrigin, processing_failure
from ctxi.streams.faust_fixes import FaustName
from ctxi.streams.metrics import DEAD_LETTERS

logger = logging.getLogger(__name__)

RELIES_ON = (
    FaustName(faust.Topic, "on_key_decode_error", "(self, exc, message)"),
    FaustName(faust.Topic, "on_value_decode_error", "(self, exc, message)"),
)


class DeadLetteringTopic(faust.Topic):
    """faust's Topic, with decode errors dead-lettered (``app.conf.Topic``)."""

    async def on_key_decode_error(self, exc: Exception, message: Message) -> None:
        await self._dead_letter(exc, message)

    async def on_value_decode_error(self, exc: Exception, message: Message) -> None:
        await self._dead_letter(exc, message)

    async def _dead_letter(self, exc: Exception, message: Message) -> None:
        origin = KafkaOrigin(topic=message.topic, partition=message.partition, offset=message.offset)
        logger.error("cannot decode %s: %s", origin, exc, extra={"origin": origin})
        DEAD_LETTERS.labels("decode_error").inc()
        dead_letters = self.app.dead_letter_topic  # type: ignore[attr-defined]  # a WorkerApp (streams/app.py)
        await dead_letters.send(key=message.key, value=processing_failure(message.value or b"", origin, exc))

"""A partition with nothing committed is read again from its beginning after a rebalance.

During a rebalance faust drops records it has fetched (a batch that arrives while the flow
is stopped, the rest of a batch when the flow stops or the group's generation changes) and
counts on seeking every partition back to its committed offset afterwards to fetch them
again. aiokafka's ``seek_to_committed`` leaves a partition alone when its committed offset
is missing or 0, so there the dropped records were never fetched again: lost (the
two-worker test caught it on a task topic whose first records arrived during a hand-over:
they never reached Redis). Here such a partition goes back to its beginning, where a
consumer with no committed offset starts anyway (``consumer_auto_offset_reset="earliest"``
on the app). ``tests/integration/test_transport.py`` checks the rewind on the real broker.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from ctxi.streams.faust_fixes import FaustName

RELIES_ON = (
    FaustName(faust_aiokafka.AIOKafkaConsumerThread, "seek_to_committed", "(self)"),
    FaustName(faust_aiokafka.AIOKafkaConsumerThread, "call_thread", "(self, fun, *args, **kwargs)"),
    FaustName(faust_aiokafka.AIOKafkaConsumerThread, "_ensure_consumer", "(self)"),
)


async def seek_to_committed(consumer: AIOKafkaConsumer) -> Mapping[TopicPartition, int | None]:
    """Seek each assigned partition to its committed offset, or to its beginning if it has none.

    Returns the committed offsets (None: nothing committed yet), as aiokafka's own does.
    """
    committed = await consumer.seek_to_committed()
    # aiokafka seeks only where the committed offset is > 0; 0 and None stay where they were
    from_start = [tp for tp, offset in committed.items() if not offset]
    if from_start:
        await consumer.seek_to_beginning(*from_start)
    return committed


class SeekToCommittedOrBeginning(faust_aiokafka.AIOKafkaConsumerThread):
    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(seek_to_committed, self._ensure_consumer())

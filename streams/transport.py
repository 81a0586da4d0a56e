"""ctxi's Kafka transport: faust's aiokafka driver, with a rewind that covers every partition.

During a rebalance faust drops records it has fetched: a batch that arrives while the flow
is stopped, and the rest of a batch when the flow stops or the group's generation changes.
It counts on seeking every partition back to its committed offset afterwards to fetch them
again. aiokafka's ``seek_to_committed`` leaves a partition alone when its committed offset
is missing or 0, so there the dropped records were never fetched again: lost (the
two-worker test caught it on a task topic whose first records arrived during a hand-over:
they never reached Redis). Here such a partition goes back to its beginning, where a
consumer with no committed offset starts anyway (``consumer_auto_offset_reset="earliest"``
on the app).

The app selects this driver by its broker URL scheme, ``ctxi://`` (the ``faust.transports``
entry point in pyproject.toml), the way faust picks any transport.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

SCHEME = "ctxi"


async def seek_to_committed(
    consumer: AIOKafkaConsumer, leave: Collection[str] = ()
) -> Mapping[TopicPartition, int | None]:
    """Seek each assigned partition to its committed offset, or to its beginning if it has none.

    Partitions of the ``leave`` topics with nothing committed stay where they are: table
    changelogs, whose positions faust's recovery sets. Returns the committed offsets (None:
    nothing committed yet), as aiokafka's own does.
    """
    committed = await consumer.seek_to_committed()
    # aiokafka seeks only where the committed offset is > 0; 0 and None stay where they were
    from_start = [tp for tp, offset in committed.items() if not offset and tp.topic not in leave]
    if from_start:
        await consumer.seek_to_beginning(*from_start)
    return committed


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(seek_to_committed, self._ensure_consumer(), self.app.tables.changelog_topics)


class Consumer(faust_aiokafka.Consumer):
    """faust's consumer, with read offsets that never drop a record this generation has not read.

    faust drops a fetched record below a partition's read offset (the last one it passed
    on) as already read, and takes a jump above it as a gap whose offsets it may commit.
    Two moments made that lose records across a rebalance: the fetcher, woken when the
    flow stops, sets the read offset it was at *after* faust cleared them for the
    revocation, so the next generation dropped its first records as read; and faust resumes
    the flow before it seeks back to the committed offsets, whose seek then set the read
    offset below records already passed on (the next one looked like a gap).
    """

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        for tp in assigned:  # nothing of this generation has been read yet
            self._read_offset[tp] = None
        await super().on_partitions_assigned(assigned, generation_id)

    async def perform_seek(self) -> None:
        read = {tp: offset for tp, offset in self._read_offset.items() if offset is not None}
        await super().perform_seek()
        for tp, offset in read.items():  # records up to these were passed on: their copies are the ones to drop
            seeked = self._read_offset.get(tp)
            if seeked is None or offset > seeked:
                self._read_offset[tp] = offset


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer

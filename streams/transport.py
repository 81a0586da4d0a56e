"""ctxi's Kafka transport: faust's aiokafka driver, mended where the two-worker tests caught it.

During a rebalance faust drops records it has fetched: a batch that arrives while the flow
is stopped, and the rest of a batch when the flow stops or the group's generation changes.
It counts on seeking every partition back to its committed offset afterwards to fetch them
again. aiokafka's ``seek_to_committed`` leaves a partition alone when its committed offset
is missing or 0, so there the dropped records were never fetched again: lost (the
two-worker test caught it on a task topic whose first records arrived during a hand-over:
they never reached Redis). Here such a partition goes back to its beginning, where a
consumer with no committed offset starts anyway (``consumer_auto_offset_reset="earliest"``
on the app).

faust also remembers, per partition, the offset its fetch loop last handed on, and drops
any record below it as already read. That loop can record an offset late: it wakes when
the flow stops for a rebalance, after faust has forgotten the revoked partitions' offsets,
and writes back the one it was at. If the partition stays with this worker, the next
generation's re-fetched records below that stale offset were dropped, and the seek to the
committed offset then made the next record look like a gap that faust commits past: records
never processed (seen about once in twenty loaded two-worker runs). Here a read offset only
moves for a record of the current generation on a partition that has been sought since it
was revoked; until then the partition reads as "nothing read yet".

The seek to the committed offsets runs with the flow stopped, and a gap faust records in a
partition's offsets stops before the record that ends it (see the methods of
:class:`Consumer`). Under ``processing_guarantee="exactly_once"`` the transactions follow
the partition an event was read from (see :class:`Transactions`), and recovery asks the
broker where each changelog ends (:meth:`ConsumerThread._highwaters`).

The app selects this driver by its broker URL scheme, ``ctxi://`` (the ``faust.transports``
entry point in pyproject.toml), the way faust picks any transport.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Set
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalOperation, ProducerFenced
from faust.transport.consumer import TopicPartitionGroup, TransactionManager
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, HeadersArg, Message, RecordMetadata

from ctxi.streams.acks import between_events
from ctxi.streams.rollback import TransactionalTable

SCHEME = "ctxi"


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


class ReadOffsets(dict[TP, int | None]):
    """faust's per-partition read offsets (the last offset handed on; None: nothing read yet).

    faust's fetch loop writes ``self[tp] = offset`` right after handing a record on; that
    write counts only if the record is of the current generation and ``tp`` has been sought
    since it was last revoked. Seeks (``seek``, and ``update`` from faust's seek to the
    committed offsets) always count.
    """

    def __init__(self, current_generation: Callable[[], int]) -> None:
        super().__init__()
        self.current_generation = current_generation
        self.handed_on_generation: int | None = None
        self.unsought: set[TP] = set()

    def __missing__(self, tp: TP) -> None:
        return None

    def __setitem__(self, tp: TP, offset: int | None) -> None:
        if tp not in self.unsought and self.handed_on_generation == self.current_generation():
            super().__setitem__(tp, offset)

    def revoke(self, tps: Iterable[TP]) -> None:
        self.unsought.update(tps)

    def seek(self, tp: TP, offset: int | None) -> None:
        self.unsought.discard(tp)
        super().__setitem__(tp, offset)

    def update(self, offsets: Mapping[TP, int | None]) -> None:  # type: ignore[override]
        for tp, offset in offsets.items():
            self.seek(tp, offset)


class Transactions(TransactionManager):
    """Exactly-once: an event's records go in the transaction of the partition it was read from.

    faust keeps a transactional producer per assigned partition and picks it by the
    partition a record is *sent to*, which only exists on this worker when an agent writes
    the partition number it reads; ctxi repartitions (by customer, by flight) and would
    crash with "No transaction producer found". Here the event being processed decides, so
    its outputs, its context's changelog and its offset commit together or not at all. A
    changelog record (sent from faust's producer buffer, outside the event) goes by its own
    partition, which is the one its table row was read from; a send outside any event (a
    timer's) is not transactional. Commits wait for the events in progress (``EventGate``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: set[str] = set()  # transactional ids with a producer started here

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: HeadersArg | None,
        *,
        transactional_id: str | None = None,
    ) -> Awaitable[RecordMetadata]:
        if topic in self.app.tables.changelog_topics:
            return await super().send(topic, key, value, partition, timestamp, headers)
        event = faust.current_event()
        if event is not None:
            transactional_id = self.transactional_id(event.message.tp)
        return await self.producer.send(
            topic, key, value, partition, timestamp, headers, transactional_id=transactional_id
        )

    async def on_rebalance(self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP]) -> None:
        """Hold a transactional producer for exactly the partitions assigned now.

        faust's own begins a transaction for every assigned partition, also kept ones whose
        transaction is open (aiokafka refuses), and can miss a partition that left: its
        producer, fenced by the new owner's, would be used again should it come back.
        """
        wanted = self._tps_to_transactional_ids(assigned)
        gone, new = sorted(self._held - wanted), sorted(wanted - self._held)
        if gone:
            self.log.info("stopping transactional producers of partitions gone: %s", ", ".join(gone))
            await self._stop_transactions(gone)
        if new:
            self.log.info("starting transactional producers for partitions assigned: %s", ", ".join(new))
            await self._start_transactions(new)
        self._held = wanted

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Abort what the revoked partitions' transactions still hold.

        faust forgets the offsets acknowledged since the last commit when partitions are
        revoked, so those events will be redone; committing their records later (the
        partition may stay here) would send their tasks twice.
        """
        await super().on_partitions_revoked(revoked)
        aborted = self._tps_to_transactional_ids(revoked) & self._held
        for transactional_id in sorted(aborted):
            await self.producer.abort_transaction(transactional_id)
            await self.producer.begin_transaction(transactional_id)
        self._ended(aborted, committed=False)

    def transactional_id(self, tp: TP) -> str:
        group = TopicPartitionGroup(tp.topic, tp.partition, self.app.assignor.group_for_topic(tp.topic))
        return self.transactional_id_format.format(group_id=self.app.conf.id, tpg=group)

    async def commit(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        """Commit each partition's transaction with its offsets, between events.

        faust commits twice on a stop, the second time without a transaction open; one is
        begun then, so the offsets still commit (and the stop does not fail).
        """
        by_id: defaultdict[str, dict[TP, int]] = defaultdict(dict)
        for tp, offset in offsets.items():
            by_id[self.transactional_id(tp)][tp] = offset
        async with between_events.commit():
            for transactional_id, its_offsets in by_id.items():
                commit = {transactional_id: its_offsets}
                try:
                    try:
                        await self.producer.commit_transactions(commit, self.app.conf.id, start_new_transaction)
                    except IllegalOperation:  # not in a transaction
                        await self.producer.begin_transaction(transactional_id)
                        await self.producer.commit_transactions(commit, self.app.conf.id, start_new_transaction)
                except ProducerFenced as fenced:  # another worker owns the partition now
                    await self.app.crash(fenced)
                    return False
                self._ended({transactional_id}, committed=True)
        return True

    def _ended(self, transactional_ids: set[str], *, committed: bool) -> None:
        """Tell the tables which of their partitions' transactions were committed, or aborted."""
        for table in self.app.tables.values():
            if isinstance(table, TransactionalTable):
                topic = table.changelog_topic.get_topic_name()
                ended = [p for p in table.changed if self.transactional_id(TP(topic, p)) in transactional_ids]
                (table.committed if committed else table.aborted)(ended)


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(seek_to_committed, self._ensure_consumer())

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """The end of each partition, asked of the broker (read_committed: its last stable offset).

        Under exactly-once faust takes the last stable offset aiokafka cached from its last
        fetch, which a partition not fetched since its assignment does not have: recovery
        took every changelog for empty and rebuilt no table after a rebalance.
        """
        return await self._ensure_consumer().end_offsets(partitions)


class Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_offset = ReadOffsets(lambda: self.app.consumer_generation_id)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        async for tp, message in super().getmany(timeout):
            self._read_offset.handed_on_generation = message.generation_id
            yield tp, message

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        self._read_offset.revoke(revoked)
        await super().on_partitions_revoked(revoked)

    async def perform_seek(self) -> None:
        """Seek to the committed offsets with the flow stopped (faust's recovery resumes it after).

        faust's recovery seeks with the flow running (it resumed it to read the changelogs),
        then resumes its flow control, which empties the agents' queues: a record handed on
        in between was thrown away with its read offset already past it, so it was not read
        again until the next rebalance (a start-up probe sat unprocessed for minutes).
        """
        if self.flow_active:
            self.stop_flow()
        await super().perform_seek()

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Record the offsets the fetch loop never saw (transaction markers, aborted records).

        faust passes the record that ends the gap as its last offset; that record is
        acknowledged itself, and counted twice it ended the run of consecutive offsets faust
        commits up to. The commit then lagged behind the events done, which under
        exactly-once commits their outputs without their offsets: redone after a
        rebalance, their tasks were sent twice.
        """
        await super()._add_gap(tp, offset_from, offset_to - 1)

    # faust's seeks write the read offset as the fetch loop does; write it again as a seek
    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)
        self._read_offset.seek(partition, offset or None)

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        await super().seek_wait(partitions)
        for tp, offset in partitions.items():
            self._read_offset.seek(tp, offset if offset > 0 else None)

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer
    TransactionManager = Transactions

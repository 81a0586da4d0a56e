"""Under exactly-once, an event's records join the transaction of the partition it was read from.

faust keeps a transactional producer per assigned partition and picks it by the partition
a record is *sent to*, which only exists on this worker when an agent writes the partition
number it reads; ctxi repartitions (by customer, by flight) and would crash with "No
transaction producer found". Here the event being processed decides, so its outputs, its
context's changelog and its offset commit together or not at all. faust's rebalance
handling also began transactions it could not, and kept producers of partitions gone;
and a commit could fall in the middle of an event (see :class:`Transactions`).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Mapping
from typing import Any

import faust
from aiokafka.errors import IllegalOperation, ProducerFenced
from faust.transport.consumer import TopicPartitionGroup, TransactionManager
from faust.types import TP, HeadersArg, RecordMetadata

from ctxi.streams.acks import aborted_partitions, between_events
from ctxi.streams.faust_fixes import FaustName
from ctxi.streams.faust_fixes.rollback import TransactionalTable

RELIES_ON = (
    FaustName(
        TransactionManager, "send", "(self, topic, key, value, partition, timestamp, headers, *, transactional_id=…)"
    ),
    FaustName(TransactionManager, "on_rebalance", "(self, assigned, revoked, newly_assigned)"),
    FaustName(TransactionManager, "on_partitions_revoked", "(self, revoked)"),
    FaustName(TransactionManager, "commit", "(self, offsets, start_new_transaction=…)"),
    FaustName(TransactionManager, "_tps_to_transactional_ids", "(self, tps)"),
    FaustName(TransactionManager, "_start_transactions", "(self, tids)"),
    FaustName(TransactionManager, "_stop_transactions", "(self, tids)"),
    FaustName(TransactionManager, "transactional_id_format", None),
)


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
        if aborted:  # the events in flight of these partitions are redone: none may store or acknowledge
            aborted_partitions.aborted(tp for tp in revoked if self.transactional_id(tp) in aborted)

    def transactional_id(self, tp: TP) -> str:
        group = TopicPartitionGroup(tp.topic, tp.partition, self.app.assignor.group_for_topic(tp.topic))
        return self.transactional_id_format.format(group_id=self.app.conf.id, tpg=group)

    async def commit(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        """Commit each partition's transaction with its offsets, between events, all at once.

        faust commits the transactions one after the other, several round trips each, while
        the gate holds new events back; each partition has its own producer, so they commit
        concurrently here. faust commits twice on a stop, the second time without a
        transaction open; one is begun then, so the offsets still commit (and the stop does
        not fail).
        """
        by_id: defaultdict[str, dict[TP, int]] = defaultdict(dict)
        for tp, offset in offsets.items():
            by_id[self.transactional_id(tp)][tp] = offset
        async with between_events.commit():
            results = await asyncio.gather(
                *(self._commit_one(tid, its_offsets, start_new_transaction) for tid, its_offsets in by_id.items()),
                return_exceptions=True,
            )
        failures = [result for result in results if isinstance(result, BaseException)]
        if fenced := next((failure for failure in failures if isinstance(failure, ProducerFenced)), None):
            await self.app.crash(fenced)  # another worker owns a partition now
            return False
        if failures:
            raise failures[0]
        return True

    async def _commit_one(self, transactional_id: str, offsets: dict[TP, int], start_new_transaction: bool) -> None:
        commit = {transactional_id: offsets}
        try:
            await self.producer.commit_transactions(commit, self.app.conf.id, start_new_transaction)
        except IllegalOperation:  # not in a transaction
            await self.producer.begin_transaction(transactional_id)
            await self.producer.commit_transactions(commit, self.app.conf.id, start_new_transaction)
        self._ended({transactional_id}, committed=True)

    def _ended(self, transactional_ids: set[str], *, committed: bool) -> None:
        """Tell the tables which of their partitions' transactions were committed, or aborted."""
        for table in self.app.tables.values():
            if isinstance(table, TransactionalTable):
                topic = table.changelog_topic.get_topic_name()
                ended = [p for p in table.changed if self.transactional_id(TP(topic, p)) in transactional_ids]
                (table.committed if committed else table.aborted)(ended)

"""Tables that forget what an aborted transaction changed (exactly-once only).

Under exactly-once an event's outputs, its context's changelog records and its offset are
committed together, or aborted together and redone. faust aborts the Kafka side only: the
rows the event changed stay changed in the worker's table. When the partition stays with
the worker (a rebalance aborts its open transaction, and the events are redone), the redone
events met their own effects and the context's duplicate check took them for duplicates:
their tasks were never sent again (the two-worker hand-over test lost them).

The engine changes rows in place, so their values from before the transaction are not at
hand; the changelog has them. A :class:`TransactionalTable` remembers, per partition, the
keys its open transaction changed; on an abort it drops those rows and has the partition
read from the start of its changelog at the recovery that follows every rebalance (an
in-memory table is read from the start anyway), which brings back their committed values.
The transaction manager calls :meth:`TransactionalTable.committed` and
:meth:`TransactionalTable.aborted` (``streams/faust_fixes/transactions.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import faust
from faust.types import TP

from ctxi.streams.faust_fixes import FaustName

RELIES_ON = (
    FaustName(faust.Table, "on_key_set", "(self, key, value)"),
    FaustName(faust.Table, "on_key_del", "(self, key)"),
    FaustName(faust.Table, "partition_for_key", "(self, key)"),
    FaustName(faust.Table, "data", None),
    FaustName(faust.App, "in_transaction", None),
)


class TransactionalTable(faust.Table):
    """A faust table whose rows changed by an aborted transaction are recovered from the changelog."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.changed: defaultdict[int, set[Any]] = defaultdict(set)  # partition: keys its open transaction changed

    def on_key_set(self, key: Any, value: Any) -> None:
        self._changing(key)
        super().on_key_set(key, value)

    def on_key_del(self, key: Any) -> None:
        self._changing(key)
        super().on_key_del(key)

    def _changing(self, key: Any) -> None:
        if self.app.in_transaction:  # the changelog record joins its partition's transaction
            partition = self.partition_for_key(key)
            assert partition is not None  # the event's own partition: ctxi's tables use no partitioner
            self.changed[partition].add(key)

    def committed(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.changed.pop(partition, None)

    def aborted(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            keys = self.changed.pop(partition, set())
            for key in keys:
                self.data.pop(key, None)
            if keys:  # a store that keeps its place in the changelog reads it again from the start
                self.data.set_persisted_offset(TP(self.changelog_topic.get_topic_name(), partition), -1)

"""A read offset faust's fetch loop writes late no longer drops the next generation's records.

faust remembers, per partition, the offset its fetch loop last handed on, and drops any
record below it as already read. That loop can record an offset late: it wakes when the
flow stops for a rebalance, after faust has forgotten the revoked partitions' offsets, and
writes back the one it was at. If the partition stays with this worker, the next
generation's re-fetched records below that stale offset were dropped, and the seek to the
committed offset then made the next record look like a gap that faust commits past:
records never processed (seen about once in twenty loaded two-worker runs). Here a read
offset only moves for a record of the current generation on a partition that has been
sought since it was revoked; until then the partition reads as "nothing read yet".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Set
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

from ctxi.streams.faust_fixes import FaustName

RELIES_ON = (
    FaustName(faust_aiokafka.Consumer, "_read_offset", None),
    FaustName(faust_aiokafka.Consumer, "getmany", "(self, timeout)"),
    FaustName(faust_aiokafka.Consumer, "on_partitions_revoked", "(self, revoked)"),
    FaustName(faust_aiokafka.Consumer, "seek", "(self, partition, offset)"),
    FaustName(faust_aiokafka.Consumer, "seek_wait", "(self, partitions)"),
)


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

    def update(self, offsets: Mapping[TP, int | None]) -> None:  # type: ignore[override]  # only this form is used
        for tp, offset in offsets.items():
            self.seek(tp, offset)


class ReadOffsetsOfThisGeneration(faust_aiokafka.Consumer):
    _read_offset: ReadOffsets

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

    # faust's seeks write the read offset as the fetch loop does; write it again as a seek
    async def seek(self, partition: TP, offset: int) -> None:
        await super().seek(partition, offset)
        self._read_offset.seek(partition, offset or None)

    async def seek_wait(self, partitions: Mapping[TP, int]) -> None:
        await super().seek_wait(partitions)
        for tp, offset in partitions.items():
            self._read_offset.seek(tp, offset if offset > 0 else None)

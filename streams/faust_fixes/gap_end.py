"""A gap in a partition's offsets ends before the record that ends it, and costs the same
however many gaps came before it.

faust records the offsets its fetch loop never saw (transaction markers, aborted records,
what compaction removed from a changelog) as a gap, passing the record that ends the gap as
its last offset; that record is acknowledged itself, and counted twice it ended the run of
consecutive offsets faust commits up to. The commit then lagged behind the events done,
which under exactly-once commits their outputs without their offsets: redone after a
rebalance, their tasks were sent twice.

faust also merged every gap of the partition again at each new one (``merge_overlaps`` over
the whole interval tree): a compacted changelog has a gap between most records, so recovery
slowed as gaps piled up, from ~130 to ~11 records/s per partition at 200,000 customers, and
a restarted worker never came back. Here a new gap merges only with the gaps it overlaps or
touches (a lookup in the tree), which leaves the tree as faust's merge would.
"""

from __future__ import annotations

import asyncio

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from ctxi.streams.faust_fixes import FaustName

RELIES_ON = (FaustName(faust_aiokafka.Consumer, "_add_gap", "(self, tp, offset_from, offset_to)"),)


class GapEndsBeforeItsRecord(faust_aiokafka.Consumer):
    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        offset_to -= 1  # the record that ends the gap is not in it
        committed = self._committed_offset[tp]
        if committed is not None:
            offset_from = max(offset_from, committed + 1)
        if offset_from > offset_to:
            return
        gaps = self._gap[tp]
        begin, end = offset_from, offset_to + 1  # the tree's intervals exclude their end
        for interval in gaps.overlap(begin - 1, end + 1):  # what overlaps or touches it becomes one gap
            begin, end = min(begin, interval.begin), max(end, interval.end)
            gaps.remove(interval)
        gaps.addi(begin, end)
        await asyncio.sleep(0)  # other coroutines (health checks) get loop time, as faust gives them

"""A gap in a partition's offsets ends before the record that ends it.

faust records the offsets its fetch loop never saw (transaction markers, aborted records)
as a gap, passing the record that ends the gap as its last offset; that record is
acknowledged itself, and counted twice it ended the run of consecutive offsets faust
commits up to. The commit then lagged behind the events done, which under exactly-once
commits their outputs without their offsets: redone after a rebalance, their tasks were
sent twice.
"""

from __future__ import annotations

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from ctxi.streams.faust_fixes import FaustName

RELIES_ON = (FaustName(faust_aiokafka.Consumer, "_add_gap", "(self, tp, offset_from, offset_to)"),)


class GapEndsBeforeItsRecord(faust_aiokafka.Consumer):
    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        await super()._add_gap(tp, offset_from, offset_to - 1)

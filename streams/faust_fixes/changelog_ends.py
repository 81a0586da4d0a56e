"""Under exactly-once, recovery asks the broker where each changelog ends.

Under exactly-once faust takes the end of a partition from the last stable offset aiokafka
cached from its last fetch, which a partition not fetched since its assignment does not
have: recovery took every changelog for empty and rebuilt no table after a rebalance (the
exactly-once hand-over tests in ``tests/integration/test_scale_out.py`` caught it).
"""

from __future__ import annotations

from collections.abc import Mapping

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from ctxi.streams.faust_fixes import FaustName

RELIES_ON = (
    FaustName(faust_aiokafka.AIOKafkaConsumerThread, "_highwaters", "(self, partitions)"),
    FaustName(faust_aiokafka.AIOKafkaConsumerThread, "_ensure_consumer", "(self)"),
)


class ChangelogEndsFromBroker(faust_aiokafka.AIOKafkaConsumerThread):
    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        """The end of each partition, asked of the broker (read_committed: its last stable offset)."""
        return await self._ensure_consumer().end_offsets(partitions)

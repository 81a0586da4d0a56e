"""ctxi's Kafka transport: faust's aiokafka driver with ctxi's fixes (``streams/faust_fixes/``).

Each fix lives in a module of its own that says what it mends in faust and why; this
module assembles them into the consumer, its thread and the transport. The app selects
this driver by its broker URL scheme, ``ctxi://`` (the ``faust.transports`` entry point in
pyproject.toml), the way faust picks any transport.
"""

from __future__ import annotations

from faust.transport.drivers import aiokafka as faust_aiokafka

from ctxi.streams.faust_fixes.changelog_ends import ChangelogEndsFromBroker
from ctxi.streams.faust_fixes.committed_seek import SeekToCommittedOrBeginning
from ctxi.streams.faust_fixes.gap_end import GapEndsBeforeItsRecord
from ctxi.streams.faust_fixes.read_offsets import ReadOffsetsOfThisGeneration
from ctxi.streams.faust_fixes.seek_flow import SeekWithFlowStopped
from ctxi.streams.faust_fixes.transactions import Transactions

SCHEME = "ctxi"


class ConsumerThread(SeekToCommittedOrBeginning, ChangelogEndsFromBroker):
    pass


class Consumer(ReadOffsetsOfThisGeneration, SeekWithFlowStopped, GapEndsBeforeItsRecord):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer
    TransactionManager = Transactions

"""What a stream worker's agents share: its app, topics, tables, engine and Redis store.

``agents/build.py`` builds one; every agent reads the engine, topics and tables of the
:class:`Worker` it was installed on (none of them is a module global).
"""

from __future__ import annotations

from dataclasses import dataclass

from faust.types import Message

from ctxi.engine.pipeline import Engine
from ctxi.settings import Settings
from ctxi.sinks.customer_views import CustomerViewSink
from ctxi.sinks.redis import OutcomeKeys, RedisTaskStore
from ctxi.streams.acks import StoresInOrder
from ctxi.streams.app import Tables, Topics, WorkerApp


@dataclass
class Worker:
    """What a worker's agents share."""

    settings: Settings
    app: WorkerApp
    topics: Topics
    tables: Tables
    engine: Engine  # its ``rules`` are swapped when packs are published (agents/rules.py)
    store: RedisTaskStore  # tasks for desktops
    stores: StoresInOrder  # the context agent's table writes, in order
    outcome_keys: OutcomeKeys  # what gateways sign outcomes with (ingest/outcomes.py)
    customer_views: CustomerViewSink  # what agents see when they open a customer

    def decides_where_read(self, message: Message, key: str) -> bool:
        """Whether ``key`` on the by-customer topic is the partition ``message`` was read from, in a
        topic partitioned alike: that partition's table rows are then this worker's (faust assigns
        a partition number of co-partitioned topics and changelogs to one worker), so what ``key``
        names is decided where it was read, one hop instead of two. False while either topic's
        partitions are unknown: the message takes the repartition, which is always right."""
        consumer, by_customer = self.app.consumer, self.settings.events_by_customer_topic
        partitions = consumer.topic_partitions(by_customer)
        if partitions is None or consumer.topic_partitions(message.topic) != partitions:
            return False
        return consumer.key_partition(by_customer, key.encode()) == message.partition

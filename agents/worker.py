"""The stream worker, built in one place: its app, topics, tables, engine, Redis store and agents.

``build_worker(settings)`` is what ``ctxi worker`` runs: nothing connects to Kafka or Redis
when a module is imported, and every agent reads the engine, topics and tables of the
:class:`Worker` it was installed on (none of them is a module global).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from faust.types import Message

from ctxi.context.fleet import FleetIndex
from ctxi.context.state import CustomerContext
from ctxi.engine.pipeline import Engine
from ctxi.engine.rows import EncodedRows
from ctxi.features.entities import EntityFeatureRow
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.rules.loader import load_rule_dir
from ctxi.settings import Settings
from ctxi.sinks.redis import OutcomeKeys, RedisTaskStore, connect_redis
from ctxi.streams.acks import StoresInOrder
from ctxi.streams.app import Tables, Topics, WorkerApp, create_app

logger = logging.getLogger(__name__)


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


def build_worker(settings: Settings) -> Worker:
    """A worker with every agent installed, running the packs of ``settings.rules_dir`` (else
    the built-in ones) until it has read the published packs: that reading happens here, from
    the rules topic to its end, so the first event already meets the published rules. Tasks
    get their deadlines from ``settings.sla_policy``, followed as it changes
    (:class:`PolicyError` if it is unusable at start)."""
    from ctxi.agents import context, health, ingest, outcomes, rules, service_levels, sinks

    app = create_app(settings)
    tables = Tables.create(app, settings)
    rule_set = RuleSet(load_rule_dir(settings.rules_dir or BUILTIN_PACKS, frozenset(settings.queues)))
    decoded = settings.engine.decoded_rows
    engine = Engine(
        settings.engine,
        EncodedRows(CustomerContext, tables.customer_contexts, decoded),
        EncodedRows(FleetIndex, tables.fleet_index, decoded),
        rules=rule_set,
        entity_features=EncodedRows(EntityFeatureRow, tables.entity_features, decoded),
    )
    logger.info("rules from %s: version %s", settings.rules_dir or BUILTIN_PACKS, rule_set.version)
    worker = Worker(
        settings=settings,
        app=app,
        topics=Topics.create(app, settings),
        tables=tables,
        engine=engine,
        store=RedisTaskStore(connect_redis(settings.redis_url), settings.redis_prefix),
        stores=StoresInOrder(),
        outcome_keys=OutcomeKeys(
            settings.redis_url, settings.redis_prefix, [key.get_secret_value() for key in settings.outcome_keys]
        ),
    )
    for module in (ingest, context, outcomes, rules, service_levels, sinks, health):
        module.install(worker)
    return worker

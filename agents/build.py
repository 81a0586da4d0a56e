"""The stream worker, built in one place: its app, topics, tables, engine, Redis store and agents.

``build_worker(settings)`` is what ``ctxi worker`` runs: nothing connects to Kafka or Redis
when a module is imported.
"""

from __future__ import annotations

import logging

from ctxi.agents import context, health, ingest, outcomes, rules, service_levels, sinks
from ctxi.agents.codecs import register_codecs
from ctxi.agents.worker import Worker
from ctxi.context.fleet import FleetIndex
from ctxi.engine.pipeline import Engine
from ctxi.engine.rows import EncodedRows
from ctxi.features.entities import EntityFeatureRow
from ctxi.lookups.devices import build_user_agent_parser
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.context import CustomerContext
from ctxi.settings import Settings
from ctxi.sinks.customer_view_store import CustomerViewKeys
from ctxi.sinks.customer_views import CustomerViewSink
from ctxi.sinks.redis import OutcomeKeys, RedisTaskStore, connect_redis
from ctxi.streams.acks import StoresInOrder
from ctxi.streams.app import Tables, Topics, create_app

logger = logging.getLogger(__name__)


def build_worker(settings: Settings) -> Worker:
    """A worker with every agent installed, running the packs of ``settings.rules_dir`` (else
    the built-in ones) until it has read the published packs: that reading happens here, from
    the rules topic to its end, so the first event already meets the published rules. Tasks
    get their deadlines from ``settings.sla_policy``, followed as it changes
    (:class:`PolicyError` if it is unusable at start)."""
    register_codecs()
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
    build_user_agent_parser()
    redis = connect_redis(settings.redis_url)
    worker = Worker(
        settings=settings,
        app=app,
        topics=Topics.create(app, settings),
        tables=tables,
        engine=engine,
        store=RedisTaskStore(redis, settings.redis_prefix),
        stores=StoresInOrder(),
        outcome_keys=OutcomeKeys(
            settings.redis_url, settings.redis_prefix, [key.get_secret_value() for key in settings.outcome_keys]
        ),
        customer_views=CustomerViewSink(
            redis,
            CustomerViewKeys(settings.redis_prefix),
            settings.engine,
            keep_seconds=int(settings.customer_view_days * 86400),
            identifiers=frozenset(settings.customer_identifiers),
        ),
    )
    for module in (ingest, context, outcomes, rules, service_levels, sinks, health):
        module.install(worker)
    return worker

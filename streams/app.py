"""The faust application of a worker, and the topics and tables its agents read and write.

Nothing here runs at import: :func:`create_app` builds an app from settings, and
``agents/build.py`` builds the whole worker on it (``build_worker``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import faust
from faust.types import TopicT

from ctxi.settings import Settings
from ctxi.streams import codecs
from ctxi.streams.faust_fixes import check_versions
from ctxi.streams.faust_fixes.changelog_waits import WaitedChangelogTable
from ctxi.streams.faust_fixes.decode_errors import DeadLetteringTopic
from ctxi.streams.faust_fixes.web_first import RestoreWatchedApp
from ctxi.streams.restore import RestoreProgress
from ctxi.streams.topics import TABLES, changelog_topic
from ctxi.streams.transport import SCHEME


class WorkerApp(RestoreWatchedApp):
    """faust's App, knowing where what its topics cannot decode goes (``streams/faust_fixes/decode_errors.py``),
    serving ``/health`` and ``/ready`` while its tables restore, and how far that has got."""

    dead_letter_topic: TopicT
    customer_topic: str  # the by-customer topic: its partitions are the customers a worker decides
    restore_progress: RestoreProgress


def create_app(settings: Settings) -> WorkerApp:
    """The worker's faust app: ctxi's transport, tables and topic classes, no agents yet.

    Raises :class:`RuntimeError` while the codecs its topics name are not registered, and
    :class:`~ctxi.streams.faust_fixes.UnsupportedVersions` when faust or aiokafka is
    not the version ctxi's fixes were written for."""
    check_versions()
    codecs.check_registered()
    app = WorkerApp(
        settings.app_id,
        broker=[f"{SCHEME}://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")],
        # where a partition with no committed offset starts; the transport rewinds to it too
        consumer_auto_offset_reset="earliest",
        processing_guarantee=settings.processing_guarantee,
        broker_commit_interval=settings.commit_interval,
        # a fetch's bytes per partition (faust: 1 MiB): restoring 200,000 customers' changelog took
        # 64 s with 1 MiB and 25 s with 4 MiB (more changed nothing; docs/operations.md)
        consumer_max_fetch_size=4 * 1024 * 1024,
        store=settings.store,
        datadir=str(settings.data_dir),
        table_standby_replicas=settings.standby_replicas,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        # a worker that dies without leaving (SIGKILL, a lost node) keeps its partitions this long
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
        # Topics are created from the catalogue (streams/topics.py) before the worker starts.
        topic_allow_declare=True,
        autodiscover=False,
        Table=WaitedChangelogTable,
        Topic=DeadLetteringTopic,
    )
    app.restore_progress = RestoreProgress()
    app.customer_topic = settings.events_by_customer_topic
    app.dead_letter_topic = model_topic(app, settings, settings.dead_letter_topic, codecs.DEAD_LETTER_CODEC, bytes)
    return app


def model_topic(app: faust.App, settings: Settings, name: str, codec: str, key_type: type = str) -> faust.Topic:
    """A topic of ctxi's own: raw string keys, values in one of our pydantic codecs."""
    topic = app.topic(
        name, key_type=key_type, key_serializer="raw", value_serializer=codec, partitions=settings.topic_partitions
    )
    assert isinstance(topic, faust.Topic)  # the app's Topic class (create_app)
    return topic


@dataclass(frozen=True)
class Topics:
    """The topics the worker's agents read and write."""

    # Input arrives as raw bytes: judging it is the ingest agent's job, not the codec's,
    # so that a bad message becomes a dead letter instead of a decode error. The "raw"
    # serializers must be explicit: otherwise the app's default (json) decodes first and a
    # non-JSON message crashes the agent before ingest can dead-letter it.
    inputs: TopicT
    events_by_customer: faust.Topic
    dead_letters: TopicT
    signals: faust.Topic
    tasks: dict[str, faust.Topic]  # by queue
    shadow_tasks: faust.Topic
    closures: faust.Topic
    outcomes: faust.Topic

    @classmethod
    def create(cls, app: WorkerApp, settings: Settings) -> Topics:
        def topic(name: str, codec: str) -> faust.Topic:
            return model_topic(app, settings, name, codec)

        return cls(
            inputs=app.topic(
                *settings.input_topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
            ),
            events_by_customer=topic(settings.events_by_customer_topic, codecs.ROUTED_CODEC),
            dead_letters=app.dead_letter_topic,
            signals=topic(settings.signals_topic, codecs.ENRICHED_CODEC),
            tasks={queue: topic(settings.task_topic(queue), codecs.TASK_CODEC) for queue in settings.queues},
            shadow_tasks=topic(settings.shadow_task_topic, codecs.TASK_CODEC),
            closures=topic(settings.closures_topic, codecs.CLOSURE_CODEC),
            outcomes=topic(settings.outcomes_topic, codecs.OUTCOME_CODEC),
        )


def bytes_table(app: faust.App, settings: Settings, name: str) -> WaitedChangelogTable:
    """A changelog-backed table of bytes, keyed by string: rows as their changelog records carry
    them, JSON the engine decodes (``engine/rows.py``), so neither recovery nor the table holds
    decoded models."""
    changelog = app.topic(
        changelog_topic(settings, name),
        key_type=str,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
        compacting=True,
        deleting=False,
        internal=True,
        # nothing commits a changelog's offsets: without acks faust keeps no gaps of theirs, an
        # interval tree of ~100 MB at 200,000 customers on a compacted changelog (docs/operations.md)
        acks=False,
    )
    table = app.Table(name, partitions=settings.topic_partitions, changelog_topic=changelog, help=TABLES[name])
    assert isinstance(table, WaitedChangelogTable)  # the app's Table class (create_app)
    table.key_serializer, table.value_serializer = "raw", "raw"
    return table


@dataclass(frozen=True)
class Tables:
    """The worker's tables (their changelogs: ``streams/topics.py``)."""

    customer_contexts: WaitedChangelogTable
    fleet_index: WaitedChangelogTable
    entity_features: WaitedChangelogTable

    @classmethod
    def create(cls, app: WorkerApp, settings: Settings) -> Tables:
        return cls(
            customer_contexts=bytes_table(app, settings, "customer_context"),
            fleet_index=bytes_table(app, settings, "fleet_index"),
            entity_features=bytes_table(app, settings, "entity_features"),
        )

    def __iter__(self) -> Iterator[WaitedChangelogTable]:
        return iter((self.customer_contexts, self.fleet_index, self.entity_features))

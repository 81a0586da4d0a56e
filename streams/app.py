"""The faust application of a worker, and the topics and tables its agents read and write.

Nothing here runs at import: :func:`create_app` builds an app from settings, and
``agents/worker.py`` builds the whole worker on it (``build_worker``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import faust
from faust.serializers import codecs as faust_codecs
from faust.types import CodecArg, FutureMessage, TopicT

from ctxi.settings import Settings
from ctxi.streams import codecs
from ctxi.streams.decode_errors import DeadLetteringTopic
from ctxi.streams.rollback import TransactionalTable
from ctxi.streams.topics import TABLES, changelog_topic
from ctxi.streams.transport import SCHEME


class SnapshotTable(TransactionalTable):
    """A table whose changelog records are the values as they were set, and can be waited for.

    faust serializes a changelog record when its producer buffer gets to it, a moment
    later; the engine builds a customer's next context on the same object, so the record
    could carry state whose outputs are not on the broker yet (a crash then would lose
    them: the next owner would call the redone event a duplicate). Serialized here, at
    once, a record is exactly what was stored: the serialization happens once either way.

    And faust commits offsets after a flush of that buffer that gives up after 0.1 s, so
    a message could be committed while its record still waits in the buffer, and be lost
    with it on a stop. The records sent are kept until :meth:`take_sent`, for the writer to
    wait for them before the message is acknowledged.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[FutureMessage] = []

    def send_changelog(  # type: ignore[override]
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: CodecArg | None = None,
        value_serializer: CodecArg | None = None,
    ) -> FutureMessage:
        if value is not None and value_serializer is None:
            value, value_serializer = faust_codecs.dumps(self.value_serializer, value), "raw"
        record = super().send_changelog(partition, key, value, key_serializer, value_serializer)
        self.sent.append(record)
        return record

    def take_sent(self) -> list[FutureMessage]:
        """The changelog records sent since the last call: each resolves once on the broker."""
        sent, self.sent = self.sent, []
        return sent


class WorkerApp(faust.App):
    """faust's App, knowing where what its topics cannot decode goes (``streams/decode_errors.py``)."""

    dead_letter_topic: TopicT


def create_app(settings: Settings) -> WorkerApp:
    """The worker's faust app: ctxi's transport, tables and topic classes, no agents yet."""
    app = WorkerApp(
        settings.app_id,
        broker=[f"{SCHEME}://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")],
        # where a partition with no committed offset starts; the transport rewinds to it too
        consumer_auto_offset_reset="earliest",
        processing_guarantee=settings.processing_guarantee,
        store=settings.store,
        datadir=str(settings.data_dir),
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
        Table=SnapshotTable,
        Topic=DeadLetteringTopic,
    )
    app.dead_letter_topic = model_topic(app, settings, settings.dead_letter_topic, codecs.DEAD_LETTER_CODEC, bytes)
    return app


def model_topic(app: faust.App, settings: Settings, name: str, codec: str, key_type: type = str) -> TopicT:
    """A topic of ctxi's own: raw string keys, values in one of our pydantic codecs."""
    return app.topic(
        name, key_type=key_type, key_serializer="raw", value_serializer=codec, partitions=settings.topic_partitions
    )


@dataclass(frozen=True)
class Topics:
    """The topics the worker's agents read and write."""

    # Input arrives as raw bytes: judging it is the ingest agent's job, not the codec's,
    # so that a bad message becomes a dead letter instead of a decode error. The "raw"
    # serializers must be explicit: otherwise the app's default (json) decodes first and a
    # non-JSON message crashes the agent before ingest can dead-letter it.
    inputs: TopicT
    events_by_customer: TopicT
    dead_letters: TopicT
    signals: TopicT
    tasks: dict[str, TopicT]  # by queue
    shadow_tasks: TopicT
    closures: TopicT
    outcomes: TopicT

    @classmethod
    def create(cls, app: WorkerApp, settings: Settings) -> Topics:
        def topic(name: str, codec: str) -> TopicT:
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


def model_table(app: faust.App, settings: Settings, name: str, codec: str) -> SnapshotTable:
    """A changelog-backed table of pydantic models, keyed by string.

    faust derives a table's serializers from ``value_type``, which only knows faust
    Records. Ours are pydantic models, so both ends get our codec: the changelog topic,
    given explicitly (its consumer decodes during recovery), and the table itself (it
    encodes what it writes to that topic).
    """
    changelog = app.topic(
        changelog_topic(settings, name),
        key_type=str,
        key_serializer="raw",
        value_serializer=codec,
        partitions=settings.topic_partitions,
        compacting=True,
        deleting=False,
        internal=True,
    )
    table = app.Table(name, partitions=settings.topic_partitions, changelog_topic=changelog, help=TABLES[name])
    table.key_serializer, table.value_serializer = "raw", codec
    return table  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Tables:
    """The worker's tables (their changelogs: ``streams/topics.py``)."""

    customer_contexts: SnapshotTable
    fleet_index: SnapshotTable
    entity_features: SnapshotTable

    @classmethod
    def create(cls, app: WorkerApp, settings: Settings) -> Tables:
        return cls(
            customer_contexts=model_table(app, settings, "customer_context", codecs.CONTEXT_CODEC),
            fleet_index=model_table(app, settings, "fleet_index", codecs.FLEET_INDEX_CODEC),
            entity_features=model_table(app, settings, "entity_features", codecs.ENTITY_FEATURE_CODEC),
        )

    def __iter__(self) -> Iterator[SnapshotTable]:
        return iter((self.customer_contexts, self.fleet_index, self.entity_features))

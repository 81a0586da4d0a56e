"""What rules run on besides the event reaches every worker live, without restart: the
published rule packs, the snoozes, and the tally of outcomes that rules with
``learn_priority`` learn from.

Every worker needs all of it, so these topics are not consumed in the group (which would
split them between workers): each worker reads them whole, every partition, first up to
the end before it starts processing, then live from a task of its own. (The outcomes also
reach the customers' contexts through the group, in agents/outcomes.py.)
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as SyncTopicPartition
from pydantic import ValidationError

from ctxi.engine.pipeline import Engine
from ctxi.ingest.outcomes import outcome_problem
from ctxi.pack_tools.publish import HISTORY_KEY_PREFIX, LIVE_SET_KEY, LiveSet, load_published
from ctxi.rules.evaluate import RuleSet
from ctxi.rules.learning import TASKS_REMEMBERED
from ctxi.rules.loader import RulePackError
from ctxi.rules.snooze import Snooze
from ctxi.schemas.task import TaskOutcome
from ctxi.sinks.redis import OutcomeKeys
from ctxi.streams.metrics import DOCUMENT_STALE

if TYPE_CHECKING:
    from ctxi.agents.worker import Worker

logger = logging.getLogger(__name__)


class RuleInputs:
    """What is published on the rules and snoozes topics and reported on the outcomes topic,
    applied to ``engine`` as it comes."""

    def __init__(
        self,
        engine: Engine,
        queues: frozenset[str],
        rules_topic: str,
        snoozes_topic: str,
        outcomes_topic: str,
        outcome_keys: OutcomeKeys,
    ) -> None:
        self.engine, self.queues, self.rules_topic = engine, queues, rules_topic
        self.outcome_keys = outcome_keys
        # outcomes read before the keys could be (Redis away at start), counted once they are
        self.unjudged: deque[TaskOutcome] = deque(maxlen=TASKS_REMEMBERED)
        self.followed: dict[str, Callable[[bytes, bytes | None], None]] = {
            rules_topic: self.apply_pack,
            snoozes_topic: self.apply_snooze,
            outcomes_topic: self.apply_outcome,
        }

    def apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """Apply one record; one that cannot be (a hand-made message, a bug) is logged and skipped:
        what is in force stays, and the worker reads on."""
        try:
            self.followed[topic](key or b"", value)
        except Exception as exc:
            if topic == self.rules_topic:
                DOCUMENT_STALE.labels("rules").set(1)
            logger.error("a record on %s was not applied, what is in force stays: %s", topic, exc)

    def apply_pack(self, key: bytes, value: bytes | None) -> None:
        """Switch to a new live set, whole (pack_tools/publish.py); a set that does not compile keeps the
        running one. The packs' history records are not the worker's."""
        if key.startswith(HISTORY_KEY_PREFIX.encode()) or value is None:
            return
        if key != LIVE_SET_KEY.encode():  # one pack per record, as ctxi wrote before sets: publish again
            logger.warning("a rule pack record %r from an earlier ctxi is ignored: publish the packs again", key)
            return
        live = LiveSet.model_validate_json(value)
        engine = self.engine
        try:
            rules = RuleSet(load_published(live.packs, self.queues))
        except RulePackError as exc:  # `ctxi rules publish` checks first, so only a hand-made message gets here
            DOCUMENT_STALE.labels("rules").set(1)
            kept = engine.rules.version if engine.rules is not None else None
            logger.error("published rule set rejected, keeping version %s:\n%s", kept, exc)
            return
        DOCUMENT_STALE.labels("rules").set(0)
        engine.rules = rules  # one assignment: each event sees the old set or the new one, never a mix
        logger.info(
            "rules version %s live (%s): %s, by %s", rules.version, ", ".join(sorted(live.packs)), live.change,
            live.changed_by,
        )  # fmt: skip

    def apply_snooze(self, key: bytes, value: bytes | None) -> None:
        if value is not None:
            snooze = Snooze.model_validate_json(value)
            self.engine.snoozes.put(snooze)
            logger.info("snooze %s until %s: %s", snooze.key, snooze.until.isoformat(), snooze.reason)

    def apply_outcome(self, key: bytes, value: bytes | None) -> None:
        try:
            outcome = TaskOutcome.model_validate_json(value or b"")
        except ValidationError:
            return  # not counted here: agents/outcomes.py dead-letters it with the reason
        if self.outcome_keys.current is None:
            self.unjudged.append(outcome)
        else:
            self.count_if_proven(outcome, self.outcome_keys.current)

    def count_if_proven(self, outcome: TaskOutcome, keys: list[bytes]) -> None:
        if outcome_problem(outcome, keys, datetime.now(UTC)) is None:  # else dead-lettered by agents/outcomes.py
            self.engine.count_outcome(outcome)

    async def judge_waiting_outcomes(self) -> None:
        """Count what came while the keys could not be read, once they can."""
        keys = await self.outcome_keys.wait()
        while self.unjudged:
            self.count_if_proven(self.unjudged.popleft(), keys)

    def read_to_end(self, bootstrap_servers: list[str]) -> dict[tuple[str, int], int]:
        """Apply everything published so far, the packs and snoozes first (the outcomes count only
        for the rules that are live); return where each partition's live reading starts."""
        self.outcome_keys.load_now()
        consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
        try:
            start: dict[tuple[str, int], int] = {}
            *definitions, outcomes = self.followed
            for topics in (definitions, [outcomes]):
                partitions = [
                    SyncTopicPartition(topic, partition)
                    for topic in topics
                    for partition in sorted(consumer.partitions_for_topic(topic) or {0})
                ]
                consumer.assign(partitions)
                consumer.seek_to_beginning(*partitions)
                end = consumer.end_offsets(partitions)
                while any(consumer.position(partition) < end[partition] for partition in partitions):
                    for records in consumer.poll(timeout_ms=1000).values():
                        for record in records:
                            self.apply(record.topic, record.key, record.value)
                start |= {(partition.topic, partition.partition): end[partition] for partition in partitions}
            return start
        finally:
            consumer.close()

    async def follow(self, bootstrap_servers: list[str], start: dict[tuple[str, int], int]) -> None:
        """Apply what comes from ``start`` on, for as long as the worker runs."""
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, partition) for topic, partition in start])
            for (topic, partition), offset in start.items():
                consumer.seek(TopicPartition(topic, partition), offset)
            async for record in consumer:
                self.apply(record.topic, record.key, record.value)
        finally:
            await consumer.stop()


def install(worker: Worker) -> None:
    """Read what is published to its end now (the worker starts on it), then follow it live."""
    settings = worker.settings
    inputs = RuleInputs(
        worker.engine,
        frozenset(settings.queues),
        settings.rules_topic,
        settings.snoozes_topic,
        settings.outcomes_topic,
        worker.outcome_keys,
    )
    servers = settings.kafka_bootstrap_servers.split(",")
    start = inputs.read_to_end(servers)

    @worker.app.task
    async def follow_rule_inputs() -> None:
        await inputs.follow(servers, start)

    @worker.app.task
    async def judge_waiting_outcomes() -> None:
        await inputs.judge_waiting_outcomes()

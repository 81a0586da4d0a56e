"""The live rule set: every team's packs, changed one pack at a time, switched to as a whole.

Several teams share one live set. Publishing a folder adds or replaces the packs in it (by
pack name) and leaves every other pack as it is; a pack leaves only when withdrawn; a pack
goes back to an earlier text by a rollback. Each change writes, to the compacted rules
topic, one record per pack it touches (its history, kept under a key of its own) and then
the whole new set under one key, :data:`LIVE_SET_KEY`: a worker reads only that record, so
it goes from one complete set to the next in one step, never through a partial set (once,
travel rules were off for 0.9 s while a publish's packs arrived one by one). On a fresh
stack, before any change, the live set is the built-in packs (or ``CTXI_RULES_DIR``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from pydantic import BaseModel, ConfigDict

from ctxi.features.definitions import CompiledFeature
from ctxi.pack_tools.load import load_rule_dir, load_rule_texts
from ctxi.rules.loader import LoadedPacks, RulePackError, set_version
from ctxi.rules.snooze import Snooze
from ctxi.settings import Settings

LIVE_SET_KEY = "live-set"
HISTORY_KEY_PREFIX = "history/"
BUILT_IN = "built-in"  # who "published" the packs a fresh stack runs


class PublishedPack(BaseModel):
    """One pack as published: its YAML text (compiled again by each worker) and who shipped it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    pack: str
    text: str
    published_at: datetime
    published_by: str

    @property
    def version(self) -> str:
        """A digest of its text: what `ctxi rules status` and `rollback --to` name a pack's version by."""
        return set_version({self.pack: self.text})


class LiveSet(BaseModel):
    """The packs every worker runs, as one record, and the change that made it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    packs: dict[str, PublishedPack]
    change: str  # e.g. "published loyalty", "withdrew loyalty", "rolled loyalty back to 3f2a..."
    changed_by: str
    changed_at: datetime

    @property
    def version(self) -> str:
        """The set's version: what a worker logs as live, and what a publish prints."""
        return set_version({name: pack.text for name, pack in self.packs.items()})


class PackChange(BaseModel):
    """One pack's change, kept in its history (`ctxi rules history PACK`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    pack: str
    action: Literal["published", "withdrawn", "rolled back"]
    text: str | None  # the pack's text from then on (None: withdrawn)
    by: str
    at: datetime
    set_version: str  # the live set's version after the change

    @property
    def version(self) -> str | None:
        return None if self.text is None else set_version({self.pack: self.text})


def load_published(packs: dict[str, PublishedPack], queues: frozenset[str]) -> LoadedPacks:
    """Compile published packs (already checked before publishing, so errors here are unexpected)."""
    return load_rule_texts({f"published:{name}": pack.text for name, pack in sorted(packs.items())}, queues)


def built_in_set(settings: Settings, at: datetime | None = None) -> LiveSet:
    """What a fresh stack runs: ``CTXI_RULES_DIR``, else the built-in packs."""
    from ctxi.rules import BUILTIN_PACKS

    loaded = load_rule_dir(settings.rules_dir or BUILTIN_PACKS, frozenset(settings.queues))
    at = at or datetime.now(UTC)
    packs = {
        name: PublishedPack(pack=name, text=text, published_at=at, published_by=BUILT_IN)
        for name, text in loaded.files.items()
    }
    return LiveSet(packs=packs, change="the built-in packs", changed_by=BUILT_IN, changed_at=at)


class RulesTopic(BaseModel):
    """What the rules topic holds: the live set (None before any change) and every pack's history."""

    live: LiveSet | None
    history: list[PackChange]

    def live_or_built_in(self, settings: Settings) -> LiveSet:
        return self.live or built_in_set(settings)

    def history_of(self, pack: str) -> list[PackChange]:
        return sorted((change for change in self.history if change.pack == pack), key=lambda change: change.at)


def read_rules_topic(settings: Settings) -> RulesTopic:
    live, history = None, []
    for key, value in read_compacted(settings, settings.rules_topic).items():
        if key == LIVE_SET_KEY.encode():
            live = LiveSet.model_validate_json(value)
        elif key.startswith(HISTORY_KEY_PREFIX.encode()):
            history.append(PackChange.model_validate_json(value))
    return RulesTopic(live=live, history=history)


def changed_set(
    current: LiveSet,
    changes: dict[str, str | None],
    change: str,
    by: str,
    queues: frozenset[str],
    at: datetime | None = None,
) -> tuple[LiveSet, LoadedPacks]:
    """``current`` with ``changes`` ({pack: its new text, or None to withdraw it}), compiled whole
    (:class:`RulePackError` when the packs do not go together: a rule id twice, a feature
    another pack needs withdrawn)."""
    at = at or datetime.now(UTC)
    packs = dict(current.packs)
    for name, text in changes.items():
        if text is None:
            packs.pop(name, None)
        else:
            packs[name] = PublishedPack(pack=name, text=text, published_at=at, published_by=by)
    if not packs:
        raise RulePackError(["the live set would have no pack left; publish another before withdrawing the last"])
    new = LiveSet(packs=packs, change=change, changed_by=by, changed_at=at)
    return new, load_published(packs, queues)


def history_records(new: LiveSet, changes: dict[str, str | None], action: str) -> dict[str, BaseModel]:
    """The history records of a change, keyed for the compacted topic (each change its own key)."""
    records: dict[str, BaseModel] = {}
    for name, text in changes.items():
        what = "withdrawn" if text is None else action
        record = PackChange(
            pack=name, action=what, text=text, by=new.changed_by, at=new.changed_at, set_version=new.version
        )
        records[f"{HISTORY_KEY_PREFIX}{name}/{new.changed_at.isoformat()}"] = record
    return records


def apply_change(settings: Settings, new: LiveSet, history: dict[str, BaseModel]) -> None:
    """Write a change: its history first, then the whole new set (what workers switch to)."""
    send(settings.kafka_bootstrap_servers, settings.rules_topic, {**history, LIVE_SET_KEY: new})


def new_features(publishing: LoadedPacks, running: LoadedPacks) -> list[CompiledFeature]:
    """The features ``publishing`` defines that ``running`` does not (new, or changed: both start empty)."""
    running_keys = {compiled.state_key for compiled in running.features}
    return [compiled for compiled in publishing.features if compiled.state_key not in running_keys]


def send(bootstrap_servers: str, topic: str, messages: dict[str, BaseModel]) -> None:
    """Write {key: model}, in order, to partition 0 of a compacted topic (the one its readers read,
    however many partitions a broker gave it) and wait until the broker has them all; a message
    it refuses (too large, say) is an error, not a silent loss."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers.split(","), acks="all")
    try:
        sent = [
            producer.send(topic, key=key.encode(), value=model.model_dump_json().encode(), partition=0)
            for key, model in messages.items()
        ]
        producer.flush(timeout=30)
        for record in sent:
            record.get(timeout=30)
    finally:
        producer.close()


def read_compacted(settings: Settings, topic: str) -> dict[bytes, bytes]:
    """The latest value of every key of a one-partition compacted topic (deleted keys left out)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","), enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    latest: dict[bytes, bytes | None] = {}
    try:
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        while consumer.position(partition) < end:
            for records in consumer.poll(timeout_ms=1000).values():
                latest.update((record.key, record.value) for record in records)
    finally:
        consumer.close()
    return {key: value for key, value in latest.items() if value is not None}


def snooze_message(snooze: Snooze) -> dict[str, BaseModel]:
    return {snooze.key: snooze}

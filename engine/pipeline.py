"""The engine: what happens to one message on the by-customer topic.

Both runners call :meth:`Engine.decide` and :meth:`Engine.store`: the faust agent
(``agents/context.py``) with faust tables as the stores, and ``ctxi replay``
(``engine/replay.py``) with dicts, through :meth:`Engine.handle`. What the engine asks to
send on is returned, never sent here: I/O stays with the runner. So is the state it
changed, until the runner stores it: the worker stores it only once what it led to is on
the broker, so a crash in between makes the next owner redo the message, not skip it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ctxi.context import fleet
from ctxi.context.fleet import FleetIndex, FleetIndexEntry, add_to_index, fan_out, rekey_location_alert
from ctxi.context.join import JoinStatus, apply_outcome
from ctxi.engine.event_types import EventTypes, builtin_event_types
from ctxi.features import entities
from ctxi.features.entities import EntityFeatureRow, EntityFeatureVisit
from ctxi.rule_language.explain import Explanation
from ctxi.rules.evaluate import Counted, Decision, RuleOutcomes, RuleSet
from ctxi.rules.learning import OutcomeTally
from ctxi.rules.snooze import Snoozes
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import EVENT_MODELS, Event, FleetEventEnvelope, FlightStatusEvent, WeatherAlertEvent
from ctxi.schemas.signals import Signal
from ctxi.schemas.task import TaskClosure, TaskOutcome
from ctxi.service_levels.policy import LoadedPolicy
from ctxi.settings import EngineConfig

logger = logging.getLogger(__name__)


class RowExpiry(BaseModel):
    """'Drop the row ``key`` of ``table`` if nothing in it matters any more as of ``as_of``' (an internal
    message: the worker's sweep sends it through the row's partition, where rows are written)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["ctxi.row_expiry"] = "ctxi.row_expiry"
    table: Literal["fleet_index", "entity_features"]
    key: str
    as_of: datetime = Field(description="The worker's stream time: the latest event time it has read.")

    @property
    def partition_key(self) -> str:
        return self.key


_INTERNAL = (FleetIndexEntry, EntityFeatureVisit, RowExpiry, TaskOutcome)  # messages of ctxi's own
Routed = Annotated[
    Union[(*EVENT_MODELS, *_INTERNAL)],  # type: ignore[valid-type]  # from a tuple: typed as Message below
    Field(discriminator="type"),
]
"""What travels on the by-customer topic: events, the fleet index entries bookings make, events on
their way through their entity features, the sweep's expiries of rows, and the outcomes agents
report (they feed the contact policy)."""
ROUTED_ADAPTER: TypeAdapter[Routed] = TypeAdapter(Routed)
Message = Event | FleetIndexEntry | EntityFeatureVisit | RowExpiry | TaskOutcome


class EnrichedEvent(BaseModel):
    """One joined event and the signals the enrichers drew from it (the output until rules exist)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_id: str
    customer_id: str
    event_type: str
    occurred_at: datetime
    late: bool = Field(description="Arrived after the customer's watermark less the grace window.")
    signals: list[Signal]


@dataclass
class Output:
    """What one message produced: an enriched event to publish, messages to route on, tasks and
    closures; and the table rows it changed, to store after they are sent."""

    outcome: str
    context: CustomerContext | None = None
    fleet_index: FleetIndex | None = None
    entity_row: EntityFeatureRow | None = None
    dropped: tuple[str, str] | None = None  # (table, key) of a row to delete
    event: Event | None = None  # the customer's event joined into ``context`` (the customer view's timeline)
    enriched: EnrichedEvent | None = None
    forwards: Sequence[Event | FleetIndexEntry | EntityFeatureVisit] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    closures: list[TaskClosure] = field(default_factory=list)
    failed_rules: list[tuple[str, int, str]] = field(default_factory=list)  # (rule id, version, message)
    failed_features: list[tuple[str, str]] = field(default_factory=list)  # (feature id, message)
    late: bool = False  # a joined event more than the grace window behind its customer's watermark
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step of EVENT_STEPS, by name
    explanations: list[Explanation] = field(default_factory=list)  # Engine.explain_rule (rule_language/explain.py)

    @property
    def changes_rows(self) -> bool:
        return any(row is not None for row in (self.context, self.fleet_index, self.entity_row, self.dropped))


@dataclass
class Engine:
    """Join, fan-out, enrichment and rules for one message at a time.

    ``rules`` may be swapped for a new :class:`RuleSet` at any moment (a published pack):
    each message reads the attribute once, so it is evaluated by one version, never a mix.

    A row decided but not stored yet (its message's outputs are still on their way to the
    broker) is what the next message of that customer or key builds on, as a copy: the
    pending store must write the row as its own message left it. ``handle`` stores at once,
    so replay never copies.
    """

    config: EngineConfig
    contexts: MutableMapping[str, CustomerContext]
    fleet_index: MutableMapping[str, FleetIndex]
    rules: RuleSet | None = None
    # the service levels that give each task its claim_by and resolve_by (none: no deadlines)
    service_levels: LoadedPolicy | None = None
    entity_features: MutableMapping[str, EntityFeatureRow] = field(default_factory=dict)
    snoozes: Snoozes = field(default_factory=Snoozes)
    # how agents closed each rule version's tasks: what rules with learn_priority learn from
    outcome_tally: OutcomeTally = field(default_factory=OutcomeTally)
    counts: Counter[str] = field(default_factory=Counter)
    fired: Counter[tuple[str, int]] = field(default_factory=Counter)
    unstored_contexts: dict[str, CustomerContext] = field(default_factory=dict, repr=False)
    unstored_index: dict[str, FleetIndex] = field(default_factory=dict, repr=False)
    unstored_entities: dict[str, EntityFeatureRow] = field(default_factory=dict, repr=False)
    stream_time: datetime | None = None  # the latest event time decided on: the sweep's clock
    explain_rule: str | None = None  # a rule id whose every evaluation is explained (ctxi rules explain)
    # entity feature rows by when they were last counted in, least recent first (the bound's order)
    entity_recency: OrderedDict[str, None] = field(default_factory=OrderedDict, repr=False)
    # when this engine began computing each feature definition: features read warm a window later
    feature_clock: dict[str, datetime] = field(default_factory=dict, repr=False)
    # every event type's joiner, enrichers and sample, checked complete as the engine is built
    event_types: EventTypes = field(default_factory=builtin_event_types, repr=False)

    def count_outcome(self, outcome: TaskOutcome) -> bool:
        """Count a proven outcome for the live rules that learn (rules/learning.py)."""
        return self.outcome_tally.record(outcome, self.rules.learning if self.rules is not None else frozenset())

    def handle(self, message: Message) -> Output:
        """Decide and store at once: for runners whose sends cannot fail (replay, tests)."""
        output = self.decide(message)
        self.store(output)
        return output

    def store(self, output: Output) -> None:
        """Write the table rows ``output`` changed (in the order the messages were decided)."""
        if (context := output.context) is not None:
            self.contexts[context.customer_id] = context
            if self.unstored_contexts.get(context.customer_id) is context:  # nothing decided on it since
                del self.unstored_contexts[context.customer_id]
        if (index := output.fleet_index) is not None:
            self.fleet_index[index.key] = index
            if self.unstored_index.get(index.key) is index:
                del self.unstored_index[index.key]
        if (row := output.entity_row) is not None:
            self.entity_features[row.key] = row
            if self.unstored_entities.get(row.key) is row:
                del self.unstored_entities[row.key]
        if output.dropped is not None:
            table, key = output.dropped
            self._tables[table].pop(key, None)

    def forget_unstored(self) -> None:
        """Forget every row decided and not stored: the transactions of their messages were aborted
        (exactly-once), so those messages are redone from what is stored, never from their own effects."""
        self.unstored_contexts.clear()
        self.unstored_index.clear()
        self.unstored_entities.clear()

    def discard(self, output: Output) -> None:
        """Forget the rows ``output`` changed, its message having failed after the decision (it was
        dead-lettered): the next message builds on what is stored."""
        if (context := output.context) is not None and self.unstored_contexts.get(context.customer_id) is context:
            del self.unstored_contexts[context.customer_id]
        if (index := output.fleet_index) is not None and self.unstored_index.get(index.key) is index:
            del self.unstored_index[index.key]
        if (row := output.entity_row) is not None and self.unstored_entities.get(row.key) is row:
            del self.unstored_entities[row.key]

    @property
    def _tables(self) -> dict[str, MutableMapping[str, Any]]:
        return {"fleet_index": self.fleet_index, "entity_features": self.entity_features}

    def _context(self, customer_id: str) -> CustomerContext | None:
        pending = self.unstored_contexts.get(customer_id)
        if pending is None:
            return self.contexts.get(customer_id)
        return CustomerContext.model_validate(pending.model_dump())  # 3x cheaper than a deep copy

    def _index(self, key: str) -> FleetIndex | None:
        pending = self.unstored_index.get(key)
        if pending is None:
            return self.fleet_index.get(key)
        # the events and dates in it are never changed in place: copying the containers is enough
        return pending.model_copy(update={"members": dict(pending.members), "recent": list(pending.recent)})

    def _entity_row(self, key: str) -> EntityFeatureRow | None:
        pending = self.unstored_entities.get(key)
        return self.entity_features.get(key) if pending is None else pending.model_copy(deep=True)

    def decide(self, message: Message) -> Output:
        """What ``message`` leads to, with the rows to store (not stored yet)."""
        if isinstance(message, TaskOutcome):
            context = apply_outcome(self._context(message.customer_id), message, self.config)
            output = Output("outcome", context=context)
        elif isinstance(message, FleetIndexEntry):
            index, missed = add_to_index(self._index(message.key), message)
            output = Output("indexed", fleet_index=index, forwards=missed)
        elif isinstance(message, RowExpiry):
            output = self._expire(message)
        elif isinstance(message, EntityFeatureVisit):
            output = self._visit(message) if message.pending else self._join_and_enrich(message.event, message.values)
        elif isinstance(message, FleetEventEnvelope) and message.customer_id is None:
            output = self._fan_out(message)
        else:
            routed, failures = self.route(message)
            if isinstance(routed, EntityFeatureVisit) and routed.pending:
                output = Output("to_entities", forwards=[routed])
            else:
                output = self._join_and_enrich(message)
            output.failed_features[:0] = failures
        if output.context is not None:
            self.unstored_contexts[output.context.customer_id] = output.context
        if output.fleet_index is not None:
            self.unstored_index[output.fleet_index.key] = output.fleet_index
        if output.entity_row is not None:
            self.unstored_entities[output.entity_row.key] = output.entity_row
        if isinstance(message, EVENT_MODELS) and (self.stream_time is None or message.occurred_at > self.stream_time):
            self.stream_time = message.occurred_at
        self.counts[output.outcome] += 1
        return output

    def _expire(self, expiry: RowExpiry) -> Output:
        if expiry.table == "fleet_index":
            index = self._index(expiry.key)
            keep = timedelta(hours=self.config.itinerary_keep_hours)
            expired = index is not None and fleet.is_expired(index, expiry.as_of, keep)
            unstored: dict[str, Any] = self.unstored_index
        else:
            row = self._entity_row(expiry.key)
            expired = row is not None and entities.is_expired(row, expiry.as_of)
            unstored = self.unstored_entities
        if not expired:
            return Output("row_kept")  # a booking or an event came since the sweep looked, or it is gone already
        unstored.pop(expiry.key, None)
        self.entity_recency.pop(expiry.key, None)
        return Output("row_expired", dropped=(expiry.table, expiry.key))

    def route(self, event: Event) -> tuple[Event | EntityFeatureVisit, list[tuple[str, str]]]:
        """What carries a customer's ``event`` on the by-customer topic, and the failures (feature id, message).

        An event of a type entity features count travels as a visit of their rows (none: its entities
        are null, or filtered out), then reaches its customer; any other event goes as it is. Ingest
        routes the events it validates so (one hop fewer); the engine routes the others (replay,
        fanned-out fleet events) when it meets them.
        """
        rules = self.rules
        if rules is None or event.customer_id is None or not rules.features.across_for(event.type):
            return event, []
        keys, failures = rules.entity_keys(event)
        return EntityFeatureVisit(event=event, pending=keys), failures

    def _visit(self, visit: EntityFeatureVisit) -> Output:
        """Count the event in the first row it has still to visit, and send it on with the value read."""
        key, event = visit.pending[0], visit.event
        current = self._entity_row(key)
        row, values, failures = current, dict[str, dict[str, Any]](), list[tuple[str, str]]()
        if self.rules is not None:
            row, values, failures = self.rules.count_entity(key, current, event, self.config, self.feature_clock)
        onward = visit.model_copy(update={"pending": visit.pending[1:], "values": {**visit.values, **values}})
        changed = row if row is not current else None  # counted before (a redone event): nothing to write
        output = Output("entity_counted", entity_row=changed, forwards=[onward], failed_features=failures)
        if changed is not None:
            output.dropped = self._entity_seen(key, new=current is None)
        return output

    def _entity_seen(self, key: str, new: bool) -> tuple[str, str] | None:
        """Note ``key`` as the entity row seen last; when a new row takes the table past
        ``max_entity_rows``, the row seen least recently goes (counted): 2,000 card ids sent by
        one source once made 2,000 rows for a day."""
        self.entity_recency[key] = None
        self.entity_recency.move_to_end(key)
        if not new or len(self.entity_features) < self.config.max_entity_rows:
            return None
        oldest = next(iter(self.entity_recency))
        if len(self.entity_features) >= len(self.entity_recency):  # rows read back at a start, not seen since
            oldest = next((k for k in self.entity_features if k not in self.entity_recency), oldest)
        self.entity_recency.pop(oldest, None)
        self.unstored_entities.pop(oldest, None)
        self.counts["entity_rows_evicted"] += 1
        return ("entity_features", oldest)

    def _fan_out(self, event: FlightStatusEvent | WeatherAlertEvent) -> Output:
        if isinstance(event, WeatherAlertEvent) and event.payload.airport is None:
            return Output("rekeyed", forwards=rekey_location_alert(event, self.config.weather_airport_radius_km))
        copies, index = fan_out(event, self._index(event.fleet_key))
        return Output("fanned_out", fleet_index=index, forwards=copies)

    def _join_and_enrich(self, event: Event, entity_values: dict[str, dict[str, Any]] | None = None) -> Output:
        """Run a customer's ``event`` through :data:`EVENT_STEPS`, timing each step."""
        assert event.customer_id is not None
        run = EventRun(event, self._context(event.customer_id), entity_values)
        timings = {}
        for name, step in EVENT_STEPS:
            started = time.perf_counter()
            step(self, run)
            timings[name] = time.perf_counter() - started
            if run.duplicate:
                return Output("duplicate")
        assert run.context is not None
        enriched = None
        if run.signals:  # an event that says nothing new is joined but not published
            enriched = EnrichedEvent(
                event_id=event.event_id,
                customer_id=event.customer_id,
                event_type=event.type,
                occurred_at=event.occurred_at,
                late=run.late,
                signals=run.signals,
            )
        outcomes = run.outcomes
        return Output(
            "joined",
            context=run.context,  # after the rules: their cool-downs are part of it
            event=event,
            enriched=enriched,
            forwards=list(run.index_entries),
            decisions=outcomes.decisions,
            closures=[closure.closure for closure in outcomes.closures],
            failed_rules=[(*compiled.key, message) for compiled, message in outcomes.errors],
            failed_features=run.counted.errors if run.counted is not None else [],
            late=run.late,
            timings=timings,
            explanations=outcomes.explanations,
        )

    # --- the steps of a customer's event (EVENT_STEPS) ------------------------------------

    def join(self, run: EventRun) -> None:
        """Join the event into its customer's context (context/join.py, by its type's joiner)."""
        event = run.event
        result = self.event_types.join(run.context, event, self.config)
        run.context, run.late, run.index_entries = result.context, result.late, result.index_entries
        run.duplicate = result.status is JoinStatus.DUPLICATE
        if result.late:  # normal in a stream, so counted (the worker's ctxi_late_events_total), logged at debug
            logger.debug(
                "late event %s for %s (watermark %s)",
                event.event_id,
                event.customer_id,
                result.context.watermark,
                extra={"event_id": event.event_id, "customer_id": event.customer_id},
            )
            self.counts["late"] += 1

    def enrich(self, run: EventRun) -> None:
        """The signals the enrichers of the event's type draw from it and the joined context."""
        context = run.context
        assert context is not None
        run.signals = [
            signal
            for enricher in self.event_types.enrichers(run.event.type)
            for signal in enricher.function(run.event, context, self.config)
        ]

    def count_features(self, run: EventRun) -> None:
        """Count the event in the customer's features (the rules' features, features/)."""
        run.rules = self.rules  # read once: a set published meanwhile takes the next event
        if run.rules is not None and run.context is not None:
            run.counted = run.rules.count(run.event, run.context, run.signals, self.feature_clock)

    def decide_rules(self, run: EventRun) -> None:
        """Run the rules that listen to the event: tasks, each prioritised (prioritize/), and closures."""
        rules, counted = run.rules, run.counted
        if rules is None or counted is None or run.context is None:
            return
        outcomes = rules.decide(
            counted,
            run.event,
            run.context,
            run.signals,
            self.config,
            self.snoozes,
            self.feature_clock,
            run.entity_values,
            self.outcome_tally,
            self.explain_rule,
        )
        run.outcomes = outcomes
        self.counts["rules_evaluated"] += outcomes.evaluated
        self.counts["rules_failed"] += len(outcomes.errors)
        self.counts["rules_suppressed"] += len(outcomes.suppressed)
        self.fired.update(decision.rule.key for decision in outcomes.decisions)

    def set_deadlines(self, run: EventRun) -> None:
        """Give each task its claim and resolve deadlines from the service levels (service_levels/)."""
        if self.service_levels is not None and run.outcomes.decisions:
            run.outcomes.decisions = [
                replace(decision, task=self.service_levels.with_deadlines(decision.task))
                for decision in run.outcomes.decisions
            ]


@dataclass
class EventRun:
    """A customer's event on its way through :data:`EVENT_STEPS`, and what each step made of it."""

    event: Event
    context: CustomerContext | None  # as stored before the join; the joined one after
    entity_values: dict[str, dict[str, Any]] | None  # what its entity features read on its way (per id)
    duplicate: bool = False  # seen before: nothing more to do
    late: bool = False
    index_entries: list[FleetIndexEntry] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    rules: RuleSet | None = None  # the rule set this event is decided by
    counted: Counted | None = None
    outcomes: RuleOutcomes = field(default_factory=RuleOutcomes)


EVENT_STEPS: tuple[tuple[str, Callable[[Engine, EventRun], None]], ...] = (
    ("join", Engine.join),
    ("enrich", Engine.enrich),
    ("features", Engine.count_features),
    ("decide", Engine.decide_rules),
    ("deadlines", Engine.set_deadlines),
)
"""What the engine does to a customer's event, in order; the worker and replay both run it
(``Engine.decide``), and ``ctxi_stage_seconds`` times each step by its name. Before these,
an event whose type entity features count visits their rows (``Engine.route``): each row
lives in its own partition, so a visit is a message of its own on the by-customer topic."""

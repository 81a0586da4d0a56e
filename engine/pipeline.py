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
from collections import Counter
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ctxi.context.fleet import (
    FleetIndex,
    FleetIndexEntry,
    FleetIndexExpiry,
    add_to_index,
    fan_out,
    is_expired,
    rekey_location_alert,
)
from ctxi.context.join import JoinStatus, apply_event, apply_outcome
from ctxi.context.state import CustomerContext
from ctxi.engine.config import EngineConfig
from ctxi.enrichers.registry import enrichers_for, load_builtin_enrichers
from ctxi.enrichers.signals import Signal
from ctxi.rules.evaluate import Decision, RuleSet
from ctxi.rules.snooze import Snoozes
from ctxi.schemas.events import EVENT_MODELS, Event, FleetEventEnvelope, WeatherAlertEvent
from ctxi.schemas.task import TaskClosure, TaskOutcome

logger = logging.getLogger(__name__)

Routed = Annotated[
    Union[(*EVENT_MODELS, FleetIndexEntry, FleetIndexExpiry, TaskOutcome)],  # type: ignore[valid-type]
    Field(discriminator="type"),
]
"""What travels on the by-customer topic: events, the fleet index entries bookings make, the
sweep's expiries of fleet index rows, and the outcomes agents report (they feed the contact
policy)."""
ROUTED_ADAPTER: TypeAdapter[Routed] = TypeAdapter(Routed)


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
    dropped_index: str | None = None  # the key of a fleet index row to delete
    enriched: EnrichedEvent | None = None
    forwards: list[Event | FleetIndexEntry] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    closures: list[TaskClosure] = field(default_factory=list)
    failed_rules: list[tuple[str, int, str]] = field(default_factory=list)  # (rule id, version, message)
    failed_features: list[tuple[str, str]] = field(default_factory=list)  # (feature id, message)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: join, enrich, rules

    @property
    def changes_rows(self) -> bool:
        return self.context is not None or self.fleet_index is not None or self.dropped_index is not None


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
    snoozes: Snoozes = field(default_factory=Snoozes)
    counts: Counter[str] = field(default_factory=Counter)
    fired: Counter[tuple[str, int]] = field(default_factory=Counter)
    unstored_contexts: dict[str, CustomerContext] = field(default_factory=dict, repr=False)
    unstored_index: dict[str, FleetIndex] = field(default_factory=dict, repr=False)
    stream_time: datetime | None = None  # the latest event time decided on: the sweep's clock
    # when this engine began computing each feature definition: features read warm a window later
    feature_clock: dict[str, datetime] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        load_builtin_enrichers()

    def handle(self, message: Event | FleetIndexEntry | FleetIndexExpiry | TaskOutcome) -> Output:
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
        if (key := output.dropped_index) is not None:
            self.fleet_index.pop(key, None)

    def discard(self, output: Output) -> None:
        """Forget the rows ``output`` changed, its message having failed after the decision (it was
        dead-lettered): the next message builds on what is stored."""
        if (context := output.context) is not None and self.unstored_contexts.get(context.customer_id) is context:
            del self.unstored_contexts[context.customer_id]
        if (index := output.fleet_index) is not None and self.unstored_index.get(index.key) is index:
            del self.unstored_index[index.key]

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

    def decide(self, message: Event | FleetIndexEntry | FleetIndexExpiry | TaskOutcome) -> Output:
        """What ``message`` leads to, with the rows to store (not stored yet)."""
        if isinstance(message, TaskOutcome):
            context = apply_outcome(self._context(message.customer_id), message, self.config)
            output = Output("outcome", context=context)
        elif isinstance(message, FleetIndexEntry):
            index, missed = add_to_index(self._index(message.key), message)
            output = Output("indexed", fleet_index=index, forwards=missed)
        elif isinstance(message, FleetIndexExpiry):
            output = self._expire(message)
        elif isinstance(message, FleetEventEnvelope) and message.customer_id is None:
            output = self._fan_out(message)
        else:
            output = self._join_and_enrich(message)
        if output.context is not None:
            self.unstored_contexts[output.context.customer_id] = output.context
        if output.fleet_index is not None:
            self.unstored_index[output.fleet_index.key] = output.fleet_index
        if isinstance(message, EVENT_MODELS) and (self.stream_time is None or message.occurred_at > self.stream_time):
            self.stream_time = message.occurred_at
        self.counts[output.outcome] += 1
        return output

    def _expire(self, expiry: FleetIndexExpiry) -> Output:
        index = self._index(expiry.key)
        keep = timedelta(hours=self.config.itinerary_keep_hours)
        if index is None or not is_expired(index, expiry.as_of, keep):
            return Output("index_kept")  # a booking came since the sweep looked, or it is gone already
        self.unstored_index.pop(expiry.key, None)
        return Output("index_expired", dropped_index=expiry.key)

    def _fan_out(self, event: FleetEventEnvelope) -> Output:
        if isinstance(event, WeatherAlertEvent) and event.payload.airport is None:
            return Output("rekeyed", forwards=rekey_location_alert(event, self.config.weather_airport_radius_km))
        copies, index = fan_out(event, self._index(event.fleet_key))
        return Output("fanned_out", fleet_index=index, forwards=copies)

    def _join_and_enrich(self, event: Event) -> Output:
        customer_id = event.customer_id
        assert customer_id is not None
        started = time.perf_counter()
        result = apply_event(self._context(customer_id), event, self.config)
        joined = time.perf_counter()
        if result.status is JoinStatus.DUPLICATE:
            return Output("duplicate")
        if result.late:
            logger.info(
                "late event %s for %s (watermark %s)",
                event.event_id,
                customer_id,
                result.context.watermark,
                extra={"event_id": event.event_id, "customer_id": customer_id},
            )
            self.counts["late"] += 1
        signals = [
            signal
            for enricher in enrichers_for(event.type)
            for signal in enricher.function(event, result.context, self.config)
        ]
        enriched_at = time.perf_counter()
        rules, decisions, closures, failed, failed_features = self.rules, [], [], [], []
        if rules is not None:
            outcomes = rules.evaluate(event, result.context, signals, self.config, self.snoozes, self.feature_clock)
            decisions = outcomes.decisions
            closures = [closure.closure for closure in outcomes.closures]
            self.counts["rules_evaluated"] += outcomes.evaluated
            failed = [(*compiled.key, message) for compiled, message in outcomes.errors]
            failed_features = outcomes.feature_errors
            self.counts["rules_failed"] += len(failed)
            self.counts["rules_suppressed"] += len(outcomes.suppressed)
            self.fired.update(decision.rule.key for decision in decisions)
        timings = {"join": joined - started, "enrich": enriched_at - joined, "rules": time.perf_counter() - enriched_at}
        enriched = None
        if signals:  # an event that says nothing new is joined but not published
            enriched = EnrichedEvent(
                event_id=event.event_id,
                customer_id=customer_id,
                event_type=event.type,
                occurred_at=event.occurred_at,
                late=result.late,
                signals=signals,
            )
        return Output(
            "joined",
            context=result.context,  # after the rules: their cool-downs are part of it
            enriched=enriched,
            forwards=list(result.index_entries),
            decisions=decisions,
            closures=closures,
            failed_rules=failed,
            failed_features=failed_features,
            timings=timings,
        )

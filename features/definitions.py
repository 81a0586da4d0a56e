"""Compiled features, indexed by event type: counting an event, and what rules read.

The same :class:`FeatureSet` runs in the stream worker and in ``ctxi replay`` (it belongs
to the rule set the engine evaluates), so both compute the same values from the same events.
A customer's features are counted in the customer's context; an entity's (``entity:``) in
rows of their own (features/entities.py), whose values the event brings to its customer.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import cel
import orjson

from ctxi.features.entities import EntityFeatureRow, count_in_row
from ctxi.features.state import NUMBER_AGGREGATES, add, read
from ctxi.rule_language.model import Feature
from ctxi.rule_language.plain import PlainError, PlainExpression
from ctxi.rule_language.projection import Projection, project_model
from ctxi.rule_language.sandbox import failure_message
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import Event

MAX_PARTS = 64  # parts of one split feature kept per customer
MAX_PART_LENGTH = 256  # characters of a part's key or a kept value: both are stored with the customer's context


class EventScope:
    """What feature expressions read: the event, and for a customer's features also what the
    enrichers found (``signals``) and the customer's context (``customer``) as rules see them
    (an entity's features are counted before any customer's context: the event alone).

    Plain expressions (rule_language/plain.py) read the models themselves (``plain``); the others a CEL
    context, given the event (cut to ``reads``) and the rest (``around_cel``) on first need.
    """

    def __init__(
        self,
        event: Event,
        cel_context: cel.Context,
        reads: Projection,
        around: Mapping[str, Any] | None = None,
        around_cel: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        self.event = event
        self.context = cel_context
        self.plain: Mapping[str, Any] = {"event": event, **(around or {})}
        self._reads = reads
        self._around_cel = around_cel
        self._converted = False
        self._around_added = around_cel is None

    def cel_context(self, event: bool = True) -> cel.Context:
        """The CEL context (``context``), with the event (unless ``event`` is False) and the rest."""
        if event and not self._converted:
            self.context.add_variable("event", project_model(self.event, self._reads))
            self._converted = True
        if not self._around_added:
            self._around_added = True
            around = self._around_cel() if self._around_cel is not None else {}
            for name, value in around.items():
                self.context.add_variable(name, value)
        return self.context


@dataclass(frozen=True)
class FeatureExpression:
    """A feature's CEL expression, evaluated in Python when it is plain (no conversion for CEL), and by
    CEL when it is not or when the plain evaluation meets what it leaves to CEL (an error, an unusual type)."""

    source: str
    program: Any  # cel.Program
    plain: PlainExpression | None

    def execute(self, scope: EventScope) -> Any:
        if self.plain is not None:
            try:
                return self.plain.evaluate(scope.plain)
            except PlainError:  # CEL says what it makes of it, in its own words
                pass
        return self.program.execute(scope.cel_context())


@dataclass(frozen=True)
class CompiledFeature:
    feature: Feature
    pack: str
    source: str  # file:line, for messages
    where: FeatureExpression | None
    value: FeatureExpression | None  # None: count
    by: tuple[FeatureExpression, ...] = ()  # the part of the customer's feature an event belongs to
    entity: FeatureExpression | None = None  # the entity the feature is kept for, across customers

    @property
    def expressions(self) -> list[FeatureExpression]:
        return [e for e in (self.where, self.value, *self.by, self.entity) if e is not None]

    @functools.cached_property
    def state_key(self) -> str:
        """Where its state is kept: a changed definition starts afresh, never reads the old one's."""
        f = self.feature
        definition = f"{f.on}|{f.where}|{f.value}|{f.aggregate}|{f.window.total_seconds()}|{f.by}"
        if f.entity is not None:
            definition += f"|entity={f.entity}"
        return f"{f.id}@{hashlib.sha256(definition.encode()).hexdigest()[:8]}"

    @property
    def across_customers(self) -> bool:
        return self.entity is not None

    def key(self, scope: EventScope) -> str | None:
        """The state key of the part (or the entity) ``scope``'s event belongs to; None when a part
        is null (the event belongs to no part). Raises when ``by`` or ``entity`` fails or gives a list or a map."""
        what, programs = ("entity", (self.entity,)) if self.entity is not None else ("by", self.by)
        if not programs:
            return self.state_key
        parts = [program.execute(scope) for program in programs]
        if any(isinstance(part, dict | list) for part in parts):
            raise ValueError(f"'{what}' gave {parts!r}; each part must be a string, number or boolean")
        if any(part is None for part in parts):
            return None
        part = orjson.dumps(parts).decode()  # unambiguous: ["A/B", "C"] is not ["A", "B/C"]
        if len(part) > MAX_PART_LENGTH:
            raise ValueError(f"'{what}' gave a key of {len(part):,} characters; the limit is {MAX_PART_LENGTH}")
        return f"{self.state_key}/{part}"


class FeatureSet:
    """The features of the loaded packs; immutable once built."""

    def __init__(self, features: Sequence[CompiledFeature]) -> None:
        self.features = tuple(features)
        self._index = _by_event_type(compiled for compiled in features if not compiled.across_customers)
        self._across = _by_event_type(compiled for compiled in features if compiled.across_customers)
        self._entities = {compiled.state_key: compiled for compiled in features if compiled.across_customers}
        self._keys = frozenset(compiled.state_key for compiled in features)
        self.by_id = {compiled.feature.id: compiled for compiled in features}

    def __bool__(self) -> bool:
        return bool(self.features)

    def counts(self, event_type: str) -> bool:
        return event_type in self._index

    def for_type(self, event_type: str) -> tuple[CompiledFeature, ...]:
        """The customer's features that count events of ``event_type``."""
        return self._index.get(event_type, ())

    def across_for(self, event_type: str) -> tuple[CompiledFeature, ...]:
        """The entity features that count events of ``event_type``."""
        return self._across.get(event_type, ())

    def entity(self, key: str) -> CompiledFeature | None:
        """The entity feature whose row ``key`` is; None for a definition no longer loaded."""
        return self._entities.get(key.partition("/")[0])

    def entity_keys(self, event_type: str, scope: EventScope) -> tuple[list[str], list[tuple[str, str]]]:
        """The rows of the entity features ``scope``'s event counts in, in order; the failures (id, message)."""
        keys: list[str] = []
        failures = []
        for compiled in self._across.get(event_type, ()):
            try:
                if compiled.where is not None and compiled.where.execute(scope) is not True:
                    continue
                key = compiled.key(scope)
            except Exception as exc:
                failures.append((compiled.feature.id, failure_message(exc)))
                continue
            if key is not None and key not in keys:
                keys.append(key)
        return keys, failures

    def count_for_entity(
        self,
        compiled: CompiledFeature,
        row: EntityFeatureRow | None,
        key: str,
        event: Event,
        scope: EventScope,
        live_since: dict[str, datetime],
        dedup: tuple[timedelta, int],
    ) -> tuple[EntityFeatureRow | None, dict[str, Any], list[tuple[str, str]]]:
        """Count ``event`` in an entity's row: the row, what rules read of it ({id: value, count, at, warm}),
        and the failures (id, message). ``dedup``: how long and how many event ids a row remembers."""
        f = compiled.feature
        try:
            value = compiled.value.execute(scope) if compiled.value is not None else None
            _check_value(compiled, value)
        except Exception as exc:
            return row, {}, [(f.id, failure_message(exc))]
        row = count_in_row(row, key, event, f.aggregate, f.window, value, *dedup)
        since = live_since.get(compiled.state_key, event.occurred_at)
        return row, {f.id: read(row.state, f.aggregate, f.window, event.occurred_at, since)}, []

    def start(self, live_since: dict[str, datetime], at: datetime) -> None:
        """Note ``at`` as when computing began for the definitions ``live_since`` does not know yet."""
        if not self._keys <= live_since.keys():
            for key in self._keys:
                live_since.setdefault(key, at)

    def count(
        self, event: Event, context: CustomerContext, scope: EventScope, live_since: dict[str, datetime]
    ) -> list[tuple[str, str]]:
        """Count ``event`` in the customer's features that listen to its type; the failures (id, message).

        ``scope`` has the event; ``live_since`` (the engine's, per definition) learns when this
        engine began computing each feature.
        """
        counting = self._index.get(event.type, ())
        if not counting:
            return []
        failures = []
        for compiled in counting:
            try:
                if compiled.where is not None and compiled.where.execute(scope) is not True:
                    continue
                value = compiled.value.execute(scope) if compiled.value is not None else None
                _check_value(compiled, value)
                key = compiled.key(scope)
            except Exception as exc:  # an expression can fail on data, like a rule's condition
                failures.append((compiled.feature.id, failure_message(exc)))
                continue
            if key is None:
                continue  # a null part: the event belongs to no part of this feature
            f = compiled.feature
            context.features[key] = add(context.features.get(key), f.aggregate, f.window, event.occurred_at, value)
            if compiled.by:
                _bound_parts(context, compiled, event.occurred_at)
        if not self._keys.issuperset(key.partition("/")[0] for key in context.features):
            for stale in [key for key in context.features if key.partition("/")[0] not in self._keys]:
                del context.features[stale]  # a removed or changed definition's state goes
        return failures

    def read(
        self,
        context: CustomerContext,
        at: datetime,
        live_since: dict[str, datetime],
        scope: EventScope,
        entity_values: Mapping[str, dict[str, Any]] | None = None,
    ) -> FeatureValues:
        """``features`` as rules see them at event time ``at`` (each read when first asked for)."""
        return FeatureValues(self, context, at, live_since, scope, entity_values or {})


class FeatureValues(Mapping[str, dict[str, Any]]):
    """``features`` as rules see them: per id, value, count, at and warm, each read on first use
    (a condition that fails before it reads a feature costs nothing to read it).

    A feature split ``by`` reads the part of the event in ``scope`` (empty if it has none), an
    entity feature what the event brought from its entity's row (``entity_values``; else empty).
    """

    def __init__(
        self,
        features: FeatureSet,
        context: CustomerContext,
        at: datetime,
        live_since: dict[str, datetime],
        scope: EventScope,
        entity_values: Mapping[str, dict[str, Any]],
    ) -> None:
        self._features = features.by_id
        self._context, self._at, self._live_since = context, at, live_since
        self._scope, self._entity_values = scope, entity_values
        self._read: dict[str, dict[str, Any]] = {}

    def __getitem__(self, feature_id: str) -> dict[str, Any]:
        if feature_id not in self._read:
            self._read[feature_id] = self._value(self._features[feature_id])
        return self._read[feature_id]

    def __contains__(self, feature_id: object) -> bool:
        return feature_id in self._features

    def __iter__(self) -> Iterator[str]:
        return iter(self._features)

    def __len__(self) -> int:
        return len(self._features)

    def subset(self, ids: Collection[str] | None) -> dict[str, dict[str, Any]]:
        """The features ``ids`` (None: all) as a dict, for CEL and templates."""
        return {feature_id: self[feature_id] for feature_id in self._features if ids is None or feature_id in ids}

    def _value(self, compiled: CompiledFeature) -> dict[str, Any]:
        f, at = compiled.feature, self._at
        since = self._live_since.get(compiled.state_key, at)
        if compiled.across_customers:
            brought = self._entity_values.get(f.id)
            return brought if brought is not None else read(None, f.aggregate, f.window, at, since)
        try:
            key = compiled.key(self._scope)
        except Exception:  # the event has no part of this feature: nothing counted for it
            key = None
        state = self._context.features.get(key) if key is not None else None
        return read(state, f.aggregate, f.window, at, since)


def _by_event_type(features: Iterable[CompiledFeature]) -> dict[str, tuple[CompiledFeature, ...]]:
    index: dict[str, list[CompiledFeature]] = defaultdict(list)
    for compiled in features:
        for event_type in compiled.feature.on:
            index[event_type].append(compiled)
    return {event_type: tuple(found) for event_type, found in index.items()}


def _check_value(compiled: CompiledFeature, value: Any) -> None:
    aggregate = compiled.feature.aggregate
    if aggregate in NUMBER_AGGREGATES and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"'value' gave {type(value).__name__}; {aggregate} needs a number")
    if aggregate not in ("count",) and value is not None and not isinstance(value, str | bool | int | float):
        raise ValueError(f"'value' gave {type(value).__name__}; a feature aggregates strings, numbers or booleans")
    if isinstance(value, str) and len(value) > MAX_PART_LENGTH:  # it is kept with the customer's context
        raise ValueError(f"'value' gave {len(value):,} characters; the limit is {MAX_PART_LENGTH}")


def _bound_parts(context: CustomerContext, compiled: CompiledFeature, at: datetime) -> None:
    """A split feature keeps the parts seen within its window, at most ``MAX_PARTS`` (the least recent go)."""
    prefix = f"{compiled.state_key}/"
    horizon = int(at.timestamp() - compiled.feature.window.total_seconds())
    parts = [(key, state) for key, state in context.features.items() if key.startswith(prefix)]
    keep = sorted(
        ((key, state) for key, state in parts if (state.latest or 0) > horizon),
        key=lambda item: item[1].latest or 0,
        reverse=True,
    )[:MAX_PARTS]
    if len(keep) < len(parts):
        kept = {key for key, _ in keep}
        for key, _ in parts:
            if key not in kept:
                del context.features[key]

"""Compiled features, indexed by event type: counting an event, and what rules read.

The same :class:`FeatureSet` runs in the stream worker and in ``ctxi replay`` (it belongs
to the rule set the engine evaluates), so both compute the same values from the same events.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cel

from ctxi.context.state import CustomerContext
from ctxi.features.state import add, read
from ctxi.rules.model import Feature
from ctxi.rules.sandbox import failure_message
from ctxi.schemas.events import Event


@dataclass(frozen=True)
class CompiledFeature:
    feature: Feature
    pack: str
    source: str  # file:line, for messages
    where: Any  # cel.Program or None
    value: Any  # cel.Program or None (count)

    @functools.cached_property
    def state_key(self) -> str:
        """Where its state is kept: a changed definition starts afresh, never reads the old one's."""
        f = self.feature
        definition = f"{f.on}|{f.where}|{f.value}|{f.aggregate}|{f.window.total_seconds()}"
        return f"{f.id}@{hashlib.sha256(definition.encode()).hexdigest()[:8]}"


class FeatureSet:
    """The features of the loaded packs; immutable once built."""

    def __init__(self, features: Sequence[CompiledFeature]) -> None:
        self.features = tuple(features)
        index: dict[str, list[CompiledFeature]] = defaultdict(list)
        for compiled in features:
            for event_type in compiled.feature.on:
                index[event_type].append(compiled)
        self._index = {event_type: tuple(found) for event_type, found in index.items()}
        self._keys = frozenset(compiled.state_key for compiled in features)

    def __bool__(self) -> bool:
        return bool(self.features)

    def counts(self, event_type: str) -> bool:
        return event_type in self._index

    def for_type(self, event_type: str) -> tuple[CompiledFeature, ...]:
        return self._index.get(event_type, ())

    def start(self, live_since: dict[str, datetime], at: datetime) -> None:
        """Note ``at`` as when computing began for the definitions ``live_since`` does not know yet."""
        if not self._keys <= live_since.keys():
            for key in self._keys:
                live_since.setdefault(key, at)

    def count(
        self, event: Event, context: CustomerContext, cel_context: cel.Context, live_since: dict[str, datetime]
    ) -> list[tuple[str, str]]:
        """Count ``event`` in the customer's features that listen to its type; the failures (id, message).

        ``cel_context`` has ``event``; ``live_since`` (the engine's, per definition) learns when this
        engine began computing each feature.
        """
        counting = self._index.get(event.type, ())
        if not counting:
            return []
        failures = []
        for compiled in counting:
            try:
                if compiled.where is not None and compiled.where.execute(cel_context) is not True:
                    continue
                value = compiled.value.execute(cel_context) if compiled.value is not None else None
                _check_value(compiled, value)
            except Exception as exc:  # an expression can fail on data, like a rule's condition
                failures.append((compiled.feature.id, failure_message(exc)))
                continue
            f = compiled.feature
            key = compiled.state_key
            context.features[key] = add(context.features.get(key), f.aggregate, f.window, event.occurred_at, value)
        if not self._keys.issuperset(context.features):  # a removed or changed definition's state goes
            for stale in [key for key in context.features if key not in self._keys]:
                del context.features[stale]
        return failures

    def read(self, context: CustomerContext, at: datetime, live_since: dict[str, datetime]) -> dict[str, Any]:
        """``features`` as rules see them at event time ``at``: per id, value, count, at and warm."""
        values = {}
        for compiled in self.features:
            key = compiled.state_key
            f = compiled.feature
            values[f.id] = read(context.features.get(key), f.aggregate, f.window, at, live_since.get(key, at))
        return values


def _check_value(compiled: CompiledFeature, value: Any) -> None:
    aggregate = compiled.feature.aggregate
    if aggregate in ("sum", "min", "max", "avg") and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"'value' gave {type(value).__name__}; {aggregate} needs a number")
    if aggregate not in ("count",) and value is not None and not isinstance(value, str | bool | int | float):
        raise ValueError(f"'value' gave {type(value).__name__}; a feature aggregates strings, numbers or booleans")

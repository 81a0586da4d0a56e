"""The list of enrichers and which event types each one listens to."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import EVENT_TYPES
from ctxi.schemas.signals import Signal
from ctxi.settings import EngineConfig

# an enricher takes the event model of the types it is registered for (its first parameter's type)
EnrichFunction = Callable[[Any, CustomerContext, EngineConfig], Sequence[Signal]]

# The modules whose enrichers the engine runs; importing one registers its enrichers.
BUILTIN_MODULES = ("location", "device", "travel", "billing", "social", "engagement")


@dataclass(frozen=True)
class Enricher:
    name: str
    event_types: frozenset[str]
    function: EnrichFunction


_REGISTRY: dict[str, Enricher] = {}


def enricher(*event_types: str) -> Callable[[EnrichFunction], EnrichFunction]:
    """Register the decorated function as an enricher of ``event_types``."""
    unknown = set(event_types) - set(EVENT_TYPES)
    if unknown or not event_types:
        raise ValueError(f"an enricher needs known event types; unknown: {sorted(unknown)}")

    def register(function: EnrichFunction) -> EnrichFunction:
        name = f"{function.__module__.rpartition('.')[2]}.{function.__name__}"
        if name in _REGISTRY:
            raise ValueError(f"enricher {name} is registered twice")
        _REGISTRY[name] = Enricher(name, frozenset(event_types), function)
        enrichers_for.cache_clear()
        return function

    return register


def load_builtin_enrichers() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(f"ctxi.enrichers.{module}")


def registered() -> list[Enricher]:
    return list(_REGISTRY.values())


@cache
def enrichers_for(event_type: str) -> tuple[Enricher, ...]:
    """The enrichers an event of ``event_type`` runs through, in registration order."""
    return tuple(e for e in _REGISTRY.values() if event_type in e.event_types)

"""What a rule can read, as types: ``event`` (per event type), ``customer`` and ``signals``.

Built from the pydantic models the engine itself uses (the event contract, the customer
context, the signal models and which enrichers produce them), so it can never drift from
what rules see at run time. ``rule_language/typecheck.py`` checks rule packs against it and
``ctxi rules reference`` writes it out for analysts (docs/rule-reference.md).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from pydantic import AwareDatetime, BaseModel, IPvAnyAddress

from ctxi.enrichers.registry import load_builtin_enrichers, registered
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import EVENT_TYPES

# What RuleVariables leaves out of ``customer`` (rules/evaluate.py): bookkeeping, not facts
# (a set, the type model_dump's exclude takes).
HIDDEN_CUSTOMER_FIELDS: set[str] = {"seen", "recent_tasks", "features"}


@dataclass(frozen=True)
class Shape:
    """The JSON shape of a value as rules see it."""

    kind: Literal["object", "list", "map", "scalar"]
    name: str  # "number", "string", "timestamp (string)", "Profile", ...
    fields: dict[str, FieldSpec] = field(default_factory=dict)  # an object's
    item: Shape | None = None  # a list's items, a map's values

    def describe(self) -> str:
        if self.kind == "list":
            return f"list of {self.item.describe() if self.item else 'values'}"
        if self.kind == "map":
            return f"map of name to {self.item.describe() if self.item else 'value'}"
        return self.name


@dataclass(frozen=True)
class FieldSpec:
    shape: Shape
    nullable: bool  # may be null: reading a field below it needs a guard
    description: str = ""


@cache
def model_shape(model: type[BaseModel], hidden: AbstractSet[str] = frozenset()) -> Shape:
    fields = {}
    for name, info in model.model_fields.items():
        if name in hidden:
            continue
        shape, nullable = annotation_shape(info.annotation)
        fields[name] = FieldSpec(shape, nullable, (info.description or "").strip())
    return Shape("object", model.__name__, fields)


def annotation_shape(annotation: Any) -> tuple[Shape, bool]:
    """The shape of a field's type, and whether it may be null."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is typing.Annotated:
        return annotation_shape(args[0])
    if origin in (Union, types.UnionType):
        members = [arg for arg in args if arg is not type(None)]
        nullable = len(members) < len(args)
        if len(members) == 1:
            return annotation_shape(members[0])[0], nullable
        shapes = [annotation_shape(member)[0] for member in members]
        if all(shape.kind == "scalar" for shape in shapes):
            return Shape("scalar", " or ".join(dict.fromkeys(shape.name for shape in shapes))), nullable
        return Shape("scalar", "value"), nullable
    if origin in (list, tuple, set, frozenset, typing.Sequence) or annotation in (list, tuple):
        item = annotation_shape(args[0])[0] if args else None
        return Shape("list", "list", item=item), False
    if origin is dict:
        return Shape("map", "map", item=annotation_shape(args[1])[0] if len(args) > 1 else None), False
    if origin is Literal:
        return Shape("scalar", " or ".join(f'"{arg}"' for arg in args)), False
    if annotation is AwareDatetime:
        return Shape("scalar", "timestamp (RFC 3339 string)"), False
    if annotation is IPvAnyAddress:
        return Shape("scalar", "string (an IPv4 or IPv6 address)"), False
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return model_shape(annotation), False
        if issubclass(annotation, Enum):
            return Shape("scalar", " or ".join(f'"{member.value}"' for member in annotation)), False
        if issubclass(annotation, bool):
            return Shape("scalar", "boolean"), False
        if issubclass(annotation, int | float):
            return Shape("scalar", "number"), False
        if issubclass(annotation, datetime):
            return Shape("scalar", "timestamp (RFC 3339 string)"), False
        if issubclass(annotation, date):
            return Shape("scalar", "date (YYYY-MM-DD string)"), False
        if issubclass(annotation, str):
            return Shape("scalar", "string"), False
    return Shape("scalar", "value"), False


@cache
def event_shape(event_type: str) -> Shape:
    """``event`` for a rule triggered by ``event_type``: the envelope and its payload."""
    return model_shape(EVENT_TYPES[event_type])


@cache
def customer_shape() -> Shape:
    return model_shape(CustomerContext, frozenset(HIDDEN_CUSTOMER_FIELDS))


@cache
def signal_kinds() -> dict[str, tuple[Shape, frozenset[str]]]:
    """Each signal kind: its shape and the event types whose enrichers can produce it."""
    load_builtin_enrichers()
    shapes: dict[str, Shape] = {}
    produced_for: dict[str, set[str]] = {}
    for enricher in registered():
        for model in _models_in(get_type_hints(enricher.function)["return"]):
            kind = model.model_fields["kind"].default
            shapes[kind] = model_shape(model)
            produced_for.setdefault(kind, set()).update(enricher.event_types)
    return {kind: (shapes[kind], frozenset(produced_for[kind])) for kind in sorted(shapes)}


def signals_shape(event_types: frozenset[str]) -> Shape:
    """``signals`` for a rule triggered by ``event_types``: the kinds their enrichers produce.

    Each kind is there only when its enricher found something: reading one needs a guard
    (``has(signals.<kind>)``).
    """
    fields = {
        kind: FieldSpec(shape, nullable=True)
        for kind, (shape, produced_for) in signal_kinds().items()
        if produced_for & event_types
    }
    return Shape("object", "signals", fields)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


_NUMBER, _TIMESTAMP = Shape("scalar", "number"), Shape("scalar", "timestamp (RFC 3339 string)")
FEATURE_VALUES: dict[str, tuple[Shape, bool]] = {  # aggregate -> (shape of `value`, may be null)
    "count": (_NUMBER, False),
    "sum": (_NUMBER, False),
    "min": (_NUMBER, True),
    "max": (_NUMBER, True),
    "avg": (_NUMBER, True),
    "count_distinct": (_NUMBER, False),
    "distinct": (Shape("list", "list", item=Shape("scalar", "string")), False),
    "first_seen": (Shape("map", "map", item=_TIMESTAMP), False),
    "last_seen": (Shape("map", "map", item=_TIMESTAMP), False),
    "last": (Shape("scalar", "string, number or boolean"), True),
}


def feature_shape(aggregate: str) -> Shape:
    """``features.<id>`` for a feature with ``aggregate``: its value, count, latest time and warmth."""
    value, nullable = FEATURE_VALUES[aggregate]
    return Shape(
        "object",
        "feature",
        {
            "value": FieldSpec(value, nullable, f"the {aggregate} over the window"),
            "count": FieldSpec(_NUMBER, False, "events counted in the window"),
            "at": FieldSpec(_TIMESTAMP, True, "the latest counted event's time in the window"),
            "warm": FieldSpec(Shape("scalar", "boolean"), False, "counted for a whole window yet"),
        },
    )


def reference_shape(tables: Mapping[str, Any]) -> Shape:
    """``reference``: the packs' tables, each a map (name to a number or text) or a list of texts."""
    number_or_text = Shape("scalar", "number or string")
    fields = {
        name: FieldSpec(
            Shape("map", "table", item=number_or_text)
            if isinstance(table, dict)
            else Shape("list", "table", item=Shape("scalar", "string")),
            False,
            f"{len(table):,} entries",
        )
        for name, table in sorted(tables.items())
    }
    return Shape("object", "reference", fields)


def features_shape(features: Mapping[str, Any]) -> Shape:
    """``features`` for packs defining ``features`` (id -> the Feature model)."""
    return Shape(
        "object",
        "features",
        {fid: FieldSpec(feature_shape(f.aggregate), False, f.description) for fid, f in sorted(features.items())},
    )

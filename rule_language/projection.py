"""Hand CEL only the parts of a variable its expressions read.

CEL converts a variable from Python values when it is added to a context, at a few
microseconds per value: a whole card-transaction event costs about 75 µs, the two fields a
condition reads about 15 µs. So each event type's expressions are read for the paths they
use (rule_language/typecheck.py ``cel_references``) and each variable is cut down to those paths
before it is added. A path covers its whole subtree (``size(event.payload.segments)`` keeps
every segment); a variable read as a whole, or indexed (``event["payload"]``), is kept whole.
What is absent stays absent, so ``has(...)`` answers as it would on the whole value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

# A projection: for each key kept, the projection of its value; None keeps the value whole.
Projection = dict[str, "Projection | None"] | None


def projection(paths: Iterable[tuple[str, ...]]) -> Projection:
    """The smallest projection that keeps every path (each without its variable's name)."""
    tree: dict[str, Any] = {}
    for path in paths:
        if not path:
            return None
        node = tree
        for depth, name in enumerate(path):
            if depth == len(path) - 1:
                node[name] = None
            elif name not in node:
                node[name] = {}
            if node[name] is None:
                break
            node = node[name]
    return tree


def project(value: Any, kept: Projection) -> Any:
    if kept is None or not isinstance(value, dict):
        return value
    return {key: project(value[key], inner) for key, inner in kept.items() if key in value}


FIELD_NAMES: dict[type, frozenset[str]] = {}  # per model class, met so far


def field_names(model: type[BaseModel]) -> frozenset[str]:
    """A model's field names, cached (pydantic's ``model_fields`` costs a descriptor call each time)."""
    try:
        return FIELD_NAMES[model]
    except KeyError:
        return FIELD_NAMES.setdefault(model, frozenset(model.__pydantic_fields__))


def project_model(value: Any, kept: Projection) -> Any:
    """``project(value.model_dump(mode="json"), kept)`` without dumping what is cut away: a whole
    event costs 20-30 µs to dump, the few fields its expressions read a few."""
    if isinstance(value, BaseModel):
        if kept is None:
            return value.model_dump(mode="json")
        fields = field_names(type(value))
        return {key: project_model(getattr(value, key), inner) for key, inner in kept.items() if key in fields}
    if isinstance(value, dict) and kept is not None:
        return {key: project_model(value[key], inner) for key, inner in kept.items() if key in value}
    return to_jsonable_python(value)

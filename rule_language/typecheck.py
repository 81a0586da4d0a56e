"""Type-check what a rule reads, before it ships: every path under ``event``, ``customer`` and
``signals`` in its condition, priority and templates must exist for the rule's ``on`` types.

A path that may be missing at run time must be guarded in the rule's ``when``:

- a signal (``signals.<kind>`` is there only when its enricher found something), a field
  only some of the ``on`` types have, a name in ``attributes``: ``has(<path>)`` (in a
  template also ``<path> is defined``);
- a field below one that may be null (``customer.profile.tier``): ``<path> != null`` (in a
  template also ``<path> is not none`` or ``if <path>``).

Guards are found anywhere in ``when`` (and, for a template, in the template itself): the
check does not follow ``&&`` and ``||``. What passes can still meet a null *value* (an NPS
nobody gave): that is data, counted at run time as a rule failure.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes

from ctxi.rule_language.fields import (
    Shape,
    customer_shape,
    event_shape,
    features_shape,
    reference_shape,
    signal_kinds,
    signals_shape,
)
from ctxi.rule_language.model import Feature
from ctxi.rule_language.sandbox import cel_code

ROOTS = ("event", "customer", "signals", "features", "reference")

_CEL_PATH = re.compile(r"(?<![\w.])(event|customer|signals|features|reference)((?:\s*\.\s*[A-Za-z_]\w*)*)(\s*\()?")
_SEGMENT = re.compile(r"[A-Za-z_]\w*")
_HAS_OPEN = re.compile(r"\bhas\s*\(\s*$")


@dataclass(frozen=True)
class Reference:
    path: tuple[str, ...]
    tested: bool = False  # the argument of has() / `is defined`: its last name may be missing


def cel_references(source: str) -> list[Reference]:
    """The paths a CEL expression reads (method calls such as ``.size()`` are not fields)."""
    text = cel_code(source)  # comments and strings are not paths
    found = []
    for match in _CEL_PATH.finditer(text):
        segments = (match.group(1), *_SEGMENT.findall(match.group(2)))
        if match.group(3) and len(segments) > 1:  # `x.y.size(` : size is a method of x.y
            segments = segments[:-1]
        found.append(Reference(segments, tested=bool(_HAS_OPEN.search(text[: match.start()]))))
    return found


def template_references(template: nodes.Template) -> list[Reference]:
    """The paths a Jinja template reads: ``a.b.c`` and ``a["b"]`` chains from a root name."""
    found = []
    methods = {id(call.node) for call in template.find_all(nodes.Call)}
    tested = {id(test.node) for test in template.find_all(nodes.Test) if test.name == "defined"}
    inner = _inner_chain_nodes(template)
    for node in template.find_all((nodes.Getattr, nodes.Getitem)):
        if id(node) in inner:  # part of a longer chain, checked with it
            continue
        path = _chain(node)
        if path is None:
            continue
        if id(node) in methods:  # `x.y.items()`: items is a method of x.y
            path = path[:-1]
        found.append(Reference(path, tested=id(node) in tested))
    return found


def _inner_chain_nodes(template: nodes.Template) -> set[int]:
    inner: set[int] = set()
    for node in template.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)  # what find_all was asked for
        if isinstance(node.node, nodes.Getattr | nodes.Getitem):
            inner.add(id(node.node))
    return inner


def _chain(node: nodes.Node) -> tuple[str, ...] | None:
    names: list[str] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            names.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            names.append(node.arg.value)
        else:
            names.clear()  # a computed index: only what comes before it can be checked
        node = node.node
    if not (isinstance(node, nodes.Name) and node.name in ROOTS):
        return None
    return (node.name, *reversed(names))


# --- resolving a path --------------------------------------------------------------------


@dataclass(frozen=True)
class _Walk:
    """How one path went in one root shape."""

    missing_at: int | None = None  # index of the first name that is not there
    candidates: tuple[str, ...] = ()
    type_problem: str | None = None
    absent: tuple[tuple[str, ...], ...] = ()  # prefixes that may be missing: need has()
    null: tuple[tuple[str, ...], ...] = ()  # prefixes that may be null: need != null


def _walk(path: tuple[str, ...], root: Shape) -> _Walk:
    shape, absent, null = root, [], []
    for index in range(1, len(path)):
        name, here = path[index], ".".join(path[:index])
        if shape.kind == "object":
            spec = shape.fields.get(name)
            if spec is None:
                return _Walk(missing_at=index, candidates=tuple(shape.fields))
            if path[0] == "signals" and index == 1:
                absent.append(path[:2])  # a kind is there only when its enricher found something
            elif spec.nullable and index < len(path) - 1:
                null.append(path[: index + 1])
            shape = spec.shape
        elif shape.kind == "map":
            absent.append(path[: index + 1])
            shape = shape.item or Shape("scalar", "value")
        elif shape.kind == "list":
            return _Walk(
                type_problem=f"{here} is a list; read its items with .exists(x, ...), .all(x, ...), "
                ".map(x, ...) or size() (in a template: a for loop or a filter)"
            )
        else:
            return _Walk(type_problem=f"{here} is a {shape.name}; it has no field {name!r}")
    return _Walk(absent=tuple(absent), null=tuple(null))


def reference_problems(
    references: Sequence[Reference],
    on_types: Sequence[str],
    guards: str,
    template: bool = False,
    features: Mapping[str, Feature] | None = None,
    reference_tables: Mapping[str, Any] | None = None,
) -> Iterator[str]:
    """What is wrong with each reference, for a rule listening to ``on_types``.

    ``guards`` is the text in which a guard counts (the rule's ``when``, and the template);
    ``features`` are those of all loaded packs.
    """
    if not on_types:
        return  # no known event type: that is the error to report
    text = " ".join(guards.split())
    reported = set()
    tables = reference_shape(reference_tables or {})
    for reference in references:
        if len(reference.path) < 2 or reference.path in reported:
            continue
        if any(name.startswith("_") for name in reference.path):
            continue  # `__class__` and the like: the sandbox refuses them, and says why
        problem = _problem(reference, on_types, text, template, features_shape(features or {}), tables)
        if problem:
            reported.add(reference.path)
            yield problem


def _problem(
    reference: Reference, on_types: Sequence[str], guards: str, template: bool, features: Shape, tables: Shape
) -> str | None:
    path, root = reference.path, reference.path[0]
    dotted = ".".join(path)
    if root == "signals":
        walks = {"": _walk(path, signals_shape(frozenset(on_types)))}
    elif root == "features":
        walks = {"": _walk(path, features)}
    elif root == "reference":
        walks = {"": _walk(path, tables)}
    else:
        walks = {t: _walk(path, event_shape(t) if root == "event" else customer_shape()) for t in on_types}
    good = {t: w for t, w in walks.items() if w.missing_at is None and w.type_problem is None}
    if not good:
        first = next(iter(walks.values()))
        if first.type_problem:
            return first.type_problem
        return _unknown(path, first, on_types)
    absent = {p for w in good.values() for p in w.absent}
    null = {p for w in good.values() for p in w.null}
    if len(good) < len(walks):  # a field some of the `on` types lack
        lacking = sorted(t for t in walks if t not in good)
        depth = min(w.missing_at or len(path) for w in walks.values() if w.missing_at is not None)
        prefix = path[: depth + 1]
        absent.add(prefix)
        if not _guarded(prefix, reference, guards, template, present=True):
            return (
                f"{'.'.join(prefix)} exists for {', '.join(sorted(good))} but not for {', '.join(lacking)}: "
                f"guard it with has({'.'.join(prefix)}) in 'when', or narrow 'on'"
            )
    for prefix in sorted(absent):
        if not _guarded(prefix, reference, guards, template, present=True):
            where = ".".join(prefix)
            why = (
                "a signal is there only when its enricher found something" if root == "signals" else "it may be absent"
            )
            return f"{dotted} reads {where} ({why}): guard it with has({where}) in 'when'"
    for prefix in sorted(null):
        if not _guarded(prefix, reference, guards, template, present=False):
            where = ".".join(prefix)
            return f"{dotted} reads below {where}, which may be null: guard it with {where} != null in 'when'"
    return None


def _guarded(prefix: tuple[str, ...], reference: Reference, guards: str, template: bool, present: bool) -> bool:
    if reference.tested and prefix == reference.path:
        return True  # has(x.y) itself: testing presence is the point
    name = r"\s*\.\s*".join(re.escape(part) for part in prefix)
    patterns = [rf"\bhas\s*\(\s*{name}\s*\)"]
    if template:
        patterns.append(rf"(?<![\w.]){name}\s+is\s+defined\b")
    if not present:
        patterns += [rf"(?<![\w.]){name}\s*!=\s*null\b", rf"\bnull\s*!=\s*{name}(?![\w.])"]
        if template:
            patterns += [rf"(?<![\w.]){name}\s+is\s+not\s+none\b", rf"\bif\s+{name}(?![\w.])"]
    return any(re.search(pattern, guards) for pattern in patterns)


def _unknown(path: tuple[str, ...], walk: _Walk, on_types: Sequence[str]) -> str:
    index = walk.missing_at or 1
    name, parent = path[index], ".".join(path[:index])
    if path[0] == "signals" and index == 1:
        kinds = signal_kinds()
        if name in kinds:
            produced = ", ".join(sorted(kinds[name][1]))
            return f"signals.{name} is never produced for {', '.join(on_types)} (it comes with {produced})"
    hint = _suggestion(path, index, walk.candidates, on_types)
    known = ", ".join(walk.candidates) if walk.candidates else "none"
    return f"unknown field {name!r} in {'.'.join(path)}{hint} (fields of {parent}: {known})"


def _suggestion(path: tuple[str, ...], index: int, candidates: Sequence[str], on_types: Sequence[str]) -> str:
    name = path[index]
    near = difflib.get_close_matches(name, candidates, n=1)
    if near:
        return f"; did you mean {'.'.join((*path[:index], near[0]))}?"
    # the same name elsewhere under the root: customer.payment_failures -> customer.billing.payment_failures
    roots = {
        "customer": lambda: [customer_shape()],
        "event": lambda: [event_shape(t) for t in on_types],
        "signals": lambda: [signals_shape(frozenset(on_types))],
        "features": lambda: [],
    }[path[0]]()
    everywhere = sorted({p for root in roots for p in _paths(root, (path[0],))})
    leaves = {p[-1]: p for p in everywhere}
    near = difflib.get_close_matches(name, list(leaves), n=1)
    return f"; did you mean {'.'.join(leaves[near[0]])}?" if near else ""


def _paths(shape: Shape, prefix: tuple[str, ...], depth: int = 4) -> Iterator[tuple[str, ...]]:
    if depth == 0 or shape.kind != "object":
        return
    for name, spec in shape.fields.items():
        yield (*prefix, name)
        yield from _paths(spec.shape, (*prefix, name), depth - 1)

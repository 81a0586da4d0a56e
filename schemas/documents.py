"""YAML documents people write (rule packs, service-level policies), read into pydantic models.

Every problem comes back as a ``file:line: where: what`` line, an unknown key with the
nearest allowed one; and a document is bounded before it is built, in bytes, in nesting
depth (the builders recurse: 300 ``[`` are a RecursionError) and in nodes once its aliases
are expanded (an alias bomb has billions), all counted from the parser's events.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML, events
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class DocumentKind:
    """What kind of document is read, for its messages and limits."""

    name: str  # "rule pack"
    shape: str  # what its top level is, e.g. "a mapping with pack, owner, rules (and tests)"
    max_bytes: int
    max_nodes: int
    max_depth: int = 32  # collections inside collections; what people write is under 10


def read_document(
    name: str, text: str, model: type[Model], errors: list[str], kind: DocumentKind
) -> tuple[Model, CommentedMap] | None:
    """``text`` (the file ``name``) as ``model``, with its YAML tree for :func:`line_of`; None
    when it cannot be, with the reasons appended to ``errors``."""
    if len(text.encode()) > kind.max_bytes:
        errors.append(f"{name}:1: {len(text.encode()):,} bytes; a {kind.name} may have {kind.max_bytes:,}")
        return None
    try:
        if (problem := _size_problem(text, kind)) is not None:
            errors.append(f"{name}:{problem}")
            return None
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        errors.append(f"{name}:{line}: YAML syntax: {exc.problem or exc.context}")
        return None
    if not isinstance(document, CommentedMap):
        errors.append(f"{name}:1: a {kind.name} is {kind.shape}")
        return None
    try:
        value = model.model_validate(_plain(document))
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            path = ".".join(str(part) for part in error["loc"])
            message = error["msg"]
            if error["type"] == "extra_forbidden" and (allowed := allowed_keys(model, error["loc"][:-1])):
                key = str(error["loc"][-1])
                near = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                message = f"unknown key {key!r}; {hint}allowed here: {', '.join(allowed)}"
            errors.append(f"{name}:{line_of(document, error['loc'])}: {path}: {message}")
        return None
    return value, document


def allowed_keys(model: type[BaseModel], location: tuple[Any, ...]) -> list[str]:
    """The keys the model found at ``location`` (field names and list indexes) accepts."""
    current: Any = model
    for part in location:
        if isinstance(part, int):
            continue  # an item of the list whose type was unwrapped below
        field_info = current.model_fields.get(part) if _is_model(current) else None
        if field_info is None:
            return []
        current = next((t for t in _inner_types(field_info.annotation) if _is_model(t)), None)
    return [f.alias or name for name, f in current.model_fields.items()] if _is_model(current) else []


def _inner_types(annotation: Any) -> list[Any]:
    """``list[Rule] | None`` -> [list[Rule], Rule, None, ...]: every type it is made of."""
    found, todo = [], [annotation]
    while todo:
        item = todo.pop()
        found.append(item)
        todo += list(get_args(item))
    return found


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _size_problem(text: str, kind: DocumentKind) -> str | None:
    """``line: what`` when the document nests deeper than ``kind.max_depth`` or becomes more than
    ``kind.max_nodes`` nodes once every alias is expanded; counted from the parser's events (nothing
    is built or expanded, and parsing stops at the first limit passed). An alias counts as the
    whole node it stands for, in nodes and in depth."""
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, depth) of the node it names
    # per open collection: [anchor, nodes so far, depth of its deepest child]; the first is the stream
    open_collections: list[list[Any]] = [[None, 0, 0]]
    for event in YAML(typ="rt").parse(text):
        if isinstance(event, events.CollectionStartEvent):
            open_collections.append([event.anchor, 1, 0])
            if len(open_collections) - 1 > kind.max_depth:  # at once: the parser slows down with depth
                return _too_deep(event, kind)
            continue
        if isinstance(event, events.CollectionEndEvent):
            anchor, count, below = open_collections.pop()
            depth = below + 1
        elif isinstance(event, events.ScalarEvent):
            anchor, count, depth = event.anchor, 1, 0
        elif isinstance(event, events.AliasEvent):
            anchor, (count, depth) = None, sizes.get(event.anchor, (1, 0))
        else:
            continue
        if anchor is not None:
            sizes[anchor] = (count, depth)
        parent = open_collections[-1]
        parent[1] += count
        parent[2] = max(parent[2], depth)
        if len(open_collections) - 1 + depth > kind.max_depth:
            return _too_deep(event, kind)
        if parent[1] > kind.max_nodes:
            return (
                f"1: {parent[1]:,} YAML nodes once its aliases are expanded; a {kind.name} may have {kind.max_nodes:,}"
            )
    return None


def _too_deep(event: events.Event, kind: DocumentKind) -> str:
    line = event.start_mark.line + 1 if event.start_mark else 1
    return f"{line}: nested more than {kind.max_depth} deep; a {kind.name} may nest {kind.max_depth} levels"


def _plain(node: Any) -> Any:
    """ruamel's round-trip containers as plain dicts and lists, for pydantic."""
    if isinstance(node, CommentedMap):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(item) for item in node]
    # ruamel's scalars subclass the builtins (ScalarFloat, ScalarInt, ...); keep the builtin
    for builtin in (bool, int, float, str):
        if isinstance(node, builtin):
            return builtin(node)
    return node


def line_of(node: Any, path: tuple[Any, ...] | list[Any]) -> int:
    """The 1-based line of the deepest element of ``path`` found in the YAML tree."""
    line = node.lc.line + 1 if hasattr(node, "lc") else 1
    for part in path:
        if isinstance(node, CommentedMap) and part in node:
            line = (
                node.lc.value(part)[0] + 1
                if not isinstance(node[part], (CommentedMap, CommentedSeq))
                else node.lc.key(part)[0] + 1
            )
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line

"""YAML documents people write (rule packs, service-level policies), read into pydantic models.

Every problem comes back as a ``file:line: where: what`` line, an unknown key with the
nearest allowed one; and a document is bounded before it is parsed, in bytes and in nodes
once its aliases are expanded (an alias bomb has billions).
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


def read_document(
    name: str, text: str, model: type[Model], errors: list[str], kind: DocumentKind
) -> tuple[Model, CommentedMap] | None:
    """``text`` (the file ``name``) as ``model``, with its YAML tree for :func:`line_of`; None
    when it cannot be, with the reasons appended to ``errors``."""
    if len(text.encode()) > kind.max_bytes:
        errors.append(f"{name}:1: {len(text.encode()):,} bytes; a {kind.name} may have {kind.max_bytes:,}")
        return None
    try:
        expanded = _expanded_nodes(text, kind.max_nodes)
        if expanded > kind.max_nodes:
            errors.append(
                f"{name}:1: {expanded:,} YAML nodes once its aliases are expanded; a {kind.name} may have "
                f"{kind.max_nodes:,}"
            )
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


def _expanded_nodes(text: str, limit: int) -> int:
    """How many nodes the YAML document becomes once every alias is expanded, counted from the
    parser's events (nothing is expanded): an alias counts as the whole node it stands for."""
    sizes: dict[str, int] = {}
    open_collections: list[list[Any]] = [[None, 0]]  # [anchor, nodes so far]; the first one is the stream
    for event in YAML(typ="rt").parse(text):
        if isinstance(event, events.CollectionStartEvent):
            open_collections.append([event.anchor, 1])
            continue
        if isinstance(event, events.CollectionEndEvent):
            anchor, count = open_collections.pop()
        elif isinstance(event, events.ScalarEvent):
            anchor, count = event.anchor, 1
        elif isinstance(event, events.AliasEvent):
            anchor, count = None, sizes.get(event.anchor, 1)
        else:
            continue
        if anchor is not None:
            sizes[anchor] = count
        open_collections[-1][1] += count
        if open_collections[-1][1] > limit:
            return open_collections[-1][1]
    return open_collections[0][1]


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

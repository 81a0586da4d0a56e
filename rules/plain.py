"""Plain CEL expressions evaluated in Python on the models themselves, without converting them for CEL.

Handing a variable to CEL costs 10-20 µs however small it is (``cel.Context.add_variable``),
more than most feature expressions take to run. Most are plain: a field
(``event.payload.amount``), a comparison of a field with a literal
(``event.payload.status == "approved"``, ``event.payload.device_type != null``), a negated
field (``!event.payload.card_present``), and ``&&`` of those. :func:`plain` recognises
exactly that subset and evaluates it on the event model with CEL's meaning (strings,
numbers, booleans and null; an error where CEL has one); anything else returns None and
runs in CEL. ``tests/unit/rules/test_plain.py`` checks both agree on every example event.
"""

from __future__ import annotations

import re
from datetime import date
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

_TOKEN = re.compile(
    r"\s*(?:(?P<string>\"(?:[^\"\\]|\\.)*\")|(?P<number>-?\d+\.\d+|-?\d+)|(?P<op>==|!=|<=|>=|&&|<|>|!)"
    r"|(?P<path>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*))"
)
_LITERALS = {"null": None, "true": True, "false": False}
_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_CEL_FUNCTIONS = frozenset({"has", "size", "int", "double", "string", "timestamp", "duration", "in"})


class PlainError(ValueError):
    """What CEL would fail with (a missing field, a type it does not compare)."""


class PlainExpression:
    """A parsed plain expression: ``evaluate(variables)`` with the models by variable name."""

    def __init__(self, source: str, terms: list[tuple[Any, ...]]) -> None:
        self.source = source
        self._terms = terms  # each (negated, path) or (op, path, literal) or ("path", path); all ANDed

    def evaluate(self, variables: dict[str, Any]) -> Any:
        if len(self._terms) == 1:
            return _term(self._terms[0], variables)
        # CEL's &&: false wins over an error, whatever the order; otherwise the first error is raised
        error, result = None, True
        for term in self._terms:
            try:
                value = _term(term, variables)
            except PlainError as exc:
                error = error or exc
                continue
            if not isinstance(value, bool):
                error = error or PlainError(f"no such overload: && on {type(value).__name__}")
            elif value is False:
                result = False
        if result is False:
            return False
        if error is not None:
            raise error
        return True


def plain(source: str) -> PlainExpression | None:
    """The plain form of a CEL expression, or None if it is not plain (then CEL runs it)."""
    tokens = []
    position = 0
    text = source.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            return None
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    terms: list[tuple[Any, ...]] = []
    for part in _split(tokens, ("op", "&&")):
        term = _parse_term(part)
        if term is None:
            return None
        terms.append(term)
    return PlainExpression(source, terms) if terms else None


def _split(tokens: list[tuple[str, str]], separator: tuple[str, str]) -> list[list[tuple[str, str]]]:
    parts: list[list[tuple[str, str]]] = [[]]
    for token in tokens:
        if token == separator:
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _parse_term(tokens: list[tuple[str, str]]) -> tuple[Any, ...] | None:
    if len(tokens) == 1 and _is_path(tokens[0]):
        return ("path", tokens[0][1].split("."))
    if len(tokens) == 2 and tokens[0] == ("op", "!") and _is_path(tokens[1]):
        return ("not", tokens[1][1].split("."))
    if len(tokens) == 3 and _is_path(tokens[0]) and tokens[1][0] == "op" and tokens[1][1] in _COMPARE:
        literal = _literal(tokens[2])
        if literal is not _NOT_LITERAL:
            return (tokens[1][1], tokens[0][1].split("."), literal)
    return None


_NOT_LITERAL = object()


def _is_path(token: tuple[str, str]) -> bool:
    kind, text = token
    return kind == "path" and text not in _LITERALS and text.split(".")[0] not in _CEL_FUNCTIONS and "." in text


def _literal(token: tuple[str, str]) -> Any:
    kind, text = token
    if kind == "string":
        return text[1:-1] if "\\" not in text else _NOT_LITERAL  # escapes: left to CEL
    if kind == "number":
        return float(text) if "." in text else int(text)
    if kind == "path" and text in _LITERALS:
        return _LITERALS[text]
    return _NOT_LITERAL


def _term(term: tuple[Any, ...], variables: dict[str, Any]) -> Any:
    kind, path = term[0], term[1]
    value = _resolve(path, variables)
    if kind == "path":
        return value
    if kind == "not":
        if not isinstance(value, bool):
            raise PlainError(f"no such overload: !{type(value).__name__}")
        return not value
    literal = term[2]
    if kind in ("==", "!="):
        equal = _equal(value, literal)
        return equal if kind == "==" else not equal
    numbers = (int, float)
    if isinstance(value, bool) or isinstance(literal, bool) or value is None or literal is None:
        raise PlainError(f"no such overload: {type(value).__name__} {kind} {type(literal).__name__}")
    if isinstance(value, numbers) != isinstance(literal, numbers):
        raise PlainError(f"no such overload: {type(value).__name__} {kind} {type(literal).__name__}")
    return _COMPARE[kind](value, literal)


def _equal(value: Any, literal: Any) -> bool:
    """CEL's equality: a bool is not a number, numbers compare by value, other types never equal."""
    if isinstance(value, bool) or isinstance(literal, bool):
        return isinstance(value, bool) and isinstance(literal, bool) and value == literal
    if value is None or literal is None:
        return value is literal
    if isinstance(value, int | float) and isinstance(literal, int | float):
        return value == literal
    return type(value) is type(literal) and value == literal


def _resolve(path: list[str], variables: dict[str, Any]) -> Any:
    if path[0] not in variables:
        raise PlainError(f"undeclared reference to '{path[0]}'")
    value = variables[path[0]]
    for name in path[1:]:
        if isinstance(value, BaseModel):
            if name not in type(value).model_fields:
                raise PlainError(f"no such key: '{name}'")
            value = getattr(value, name)
        elif isinstance(value, dict):
            if name not in value:
                raise PlainError(f"no such key: '{name}'")
            value = value[name]
        else:
            raise PlainError(f"no such key: '{name}'")
    return _as_cel_sees(value)


def _as_cel_sees(value: Any) -> Any:
    """The value as CEL receives it from the JSON form of the model (enums and times as strings)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, date | list | dict):
        return to_jsonable_python(value)
    return value

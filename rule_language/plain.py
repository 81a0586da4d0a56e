"""Plain CEL expressions evaluated in Python on the models themselves, without converting them for CEL.

Handing a variable to CEL costs 10-20 µs however small it is (``cel.Context.add_variable``),
more than most feature expressions take to run. Most are plain: a field
(``event.payload.amount``), a comparison of a field with a literal
(``event.payload.status == "approved"``, ``event.payload.device_type != null``), a negated
field (``!event.payload.card_present``), ``has(field)``, a field looked up in a map
(``reference.usd_per[event.payload.currency]``), a field ``in`` a map or list, the product of
two of those or a number, and ``&&`` of those. :func:`plain` recognises exactly that subset
and evaluates it on the models with CEL's meaning (strings, numbers, booleans and null; an
error where CEL has one); anything else returns None and runs in CEL. Where the types are not
the plain ones (a lookup in a list, a product of an int and a double), it raises
:class:`PlainError` and the caller runs CEL, which says what it makes of them.

A rule's condition is often a few plain tests ANDed with one only CEL can run
(``event.payload.amount > 500.0 && size(features.device_types_90d.value) > 1``).
:class:`Condition` runs the plain ones first, and CEL only when they all hold, so most
events convert nothing for CEL. ``tests/unit/rules/test_plain.py`` checks plain and CEL
agree, errors included, on every example event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from enum import Enum
from typing import Any

import cel
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from ctxi.rule_language.projection import FIELD_NAMES, field_names

_PATH = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+"
_TOKEN = re.compile(
    rf"\s*(?:(?P<has>has\(\s*{_PATH}\s*\))"
    rf"|(?P<lookup>{_PATH}\[\s*{_PATH}\s*\])"
    r"|(?P<string>\"(?:[^\"\\]|\\.)*\")|(?P<number>-?\d+\.\d+|-?\d+)|(?P<op>==|!=|<=|>=|&&|<|>|!|\*)"
    r"|(?P<in>in\b)|(?P<path>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*))"
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
        # each ("path", path), ("has", path), ("not", term) or (op, path, literal); all ANDed
        self._terms = terms

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The value, with the variables by name: models, dicts or mappings (a false term: the rest is not read)."""
        if len(self._terms) == 1:
            return _term(self._terms[0], variables)
        # CEL's &&: false wins over an error, whatever the order; otherwise the first error is raised
        error = None
        for term in self._terms:
            try:
                value = _term(term, variables)
            except PlainError as exc:
                error = error or exc
                continue
            if value is False:
                return False
            if not isinstance(value, bool):
                error = error or PlainError(f"no such overload: && on {type(value).__name__}")
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
        assert kind is not None  # every alternative of _TOKEN is a named group
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
    if len(tokens) == 1 and tokens[0][0] == "has":
        return ("has", tokens[0][1][4:-1].strip().split("."))
    if len(tokens) == 1:
        operand = _operand(tokens[0])
        return operand if operand is not None and operand[0] != "literal" else None
    if len(tokens) == 2 and tokens[0] == ("op", "!"):
        inner = _parse_term(tokens[1:])
        return ("not", inner) if inner is not None and inner[0] in ("path", "has") else None
    if len(tokens) != 3:
        return None
    left, (kind, text), right = tokens
    if kind == "in":
        value, container = _operand(left), _operand(right)
        return ("in", value, container[1]) if value is not None and container and container[0] == "path" else None
    if (kind, text) == ("op", "*"):
        first, second = _operand(left), _operand(right)
        return ("*", first, second) if first is not None and second is not None else None
    if kind == "op" and text in _COMPARE:
        operand, literal = _operand(left), _literal(right)
        if operand is not None and operand[0] != "literal" and literal is not _NOT_LITERAL:
            return (text, operand, literal)
    return None


_NOT_LITERAL = object()


def _operand(token: tuple[str, str]) -> tuple[Any, ...] | None:
    """("path", path), ("lookup", map path, key path) or ("literal", value); None: not an operand."""
    kind, text = token
    if _is_path(token):
        return ("path", text.split("."))
    if kind == "lookup":
        container, key = (part.strip() for part in text[:-1].split("[", 1))
        if _is_path(("path", container)) and _is_path(("path", key)):
            return ("lookup", container.split("."), key.split("."))
        return None
    literal = _literal(token)
    return None if literal is _NOT_LITERAL else ("literal", literal)


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


def _term(term: tuple[Any, ...], variables: Mapping[str, Any]) -> Any:
    kind = term[0]
    if kind == "not":
        value = _term(term[1], variables)
        if not isinstance(value, bool):
            raise PlainError(f"no such overload: !{type(value).__name__}")
        return not value
    if kind == "has":
        path = term[1]
        return _has(_resolve(path[:-1], variables, raw=True), path[-1])
    if kind in ("path", "lookup"):
        return _value(term, variables)
    if kind == "in":
        return _member(_value(term[1], variables), _resolve(term[2], variables, raw=True))
    if kind == "*":
        return _product(_value(term[1], variables), _value(term[2], variables))
    value, literal = _value(term[1], variables), term[2]
    if kind in ("==", "!="):
        equal = _equal(value, literal)
        return equal if kind == "==" else not equal
    numbers = (int, float)
    both_numbers = isinstance(value, numbers) and isinstance(literal, numbers)
    both_strings = isinstance(value, str) and isinstance(literal, str)
    if isinstance(value, bool) or isinstance(literal, bool) or not (both_numbers or both_strings):
        raise PlainError(f"no such overload: {type(value).__name__} {kind} {type(literal).__name__}")
    return _COMPARE[kind](value, literal)


def _value(operand: tuple[Any, ...], variables: Mapping[str, Any]) -> Any:
    kind = operand[0]
    if kind == "path":
        return _resolve(operand[1], variables)
    if kind == "literal":
        return operand[1]
    container, key = _resolve(operand[1], variables, raw=True), _resolve(operand[2], variables)
    if type(key) is not str or not (type(container) is dict or isinstance(container, Mapping)):
        raise PlainError(f"a lookup of {type(key).__name__} in {type(container).__name__}: left to CEL")
    if key not in container:
        raise PlainError(f"no such key: '{key}'")
    return _as_cel_sees(container[key])


def _member(value: Any, container: Any) -> bool:
    """CEL's ``in`` for a string: a key of a map of strings, an item of a list of strings (a map or list
    holding other types is CEL's to judge)."""
    if type(value) is str:
        if type(container) is dict and all(type(key) is str for key in container):
            return value in container
        if type(container) is not dict and isinstance(container, Mapping):  # a view of a model: names
            return value in container
        if type(container) is list and all(type(item) is str for item in container):
            return value in container
    raise PlainError(f"{type(value).__name__} in {type(container).__name__}: left to CEL")


_INT64 = range(-(2**63), 2**63)


def _product(first: Any, second: Any) -> Any:
    """CEL's ``*`` of two doubles or two ints (no conversion between them: CEL has none)."""
    if type(first) is float and type(second) is float:
        return first * second
    if type(first) is int and type(second) is int and first * second in _INT64:
        return first * second
    raise PlainError(f"{type(first).__name__} * {type(second).__name__}: left to CEL")


def _equal(value: Any, literal: Any) -> bool:
    """CEL's equality: a bool is not a number, numbers compare by value, other types never equal."""
    if isinstance(value, bool) or isinstance(literal, bool):
        return isinstance(value, bool) and isinstance(literal, bool) and value == literal
    if value is None or literal is None:
        return value is literal
    if isinstance(value, int | float) and isinstance(literal, int | float):
        return value == literal
    return type(value) is type(literal) and value == literal


def _resolve(path: list[str], variables: Mapping[str, Any], raw: bool = False) -> Any:
    if path[0] not in variables:
        raise PlainError(f"undeclared reference to '{path[0]}'")
    value = variables[path[0]]
    for name in path[1:]:
        # a model met before is known by its type: isinstance on a model class is an ABC check, slow
        fields = FIELD_NAMES.get(type(value))
        if fields is None and isinstance(value, BaseModel):
            fields = field_names(type(value))
        if fields is not None:
            if name not in fields:
                raise PlainError(f"no such key: '{name}'")
            value = getattr(value, name)
        elif type(value) is dict or isinstance(value, Mapping):
            if name not in value:
                raise PlainError(f"no such key: '{name}'")
            value = value[name]
        else:
            raise PlainError(f"no such key: '{name}'")
    return value if raw else _as_cel_sees(value)


def _has(value: Any, name: str) -> bool:
    """CEL's ``has()``: the field or key is there (a model's field always is: its JSON form has it)."""
    if isinstance(value, BaseModel):
        return name in field_names(type(value))
    if type(value) is dict or isinstance(value, Mapping):
        return name in value
    raise PlainError(f"invalid argument to has() macro on {type(value).__name__}")


_AS_THEY_ARE = frozenset({str, int, float, bool, type(None)})


def _as_cel_sees(value: Any) -> Any:
    """The value as CEL receives it from the JSON form of the model (enums and times as strings)."""
    if type(value) in _AS_THEY_ARE:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, date | list | dict):
        return to_jsonable_python(value)
    return value


class Condition:
    """A rule's condition: its plain conjuncts run in Python first, CEL only when they all hold.

    CEL's ``&&`` is false as soon as one side is false, whatever the others give (errors
    included), so a false plain conjunct decides alone. When they all hold, the result is
    the rest's; on anything unusual (a plain error, a value that is not a boolean, a failing
    rest) the whole condition runs in CEL, so its value and its error are CEL's own.
    """

    def __init__(self, source: str, program: Any) -> None:
        self.source = source
        self.program = program  # cel.Program of the whole condition
        parsed = [(part, plain(part)) for part in conjuncts(source)]
        plain_parts = [part for part, expression in parsed if expression is not None]
        rest = [part for part, expression in parsed if expression is None]
        self.plain = plain(" && ".join(plain_parts)) if plain_parts else None
        self.rest_source = " && ".join(f"({part})" for part in rest) if rest and plain_parts else None
        self.rest = cel.compile(self.rest_source) if self.rest_source is not None else None

    def execute(self, variables: Mapping[str, Any], cel_context: Callable[[], cel.Context]) -> Any:
        """The condition's value with ``variables`` (models or mappings, by name) for the plain
        conjuncts; ``cel_context()`` gives the CEL context when CEL has to run."""
        if self.plain is None:
            return self.program.execute(cel_context())
        try:
            held = self.plain.evaluate(variables)
        except Exception:  # CEL says what the error is (or finds a false part among the rest)
            return self.program.execute(cel_context())
        if held is False:
            return False
        if self.rest is None:
            return held
        if held is not True:
            return self.program.execute(cel_context())
        try:
            value = self.rest.execute(cel_context())
        except Exception:  # the whole condition gives CEL's own error
            return self.program.execute(cel_context())
        return value if isinstance(value, bool) else self.program.execute(cel_context())


_RAW_STRING = re.compile(r"(?<![\w.])[rRbB]{1,2}['\"]")


def conjuncts(source: str) -> list[str]:
    """The top-level ``&&`` operands of ``source``; ``[source]`` when its top level is anything else
    (``||`` and ``?:`` bind looser than ``&&``)."""
    if "'''" in source or '"""' in source or _RAW_STRING.search(source):  # quoting this scan does not follow
        return [source]
    parts, depth, start, index, quote = [], 0, 0, 0, ""
    while index < len(source):
        char = source[index]
        if quote:
            if char == "\\":
                index += 1  # an escaped character: not the closing quote
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and (source.startswith("||", index) or char == "?"):
            return [source]
        elif depth == 0 and source.startswith("&&", index):
            parts.append(source[start:index].strip())
            start = index + 2
            index += 1
        index += 1
    parts.append(source[start:].strip())
    return parts if all(parts) else [source]

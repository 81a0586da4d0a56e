"""What an analyst's rule may cost: the bounds on its templates and CEL expressions.

Rules come from people who are not developers, and a pack runs on every event of the
stream: one expensive rule stalls a partition, one that changes the data misleads every
rule after it. So nothing in a rule can change what it reads (Jinja's immutable sandbox;
CEL has no side effects), and what a rule can compute is bounded before it ever runs:

- templates: at most ``MAX_TEMPLATE_LENGTH`` characters; output expressions, ``if`` and
  one level of ``for`` (no macros, ``set``, blocks, ``namespace`` or recursive loops,
  which are what makes work grow beyond the text's length); ``range`` up to
  ``MAX_RANGE``; ``*``, ``**`` and ``%`` and every filter or method argument bounded;
  every value a filter, method or operator makes at most ``MAX_VALUE_LENGTH`` items, and
  the rendered text at most ``MAX_RENDERED_LENGTH`` characters.
- CEL: at most ``MAX_CEL_LENGTH`` characters, ``MAX_COMPREHENSIONS`` macros
  (``all``, ``exists``, ``exists_one``, ``map``, ``filter``) nested ``MAX_NESTING`` deep,
  and at most ``MAX_CEL_ITERATIONS`` macro steps in the worst case, all counted on the
  expression's tokens (comments and strings, raw ones too, are skipped as CEL's lexer skips
  them: nothing can hide a macro). At run time each rule has a time budget per event
  (``EngineConfig.rule_budget_ms``): the CEL library cannot be interrupted, so the
  static bounds keep an evaluation short and the budget fails the rule on an event that
  still went past it.

Each limit is checked when a pack is loaded (``ctxi rules check``, a publish, a worker
start) where it can be, and otherwise fails the rule on that event at once (counted
as a rule failure) instead of running on. docs/limits.md lists them for analysts.
"""

from __future__ import annotations

import functools
import gc
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import Environment, StrictUndefined, nodes
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from ctxi.rule_language.formatting import money
from ctxi.schemas.common import shorten

MAX_TEMPLATE_LENGTH = 4_000
MAX_RENDERED_LENGTH = 10_000
MAX_VALUE_LENGTH = 10_000  # a string or list any step of a template makes (as long as the longest text of an event)
MAX_ARGUMENT = 10_000  # an integer handed to a filter or method (a width, a count)
MAX_RANGE = 1_000
MAX_FOR_NESTING = 1
MAX_POWER_EXPONENT = 64
MAX_POWER_BITS = 4_096  # of an integer power's result
MAX_CEL_LENGTH = 2_000
MAX_COMPREHENSIONS = 4
MAX_NESTING = 2
MAX_CEL_ITERATIONS = 10_000  # macro steps in the worst case (about 3 ms)
# The longest list a variable holds (a feature's 64 values; bookings have 16 segments):
# what a macro over a list that is not written out in the expression may go through.
VARIABLE_LIST_BOUND = 64

# Statements a template may use: text, output, if and for. The rest (macros, call
# blocks, set, with, filter blocks, includes) can make work grow beyond the text's size.
_ALLOWED_STATEMENTS = (nodes.Output, nodes.If, nodes.For, nodes.TemplateData)
_FORMAT_WIDTH = re.compile(r"%[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?[a-zA-Z%]")
_BRACE_WIDTH = re.compile(r"\d{5,}")
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# CEL's tokens (cel-spec's lexical grammar): comments, string literals (raw ones process no
# escape, so r'\' is a whole string), names, numbers, and one character of anything else.
_CEL_TOKEN = re.compile(
    r"""(?P<comment>//[^\n]*)
    |(?P<string>(?:[rR][bB]?|[bB][rR])(?:'{3}.*?'{3}|"{3}.*?"{3}|'[^'\n]*'|"[^"\n]*")
               |[bB]?(?:'{3}(?:\\.|.)*?'{3}|"{3}(?:\\.|.)*?"{3}|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")
               |['"].*)
    |(?P<name>[A-Za-z_]\w*)
    |(?P<number>\d[\w.]*)
    |(?P<space>\s+)
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


_JINJA_STATE = (EvalContext, Context, Environment)  # what jinja hands a filter before its value


class RuleCostError(SecurityError):
    """A rule went past one of the limits of this module."""


class RuleClock:
    """Seconds as ``time.perf_counter`` counts them, less the time the garbage collector ran.

    A full collection over a large heap pauses the process for hundreds of milliseconds,
    in whatever runs at that moment: timed with the wall clock, a rule evaluated then went
    past its budget and failed (five rules of a 50,000-customer replay, at 213 to 509 ms)."""

    def __init__(self) -> None:
        self.collecting = 0.0  # seconds the collector has run in all
        self._started: float | None = None
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.collecting += time.perf_counter() - self._started
            self._started = None

    def __call__(self) -> float:
        return time.perf_counter() - self.collecting


rule_clock = RuleClock()


def _text_size(value: Any, limit: int = MAX_VALUE_LENGTH) -> int:
    """About how many characters ``value`` is as text, counted without building it (a list of
    9,999 strings of 9,999 characters is short as a list and 100 MB as text); counting stops
    once past ``limit``."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple | dict | set | frozenset):
        size = 2
        for item in value.items() if isinstance(value, dict) else value:
            size += _text_size(item, limit) + 2
            if size > limit:
                break
        return size
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 2  # its decimal digits, without writing them
    return 24  # a number, a date, a bool: short


def _bounded_value(value: Any, what: str) -> Any:
    if isinstance(value, str | list | tuple | dict) and (size := _text_size(value)) > MAX_VALUE_LENGTH:
        raise RuleCostError(f"{what} made a value of {size:,} characters; the limit is {MAX_VALUE_LENGTH:,}")
    return value


def _expected_size(name: str, receiver: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """What the string operations whose result can outgrow their inputs many times over would
    make, worked out before they run (0: not one of them)."""
    if not isinstance(receiver, str):
        return 0
    if name == "join":  # receiver: the separator; args[0]: the items, a sequence (see _listed)
        items = args[0] if args and isinstance(args[0], str | list | tuple) else ()
        return sum(_text_size(item) for item in items) + len(receiver) * max(len(items) - 1, 0)
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        found = len(receiver) + 1 if args[0] == "" else receiver.count(args[0])
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            found = min(found, args[2])
        return len(receiver) + found * max(len(args[1]) - len(args[0]), 0)
    if name in ("indent", "expandtabs"):
        width = args[0] if args else kwargs.get("width", kwargs.get("tabsize", 8))
        width = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        return len(receiver) + (receiver.count("\n" if name == "indent" else "\t") + 1) * max(width, 0)
    if name in ("format", "format_map", "%"):
        fields = receiver.count("{") + receiver.count("%")
        values = [*args, *kwargs.values()]
        if len(values) == 1 and isinstance(values[0], dict | tuple):
            values = list(values[0].values() if isinstance(values[0], dict) else values[0])
        return len(receiver) + fields * max((_text_size(value) for value in values), default=0)
    return 0


def _listed(args: tuple[Any, ...], index: int) -> tuple[Any, ...]:
    """``args`` with the one at ``index`` made a list when it is an iterator (a filter's
    generator): its size can then be known before ``join`` runs, and join still gets every item."""
    value = args[index]
    if isinstance(value, str | list | tuple | dict):
        return args
    return (*args[:index], list(value), *args[index + 1 :])


def _check_size_before(name: str, receiver: Any, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> None:
    if (size := _expected_size(name, receiver, args, kwargs)) > MAX_VALUE_LENGTH:
        raise RuleCostError(f"{what} would make a value of {size:,} characters; the limit is {MAX_VALUE_LENGTH:,}")


def _check_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ARGUMENT:
            raise RuleCostError(f"{what} was given {value:,}; arguments are limited to ±{MAX_ARGUMENT:,}")


def _check_format(text: Any, what: str) -> None:
    if not isinstance(text, str):
        return
    for width, precision in _FORMAT_WIDTH.findall(text):
        for number in (width, precision):
            if number == "*":
                raise RuleCostError(f"{what}: a width taken from an argument ('*') is not allowed")
            if number.isdigit() and int(number) > MAX_ARGUMENT:
                raise RuleCostError(f"{what}: a width of {int(number):,}; the limit is {MAX_ARGUMENT:,}")
    if "{" in text and _BRACE_WIDTH.search(text):
        raise RuleCostError(f"{what}: a format field wider than {MAX_ARGUMENT:,}")


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps jinja's pass_context/pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if name == "join":
            args = _listed(args, next(i for i, arg in enumerate(args) if not isinstance(arg, _JINJA_STATE)))
        values = [arg for arg in args if not isinstance(arg, _JINJA_STATE)]  # the value filtered, then arguments
        if name == "format":  # what it formats may be any number; widths are in the format itself
            _check_format(next((arg for arg in values if isinstance(arg, str)), None), "filter format")
        else:
            _check_arguments(tuple(values[1:]), kwargs, f"filter {name}")
        if values:
            if name == "join":  # the value is the items, the argument the separator
                separator = values[1] if len(values) > 1 else kwargs.get("d", "")
                _check_size_before("join", separator, (values[0],), {}, f"filter {name}")
            else:
                _check_size_before(name, values[0], tuple(values[1:]), kwargs, f"filter {name}")
        return _bounded_value(function(*args, **kwargs), f"filter {name}")

    return bounded


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RuleCostError(f"range of {len(numbers):,} numbers; the limit is {MAX_RANGE:,}")
    return numbers


class RuleTemplates(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with the cost limits above."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
        self.filters = {name: _bounded_filter(name, function) for name, function in self.filters.items()}
        self.filters["money"] = _bounded_filter("money", money)
        self.globals = {"range": _bounded_range, "dict": dict}

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float):
            if abs(right) > MAX_POWER_EXPONENT:
                raise RuleCostError(f"an exponent of {right:,}; the limit is {MAX_POWER_EXPONENT}")
            if isinstance(left, int) and left.bit_length() * right > MAX_POWER_BITS:
                raise RuleCostError(f"a power of more than {MAX_POWER_BITS:,} bits")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(count, int)
                    and (size := _text_size(sequence, MAX_VALUE_LENGTH // max(count, 1) + 1) * count) > MAX_VALUE_LENGTH
                ):
                    raise RuleCostError(
                        f"'*' would make a value of {size:,} characters; the limit is {MAX_VALUE_LENGTH:,}"
                    )
        if operator == "%":
            _check_format(left, "'%'")
            _check_size_before("%", left, (right,), {}, "'%'")
        return _bounded_value(super().call_binop(context, operator, left, right), f"'{operator}'")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "a call")
        receiver = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)  # a method's string
        if name == "join" and args:
            args = _listed(args, 0)
        if name in ("format", "format_map"):  # str.format: widths are in the format string
            _check_format(receiver, name)
        elif __obj is not _bounded_range:  # which bounds its length itself
            _check_arguments(args, kwargs, name)
        _check_size_before(name, receiver, args, kwargs, name)
        return _bounded_value(super().call(__context, __obj, *args, **kwargs), name)


TEMPLATES = RuleTemplates()


def template_problems(parsed: nodes.Template) -> Iterator[str]:
    """What makes a parsed template too costly to run (nothing: it may run)."""
    for node in parsed.body:
        yield from _statement_problems(node, 0)


def _statement_problems(node: nodes.Node, loops: int) -> Iterator[str]:
    if not isinstance(node, _ALLOWED_STATEMENTS):
        yield f"'{type(node).__name__.lower()}' is not allowed in a rule's template (use output, if and for)"
        return
    if isinstance(node, nodes.For):
        if node.recursive:
            yield "recursive loops are not allowed in a rule's template"
        if loops + 1 > MAX_FOR_NESTING:
            yield f"loops nested {loops + 1} deep; the limit is {MAX_FOR_NESTING}"
            return
        loops += 1
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.Stmt | nodes.TemplateData):
            yield from _statement_problems(child, loops)


def render(template: Any, variables: dict[str, Any]) -> str:
    """A template's text; past ``MAX_RENDERED_LENGTH`` characters it is cut there with an ellipsis
    and rendering stops (a title built from a field at its limit is still a title)."""
    parts, length = [], 0
    for part in template.generate(**variables):
        parts.append(part)
        length += len(part)
        if length > MAX_RENDERED_LENGTH:
            return shorten("".join(parts), MAX_RENDERED_LENGTH)
    return "".join(parts)


def cel_tokens(source: str) -> list[tuple[str, str]]:
    """``source``'s tokens as (kind, text): comment, string, name, number, other (spaces dropped).
    An unterminated string runs to the end, as CEL's parser (which refuses it) would read it."""
    return [(kind, text) for kind, text, _ in cel_token_spans(source)]


def cel_token_spans(source: str) -> list[tuple[str, str, int]]:
    """:func:`cel_tokens` with where each starts in ``source``."""
    return [
        (match.lastgroup or "other", match.group(), match.start())
        for match in _CEL_TOKEN.finditer(source)
        if match.lastgroup != "space"
    ]


def cel_code(source: str) -> str:
    """``source`` with comments dropped and every string literal as ``""``: what is code in it."""
    parts = []
    for kind, text in cel_tokens(source):
        if kind == "string":
            parts.append('""')
        elif kind != "comment":
            parts.append(text)
    return " ".join(parts)


def cel_problems(source: str) -> Iterator[str]:
    """What makes a CEL expression too costly to run: its length, its macros' count and nesting,
    and how many steps they may take at worst."""
    if len(source) > MAX_CEL_LENGTH:
        yield f"{len(source):,} characters; the limit is {MAX_CEL_LENGTH:,}"
        return
    tokens = [(kind, text) for kind, text in cel_tokens(source) if kind != "comment"]
    macros = _macro_calls(tokens)
    if len(macros) > MAX_COMPREHENSIONS:
        yield f"{len(macros)} macros (all, exists, exists_one, map, filter); the limit is {MAX_COMPREHENSIONS}"
    depth, steps = _macro_cost(tokens, macros)
    if depth > MAX_NESTING:
        yield f"macros nested {depth} deep; the limit is {MAX_NESTING}"
    elif steps > MAX_CEL_ITERATIONS:
        yield f"its macros may take {steps:,} steps; the limit is {MAX_CEL_ITERATIONS:,} (shorter lists, less nesting)"


def _macro_calls(tokens: list[tuple[str, str]]) -> dict[int, int]:
    """Macro calls, as {index of the call's '(' token: most steps its receiver can have}."""
    calls = {}
    for index in range(1, len(tokens) - 1):
        kind, name = tokens[index]
        if kind == "name" and name in _MACROS and tokens[index - 1][1] == "." and tokens[index + 1][1] == "(":
            calls[index + 1] = _receiver_size(tokens, index - 1)
    return calls


def _receiver_size(tokens: list[tuple[str, str]], dot: int) -> int:
    """The most items the list before ``tokens[dot]`` (a '.') can hold: a literal's items when it
    is written out (counted in every list literal of a bracketed receiver), else the longest list
    a variable holds."""
    closer = tokens[dot - 1][1] if dot > 0 else ""
    if closer not in ("]", ")"):
        return VARIABLE_LIST_BOUND
    opener, depth, start = {"]": "[", ")": "("}[closer], 0, dot - 1
    while start >= 0:
        text = tokens[start][1]
        depth += (text == closer) - (text == opener)
        if depth == 0:
            break
        start -= 1
    items, open_lists = 0, []  # per open '[' of the receiver: does it have an item yet
    for kind, text in tokens[max(start, 0) : dot]:
        if text == "[":
            open_lists.append(False)
        elif text == "]" and open_lists:
            items += open_lists.pop()
        elif text == "," and open_lists:
            items += 1
        elif kind != "other" and open_lists:
            open_lists[-1] = True
    return max(items, VARIABLE_LIST_BOUND if closer == ")" else 0)


def _macro_cost(tokens: list[tuple[str, str]], macros: dict[int, int]) -> tuple[int, int]:
    """How deep macros nest, and the steps they may take at worst: each macro's receiver times
    the receivers of the macros it is inside, summed."""
    stack: list[tuple[int, int]] = []  # per open parenthesis: (macros it is inside, steps of one pass there)
    deepest, steps = 0, 0
    for index, (_, text) in enumerate(tokens):
        if text == "(":
            nesting, outer = stack[-1] if stack else (0, 1)
            if index in macros:
                nesting, outer = nesting + 1, outer * max(macros[index], 1)
                deepest, steps = max(deepest, nesting), steps + outer
            stack.append((nesting, outer))
        elif text == ")" and stack:
            stack.pop()
    return deepest, steps


def failure_message(exc: Exception) -> str:
    """What a rule or feature failure says: CEL and Jinja report a missing key as the bare key."""
    if isinstance(exc, KeyError) and exc.args:
        return f"no field {exc.args[0]!r} in the data the rule read"
    return str(exc) or type(exc).__name__

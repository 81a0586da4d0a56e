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
  (``all``, ``exists``, ``exists_one``, ``map``, ``filter``) nested ``MAX_NESTING`` deep.

Each limit is checked when a pack is loaded (``ctxi rules check``, a publish, a worker
start) where it can be, and otherwise fails the rule on that event at once (counted
as a rule failure) instead of running on. docs/limits.md lists them for analysts.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from ctxi.rules.formatting import money

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

# Statements a template may use: text, output, if and for. The rest (macros, call
# blocks, set, with, filter blocks, includes) can make work grow beyond the text's size.
_ALLOWED_STATEMENTS = (nodes.Output, nodes.If, nodes.For, nodes.TemplateData)
_FORMAT_WIDTH = re.compile(r"%[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?[a-zA-Z%]")
_BRACE_WIDTH = re.compile(r"\d{5,}")
_COMPREHENSION = re.compile(r"\.\s*(?:all|exists_one|exists|map|filter)\s*\(")


class RuleCostError(SecurityError):
    """A rule went past one of the limits of this module."""


def _bounded_value(value: Any, what: str) -> Any:
    if isinstance(value, str | list | tuple | dict) and len(value) > MAX_VALUE_LENGTH:
        raise RuleCostError(f"{what} made a value of {len(value):,} items; the limit is {MAX_VALUE_LENGTH:,}")
    return value


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
        if name == "format":  # what it formats may be any number; widths are in the format itself
            _check_format(next((arg for arg in args if isinstance(arg, str)), None), "filter format")
        else:
            _check_arguments(args[1:], kwargs, f"filter {name}")
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
                    and (size := len(sequence) * count) > MAX_VALUE_LENGTH
                ):
                    raise RuleCostError(f"'*' would make a value of {size:,} items; the limit is {MAX_VALUE_LENGTH:,}")
        if operator == "%":
            _check_format(left, "'%'")
        return _bounded_value(super().call_binop(context, operator, left, right), f"'{operator}'")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "a call")
        if name in ("format", "format_map"):  # str.format: widths are in the format string
            _check_format(getattr(getattr(__obj, "__wrapped__", None), "__self__", None), name)
        elif __obj is not _bounded_range:  # which bounds its length itself
            _check_arguments(args, kwargs, name)
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
    """A template's text, stopped as soon as it passes ``MAX_RENDERED_LENGTH``."""
    parts, length = [], 0
    for part in template.generate(**variables):
        length += len(part)
        if length > MAX_RENDERED_LENGTH:
            raise RuleCostError(f"the text passed {MAX_RENDERED_LENGTH:,} characters")
        parts.append(part)
    return "".join(parts)


def cel_problems(source: str) -> Iterator[str]:
    """What makes a CEL expression too costly to run: its length, and its macros' count and nesting."""
    if len(source) > MAX_CEL_LENGTH:
        yield f"{len(source):,} characters; the limit is {MAX_CEL_LENGTH:,}"
        return
    code = _without_strings(source)
    macros = list(_COMPREHENSION.finditer(code))
    if len(macros) > MAX_COMPREHENSIONS:
        yield f"{len(macros)} macros (all, exists, exists_one, map, filter); the limit is {MAX_COMPREHENSIONS}"
    depth = _deepest_nesting(code, {match.end() - 1 for match in macros})
    if depth > MAX_NESTING:
        yield f"macros nested {depth} deep; the limit is {MAX_NESTING}"


def _without_strings(source: str) -> str:
    """``source`` with the contents of its string literals blanked (a '.map(' in a string is text)."""
    return re.sub(
        r"""(?s)('''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")""",
        lambda m: " " * len(m.group()),
        source,
    )


def _deepest_nesting(code: str, macro_parens: set[int]) -> int:
    """How many macro calls the deepest point of ``code`` is inside."""
    stack: list[bool] = []  # per open parenthesis: is it a macro's
    deepest = 0
    for index, char in enumerate(code):
        if char == "(":
            stack.append(index in macro_parens)
            deepest = max(deepest, sum(stack))
        elif char == ")" and stack:
            stack.pop()
    return deepest


def failure_message(exc: Exception) -> str:
    """What a rule or feature failure says: CEL and Jinja report a missing key as the bare key."""
    if isinstance(exc, KeyError) and exc.args:
        return f"no field {exc.args[0]!r} in the data the rule read"
    return str(exc) or type(exc).__name__

"""Why a rule did, or did not, make a task for an event: each clause of its condition with its
value and what it read, the features it read, and what stopped the task if something did.

The explanation is made inside :meth:`ctxi.rules.evaluate.RuleSet.evaluate`, by the same
evaluation that decides (``ctxi rules explain`` runs the engine as replay does, asking it to
explain one rule), so it never disagrees with what the engine did. Clauses are the parts of
``when`` joined by a top-level ``&&``, evaluated in order as CEL would short-circuit them:
the first that is false is why the rule did not fire; the ones after it were not reached.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import cel

from ctxi.rule_language.plain import PlainError, PlainExpression, plain
from ctxi.rule_language.sandbox import cel_token_spans, failure_message
from ctxi.rule_language.typecheck import cel_references

NOT_REACHED = "not reached"


class _Absent:
    def __repr__(self) -> str:
        return "absent"


ABSENT = _Absent()  # a path the data does not have


@functools.lru_cache(maxsize=1024)
def _clauses(when: str) -> tuple[str, ...]:
    return tuple(clauses_of(when))


@dataclass
class Clause:
    text: str
    value: Any = None  # True, False, or what the clause gave (an error is in ``error``)
    error: str | None = None
    reads: dict[str, Any] = field(default_factory=dict)  # the paths it read and their values
    reached: bool = True


@dataclass
class Explanation:
    """One rule on one event."""

    rule_id: str
    rule_version: int
    customer_id: str
    event_id: str
    event_type: str
    occurred_at: datetime
    clauses: list[Clause]
    features: dict[str, dict[str, Any]]  # the features the rule reads: value, count, at, warm
    outcome: str  # what happened, in words: "task t-... raised", "condition false at clause 2", ...

    def lines(self) -> list[str]:
        head = f"{self.occurred_at.isoformat()} {self.event_type} {self.event_id}: {self.outcome}"
        lines = [head]
        for number, clause in enumerate(self.clauses, start=1):
            if not clause.reached:
                lines.append(f"  {number}. {clause.text}  -> {NOT_REACHED}")
                continue
            value = f"error: {clause.error}" if clause.error else shown(clause.value)
            lines.append(f"  {number}. {clause.text}  -> {value}")
            lines += [f"       {path} = {shown(found)}" for path, found in clause.reads.items()]
        for feature_id, read in self.features.items():
            warm = "warm" if read.get("warm") else "cold (counting for less than its window)"
            lines.append(
                f"  features.{feature_id}: value {shown(read.get('value'))}, count {read.get('count')}, {warm}"
            )
        return lines


def shown(value: Any) -> str:
    if value is ABSENT:
        return "absent (not in the data)"
    text = repr(value) if isinstance(value, str) else str(value).replace("True", "true").replace("False", "false")
    return text if len(text) <= 120 else text[:119] + "…"


def clauses_of(when: str) -> list[str]:
    """``when`` split at its top-level ``&&`` (not inside parentheses, brackets or strings), each
    part as written."""
    cuts, depth, previous = [], 0, None  # previous: the last code token's (text, start)
    for kind, text, start in cel_token_spans(when):
        if kind in ("comment", "string"):
            previous = (text, start)
            continue
        if text in "([{":
            depth += 1
        elif text in ")]}":
            depth -= 1
        elif text == "&" and depth == 0 and previous is not None and previous == ("&", start - 1):
            cuts.append(start - 1)
            previous = None
            continue
        previous = (text, start)
    bounds = [0, *[cut + 2 for cut in cuts]]
    ends = [*cuts, len(when)]
    parts = [" ".join(when[begin:end].split()) for begin, end in zip(bounds, ends, strict=True)]
    return [part for part in parts if part]


def explain_clauses(
    when: str,
    cel_context: Callable[[], cel.Context],
    values: dict[str, Any],
    plain_variables: Mapping[str, Any],
) -> list[Clause]:
    """Each clause of ``when`` evaluated in order, with what it read (from ``values``: the variables
    as JSON); after a false or failing one, the rest are not reached.

    A plain clause runs in Python on ``plain_variables`` (the models: rule_language/plain.py, which
    gives CEL's values); any other, or one plain leaves to CEL, on ``cel_context()``, built only then:
    a task's "why" then converts nothing for CEL when its rule's clauses are plain."""
    clauses, stopped = [], False
    for text in _clauses(when):
        clause = Clause(text)
        clauses.append(clause)
        if stopped:
            clause.reached = False
            continue
        clause.reads = {".".join(path): _lookup(values, path) for path in _paths_read(text)}
        try:
            clause.value = _value(text, cel_context, plain_variables)
        except Exception as exc:  # a clause can fail on data as the whole condition would
            clause.error = failure_message(exc)
        stopped = clause.error is not None or clause.value is not True
    return clauses


def _value(text: str, cel_context: Callable[[], cel.Context], plain_variables: Mapping[str, Any]) -> Any:
    if (expression := _plain(text)) is not None:
        try:
            return expression.evaluate(plain_variables)
        except PlainError:  # CEL says what it makes of it, in its own words
            pass
    return _compiled(text).execute(cel_context())


@functools.lru_cache(maxsize=4096)
def _plain(text: str) -> PlainExpression | None:
    return plain(text)


@functools.lru_cache(maxsize=4096)  # a rule's clauses, compiled once for every task it makes
def _compiled(text: str) -> Any:
    return cel.compile(text)


@functools.lru_cache(maxsize=4096)
def _paths_read(text: str) -> tuple[tuple[str, ...], ...]:
    return tuple(dict.fromkeys(reference.path for reference in cel_references(text)))


def _lookup(values: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = values
    for name in path:
        if not isinstance(node, dict) or name not in node:
            return ABSENT
        node = node[name]
    return node

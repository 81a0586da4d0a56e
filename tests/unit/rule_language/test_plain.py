"""Plain expressions evaluated in Python give what CEL gives, errors included, on every example event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cel
import pytest

from ctxi.ingest.jsonl import read_jsonl
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rule_language.plain import plain
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.dead_letter import DeadLetter

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.jsonl"))
EVENTS = [
    record.outcome for path in EXAMPLES for record in read_jsonl(path) if not isinstance(record.outcome, DeadLetter)
]
BUILTIN = load_rule_dir(BUILTIN_PACKS, frozenset({"fraud", "travel", "service"}))
BUILTIN_SET = RuleSet(BUILTIN)
EXPRESSIONS = [
    *(e.source for compiled in BUILTIN.features for e in compiled.expressions if e.plain is not None),
    "event.payload.amount",
    "event.payload.amount > 100",
    "event.payload.amount >= 100.5",
    "event.payload.amount < 0",
    'event.payload.status != "declined"',
    "event.payload.card_present && event.payload.amount > 500.0",
    'event.payload.location.city == "Paris"',
    "event.payload.location",
    "event.payload.missing == 1",
    'event.payload.tier == "gold" && event.payload.nope',
    'event.payload.nope && event.payload.tier == "nobody"',
    "!event.payload.mentions_brand",
    "!event.payload.text",
    "event.payload.followers <= 1000",
    'event.payload.text < "m"',
    "event.payload.text > 3",
    'event.payload.attributes < "m"',  # a map is not ordered: an error, as in CEL
    "event.payload.location >= 1",
    "event.occurred_at",
    "event.payload.attributes",
    "event.payload.sentiment == null",
    "event.customer_id != null",
    "has(event.payload.case_id)",
    "!has(event.payload.case_id)",
    "has(event.payload.location.city)",
    "has(event.payload.attributes.plan) && event.payload.amount > 1",
    # lookups in maps, membership and products (a reference table: the built-in usd_per)
    "reference.usd_per[event.payload.currency]",
    "event.payload.amount * reference.usd_per[event.payload.currency]",
    'event.payload.status == "approved" && event.payload.currency in reference.usd_per',
    '"EUR" in reference.usd_per',
    "event.payload.currency in reference.usd_per",
    "event.payload.amount in reference.usd_per",  # a number in a map of strings: CEL's answer
    "event.payload.currency in event.payload.attributes",
    "event.payload.attributes[event.payload.currency]",
    "reference.usd_per[event.type]",  # no such key
    "event.payload.amount * event.payload.amount",
    "event.payload.followers * event.payload.followers",
    "event.payload.followers * 2",
    "event.payload.amount * 2",  # a double times an int: an error in CEL
    "event.payload.amount * 2.5",
    "event.payload.followers * event.payload.amount",
    "event.payload.text * 2",
    "event.payload.followers * 4611686018427387904",  # past int64: an error in CEL
]
REFERENCE = BUILTIN_SET.reference


def run_cel(source: str, event: Any) -> tuple[str, Any]:
    context = cel.Context()
    context.add_variable("event", event.model_dump(mode="json"))
    context.add_variable("reference", REFERENCE)
    try:
        return "value", cel.compile(source).execute(context)
    except Exception:
        return "error", None


def run_plain(source: str, event: Any) -> tuple[str, Any]:
    expression = plain(source)
    assert expression is not None, source
    try:
        return "value", expression.evaluate({"event": event, "reference": REFERENCE})
    except Exception:
        return "error", None


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_plain_agrees_with_cel_on_every_example_event(source: str) -> None:
    """Errors too: where plain leaves a case to CEL (``PlainError``), CEL fails on it as well here,
    and a feature whose plain evaluation fails runs CEL for the message (features/definitions.py)."""
    for event in EVENTS:
        assert run_plain(source, event) == run_cel(source, event), (source, event.event_id)


@pytest.mark.parametrize(
    "source",
    ['size(event.payload.text) > 3', 'event.payload.a || event.payload.b', 'event.payload.x + 1 > 2',
     'has(event.payload.case_id) == true', 'event', '"a\\"b" == event.type', 'event.payload.segments[0].flight',
     'event.payload.amount * 2.0 > 1.0', 'reference.usd_per["EUR"]', 'event.payload.a in [1, 2]',
     'reference.usd_per[event.payload.currency].x'],
)  # fmt: skip
def test_anything_else_is_left_to_cel(source: str) -> None:
    assert plain(source) is None


def test_what_plain_leaves_to_cel_it_refuses_rather_than_answers() -> None:
    """A map with keys that are not strings, a list of numbers, an int times a double: CEL judges them."""
    from ctxi.rule_language.plain import PlainError

    profile = next(event for event in EVENTS if event.type == "crm.customer_profile")  # lifetime_value: a double
    variables = {"reference": {"by_number": {1: 2.0}, "numbers": [1, 2], "rate": {"x": 2}}, "event": profile}
    for source in (
        '"1" in reference.by_number',
        '"1" in reference.numbers',
        "reference.rate.x * reference.rate.x",  # ints: plain's own
        "event.payload.lifetime_value * reference.rate.x",
    ):
        expression = plain(source)
        assert expression is not None, source
        try:
            value = expression.evaluate(variables)
        except PlainError:
            value = "left to CEL"
        assert value == (4 if source.startswith("reference.rate") else "left to CEL"), source


def test_every_builtin_feature_is_plain() -> None:
    """Lookups in reference tables included (`reference.usd_per[event.payload.currency]`): no built-in
    feature hands the event to CEL."""
    expressions = [expression for compiled in BUILTIN.features for expression in compiled.expressions]
    assert [expression.source for expression in expressions if expression.plain is None] == []


CONDITIONS = [
    *(compiled.rule.when for compiled in BUILTIN.rules),
    "has(signals.location_conflict) && signals.location_conflict.speed_kmh > 900.0",
    'customer.profile != null && customer.profile.tier == "gold" && size(customer.open_cases) > 0',
    "event.payload.amount > 10.0 && event.payload.nope > 1",  # a plain error: CEL says what it is
    "event.payload.amount && size(customer.open_cases) >= 0",  # a number where && wants a boolean
    "size(customer.open_cases) >= 0 && event.payload.amount",
    "features.card_spend_1h.count >= 1 && size(customer.observations) > 1",
    "has(event.payload.case_id) && customer.open_cases.exists(c, c.case_id == event.payload.case_id)",
    "event.payload.amount > 1.0 && (customer.profile == null || event.payload.amount > 2.0)",
    'event.payload.status == "approved" ? true : false',
]


def condition_cases() -> Any:
    """Each example event with the context and signals a rule sees for it (the engine joins and enriches)."""
    from collections import deque

    from ctxi.engine.pipeline import Engine
    from ctxi.settings import EngineConfig

    engine = Engine(EngineConfig(), {}, {})
    pending: deque[Any] = deque(EVENTS)
    while pending:
        message = pending.popleft()
        output = engine.handle(message)
        pending.extend(output.forwards)
        if output.outcome == "joined" and output.context is not None:
            yield message, output.context, output.enriched.signals if output.enriched is not None else []


@pytest.mark.parametrize("source", CONDITIONS)
def test_a_condition_run_plain_first_agrees_with_cel(source: str) -> None:
    from ctxi.features.definitions import EventScope
    from ctxi.rule_language.plain import Condition
    from ctxi.rule_language.projection import projection
    from ctxi.rule_language.typecheck import cel_references
    from ctxi.rules.evaluate import RuleVariables

    condition = Condition(source, cel.compile(source))
    features = BUILTIN_SET.features
    for event, context, signals in condition_cases():
        scope = EventScope(event, cel.Context(), None)
        values = features.read(context, event.occurred_at, {}, scope)
        found: dict[str, list[tuple[str, ...]]] = {}
        for reference in cel_references(source):
            found.setdefault(reference.path[0], []).append(reference.path[1:])
        reads = {name: projection(paths) for name, paths in found.items()}
        variables = RuleVariables(event, context, signals, values, None, reads)
        whole = RuleVariables(event, context, signals, features.read(context, event.occurred_at, {}, scope))
        expected_context = cel.Context()
        for name, value in whole.all().items():
            expected_context.add_variable(name, value)
        try:
            expected = ("value", condition.program.execute(expected_context))
        except Exception as exc:
            expected = ("error", str(exc))
        try:
            got = ("value", condition.execute(variables.plain, variables.cel_context))
        except Exception as exc:
            got = ("error", str(exc))
        assert got == expected, (source, event.event_id)


def test_how_conditions_split() -> None:
    from ctxi.rule_language.plain import Condition, conjuncts

    assert conjuncts('a.b && (c || d) && e["x&&y"] == 1') == ["a.b", "(c || d)", 'e["x&&y"] == 1']
    assert conjuncts("a.b && c.d || e.f") == ["a.b && c.d || e.f"]  # || binds looser: no split
    assert conjuncts("a.b ? c.d && e.f : g.h") == ["a.b ? c.d && e.f : g.h"]
    assert conjuncts('r"a\\" && b.c') == ['r"a\\" && b.c']  # raw strings: quoting the scan does not follow
    split = Condition("event.payload.amount > 500.0 && size(customer.open_cases) > 1", None)
    assert split.plain is not None and split.rest_source == "(size(customer.open_cases) > 1)"
    plain_only = Condition("has(signals.balance_shortfall) && signals.balance_shortfall.days_until_due <= 3", None)
    assert plain_only.plain is not None and plain_only.rest is None
    cel_only = Condition("size(customer.open_cases) > 1", None)
    assert cel_only.plain is None and cel_only.rest is None

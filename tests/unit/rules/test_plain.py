"""Plain expressions evaluated in Python give what CEL gives, errors included, on every example event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cel
import pytest

from ctxi.ingest.jsonl import read_jsonl
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.loader import load_rule_dir
from ctxi.rules.plain import plain
from ctxi.schemas.dead_letter import DeadLetter

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.jsonl"))
EVENTS = [
    record.outcome for path in EXAMPLES for record in read_jsonl(path) if not isinstance(record.outcome, DeadLetter)
]
BUILTIN = load_rule_dir(BUILTIN_PACKS, frozenset({"fraud", "travel", "service"}))
EXPRESSIONS = [
    *(expression.source for compiled in BUILTIN.features for expression in compiled.expressions),
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
    "event.occurred_at",
    "event.payload.attributes",
    "event.payload.sentiment == null",
    "event.customer_id != null",
]


def run_cel(source: str, event: Any) -> tuple[str, Any]:
    context = cel.Context()
    context.add_variable("event", event.model_dump(mode="json"))
    try:
        return "value", cel.compile(source).execute(context)
    except Exception:
        return "error", None


def run_plain(source: str, event: Any) -> tuple[str, Any]:
    expression = plain(source)
    assert expression is not None, source
    try:
        return "value", expression.evaluate({"event": event})
    except Exception:
        return "error", None


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_plain_agrees_with_cel_on_every_example_event(source: str) -> None:
    for event in EVENTS:
        assert run_plain(source, event) == run_cel(source, event), (source, event.event_id)


@pytest.mark.parametrize(
    "source",
    ['size(event.payload.text) > 3', 'event.payload.a || event.payload.b', 'event.payload.x + 1 > 2',
     'has(event.payload.case_id)', 'event', '"a\\"b" == event.type', 'event.payload.segments[0].flight'],
)  # fmt: skip
def test_anything_else_is_left_to_cel(source: str) -> None:
    assert plain(source) is None


def test_the_builtin_features_are_plain() -> None:
    assert all(expression.plain is not None for compiled in BUILTIN.features for expression in compiled.expressions)

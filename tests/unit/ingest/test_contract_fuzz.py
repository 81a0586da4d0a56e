"""Fuzzing the event contract: whatever ingest accepts, every later stage can carry.

Valid events from the examples are mutated where a careless or hostile source would
(a number made NaN or 40 digits long, a date in year 9999, an id made blank, a string
made huge, a field of the wrong type). Whatever validates must serialize through the
codec the workers use, decode back to the same event and go through the engine and the
built-in rules without an error; whatever does not is a dead letter with a reason.
Nothing raises, and replay and ``events check`` (both reading through ingest) count the
same lines the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from ctxi.engine.config import EngineConfig
from ctxi.engine.pipeline import ROUTED_ADAPTER, Engine
from ctxi.engine.replay import replay
from ctxi.ingest import read_jsonl, validate_event
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.rules.loader import load_rule_dir
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.schemas.task import Task
from ctxi.streams.codecs import dumps_model

ROOT = Path(__file__).resolve().parents[3]
SEEDS = [
    orjson.loads(record.raw)
    for record in read_jsonl(ROOT / "examples" / "scenarios.jsonl")
    if not isinstance(record.outcome, DeadLetter)
]
RULES = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset({"fraud", "travel", "service"})))
TASKS = TypeAdapter(Task)

HOSTILE = st.one_of(
    st.sampled_from(
        [
            float("nan"),
            float("inf"),
            float("-inf"),
            1e308,
            1e30,
            -1e30,
            10**40,
            -(10**40),
            2**63,
            2**64,
            0,
            -1,
            "",
            "   ",
            "\t\n",
            "x" * 20_000,
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-03-01T10:00:00",
            "2199-12-31T23:59:59+14:00",
            None,
            True,
            [],
            {},
            [None] * 50,
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.text(max_size=40),
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value could be replaced."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _replace(document[path[0]], path[1:], value)
    return copy


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    document: Any = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(document)
        document = _replace(document, draw(st.sampled_from(paths[1:] or paths)), draw(HOSTILE))
    # json (not orjson) writes what a careless source sends: NaN, Infinity, 40-digit integers
    return json.dumps(document).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=mutated_events())
def test_what_validates_serializes_decodes_and_goes_through_the_engine(raw: bytes) -> None:
    outcome = validate_event(raw, FileOrigin(path="fuzz", line=1))
    if isinstance(outcome, DeadLetter):
        assert outcome.reason and outcome.errors
        orjson.dumps(outcome.model_dump(mode="json"))  # the dead letter itself can be sent
        return
    encoded = dumps_model(ROUTED_ADAPTER, outcome)
    assert ROUTED_ADAPTER.validate_json(encoded) == outcome
    engine = Engine(EngineConfig(), {}, {}, rules=RULES)
    pending = [outcome]
    while pending:
        output = engine.handle(pending.pop())
        for decision in output.decisions:
            TASKS.validate_json(dumps_model(TASKS, decision.task))
        for forward in output.forwards:
            ROUTED_ADAPTER.validate_json(dumps_model(ROUTED_ADAPTER, forward))
        pending += output.forwards
    assert engine.counts["rules_failed"] == 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(mutated_events(), min_size=5, max_size=40))
def test_replay_and_events_check_account_for_every_line_alike(tmp_path_factory: Any, lines: list[bytes]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    checked = [record.outcome for record in read_jsonl(path)]
    rejected: list[DeadLetter] = []
    summary = replay([path], EngineConfig(), lambda enriched: None, rejected.append, rules=RULES)
    assert summary.failed == 0
    assert summary.rejected == len(rejected) == sum(isinstance(outcome, DeadLetter) for outcome in checked)
    assert summary.events + summary.rejected == len(checked)
    assert summary.outcomes["rules_failed"] == 0

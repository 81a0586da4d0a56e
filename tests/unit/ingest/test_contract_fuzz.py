"""Fuzzing the event contract: whatever ingest accepts, every later stage can carry.

Whatever of tests/fuzzing.py's hostile lines validates must serialize through the codec
the workers use, decode back to the same event and go through the engine and the
built-in rules without an error; whatever does not is a dead letter with a reason.
Nothing raises, and replay and ``events check`` (both reading through ingest) count the
same lines the same way. tests/integration/test_hostile_input.py sends such lines
through a live worker.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from typer.testing import CliRunner

from ctxi.cli import app
from ctxi.engine.pipeline import ROUTED_ADAPTER, Engine
from ctxi.engine.replay import replay
from ctxi.ingest import validate_event
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.schemas.encoding import dumps_model
from ctxi.schemas.task import Task
from ctxi.settings import EngineConfig
from tests.fuzzing import mutated_line

RULES = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset({"fraud", "travel", "service"})))
TASKS = TypeAdapter(Task)


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    return mutated_line(draw(st.randoms(use_true_random=False)))


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


def _clock_free(line: str) -> str:
    return re.sub(r"ahead of the clock \([^)]*\)", "ahead of the clock", line)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(mutated_events(), min_size=5, max_size=40))
def test_replay_and_events_check_account_for_every_line_alike(tmp_path_factory: Any, lines: list[bytes]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    checked = CliRunner().invoke(app, ["events", "check", str(path)])
    lines_out = checked.stdout.splitlines()
    reported = [line for line in lines_out if line.startswith(f"{path}:") and " contract, ignored " not in line]
    assert all(line.startswith(f"{path}:") for line in lines_out), "a name printed raw broke a line in two"
    rejected: list[DeadLetter] = []
    summary = replay([path], EngineConfig(), lambda enriched: None, rejected.append, rules=RULES)
    assert summary.failed == 0
    # a time too far ahead is reported against the clock as each run read it: compare without it
    assert [_clock_free(f"{letter.origin}: {letter.reason}") for letter in rejected] == list(map(_clock_free, reported))
    assert summary.rejected == len(reported) and checked.exit_code == (1 if reported else 0)
    assert summary.events + summary.rejected == len(lines)
    assert summary.outcomes["rules_failed"] == 0

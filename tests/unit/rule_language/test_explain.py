"""Why a rule did not fire: `ctxi rules explain` names the clause that was false.

Once an analyst had to write a probe pack printing what a rule read to learn why it stayed
silent (the case had been opened before the recorded history). Every look-alike the packs
test (an `expect: []` test of the built-in and worked-example packs: four payments of 50,
a customer's usual device, three contacts about two cases...) is explained here: the rule
that listens to its last event says which clause was false, with what that clause read.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from ctxi.cli import app
from ctxi.engine.pipeline import Engine, Message
from ctxi.ingest import validate_event
from ctxi.pack_tools.load import load_rule_texts
from ctxi.rule_language.explain import ABSENT, clauses_of
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.dead_letter import FileOrigin
from ctxi.settings import EngineConfig

ROOT = Path(__file__).resolve().parents[3]
TEXTS = {
    str(path): path.read_text() for path in [*BUILTIN_PACKS.glob("*.yaml"), *(ROOT / "examples/packs").glob("*.yaml")]
}
LOADED_QUEUES = frozenset({"fraud", "travel", "service"})
LOADED = load_rule_texts(TEXTS, LOADED_QUEUES)
LOOK_ALIKES = [(pack, test) for pack in LOADED.packs for test in pack.tests if not test.expect and not test.with_set]


def test_clauses_are_the_top_level_conjuncts_as_written() -> None:
    assert clauses_of('a == "x && y" && (b || c && d) && size(e) > 1 // && no') == [
        'a == "x && y"',
        "(b || c && d)",
        "size(e) > 1 // && no",
    ]


@pytest.mark.parametrize(("pack", "test"), LOOK_ALIKES, ids=lambda value: getattr(value, "name", str(value)))
def test_each_look_alike_is_explained_by_the_clause_that_was_false(pack, test) -> None:  # type: ignore[no-untyped-def]
    events = [validate_event(orjson.dumps(document), FileOrigin(path=test.name, line=1)) for document in test.events]
    last = max(events, key=lambda event: event.occurred_at)
    listening = [c for c in LOADED.rules if c.pack == pack.pack and last.type in c.rule.on]
    assert listening, f"no rule of {pack.pack} listens to {last.type}"
    seen = 0
    for compiled in listening:
        engine = Engine(EngineConfig(), {}, {}, rules=RuleSet(LOADED), explain_rule=compiled.rule.id)
        explained = []
        for event in sorted(events, key=lambda event: event.occurred_at):
            pending: list[Message] = [event]
            while pending:
                output = engine.handle(pending.pop(0))
                pending += output.forwards
                explained += [e for e in output.explanations if e.event_id == last.event_id]
        seen += len(explained)
        for explanation in explained:
            assert not explanation.outcome.startswith("task "), explanation.lines()
            if explanation.outcome.startswith("condition false"):
                reached = [clause for clause in explanation.clauses if clause.reached]
                false = reached[-1]
                assert false.value is False or false.error, explanation.lines()
                assert all(clause.value is True for clause in reached[:-1])
                assert false.reads, "the false clause shows what it read"
                assert not any(value is ABSENT for value in false.reads.values()) or "has(" in false.text
    assert seen, "the last event was never evaluated: nothing explained"


def test_the_command_explains_a_rule_for_a_customer() -> None:
    result = CliRunner().invoke(
        app,
        ["rules", "explain", str(ROOT / "examples" / "scenarios.jsonl"), "--rule", "fraud.impossible_travel",
         "--customer", "C-1001"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("fraud.impossible_travel for C-1001: 3 evaluation(s)")
    assert "social.checkin sc-002: condition false: no task" in result.output
    assert "  1. has(signals.location_conflict)  -> false" in lines
    assert "billing.card_transaction sc-003: task t-" in result.output
    unknown = CliRunner().invoke(
        app, ["rules", "explain", str(ROOT / "examples" / "scenarios.jsonl"), "--rule", "fraud.impposible_travel",
              "--customer", "C-1001"],
    )  # fmt: skip
    assert unknown.exit_code == 1 and "did you mean 'fraud.impossible_travel'?" in unknown.output


def test_every_task_says_why_its_rule_fired() -> None:
    """The desktop's "Why this task": the clauses that held, with what they read, from the engine."""
    from ctxi.engine.replay import replay

    decisions = []
    rules = RuleSet(load_rule_texts({str(p): p.read_text() for p in BUILTIN_PACKS.glob("*.yaml")}, LOADED_QUEUES))
    replay([ROOT / "examples" / "scenarios.jsonl"], EngineConfig(), lambda e: None, lambda d: None, rules=rules,
           decide=decisions.append)  # fmt: skip
    assert decisions and all(decision.task.conditions for decision in decisions)
    paris = next(d.task for d in decisions if d.task.rule_id == "fraud.impossible_travel")
    assert [held.clause for held in paris.conditions] == [
        "has(signals.location_conflict)",
        "!signals.location_conflict.explained_by_travel",
    ]
    assert paris.conditions[1].reads == {"signals.location_conflict.explained_by_travel": "false"}

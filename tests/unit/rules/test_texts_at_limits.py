"""Valid text at the contract's limits never loses a task.

Every free text of the example scenarios (a post, a case subject, a weather description...)
made as long as the contract allows, and every name (merchant, city, payee...) too: the
built-in rules raise the same tasks as with the originals, none fails, and titles,
reasons, steps and evidence stay within the task contract's limits (shortened with an
ellipsis). Once, a 10,000-character weather description failed the severe-weather rule
for every booked customer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from ctxi.engine.replay import replay
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import Decision, RuleSet
from ctxi.schemas.common import MAX_NAME_LENGTH, MAX_TEXT_LENGTH
from ctxi.settings import EngineConfig
from tests.fuzzing import ROOT

RULES = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset({"fraud", "travel", "service"})))
TEXTS = {"text", "summary", "resolution", "description", "subject", "user_agent"}
NAMES = {"merchant", "place_name", "city", "payee", "reason", "network", "source_system", "channel"}


def at_limit(value: str, limit: int) -> str:
    """``value`` padded with words to ``limit`` characters: the same meaning, the longest text."""
    padding = " the" * limit  # no sentiment, no meaning a rule reads
    return (value + padding)[:limit]


def lengthened(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: at_limit(value, MAX_TEXT_LENGTH if key in TEXTS else MAX_NAME_LENGTH)
            if isinstance(value, str) and key in TEXTS | NAMES
            else lengthened(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [lengthened(item) for item in node]
    return node


def tasks_of(path: Path) -> tuple[list[Decision], int]:
    decisions: list[Decision] = []
    summary = replay([path], EngineConfig(), lambda _: None, lambda _: None, rules=RULES, decide=decisions.append)
    return decisions, sum(summary.rule_failures.values())


def test_every_text_and_name_at_its_limit_raises_the_same_tasks(tmp_path: Path) -> None:
    source = ROOT / "examples" / "scenarios.jsonl"
    long = tmp_path / "long.jsonl"
    lines = [line for line in source.read_bytes().splitlines() if line.startswith(b"{")]
    long.write_bytes(b"\n".join(orjson.dumps(lengthened(orjson.loads(line))) for line in lines) + b"\n")

    original, _ = tasks_of(source)
    decisions, failed = tasks_of(long)
    assert failed == 0
    assert sorted((d.task.rule_id, d.task.customer_id) for d in decisions) == sorted(
        (d.task.rule_id, d.task.customer_id) for d in original
    )
    assert any(len(d.task.reason) == MAX_TEXT_LENGTH or len(d.task.title) == MAX_TEXT_LENGTH for d in decisions) or any(
        len(item.summary) == MAX_TEXT_LENGTH for d in decisions for item in d.task.evidence_details
    ), "no text reached its limit: the test would not see a rule failing on one"
    for decision in decisions:
        task = decision.task
        assert max(len(task.title), len(task.reason), *map(len, task.steps)) <= MAX_TEXT_LENGTH
        assert all(len(item.summary) <= MAX_TEXT_LENGTH for item in task.evidence_details)

"""Priorities that learn from outcomes (learn_priority): the factor, the tally, the pack, replay."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from ctxi.engine.replay import replay
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rule_language.model import LearnedPriority
from ctxi.rules import BUILTIN_PACKS, learning
from ctxi.rules.evaluate import Decision, RuleSet
from ctxi.rules.learning import OutcomeTally, learned_factor
from ctxi.rules.loader import RulePackError
from ctxi.schemas.task import LearnedFactor, TaskOutcome
from ctxi.settings import EngineConfig
from tests.unit.rules.test_evaluate import QUEUES, SCENARIOS, the

DEFAULTS = LearnedPriority()


@pytest.mark.parametrize(
    ("completed", "dismissed", "factor"),
    [
        (0, 0, 1.0),  # no outcome yet: the prior, factor 1
        (8, 32, 0.52),  # (8 + 5) / (40 + 10) = 0.26, / 0.5
        (36, 4, 1.5),  # 0.82 / 0.5 = 1.64, held at max_factor
        (0, 400, 0.5),  # held at min_factor
        (5, 5, 1.0),  # as often completed as dismissed: as the prior says
    ],
)
def test_the_factor_is_the_acceptance_against_the_prior_held_within_its_bounds(
    completed: int, dismissed: int, factor: float
) -> None:
    assert learned_factor(DEFAULTS, completed, dismissed) == LearnedFactor(
        factor=factor, completed=completed, dismissed=dismissed
    )


def test_a_heavier_prior_learns_slower() -> None:
    light, heavy = LearnedPriority(prior_weight=2), LearnedPriority(prior_weight=200)
    assert learned_factor(light, 0, 10).factor < learned_factor(heavy, 0, 10).factor < 1


def outcome(task_id: str, what: str = "dismissed", version: int = 1, **fields) -> TaskOutcome:
    return TaskOutcome.model_validate(
        {
            "task_id": task_id,
            "customer_id": "C-1",
            "queue": "fraud",
            "action": "verify_card_activity",
            "rule_id": "fraud.impossible_travel",
            "rule_version": version,
            "agent_id": "A-1",
            "outcome": what,
            "detail": "known traveller",
            "at": "2026-03-01T08:00:00Z",
            **fields,
        }
    )


LIVE = frozenset({("fraud.impossible_travel", 1), ("fraud.impossible_travel", 2)})  # versions that learn


def test_the_tally_counts_each_task_once_per_rule_version(monkeypatch: pytest.MonkeyPatch) -> None:
    tally = OutcomeTally()
    assert tally.record(outcome("t-1"), LIVE) and tally.record(outcome("t-2", "completed"), LIVE)
    assert not tally.record(outcome("t-1", "completed"), LIVE)  # a resent outcome: counted once
    assert tally.record(outcome("t-3", version=2), LIVE)
    assert tally.learned("fraud.impossible_travel", 1, DEFAULTS) == learned_factor(DEFAULTS, 1, 1)
    assert tally.learned("fraud.impossible_travel", 2, DEFAULTS) == learned_factor(DEFAULTS, 0, 1)
    assert tally.learned("fraud.other", 1, DEFAULTS).factor == 1.0

    monkeypatch.setattr(learning, "TASKS_REMEMBERED", 2)  # memory stays bounded: the oldest ids go
    bounded = OutcomeTally()
    for task_id in ("a", "b", "c"):
        bounded.record(outcome(task_id), LIVE)
    assert bounded.record(outcome("a"), LIVE) and not bounded.record(outcome("c"), LIVE)


def test_junk_on_the_outcomes_topic_cannot_grow_the_tally_without_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once, 10,000 junk rule ids filled the tally and no new rule version learned at all."""
    tally = OutcomeTally()
    for n in range(1_000):  # rule versions no live pack has: none counted, nothing kept
        assert not tally.record(outcome(f"junk-{n}", rule_id=f"junk.rule_{n}"), LIVE)
    assert not tally.record(outcome("t-5", version=10**40), LIVE)
    assert tally.record(outcome("t-1"), LIVE)  # a live version still learns
    everything = frozenset({("Not A Rule", 1), *((("fraud.impossible_travel", v)) for v in (1, 2, 3))})
    assert not tally.record(outcome("t-2", rule_id="Not A Rule"), everything)  # no pack could hold it
    monkeypatch.setattr(learning, "RULE_VERSIONS_KEPT", 2)
    assert tally.record(outcome("t-4", version=2), everything)
    assert not tally.record(outcome("t-6", version=3), everything)  # a third rule version: not counted
    assert tally.record(outcome("t-7", version=1), everything)  # the ones counted go on
    assert tally.learned("fraud.impossible_travel", 1, DEFAULTS).dismissed == 2


def test_one_agent_moves_a_rule_version_at_most_as_much_as_its_share() -> None:
    """Once, one agent dismissing 300 tasks in 4 s counted like 300 agents' judgement."""
    tally = OutcomeTally()
    for n in range(300):
        tally.record(outcome(f"t-{n}"), LIVE)
    assert tally.learned("fraud.impossible_travel", 1, DEFAULTS).dismissed == learning.CLOSES_PER_AGENT
    for agent in ("A-2", "A-3"):
        assert tally.record(outcome(f"t-{agent}", "completed", agent_id=agent), LIVE)
    assert tally.learned("fraud.impossible_travel", 1, DEFAULTS).completed == 2


def learning_packs(tmp_path: Path, spec: str) -> Path:
    """The built-in packs, fraud.impossible_travel learning its priority with ``spec``."""
    directory = tmp_path / "rules"
    shutil.copytree(BUILTIN_PACKS, directory)
    fraud = directory / "fraud.yaml"
    text = fraud.read_text()
    anchor = "      channel: phone\n"
    assert anchor in text
    fraud.write_text(text.replace(anchor, anchor + "      learn_priority:\n" + spec, 1))
    return directory


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("        min_factor: 1.2\n", "min_factor"),
        ("        prior: 0\n", "prior"),
        ("        prior: .nan\n", "prior"),
        ("        prior_weight: 99999999999999999999999999999999999999\n", "prior_weight"),
        ("        max_factr: 2\n", "max_factr"),
    ],
)
def test_a_wrong_learn_priority_is_an_error_at_its_line(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(RulePackError) as raised:
        load_rule_dir(learning_packs(tmp_path, spec), QUEUES)
    assert "fraud.yaml:" in str(raised.value) and message in str(raised.value)


def test_replay_learns_from_the_outcomes_reported_before_each_event(tmp_path: Path) -> None:
    rules = RuleSet(load_rule_dir(learning_packs(tmp_path, "        prior_weight: 4\n"), QUEUES))

    def fraud_task(outcomes: list[TaskOutcome]):
        decisions: list[Decision] = []
        replay(
            [SCENARIOS], EngineConfig(), lambda e: None, lambda d: None, rules=rules, decide=decisions.append,
            outcomes=outcomes,
        )  # fmt: skip
        return the(decisions, "C-1001", "verify_card_activity")

    unlearned = fraud_task([])
    assert unlearned.priority_breakdown.learned == LearnedFactor(factor=1.0, completed=0, dismissed=0)
    dismissed = [outcome(f"t-{n}", at=unlearned.created_at - timedelta(days=1)) for n in range(6)]
    later = [outcome(f"t-late-{n}", "completed", at=unlearned.created_at + timedelta(minutes=1)) for n in range(6)]
    learned = fraud_task(dismissed + later)  # the later completions come after the event: not yet known
    # (0 + 2) / (6 + 4) = 0.2, / 0.5 = 0.4: held at 0.5
    assert learned.priority_breakdown.learned == LearnedFactor(factor=0.5, completed=0, dismissed=6)
    assert abs(learned.priority - unlearned.priority * 0.5) <= 1  # both rounded


def test_replay_reads_outcomes_from_a_file_and_refuses_a_bad_line_at_its_number(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ctxi.cli import app

    good = tmp_path / "outcomes.jsonl"
    good.write_text(outcome("t-1").model_dump_json() + "\n\n")
    ran = CliRunner().invoke(app, ["replay", str(SCENARIOS), "--outcomes", str(good)])
    assert ran.exit_code == 0, ran.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text(outcome("t-1").model_dump_json() + "\n" + '{"task_id": "t-2", "at": "9999-01-01T00:00:00Z"}\n')
    refused = CliRunner().invoke(app, ["replay", str(SCENARIOS), "--outcomes", str(bad)])
    assert refused.exit_code == 1
    assert f"{bad}:2: not a task outcome: customer_id: Field required;" in refused.output
    assert "at: Input should be less than 2200-01-01T00:00:00Z" in refused.output

"""Outcomes feed the context: an action dismissed three times is no longer proposed."""

from __future__ import annotations

from datetime import timedelta

from ctxi.engine.pipeline import Engine
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.task import TaskOutcome
from ctxi.settings import EngineConfig
from tests.factories import make_event

CONFIG = EngineConfig()


def balance_low(index: int):
    return make_event(
        "billing.balance_low",
        {
            "balance": 10.0,
            "currency": "USD",
            "upcoming_debit": {"amount": 900.0, "due_date": f"2026-03-{index + 3:02d}", "payee": "Rent"},
        },
        at=f"2026-03-{index + 1:02d}T07:00:00Z",
        event_id=f"low-{index}",
    )


def outcome(task, kind: str = "dismissed", task_id: str | None = None) -> TaskOutcome:
    return TaskOutcome(
        task_id=task_id or task.task_id,
        customer_id=task.customer_id,
        queue=task.queue,
        action=task.action,
        rule_id=task.rule_id,
        rule_version=task.rule_version,
        agent_id="A-1",
        outcome=kind,
        detail="customer says they moved the rent to another account",
        at=task.created_at + timedelta(hours=1),
    )


def engine() -> Engine:
    return Engine(
        CONFIG, {}, {}, rules=RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset({"fraud", "travel", "service"})))
    )


def test_three_dismissals_stop_the_action_for_that_customer() -> None:
    e = engine()
    tasks = []
    for index in range(5):
        [decision] = e.handle(balance_low(index)).decisions or [None]
        if decision is None:
            break
        tasks.append(decision.task)
        e.handle(outcome(decision.task))
    assert len(tasks) == 3  # the fourth is suppressed by the contact policy
    assert e.counts["rules_suppressed"] == 1
    assert [r.action for r in e.contexts["C-1"].rejections] == ["warn_debit_will_fail"] * 3


def test_completions_and_a_repeated_outcome_do_not_count() -> None:
    e = engine()
    for index in range(4):
        [decision] = e.handle(balance_low(index)).decisions
        e.handle(outcome(decision.task, "completed"))
        e.handle(outcome(decision.task, "dismissed", task_id="the-same-task"))  # one task, reported again
    assert len(e.contexts["C-1"].rejections) == 1

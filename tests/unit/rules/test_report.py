"""How agents treated each rule version's tasks (``ctxi rules report``), from tasks and outcomes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from ctxi.cli import app
from ctxi.rules.report import rule_usefulness
from ctxi.schemas.task import TaskOutcome
from tests.factories import TASK_CREATED_AT, make_task

T0 = TASK_CREATED_AT


def outcome(task_id: str, outcome: str = "completed", detail: str = "done", *, rule_version: int = 1, **times):
    return TaskOutcome(
        task_id=task_id,
        customer_id="C-1001",
        queue="fraud",
        action="verify_card_activity",
        rule_id="fraud.impossible_travel",
        rule_version=rule_version,
        agent_id="A-1",
        outcome=outcome,
        detail=detail,
        **{"at": T0 + timedelta(minutes=30), **times},
    )


def test_counts_medians_and_reasons_per_rule_version() -> None:
    tasks = [
        make_task(task_id="t1"),
        make_task(task_id="t1", priority=95),  # a second revision: still one task
        make_task(task_id="t2"),
        make_task(task_id="t3"),
        make_task(task_id="v2", rule_version=2),
    ]
    outcomes = [
        outcome("t1", claimed_at=T0 + timedelta(minutes=2), created_at=T0, at=T0 + timedelta(minutes=10)),
        outcome("t1", "dismissed", "again"),  # a second outcome of one task counts once
        outcome("t2", "dismissed", "  Customer   WAS travelling ", claimed_at=T0 + timedelta(minutes=4)),
        outcome("v2", "dismissed", "not relevant", rule_version=2),
    ]
    [v1, v2] = rule_usefulness(tasks, outcomes)
    assert (v1.rule_id, v1.rule_version, v1.raised, v1.closed, v1.completed, v1.dismissed) == (
        "fraud.impossible_travel",
        1,
        3,
        2,
        1,
        1,
    )
    assert v1.dismissed_by_reason == {"customer was travelling": 1}
    assert v1.top_reasons(3) == [("Customer WAS travelling", 1)]  # as written, spaces folded
    assert v1.median_to_claim == timedelta(minutes=3)  # 2 and 4 minutes
    assert v1.median_to_resolve == timedelta(minutes=20)  # 10 and 30 (t2's creation from its task)
    assert (v2.raised, v2.dismissed, v2.median_to_claim) == (1, 1, None)


def test_an_outcome_whose_task_is_not_known_still_counts() -> None:
    [row] = rule_usefulness([], [outcome("gone", created_at=T0)])
    assert (row.raised, row.completed, row.median_to_resolve) == (0, 1, timedelta(minutes=30))
    [untimed] = rule_usefulness([], [outcome("gone")])
    assert untimed.median_to_resolve is None


def test_a_rule_is_flagged_when_most_of_enough_closed_tasks_are_dismissed() -> None:
    def flagged(dismissed: int, completed: int) -> bool:
        outcomes = [outcome(f"d{n}", "dismissed", "not relevant") for n in range(dismissed)]
        outcomes += [outcome(f"c{n}") for n in range(completed)]
        return rule_usefulness([], outcomes)[0].not_useful

    assert not flagged(4, 0)  # too few to judge
    assert flagged(3, 2)  # 60% of 5
    assert not flagged(2, 3)
    assert flagged(5, 0)


def test_ctxi_rules_report_from_files_reports_bad_lines_and_the_flag(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("\n".join(make_task(task_id=f"t{n}").model_dump_json() for n in range(6)) + "\nnot json\n")
    outcomes = tmp_path / "outcomes.jsonl"
    lines = [outcome(f"t{n}", "dismissed", "Not relevant", created_at=T0).model_dump_json() for n in range(5)]
    outcomes.write_text("\n".join([*lines, outcome("t5", created_at=T0).model_dump_json()]) + "\n")
    result = CliRunner().invoke(app, ["rules", "report", "--tasks", str(tasks), "--outcomes", str(outcomes)])
    assert result.exit_code == 1  # the bad line
    assert f"{tasks}:7: not a Task: " in result.output
    row = next(line for line in result.output.splitlines() if line.startswith("fraud.impossible_travel"))
    assert row.split() == ["fraud.impossible_travel", "1", "6", "6", "1", "5", "-", "30m00s", "0"]
    assert (
        "not useful: fraud.impossible_travel v1: 5 of 6 closed tasks dismissed (83%); most given reasons: "
        "'Not relevant' 5"
    ) in result.output


def test_a_task_created_ahead_of_the_gateways_clock_waits_no_negative_time() -> None:
    ahead = T0 + timedelta(hours=1)  # the source's clock: within what ingest accepts
    [row] = rule_usefulness([], [outcome("t", created_at=ahead, claimed_at=T0 + timedelta(minutes=1))])
    assert (row.median_to_claim, row.median_to_resolve) == (timedelta(0), timedelta(0))


def test_revisions_after_the_agents_close_are_counted_with_the_closed_task() -> None:
    """A rule firing again inside its cool-down after an agent closed the task: kept, and counted here."""
    tasks = [make_task(task_id="t1"), make_task(task_id="t1", revision=2), make_task(task_id="t1", revision=3)]
    [row] = rule_usefulness(tasks, [outcome("t1", revision=1)])
    assert (row.raised, row.completed, row.after_close) == (1, 1, 2)


def test_dismissal_reasons_group_across_case_spaces_and_end_stops_and_show_as_first_written() -> None:
    long = "The customer had already called the airline and was rebooked on the evening flight to Boston"
    outcomes = [
        outcome("a", "dismissed", "Customer was travelling."),
        outcome("b", "dismissed", "customer was  travelling"),
        outcome("c", "dismissed", "CUSTOMER WAS TRAVELLING!"),
        outcome("d", "dismissed", long),
    ]
    [row] = rule_usefulness([], outcomes)
    assert row.top_reasons(3) == [
        ("Customer was travelling.", 3),
        ("The customer had already called the airline and was rebooked…", 1),  # cut at a word
    ]

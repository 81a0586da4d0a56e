"""No task leaves its queue before what it is due for: ``expires_at`` is never before its
``due_by`` (a flight, a debit) nor its ``resolve_by`` (the service level's deadline), however
short its rule's ``expires_in``. Checked on every example stream and, as a property, on
simulated streams, with the built-in packs and the example service levels. A due date
further than ``due_keep_days`` keeps a task only that long."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ctxi.engine.replay import replay
from ctxi.pack_tools.load import load_rule_dir, load_rule_texts
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.task import Task
from ctxi.service_levels.policy import load_policy
from ctxi.settings import EngineConfig, Settings
from ctxi.simulate.stream import SimulationSpec, simulate

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
QUEUES = frozenset(Settings().queues)
RULES = RuleSet(load_rule_dir(BUILTIN_PACKS, QUEUES))
POLICY = load_policy(EXAMPLES / "service-levels.yaml", QUEUES)


def replayed_tasks(paths: list[Path]) -> list[Task]:
    tasks: list[Task] = []
    replay(
        paths,
        EngineConfig(),
        publish=lambda enriched: None,
        dead_letter=lambda letter: None,
        rules=RULES,
        decide=lambda decision: tasks.append(decision.task),
        service_levels=POLICY,
    )
    return tasks


def expiring_early(tasks: list[Task]) -> list[str]:
    return [
        f"{task.rule_id}: expires {task.expires_at}, due {task.due_by}, resolve by {task.resolve_by}"
        for task in tasks
        if any(deadline is not None and task.expires_at < deadline for deadline in (task.due_by, task.resolve_by))
    ]


def test_no_example_task_expires_before_it_is_due():
    tasks = replayed_tasks(sorted(EXAMPLES.glob("*.jsonl")))
    assert expiring_early(tasks) == []
    # the rule held: some tasks' own expiry came earlier, and they were kept to their deadline
    kept_to_due = [task for task in tasks if task.due_by is not None and task.expires_at == task.due_by]
    kept_to_resolve = [task for task in tasks if task.resolve_by is not None and task.expires_at == task.resolve_by]
    assert kept_to_due
    assert kept_to_resolve


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), customers=st.integers(20, 80), hours=st.sampled_from([1.0, 6.0, 24.0]))
def test_no_simulated_task_expires_before_it_is_due(tmp_path_factory, seed, customers, hours):
    lines, _ = simulate(SimulationSpec(customers=customers, seed=seed, hours=hours))
    path = tmp_path_factory.mktemp("stream") / "stream.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert expiring_early(replayed_tasks([path])) == []


ANY_SHORTFALL = """\
pack: debits
owner: service-team@acme.example
rules:
  - id: debits.any_shortfall
    version: 1
    owner: service-team@acme.example
    description: A debit the balance cannot cover, however far ahead (the built-in rule looks 3 days ahead).
    on: [billing.balance_low]
    when: has(signals.balance_shortfall)
    then:
      queue: service
      action: warn_debit_will_fail
      title: "Debit to {{ signals.balance_shortfall.payee }}"
      reason: "Due on {{ signals.balance_shortfall.due_date }}."
      steps: ["Tell the customer."]
      severity: medium
      expires_in: 1d
"""


def test_a_debit_due_months_ahead_keeps_its_task_only_due_keep_days(tmp_path: Path) -> None:
    """A debit due in a year (the contract lets payload times be 400 days from the event) once kept its task
    on its queue, and in Redis, for that year."""
    occurred = datetime(2026, 3, 2, 7, tzinfo=UTC)
    debit = {"amount": 1450.0, "payee": "Rent"}
    lines = [
        orjson.dumps(
            {
                "event_id": f"due-{number}",
                "type": "billing.balance_low",
                "customer_id": f"C-{number}",
                "occurred_at": occurred.isoformat(),
                "source_system": "core-banking",
                "payload": {"balance": 112.4, "currency": "USD", "upcoming_debit": {**debit, "due_date": due}},
            }
        )
        for number, due in enumerate(["2026-03-04", "2027-03-01"])
    ]
    path = tmp_path / "debits.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    tasks: list[Task] = []
    rules = RuleSet(load_rule_texts({"debits.yaml": ANY_SHORTFALL}, QUEUES))
    replay(
        [path],
        EngineConfig(due_keep_days=10),
        lambda e: None,
        lambda d: None,
        rules=rules,
        decide=lambda d: tasks.append(d.task),
    )
    soon, far = sorted(tasks, key=lambda task: task.customer_id)
    assert soon.due_by == soon.expires_at == datetime(2026, 3, 4, tzinfo=UTC)  # kept to its debit
    assert far.due_by == datetime(2027, 3, 1, tzinfo=UTC)  # shown as the source said
    assert far.expires_at == occurred + timedelta(days=10)


@pytest.mark.parametrize("days", [0, -1, 401, 1e40, float("nan")])
def test_due_keep_days_outside_what_a_payload_can_say_is_refused(days: float) -> None:
    """Past 400 days it means nothing (no payload time is further from its event), and 1e40 days
    once overflowed on every task with a due date."""
    with pytest.raises(ValidationError, match="due_keep_days"):
        EngineConfig(due_keep_days=days)

"""Rule packs published while a worker runs: the next event uses the new version, no restart."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from ctxi.rules import BUILTIN_PACKS
from ctxi.schemas.task import LearnedFactor, TaskOutcome
from tests.integration.conftest import Namespace, WorkerFactory
from tests.integration.pipeline import Pipeline, report_outcomes


def impossible_travel(customer: str, minute: int) -> list[bytes]:
    """A New York check-in, then a card in Paris 90 minutes later, for ``customer``."""
    at = f"2026-03-01T10:{minute:02d}:00Z"
    later = f"2026-03-01T11:{minute + 30:02d}:00Z"
    return [
        orjson.dumps(
            {
                "event_id": f"{customer}-checkin",
                "type": "social.checkin",
                "customer_id": customer,
                "occurred_at": at,
                "payload": {
                    "network": "instagram",
                    "location": {"lat": 40.758, "lon": -73.9855, "city": "New York", "country": "US"},
                },
            }
        ),
        orjson.dumps(
            {
                "event_id": f"{customer}-card",
                "type": "billing.card_transaction",
                "customer_id": customer,
                "occurred_at": later,
                "payload": {
                    "transaction_id": f"{customer}-tx",
                    "amount": 1249.0,
                    "currency": "EUR",
                    "merchant": "Galeries Lafayette",
                    "card_present": True,
                    "status": "approved",
                    "location": {"lat": 48.8738, "lon": 2.332, "city": "Paris"},
                },
            }
        ),
    ]


def pack_version(tmp_path: Path, version: int, *, shadow: bool = False) -> Path:
    """The built-in packs with fraud.impossible_travel at ``version`` (and in shadow mode)."""
    directory = tmp_path / f"rules-v{version}"
    shutil.copytree(BUILTIN_PACKS, directory)
    fraud = directory / "fraud.yaml"
    mode = "\n    mode: shadow" if shadow else ""
    fraud.write_text(fraud.read_text().replace("    version: 1\n", f"    version: {version}{mode}\n", 1))
    return directory


def cli(namespace: Namespace, *args: str) -> str:
    """Run ``ctxi ARGS`` against the namespace's topics; return its output."""
    result = subprocess.run(
        [sys.executable, "-m", "ctxi.cli", *args],
        env={**os.environ, **namespace.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def publish(namespace: Namespace, directory: Path) -> str:
    return cli(namespace, "rules", "publish", str(directory), "--by", "test")


def wait_for_log(process: subprocess.Popen[bytes], text: str, times: int = 1, timeout: float = 60) -> None:
    """Wait until the worker's log holds ``text`` ``times`` times."""
    log_path: Path = process.log_path  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_path.read_text(errors="replace").count(text) >= times:
            return
        time.sleep(0.2)
    raise AssertionError(f"worker did not log {text!r} {times} time(s) in {timeout}s")


def test_a_published_pack_reaches_a_running_worker_and_shadow_rules_send_no_task(
    namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path
) -> None:
    worker = run_worker(namespace)
    pipeline = Pipeline(namespace)
    try:
        for raw in impossible_travel("C-1", 0):
            pipeline.feed(raw)
        assert [(t.rule_id, t.rule_version) for t in pipeline.tasks] == [("fraud.impossible_travel", 1)]

        assert "is new or changed" not in publish(namespace, pack_version(tmp_path, 2))  # same features
        wait_for_log(worker, "live (fraud, service, travel)")
        for raw in impossible_travel("C-2", 5):
            pipeline.feed(raw)
        assert [(t.customer_id, t.rule_version) for t in pipeline.tasks] == [("C-1", 1), ("C-2", 2)]

        # snoozed for C-4 (on holiday in Paris, says the customer): no task for them
        cli(
            namespace,
            "rules",
            "snooze",
            "fraud.impossible_travel",
            "--customer",
            "C-4",
            "--until",
            "2026-03-02T00:00:00+00:00",
            "--reason",
            "on holiday in Paris",
            "--by",
            "test",
        )
        wait_for_log(worker, "snooze fraud.impossible_travel|customer:C-4")
        for raw in impossible_travel("C-4", 7):
            pipeline.feed(raw)
        assert "fraud.impossible_travel|customer:C-4 until 2026-03-02T00:00:00+00:00" in cli(
            namespace, "rules", "snoozes", "--all"
        )

        shadow = pack_version(tmp_path, 3, shadow=True)
        fraud = shadow / "fraud.yaml"  # and a longer card-spend window: a changed feature starts empty
        fraud.write_text(
            fraud.read_text().replace("    aggregate: sum\n    window: 1h\n", "    aggregate: sum\n    window: 2h\n")
        )
        published = publish(namespace, shadow)
        assert "feature card_spend_1h is new or changed: it counts from now and is warm" in published
        assert "one window (2:00:00) later" in published and "card_declines_1d" not in published
        wait_for_log(worker, "live (fraud, service, travel)", times=2)
        for raw in impossible_travel("C-3", 10):
            pipeline.feed(raw)
    finally:
        pipeline.close()

    assert [t.customer_id for t in pipeline.tasks] == ["C-1", "C-2"]  # nothing for C-3 on the desktops
    assert [(t.customer_id, t.rule_version) for t in pipeline.shadow_tasks] == [("C-3", 3)]
    assert worker.poll() is None  # the same worker all along


def test_a_rule_that_learns_its_priority_follows_the_outcomes_every_worker_reads(
    namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path
) -> None:
    """Outcomes reported before the worker starts and while it runs, on any partition, reach its
    tally: the learned factor sinks with dismissals and comes back with completions."""
    settings = namespace.settings

    def report(what: str, count: int, first: int) -> None:
        outcomes = [
            TaskOutcome(
                task_id=f"t-earlier-{n}",
                customer_id=f"C-earlier-{n}",  # spread over the topic's partitions
                queue="fraud",
                action="verify_card_activity",
                rule_id="fraud.impossible_travel",
                rule_version=2,
                agent_id=f"A-{n}",  # each agent's closes count up to a cap (rules/learning.py)
                outcome=what,
                detail="known traveller" if what == "dismissed" else "card blocked",
                at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
                created_at=datetime(2026, 3, 1, 7, 0, tzinfo=UTC),
            )
            for n in range(first, first + count)
        ]
        report_outcomes(settings, outcomes)

    directory = pack_version(tmp_path, 2)
    fraud = directory / "fraud.yaml"
    fraud.write_text(
        fraud.read_text().replace(
            "      channel: phone\n", "      channel: phone\n      learn_priority:\n        prior_weight: 4\n", 1
        )
    )
    publish(namespace, directory)
    report("dismissed", 6, 0)  # before the worker starts: read to the end (packs first) before its first event
    run_worker(namespace)
    pipeline = Pipeline(namespace)
    try:
        for raw in impossible_travel("C-1", 0):
            pipeline.feed(raw)
        [first] = pipeline.tasks
        # (0 + 2) / (6 + 4) = 0.2, / 0.5 = 0.4: held at 0.5
        assert first.priority_breakdown.learned == LearnedFactor(factor=0.5, completed=0, dismissed=6)

        report("completed", 6, 6)  # while it runs: followed live; (6 + 2) / (12 + 4) = 0.5, factor 1
        for attempt in range(20):
            for raw in impossible_travel(f"C-{attempt + 2}", attempt + 1):
                pipeline.feed(raw)
            if pipeline.tasks[-1].priority_breakdown.learned.factor == 1.0:
                break
        else:
            raise AssertionError(f"the worker did not learn from the completions: {pipeline.tasks[-1]}")
        latest = pipeline.tasks[-1]
        assert latest.priority_breakdown.learned == LearnedFactor(factor=1.0, completed=6, dismissed=6)
        assert abs(first.priority - latest.priority * 0.5) <= 1
    finally:
        pipeline.close()


FRAUD_LEVEL = """policy: floor
owner: ops
levels:
  - queue: fraud
    priority: any
    claim_within: {claim}
    resolve_within: 4h
"""


def test_a_running_worker_follows_its_service_level_policy_file(
    namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path
) -> None:
    """A changed policy gives the next tasks its deadlines, no restart; a change with a mistake is
    logged at its line and the policy before stays."""
    policy = tmp_path / "service-levels.yaml"
    policy.write_text(FRAUD_LEVEL.format(claim="5m"))
    namespace.env["CTXI_SLA_POLICY"] = str(policy)
    worker = run_worker(namespace)
    pipeline = Pipeline(namespace)
    try:
        for raw in impossible_travel("C-1", 0):
            pipeline.feed(raw)
        policy.write_text(FRAUD_LEVEL.format(claim="1m"))
        wait_for_log(worker, f"service-level policy {policy} read again: floor")
        for raw in impossible_travel("C-2", 1):
            pipeline.feed(raw)
        policy.write_text(FRAUD_LEVEL.format(claim="5h"))  # longer than resolve_within: refused
        wait_for_log(worker, "not used, the one before stays")
        for raw in impossible_travel("C-3", 2):
            pipeline.feed(raw)
    finally:
        pipeline.close()
    waits = [(task.customer_id, task.claim_by - task.created_at) for task in pipeline.tasks]
    assert waits == [("C-1", timedelta(minutes=5)), ("C-2", timedelta(minutes=1)), ("C-3", timedelta(minutes=1))]
    assert f"{policy}:4: levels.0: Value error, claim_within cannot be longer" in worker.log_path.read_text()  # type: ignore[attr-defined]

"""Rule packs published while a worker runs: the next event uses the new version, no restart."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson

from ctxi.rules import BUILTIN_PACKS
from tests.integration.conftest import Namespace, WorkerFactory
from tests.integration.pipeline import Pipeline


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

"""Many teams, one live rule set: a team publishes, withdraws and rolls back its own pack, and
every other pack stays live, on a real broker with a real worker.

Once, publishing a folder with one loyalty pack left only that pack live: the built-in
fraud rules stopped and the README's Paris card raised no fraud task.
"""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from ctxi.rules import BUILTIN_PACKS
from ctxi.simulate.evaluate import collect, send, wait_until_flowing
from tests.factories import loyalty_pack
from tests.integration.conftest import Namespace, WorkerFactory
from tests.integration.pipeline import Pipeline
from tests.integration.test_rules_live import cli, impossible_travel, pack_version, publish, wait_for_log
from tests.integration.test_scale_out import wait_for_members


def loyalty_folder(tmp_path: Path, version: int) -> Path:
    folder = tmp_path / f"loyalty-v{version}"
    folder.mkdir()
    (folder / "loyalty.yaml").write_text(loyalty_pack(version))
    return folder


def contact(customer: str, minute: int) -> bytes:
    return (
        f'{{"event_id": "{customer}-contact-{minute}", "type": "crm.interaction", "customer_id": "{customer}", '
        f'"occurred_at": "2026-03-01T12:{minute:02d}:00Z", "payload": {{"channel": "phone"}}}}'
    ).encode()


def test_one_teams_pack_is_published_withdrawn_and_rolled_back_without_touching_the_others(
    namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path
) -> None:
    worker = run_worker(namespace)
    pipeline = Pipeline(namespace)
    try:
        published = publish(namespace, loyalty_folder(tmp_path, 1))
        assert "loyalty: published" in published and "live (fraud, loyalty, service, travel), by test" in published
        wait_for_log(worker, "live (fraud, loyalty, service, travel)")
        for raw in impossible_travel("C-1", 0):  # the built-in fraud pack is still live
            pipeline.feed(raw)
        pipeline.feed(contact("C-1", 0))
        assert sorted(task.rule_id for task in pipeline.tasks) == [
            "fraud.impossible_travel",
            "loyalty.thank_for_contact",
        ]

        publish(namespace, loyalty_folder(tmp_path, 2))
        publish(namespace, pack_version(tmp_path, 2))  # another team's change in between
        status = cli(namespace, "rules", "status")
        assert "loyalty" in status and "fraud" in status and "by test" in status
        cli(namespace, "rules", "rollback", "loyalty", "--by", "test")  # back to v1; fraud keeps its v2
        wait_for_log(worker, "rolled loyalty back to")
        pipeline.feed(contact("C-2", 1))
        for raw in impossible_travel("C-2", 2):
            pipeline.feed(raw)
        latest = {task.rule_id: task.rule_version for task in pipeline.tasks if task.customer_id == "C-2"}
        assert latest == {"loyalty.thank_for_contact": 1, "fraud.impossible_travel": 2}

        history = cli(namespace, "rules", "history", "loyalty")
        assert [line.split()[3] for line in history.splitlines()] == ["published", "published", "rolled"]

        withdrawn = cli(namespace, "rules", "withdraw", "loyalty", "--by", "test")
        assert "live (fraud, service, travel), by test" in withdrawn
        wait_for_log(worker, "withdrew loyalty")
        pipeline.feed(contact("C-3", 3))
        for raw in impossible_travel("C-3", 4):
            pipeline.feed(raw)
        assert [task.rule_id for task in pipeline.tasks if task.customer_id == "C-3"] == ["fraud.impossible_travel"]
    finally:
        pipeline.close()
    # why, from what the topics recorded of the customer (no file): the same explanation as replay's
    explained = cli(namespace, "rules", "explain", "--rule", "fraud.impossible_travel", "--customer", "C-1")
    assert "social.checkin C-1-checkin: condition false: no task" in explained
    assert "billing.card_transaction C-1-card: task t-" in explained
    assert worker.poll() is None


ALWAYS = """\
pack: zz
owner: ops@acme.example
rules:
  - id: zz.note_contact
    version: {version}
    owner: ops@acme.example
    description: Every contact, noted (a rule that must fire on every event across a switch).
    on: [crm.interaction]
    when: "true"
    then:
      queue: service
      action: note_contact
      title: "Note the contact"
      reason: "They got in touch."
      steps: ["Note it."]
      severity: low
      expires_in: 4h
"""


def set_folder(tmp_path: Path, version: int) -> Path:
    """The built-in packs and zz at ``version``: a whole set, as one publish would hold it."""
    folder = tmp_path / f"set-v{version}"
    shutil.copytree(BUILTIN_PACKS, folder)
    (folder / "zz.yaml").write_text(ALWAYS.format(version=version))
    return folder


def test_two_workers_switch_sets_and_no_event_meets_a_partial_set(
    namespace: Namespace, run_worker: WorkerFactory, tmp_path: Path
) -> None:
    """Once a publish arrived one pack at a time and workers ran partial sets for 1-3 s: a rule
    that fires on every event missed the events in between."""
    settings = namespace.settings
    namespace.env["CTXI_RULES_DIR"] = str(set_folder(tmp_path, 1))
    workers = [run_worker(namespace), run_worker(namespace)]
    wait_for_members(settings.kafka_bootstrap_servers, settings.app_id, 2)
    wait_until_flowing(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    contacts = [
        orjson.dumps(
            {"event_id": f"n{n}", "type": "crm.interaction", "customer_id": f"C-n{n}",
             "occurred_at": (now - timedelta(seconds=300 - n)).isoformat(), "payload": {"channel": "phone"}}
        )
        for n in range(300)
    ]  # fmt: skip
    sender = threading.Thread(target=send, args=(contacts, settings, 30.0))
    sender.start()
    time.sleep(3)
    published = publish(namespace, set_folder(tmp_path, 2))  # while the contacts flow
    assert "zz: published" in published and "fraud" not in published.split("\n")[0]
    sender.join()
    collected = collect(
        settings, done=lambda c: sum(a == "note_contact" for _, _, a in c.by_id.values()) >= 300, quiet=5,
        timeout=120, progress=None,
    )  # fmt: skip
    noted = {customer for customer, _, action in collected.by_id.values() if action == "note_contact"}
    assert len(noted) == 300, f"{300 - len(noted)} contacts met a set without zz"
    for worker in workers:  # each switched, whole, in one step
        wait_for_log(worker, "live (fraud, service, travel, zz): published zz, by test")
        assert worker.poll() is None

"""The analyst's worked examples (docs/features.md): each rule written from the docs alone, tested with
its look-alikes, next to the built-in packs whose features they may read."""

from __future__ import annotations

from pathlib import Path

import orjson

from ctxi.engine.replay import replay
from ctxi.pack_tools.load import load_rule_texts
from ctxi.pack_tools.pack_tests import run_pack_tests
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import Decision, RuleSet
from ctxi.settings import EngineConfig

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "packs"
QUEUES = frozenset({"fraud", "travel", "service"})


def loaded():
    paths = [*sorted(BUILTIN_PACKS.glob("*.yaml")), *sorted(EXAMPLES.glob("*.yaml"))]
    return load_rule_texts({str(path): path.read_text() for path in paths}, QUEUES)


def test_the_worked_examples_check_and_their_tests_pass() -> None:
    results = run_pack_tests(loaded(), EngineConfig())
    failed = [f"{r.pack}: {r.name}: {r.detail}" for r in results if not r.passed]
    assert failed == []
    analyst = [r.name for r in results if r.pack == "analyst"]
    assert len(analyst) == 6


def test_the_combined_task_replaces_the_service_teams_reply_whichever_pack_runs_first(tmp_path: Path) -> None:
    events = [
        {"event_id": "f1", "type": "billing.payment_failed", "customer_id": "C-9",
         "occurred_at": "2026-03-01T08:00:00Z",
         "payload": {"amount": 89.9, "currency": "USD", "reason": "insufficient_funds"}},
        {"event_id": "f2", "type": "social.post", "customer_id": "C-9",
         "occurred_at": "2026-03-05T08:00:00Z",
         "payload": {"network": "x", "post_id": "P-9", "text": "Worst bank ever", "followers": 1200,
                     "mentions_brand": True, "sentiment": -0.8}},
    ]  # fmt: skip
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(event) for event in events) + b"\n")
    decisions: list[Decision] = []
    replay([path], EngineConfig(), lambda e: None, lambda d: None, rules=RuleSet(loaded()), decide=decisions.append)
    assert [d.task.action for d in decisions] == ["fix_payment_then_reply"]

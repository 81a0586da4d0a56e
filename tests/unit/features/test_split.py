"""Features split `by` parts of the event, in the engine: bounded, unambiguous, a null part is no part."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from ctxi.engine.replay import replay
from ctxi.features.definitions import MAX_PARTS
from ctxi.pack_tools.load import load_rule_texts
from ctxi.rules.evaluate import RuleSet
from ctxi.settings import EngineConfig

PACK = """\
pack: team
owner: team@acme.example
features:
  - id: contacts_by_case
    description: d
    on: [crm.interaction]
    by: [event.payload.case_id]
    aggregate: count
    window: 48h
  - id: contacts_by_summary
    description: d
    on: [crm.interaction]
    by: [event.payload.summary]
    aggregate: count
    window: 48h
  - id: summaries
    description: d
    on: [crm.interaction]
    value: event.payload.summary
    aggregate: distinct
    window: 48h
rules:
  - id: team.third_contact
    version: 1
    owner: team@acme.example
    description: d
    on: [crm.interaction]
    when: event.payload.case_id != null && features.contacts_by_case.count >= 3
    then: {queue: service, action: call_back, title: t, reason: r, steps: [s], severity: low, expires_in: 1h}
"""
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def contact(index: int, case: str | None, summary: str = "") -> bytes:
    payload: dict = {"channel": "phone", "summary": summary or f"s{index}"}
    if case is not None:
        payload["case_id"] = case
    at = (START + timedelta(minutes=index)).isoformat()
    return orjson.dumps(
        {
            "event_id": f"i{index}",
            "type": "crm.interaction",
            "customer_id": "C-1",
            "occurred_at": at,
            "payload": payload,
        }
    )


def run(tmp_path: Path, lines: list[bytes]):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    rules = RuleSet(load_rule_texts({"team.yaml": PACK}, frozenset({"service"})))
    decisions = []
    summary = replay([path], EngineConfig(), lambda e: None, lambda d: None, rules=rules, decide=decisions.append)
    return summary, decisions


def test_each_part_counts_apart_and_a_null_part_is_no_part(tmp_path: Path) -> None:
    lines = [contact(0, "A/B"), contact(1, "A"), contact(2, None), contact(3, "A/B"), contact(4, "A/B")]
    summary, decisions = run(tmp_path, lines)
    assert [d.task.evidence[0] for d in decisions] == ["i4"]  # the third about "A/B"; "A" is another case
    keys = [key for key in summary.contexts["C-1"].features if key.startswith("contacts_by_case@")]
    assert sorted(key.split("/", 1)[1] for key in keys) == ['["A"]', '["A/B"]']
    assert summary.feature_failures == {}


def test_parts_are_bounded_and_a_part_too_long_is_a_counted_failure(tmp_path: Path) -> None:
    lines = [contact(index, f"CASE-{index}") for index in range(MAX_PARTS + 10)]
    lines.append(contact(MAX_PARTS + 10, "CASE-X", summary="x" * 300))
    summary, _ = run(tmp_path, lines)
    parts = [key for key in summary.contexts["C-1"].features if key.startswith("contacts_by_case@")]
    assert len(parts) == MAX_PARTS
    assert summary.feature_failures == {"contacts_by_summary": 1, "summaries": 1}
    assert "the limit is 256" in summary.failure_samples[("feature", "contacts_by_summary")][0]
    assert "'value' gave 300 characters; the limit is 256" in summary.failure_samples[("feature", "summaries")][0]

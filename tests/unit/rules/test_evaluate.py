"""The built-in packs on the SPEC's situations, and what analysts control: shadow, snooze, cool-down."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from ctxi.cli import app
from ctxi.engine.replay import replay
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import Decision, RuleSet
from ctxi.rules.snooze import Snooze, Snoozes
from ctxi.schemas.task import TaskClosure
from ctxi.settings import EngineConfig

SCENARIOS = Path(__file__).resolve().parents[3] / "examples" / "scenarios.jsonl"
QUEUES = frozenset({"fraud", "travel", "service"})


def run(rules_dir: Path = BUILTIN_PACKS, path: Path = SCENARIOS, snoozes: Snoozes | None = None):
    decisions: list[Decision] = []
    rules = RuleSet(load_rule_dir(rules_dir, QUEUES))
    summary = replay(
        [path], EngineConfig(), lambda e: None, lambda d: None, rules=rules, decide=decisions.append, snoozes=snoozes
    )
    return decisions, summary


def tasks_for(decisions: list[Decision], customer: str) -> list[tuple[str, str]]:
    return [(d.task.queue, d.task.action) for d in decisions if d.task.customer_id == customer and not d.shadow]


def the(decisions: list[Decision], customer: str, action: str):
    [decision] = [d for d in decisions if d.task.customer_id == customer and d.task.action == action]
    return decision.task


def test_the_spec_table_with_the_builtin_packs() -> None:
    decisions, _ = run()
    # check-in in New York, card in Paris 90 min later: urgent fraud task with both events
    fraud = the(decisions, "C-1001", "verify_card_activity")
    assert fraud.queue == "fraud" and fraud.priority >= 75
    assert fraud.priority_breakdown is not None and fraud.priority_breakdown.base == 75
    assert "5,831 km from the customer's check-in 90 min earlier" in fraud.reason
    assert fraud.evidence == ["sc-003", "sc-002"]
    assert (fraud.rule_id, fraud.rule_version) == ("fraud.impossible_travel", 1)
    # the same in Jersey City 20 min later: nothing
    assert tasks_for(decisions, "C-1002") == []
    # the 120 min delay breaks the 75 min connection, for both customers booked
    for customer in ("C-4004", "C-4005"):
        travel = the(decisions, customer, "rebook_connection")
        assert travel.queue == "travel" and travel.priority >= 75
        assert travel.due_by is not None and travel.due_by.isoformat() == "2026-03-04T11:10:00+00:00"
        assert travel.title.startswith("Rebook the LHR→FCO connection and tell the customer the new flight")
    # the 10 min delay: a low-priority FYI
    assert the(decisions, "C-4006", "note_minor_delay").priority == 20
    # balance low, rent due in 2 days: warn before the debit fails
    assert the(decisions, "C-2002", "warn_debit_will_fail").queue == "service"
    # the post from 80k followers ranks above the same post from 40
    assert (
        the(decisions, "C-3003", "respond_to_negative_post").priority
        > the(decisions, "C-3004", "respond_to_negative_post").priority
    )


def test_a_customer_on_a_phone_gets_non_urgent_tasks_later_but_urgent_fraud_at_once() -> None:
    decisions, _ = run()
    # C-2002 opened the app on an Android phone 10 min before the balance alert
    debit = the(decisions, "C-2002", "warn_debit_will_fail")
    assert debit.not_before == debit.created_at + timedelta(hours=3)
    # C-1001 was on an iPhone 10 min before the Paris purchase: critical, never deferred
    assert the(decisions, "C-1001", "verify_card_activity").not_before is None
    # nobody on a phone: no deferral
    assert the(decisions, "C-3003", "own_vip_case").not_before is None


def test_the_same_event_twice_makes_one_task(tmp_path: Path) -> None:
    lines = SCENARIOS.read_bytes().splitlines()
    card = next(line for line in lines if b'"sc-003"' in line)
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_bytes(b"\n".join([*lines, card]) + b"\n")
    decisions, _ = run(path=doubled)
    assert tasks_for(decisions, "C-1001") == [("fraud", "verify_card_activity")]


def shadow_pack(tmp_path: Path) -> Path:
    rules_dir = tmp_path / "rules"
    shutil.copytree(BUILTIN_PACKS, rules_dir)
    text = (rules_dir / "fraud.yaml").read_text()
    (rules_dir / "fraud.yaml").write_text(text.replace("    version: 1\n", "    version: 2\n    mode: shadow\n", 1))
    return rules_dir


def test_a_shadow_rule_reports_but_sends_no_task(tmp_path: Path) -> None:
    decisions, summary = run(shadow_pack(tmp_path))
    [decision] = [d for d in decisions if d.rule.rule.id == "fraud.impossible_travel"]
    assert decision.shadow and decision.task.rule_version == 2
    assert tasks_for(decisions, "C-1001") == []
    assert "rule fraud.impossible_travel v2: fired 1 time(s) (shadow: not sent to desktops)" in summary.rule_report()


def test_cli_replay_leaves_shadow_tasks_out_of_the_output(tmp_path: Path) -> None:
    out = tmp_path / "tasks.jsonl"
    result = CliRunner().invoke(
        app, ["replay", str(SCENARIOS), "--rules", str(shadow_pack(tmp_path)), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    actions = [orjson.loads(line)["action"] for line in out.read_bytes().splitlines()]
    assert "verify_card_activity" not in actions and "rebook_connection" in actions
    assert "(shadow: not sent to desktops)" in result.output


def test_a_snooze_suppresses_until_it_expires() -> None:
    snoozed = Snoozes()
    snoozed.put(
        Snooze(
            rule_id="travel.missed_connection",
            customer_id="C-4004",
            until=datetime(2026, 3, 10, tzinfo=UTC),
            reason="customer rebooked by phone",
            by="ana",
        )
    )
    decisions, summary = run(snoozes=snoozed)
    assert ("travel", "rebook_connection") not in tasks_for(decisions, "C-4004")
    assert ("travel", "rebook_connection") in tasks_for(decisions, "C-4005")  # only that customer
    assert summary.outcomes["rules_suppressed"] == 1

    expired = Snoozes()
    expired.put(
        Snooze(
            rule_id="travel.missed_connection",
            customer_id="C-4004",
            until=datetime(2026, 3, 3, 21, 0, tzinfo=UTC),
            reason="over before the delay",
            by="ana",
        )
    )
    decisions, _ = run(snoozes=expired)
    assert ("travel", "rebook_connection") in tasks_for(decisions, "C-4004")


def test_a_snooze_names_a_customer_or_a_dedup_key() -> None:
    with pytest.raises(ValueError, match="either a customer_id or a dedup_key"):
        Snooze(rule_id="r.x", until=datetime(2026, 3, 10, tzinfo=UTC), reason="", by="ana")


def test_inside_the_cooldown_the_task_is_updated_not_added(tmp_path: Path) -> None:
    lines = SCENARIOS.read_bytes().splitlines()
    second_card = orjson.loads(next(line for line in lines if b'"sc-003"' in line))
    # a second Paris purchase 30 min later: inside the 2 h cool-down of the first task
    second_card.update(event_id="sc-003b", occurred_at="2026-03-01T12:00:00Z")
    second_card["payload"]["transaction_id"] = "TX-1b"
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([*lines, orjson.dumps(second_card)]) + b"\n")
    decisions, _ = run(path=path)
    first, update = [d.task for d in decisions if d.task.customer_id == "C-1001"]
    assert update.task_id == first.task_id and update.created_at == first.created_at
    assert (first.revision, update.revision) == (1, 2)
    assert update.evidence[0] == "sc-003b"  # the latest facts


def test_a_condition_that_fails_on_data_is_counted_not_fatal(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "odd.yaml").write_text("""\
pack: odd
owner: me
rules:
  - id: odd.nps
    version: 1
    owner: me
    description: compares a possibly missing NPS
    on: [crm.customer_profile]
    when: event.payload.nps > 5
    then: {queue: service, action: thank, title: t, reason: r, steps: [s], severity: low, expires_in: 1h}
""")
    decisions, summary = run(rules_dir)
    assert summary.outcomes["rules_failed"] == 1  # C-2002's profile has no NPS: null > 5 has no meaning
    # the summary says so, per rule, with the message
    report = summary.lines()
    assert "rule failures: 1;" in report[1]
    assert "rule odd.nps v1: fired 3 time(s); FAILED 1 time(s)" in report
    assert any(line.startswith("    failed: ") for line in report)
    # the other profiles were evaluated: NPS 9, 6 and 8 fire, NPS 3 does not
    assert sorted(d.task.customer_id for d in decisions) == ["C-1001", "C-1002", "C-4004"]


def test_rules_diff_lists_added_and_removed_tasks(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["rules", "diff", str(BUILTIN_PACKS), str(shadow_pack(tmp_path)), "--events", str(SCENARIOS)]
    )
    assert result.exit_code == 0, result.output
    assert "+ fraud/verify_card_activity for C-1001 on sc-003 (shadow)" in result.output
    assert "- fraud/verify_card_activity for C-1001 on sc-003:" in result.output
    assert "1 added, 1 removed" in result.output


def test_rules_are_evaluated_only_for_their_event_types() -> None:
    rules = RuleSet(load_rule_dir(BUILTIN_PACKS, QUEUES))
    assert [r.rule.id for r in rules.rules_for("billing.balance_low")] == ["service.debit_will_fail"]
    assert [r.rule.id for r in rules.rules_for("crm.interaction")] == [
        "service.repeat_contact",
        "service.engaged_customer_unhappy",
    ]
    assert rules.rules_for("crm.case_closed") == ()


def test_a_new_booking_supersedes_the_rebooking_task(tmp_path: Path) -> None:
    lines = SCENARIOS.read_bytes().splitlines()
    rebooked = {
        "event_id": "sc-050",
        "type": "travel.booking",
        "customer_id": "C-4004",
        "occurred_at": "2026-03-03T23:00:00Z",
        "payload": {
            "booking_id": "PNR-NEW",
            "segments": [
                {
                    "flight": "BA552",
                    "origin": "LHR",
                    "destination": "FCO",
                    "departs_at": "2026-03-04T14:00:00Z",
                    "arrives_at": "2026-03-04T16:30:00Z",
                }
            ],
        },
    }
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([*lines, orjson.dumps(rebooked)]) + b"\n")
    closures: list[TaskClosure] = []
    rules = RuleSet(load_rule_dir(BUILTIN_PACKS, QUEUES))
    summary = replay([path], EngineConfig(), lambda e: None, lambda d: None, rules=rules, close=closures.append)
    assert summary.closures == 4  # one per booking: the three of the file and the rebooking
    last = closures[-1]
    assert last.customer_id == "C-4004"
    assert last.actions == ["rebook_connection", "rebook_cancelled_flight"]
    assert last.reason == "superseded by travel.rebooked v1 on travel.booking sc-050"


def test_supersedes_also_stops_a_task_another_pack_raises_on_the_same_event(tmp_path: Path) -> None:
    """Service's "call back" and a combined rule of another pack fire on the same post: only the combined task."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "a_service.yaml").write_text("""\
pack: service
owner: me
rules:
  - id: service.call_back
    version: 1
    owner: me
    description: any post
    on: [social.post]
    when: "true"
    then: {queue: service, action: call_back, title: t, reason: r, steps: [s], severity: low, expires_in: 1h}
""")
    (rules_dir / "b_combined.yaml").write_text("""\
pack: combined
owner: me
rules:
  - id: combined.post_after_failures
    version: 1
    owner: me
    description: one combined task instead of the call-back
    on: [social.post]
    when: "true"
    then: {queue: service, action: combined_call, title: t, reason: r, steps: [s], severity: high, expires_in: 1h}
    supersedes: [call_back]
""")
    for order in ("b_combined.yaml", "a_service.yaml"):  # whichever pack comes first
        decisions, summary = run(rules_dir)
        actions = {d.task.action for d in decisions}
        assert actions == {"combined_call"}, order
        assert summary.outcomes["rules_suppressed"] == 2  # the two posts of the scenarios
        (rules_dir / order).rename(rules_dir / f"z_{order}")


def test_rules_diff_lists_changed_tasks_and_warns_of_a_rule_changed_under_its_version(tmp_path: Path) -> None:
    """Once `diff` said `0 added, 0 removed` when a rule's priority fell from 100 to 29 and its title changed."""
    changed = tmp_path / "changed"
    shutil.copytree(BUILTIN_PACKS, changed)
    fraud = changed / "fraud.yaml"
    text = fraud.read_text()
    old_title = "title: \"Verify card activity: {{ signals.location_conflict.later.city or 'unknown place' }}\""
    assert old_title in text
    fraud.write_text(
        text.replace(old_title, 'title: "Card in {{ signals.location_conflict.later.city }}?"').replace(
            "severity: critical\n      defer: never                      # fraud is never deferred",
            "severity: low\n      defer: never                      # fraud is never deferred",
            1,
        )
    )
    result = CliRunner().invoke(app, ["rules", "diff", str(BUILTIN_PACKS), str(changed), "--events", str(SCENARIOS)])
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("~ ")]
    assert line.startswith("~ fraud/verify_card_activity for C-1001 on sc-003: priority: ")
    assert "title: 'Verify card activity: Paris' -> 'Card in Paris?'" in line
    assert "0 added, 0 removed, 1 changed" in result.output
    assert "fraud.impossible_travel v1 changed but its version did not" in result.output

"""The live rule set: one team's change leaves the other packs as they are, and a worker goes
from one whole set to the next (agents/rules.py applies only whole-set records)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ctxi.agents.rules import RuleInputs
from ctxi.engine.pipeline import Engine
from ctxi.pack_tools.load import load_rule_dir
from ctxi.pack_tools.publish import LIVE_SET_KEY, LiveSet, PublishedPack, changed_set, history_records
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.rules.loader import RulePackError
from ctxi.settings import EngineConfig
from ctxi.sinks.redis import OutcomeKeys
from tests.factories import loyalty_pack

QUEUES = frozenset({"fraud", "travel", "service"})
AT = datetime(2026, 3, 1, tzinfo=UTC)
LOYALTY = loyalty_pack()


def built_in() -> LiveSet:
    files = load_rule_dir(BUILTIN_PACKS, QUEUES).files
    packs = {
        name: PublishedPack(pack=name, text=text, published_at=AT, published_by="built-in")
        for name, text in files.items()
    }
    return LiveSet(packs=packs, change="the built-in packs", changed_by="built-in", changed_at=AT)


def test_publishing_one_pack_keeps_every_other_and_withdrawing_takes_only_it() -> None:
    live = built_in()
    added, loaded = changed_set(live, {"loyalty": LOYALTY}, "published loyalty", "ana", QUEUES, AT)
    assert sorted(added.packs) == ["fraud", "loyalty", "service", "travel"]
    assert added.packs["fraud"] == live.packs["fraud"]  # untouched: same text, same publisher
    assert added.version == loaded.version  # what publish prints is what the workers report
    withdrawn, _ = changed_set(added, {"loyalty": None}, "withdrew loyalty", "ana", QUEUES, AT)
    assert withdrawn.packs == live.packs and withdrawn.version == live.version
    [(key, record)] = history_records(withdrawn, {"loyalty": None}, "published").items()
    assert key.startswith("history/loyalty/") and record.action == "withdrawn" and record.text is None


def test_a_set_that_does_not_go_together_or_is_empty_is_refused() -> None:
    live = built_in()
    clash = LOYALTY.replace("pack: loyalty", "pack: other")
    added, _ = changed_set(live, {"loyalty": LOYALTY}, "published loyalty", "ana", QUEUES, AT)
    with pytest.raises(RulePackError, match=r"duplicate rule loyalty\.thank_for_contact"):
        changed_set(added, {"other": clash}, "published other", "ana", QUEUES, AT)
    with pytest.raises(RulePackError, match="no pack left"):
        changed_set(live, dict.fromkeys(live.packs), "withdrew all", "ana", QUEUES, AT)


def test_a_worker_switches_to_a_whole_set_in_one_step_and_ignores_the_rest() -> None:
    engine = Engine(EngineConfig(), {}, {}, rules=RuleSet(load_rule_dir(BUILTIN_PACKS, QUEUES)))
    inputs = RuleInputs(engine, QUEUES, "rules", "snoozes", "outcomes", OutcomeKeys("redis://unused", "p", ["k"]))
    running = engine.rules
    new, loaded = changed_set(built_in(), {"loyalty": LOYALTY}, "published loyalty", "ana", QUEUES, AT)
    for key, record in history_records(new, {"loyalty": LOYALTY}, "published").items():
        inputs.apply("rules", key.encode(), record.model_dump_json().encode())
    assert engine.rules is running  # a pack's history record is not a set: nothing changes
    inputs.apply("rules", LIVE_SET_KEY.encode(), new.model_dump_json().encode())
    assert engine.rules.version == loaded.version and engine.rules.rules_for("crm.interaction")
    assert {compiled.pack for compiled in engine.rules.loaded.rules} == {"fraud", "loyalty", "service", "travel"}
    broken = new.model_copy(
        update={"packs": {**new.packs, "loyalty": new.packs["loyalty"].model_copy(update={"text": "pack: ["})}}
    )
    inputs.apply("rules", LIVE_SET_KEY.encode(), broken.model_dump_json().encode())
    assert engine.rules.version == loaded.version  # a set that does not compile keeps the running one


RETENTION = """\
pack: retention
owner: retention@acme.example
rules:
  - id: retention.after_case_closed
    version: 1
    owner: retention@acme.example
    description: A closed case ends the service team's repeat-contact task; retention follows up.
    on: [crm.case_closed]
    when: "true"
    supersedes: [own_repeat_contact]
    then:
      queue: service
      action: follow_up_after_case
      title: "Follow up on the closed case"
      reason: "The case is closed."
      steps: ["Ask how it went."]
      severity: low
      expires_in: 4h
tests:
  - name: the service team's task is there before the case closes
    with_set: true
    events:
      - {event_id: r0, type: crm.customer_profile, customer_id: C-7, occurred_at: "2026-03-01T08:00:00Z",
         payload: {tier: gold, lifetime_value: 30000.0, currency: USD}}
      - {event_id: rc, type: crm.case_opened, customer_id: C-7, occurred_at: "2026-03-01T09:00:00Z",
         payload: {case_id: CASE-1, subject: Refund not received, severity: high, channel: phone}}
      - {event_id: r1, type: crm.interaction, customer_id: C-7, occurred_at: "2026-03-02T09:00:00Z",
         payload: {channel: phone, case_id: CASE-1}}
      - {event_id: r2, type: crm.interaction, customer_id: C-7, occurred_at: "2026-03-02T15:00:00Z",
         payload: {channel: phone, case_id: CASE-1}}
      - {event_id: r3, type: crm.interaction, customer_id: C-7, occurred_at: "2026-03-03T08:00:00Z",
         payload: {channel: phone, case_id: CASE-1}}
    expect: [{queue: service, action: own_repeat_contact}]
  - name: closing the case supersedes it and retention follows up
    with_set: true
    events:
      - {event_id: r0, type: crm.customer_profile, customer_id: C-7, occurred_at: "2026-03-01T08:00:00Z",
         payload: {tier: gold, lifetime_value: 30000.0, currency: USD}}
      - {event_id: rc, type: crm.case_opened, customer_id: C-7, occurred_at: "2026-03-01T09:00:00Z",
         payload: {case_id: CASE-1, subject: Refund not received, severity: high, channel: phone}}
      - {event_id: r1, type: crm.interaction, customer_id: C-7, occurred_at: "2026-03-02T09:00:00Z",
         payload: {channel: phone, case_id: CASE-1}}
      - {event_id: r2, type: crm.interaction, customer_id: C-7, occurred_at: "2026-03-02T15:00:00Z",
         payload: {channel: phone, case_id: CASE-1}}
      - {event_id: r3, type: crm.interaction, customer_id: C-7, occurred_at: "2026-03-03T08:00:00Z",
         payload: {channel: phone, case_id: CASE-1}}
      - {event_id: r4, type: crm.case_closed, customer_id: C-7, occurred_at: "2026-03-03T12:00:00Z",
         payload: {case_id: CASE-1}}
    expect: [{queue: service, action: follow_up_after_case}]
"""


def test_a_pack_test_with_the_set_sees_and_supersedes_another_teams_task() -> None:
    from ctxi.pack_tools.load import load_rule_texts
    from ctxi.pack_tools.pack_tests import run_pack_tests

    texts = {f"{name}.yaml": pack.text for name, pack in built_in().packs.items()}
    loaded = load_rule_texts({**texts, "retention.yaml": RETENTION}, QUEUES)
    results = [result for result in run_pack_tests(loaded, EngineConfig()) if result.pack == "retention"]
    assert [(result.name, result.passed, result.detail) for result in results] == [
        ("the service team's task is there before the case closes", True, "ok"),
        ("closing the case supersedes it and retention follows up", True, "ok"),
    ]
    alone = load_rule_texts({**texts, "retention.yaml": RETENTION.replace("with_set: true", "with_set: false")}, QUEUES)
    [first, _] = [result for result in run_pack_tests(alone, EngineConfig()) if result.pack == "retention"]
    assert not first.passed and "no task" in first.detail  # its own rules alone: the other team's task is not there


def test_reference_tables_are_read_by_rules_checked_by_name_and_defined_once() -> None:
    """4 x JPY 1,000 (about USD 27) once fired the velocity rule: amounts are now added in USD."""
    from ctxi.pack_tools.load import load_rule_texts

    texts = {f"{name}.yaml": pack.text for name, pack in built_in().packs.items()}
    typo = LOYALTY.replace('when: "true"', 'when: "event.payload.channel in reference.usd_pre"')
    with pytest.raises(RulePackError, match=r"did you mean reference\.usd_per\?"):
        load_rule_texts({**texts, "loyalty.yaml": typo}, QUEUES)
    twice = LOYALTY.replace("rules:", "reference:\n  usd_per: {USD: 1.0}\nrules:")
    with pytest.raises(RulePackError, match=r"reference usd_per: defined twice \(also at fraud\.yaml:"):
        load_rule_texts({**texts, "loyalty.yaml": twice}, QUEUES)
    lists = LOYALTY.replace("rules:", "reference:\n  vip_channels: [phone, app]\nrules:").replace(
        'when: "true"', 'when: "event.payload.channel in reference.vip_channels"'
    )
    loaded = load_rule_texts({**texts, "loyalty.yaml": lists}, QUEUES)
    assert loaded.reference["vip_channels"] == ["phone", "app"] and "usd_per" in loaded.reference
    for hostile, said in ((".nan", "not a finite number"), ("1e400", "not a finite number"), ("[a]", "not a number")):
        bad = LOYALTY.replace("rules:", f"reference:\n  rates: {{EUR: {hostile}}}\nrules:")
        with pytest.raises(RulePackError, match=f"reference.rates: Value error, EUR: .* {said}"):
            load_rule_texts({**texts, "loyalty.yaml": bad}, QUEUES)

"""`ctxi rules check` type-checks what rules read: nothing that passes fails at run time on a missing field."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctxi.pack_tools.load import load_rule_dir
from ctxi.pack_tools.reference import reference_markdown
from ctxi.rule_language.typecheck import Reference, cel_references
from ctxi.rules.loader import RulePackError

QUEUES = frozenset({"fraud", "travel", "service"})


def pack(on: str, when: str, title: str = "Check") -> str:
    return f"""\
pack: team
owner: team@acme.example
rules:
  - id: team.rule
    version: 1
    owner: team@acme.example
    description: d
    on: [{on}]
    when: '{when}'
    then:
      queue: fraud
      action: check
      title: "{title}"
      reason: r
      steps: [s]
      severity: high
      expires_in: 4h
"""


def problems(tmp_path: Path, on: str, when: str, title: str = "Check") -> list[str]:
    (tmp_path / "team.yaml").write_text(pack(on, when, title))
    try:
        load_rule_dir(tmp_path, QUEUES)
    except RulePackError as error:
        return [line.split(": team.rule: ", 1)[1] for line in error.errors]
    return []


@pytest.mark.parametrize(
    ("on", "when", "title", "expected"),
    [
        (  # the analyst's example: fails at replay with a bare 'card_transactions' otherwise
            "billing.card_transaction",
            "size(customer.card_transactions) >= 4",
            "Check",
            "'when': unknown field 'card_transactions' in customer.card_transactions (fields of customer: "
            "customer_id, watermark, profile,",
        ),
        (
            "billing.payment_failed",
            "size(customer.payment_failures) >= 2",
            "Check",
            "did you mean customer.billing.payment_failures?",
        ),
        ("crm.customer_profile", "customer.profle != null", "Check", "did you mean customer.profile?"),
        (
            "social.post",
            "has(signals.payment_failures)",
            "Check",
            "signals.payment_failures is never produced for social.post (it comes with billing.payment_failed)",
        ),
        (
            "billing.payment_failed",
            "signals.payment_failures.count >= 2",
            "Check",
            "(a signal is there only when its enricher found something): guard it with "
            "has(signals.payment_failures) in 'when'",
        ),
        (
            "crm.case_opened",
            'customer.profile.tier == "gold"',
            "Check",
            "reads below customer.profile, which may be null: guard it with customer.profile != null in 'when'",
        ),
        (
            "billing.card_transaction, social.checkin",
            "event.payload.amount > 500.0",
            "Check",
            "event.payload.amount exists for billing.card_transaction but not for social.checkin: guard it with "
            "has(event.payload.amount) in 'when', or narrow 'on'",
        ),
        (
            "crm.interaction",
            "event.payload.attributes.wait_s > 300",
            "Check",
            "guard it with has(event.payload.attributes.wait_s) in 'when'",
        ),
        (
            "billing.payment_failed",
            "customer.billing.payment_failures.amount > 5.0",
            "Check",
            "customer.billing.payment_failures is a list; read its items with .exists(x, ...)",
        ),
        ("billing.payment_failed", "event.payload.amount.cents > 5", "Check", "event.payload.amount is a number"),
        (  # templates too, at the template's line
            "billing.payment_failed",
            "true",
            "{{ customer.profile.teir }}",
            "title: unknown field 'teir' in customer.profile.teir; did you mean customer.profile.tier?",
        ),
        (
            "billing.payment_failed",
            "true",
            "{{ signals.payment_failures.count }} failures",
            "title: signals.payment_failures.count reads signals.payment_failures",
        ),
    ],
)
def test_what_a_rule_reads_is_checked(tmp_path: Path, on: str, when: str, title: str, expected: str) -> None:
    found = problems(tmp_path, on, when, title)
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    ("on", "when", "title"),
    [
        ("billing.payment_failed", "has(signals.payment_failures) && signals.payment_failures.count >= 2", "Check"),
        ("crm.case_opened", 'customer.profile != null && customer.profile.tier == "gold"', "Check"),
        ("billing.card_transaction, social.checkin", "has(event.payload.amount) && event.payload.amount > 5.0", "C"),
        ("crm.interaction", "has(event.payload.attributes.wait_s) && event.payload.attributes.wait_s > 300", "C"),
        ("billing.payment_failed", "customer.billing.payment_failures.exists(f, f.amount > 5.0)", "Check"),
        ("billing.payment_failed", "size(customer.billing.payment_failures) > 1", "Check"),
        ("social.post", 'event.payload.text.contains("customer.nothing")', "Check"),  # a string, not a path
        ("crm.case_opened", "true", "{% if customer.profile %}{{ customer.profile.tier }}{% endif %}"),
        ("billing.payment_failed", "has(signals.payment_failures)", "{{ signals.payment_failures.count }} failures"),
        ("social.post", "true", "{{ event.payload.text.upper() }} {{ customer.billing.payment_failures | length }}"),
        ("billing.card_transaction", "true", "{% for o in customer.observations %}{{ o.city }}{% endfor %}"),
    ],
)
def test_guarded_and_well_formed_reads_pass(tmp_path: Path, on: str, when: str, title: str) -> None:
    assert problems(tmp_path, on, when, title) == []


def test_paths_are_read_from_cel_outside_strings_and_method_calls() -> None:
    found = cel_references('has(signals.x) && customer.billing.payment_failures.size() > 1 && "event.no" != event.type')
    assert found == [
        Reference(("signals", "x"), tested=True),
        Reference(("customer", "billing", "payment_failures")),
        Reference(("event", "type")),
    ]


def test_the_rule_reference_in_docs_is_fresh() -> None:
    """docs/rule-reference.md is generated from the models: a model change without it fails here."""
    written = (Path(__file__).resolve().parents[3] / "docs" / "rule-reference.md").read_text()
    assert written == reference_markdown(), "stale: run `ctxi rules reference --out docs/rule-reference.md`"
    for path in ("customer.billing.payment_failures[].amount", "signals.location_conflict.speed_kmh"):
        assert f"| `{path}` |" in written


FEATURE = """\
features:
  - id: card_spend_1h
    description: d
    on: [billing.card_transaction]
    where: event.payload.status == "approved"
    value: event.payload.amount
    aggregate: sum
    window: 1h
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("features.card_spend_1h.count", "features.card_spend_2h.count"), "did you mean features.card_spend_1h?"),
        (
            ("features.card_spend_1h.count", "features.card_spend_1h.cuont"),
            "did you mean features.card_spend_1h.count?",
        ),
        (
            ('event.payload.status == "approved"', "customer.profile != null && customer.profile.tierr == 'gold'"),
            "did you mean customer.profile.tier?",
        ),
        (
            ('event.payload.status == "approved"', "signals.device.device_type == 'phone'"),
            "signals.device is never produced for billing.card_transaction (it comes with device.session)",
        ),
        (("    value: event.payload.amount\n", ""), "aggregate 'sum' needs 'value' (a CEL expression: what is"),
        (("window: 1h", "window: 120d"), "window must be between 1m and 90d"),
        (("value: event.payload.amount", "value: event.payload.amont"), "did you mean event.payload.amount?"),
    ],
)
def test_features_are_checked_like_rules(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = FEATURE + pack("billing.card_transaction", "features.card_spend_1h.count >= 4").replace(
        "pack: team\nowner: team@acme.example\n", ""
    )
    text = "pack: team\nowner: team@acme.example\n" + text
    old, new = change
    assert old in text
    (tmp_path / "team.yaml").write_text(text.replace(old, new))
    with pytest.raises(RulePackError) as caught:
        load_rule_dir(tmp_path, QUEUES)
    assert any(expected in error for error in caught.value.errors), caught.value.errors


def test_a_feature_id_is_shared_by_all_packs_and_defined_once(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        text = (
            "pack: team\nowner: team@acme.example\n"
            + FEATURE
            + pack("billing.card_transaction", "true")
            .split("owner: team@acme.example\n", 1)[1]
            .replace("team.rule", f"team.rule_{name[0]}")
        )
        (tmp_path / name).write_text(text.replace("pack: team", f"pack: team_{name[0]}"))
    with pytest.raises(RulePackError) as caught:
        load_rule_dir(tmp_path, QUEUES)
    assert any("feature card_spend_1h: duplicate feature id (also at" in error for error in caught.value.errors)


def test_a_feature_time_that_may_be_null_must_be_guarded_before_a_function_reads_it(tmp_path: Path) -> None:
    """Once it passed `rules check` and failed live: "Undefined variable or function: 'timestamp'"."""
    when = "timestamp(features.card_spend_1h.at) < timestamp(event.occurred_at)"
    text = FEATURE + pack("billing.card_transaction", when).replace("pack: team\nowner: team@acme.example\n", "")
    (tmp_path / "team.yaml").write_text("pack: team\nowner: team@acme.example\n" + text)
    with pytest.raises(RulePackError) as caught:
        load_rule_dir(tmp_path, QUEUES)
    assert any(
        "features.card_spend_1h.at is null until the feature has counted an event: guard "
        "timestamp(features.card_spend_1h.at) with features.card_spend_1h.at != null" in error
        for error in caught.value.errors
    ), caught.value.errors
    guarded = f"features.card_spend_1h.at != null && {when}"
    (tmp_path / "team.yaml").write_text((tmp_path / "team.yaml").read_text().replace(f"'{when}'", f"'{guarded}'"))
    load_rule_dir(tmp_path, QUEUES)

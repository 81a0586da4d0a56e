"""ctxi rules check: every mistake an analyst can make, reported as file:line: what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctxi.cli import app
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.loader import RulePackError

QUEUES = frozenset({"fraud", "travel", "service"})

GOOD_RULE = """\
pack: team
owner: team@acme.example
rules:
  - id: team.big_spender
    version: 1
    owner: team@acme.example
    description: A large card payment.
    on: [billing.card_transaction]
    when: event.payload.amount > 1000.0
    then:
      queue: fraud
      action: check_payment
      title: "Check {{ event.payload.amount }}"
      reason: "A large payment by {{ customer.customer_id }}."
      steps: ["Call the customer."]
      severity: high
      expires_in: 4h
"""


def errors_for(tmp_path: Path, text: str, name: str = "team.yaml") -> list[str]:
    (tmp_path / name).write_text(text)
    with pytest.raises(RulePackError) as caught:
        load_rule_dir(tmp_path, QUEUES)
    return caught.value.errors


def test_the_builtin_packs_load() -> None:
    loaded = load_rule_dir(BUILTIN_PACKS, QUEUES)
    assert {pack.pack for pack in loaded.packs} == {"fraud", "travel", "service"}
    assert len(loaded.version) == 12


def test_a_good_pack_loads(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(GOOD_RULE)
    [rule] = load_rule_dir(tmp_path, QUEUES).rules
    assert rule.source == f"{tmp_path / 'team.yaml'}:4"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("    when: event.payload.amount > 1000.0", "    when: event.payload.amount >"),
            ":9: team.big_spender: CEL syntax in 'when': column 23: Syntax error: mismatched input '<EOF>'",
        ),
        (
            ("    when: event.payload.amount > 1000.0", "    when: payment.amount > 1000.0"),
            ":9: team.big_spender: unknown variable(s) ['payment'] in 'when'; "
            "use ['customer', 'event', 'features', 'reference', 'signals']",
        ),
        (
            ("      queue: fraud", "      queue: marketing"),
            ":11: team.big_spender: unknown queue 'marketing'; known queues: ['fraud', 'service', 'travel']",
        ),
        (
            ("    on: [billing.card_transaction]", "    on: [billing.card_swipe]"),
            ":8: team.big_spender: unknown event type 'billing.card_swipe' in 'on'",
        ),
        (
            ('      reason: "A large payment by {{ customer.customer_id }}."', '      reason: "By {{ person.name }}."'),
            ":14: team.big_spender: unknown variable(s) ['person'] in reason; "
            "use ['customer', 'event', 'features', 'reference', 'signals']",
        ),
        (
            ('      title: "Check {{ event.payload.amount }}"', '      title: "Check {{ event.payload.amount }"'),
            ":13: team.big_spender: template syntax in title: unexpected '}'",
        ),
        (
            ("      severity: high\n", "      severity: urgent\n"),
            ":16: rules.0.then.severity: Input should be 'low', 'medium', 'high' or 'critical'",
        ),
        (("    description: A large card payment.\n", ""), ":4: rules.0.description: Field required"),
        (
            ("      severity: high\n", "      severity: high\n      deferr: never\n"),
            ":17: rules.0.then.deferr: unknown key 'deferr'; did you mean 'defer'? allowed here: queue, action, "
            "title, reason, steps, severity, priority, expires_in, cooldown, dedup_key, channel, defer",
        ),
        (
            ("      expires_in: 4h", "      expires_in: soon"),
            ":17: rules.0.then.expires_in: 'soon' is not a duration: write a whole number and s, m, h or d",
        ),
        (
            ("    on: [billing.card_transaction]", "    on: [billing.card_transaction"),
            ":9: YAML syntax: expected ',' or ']', but got ':'",
        ),
    ],
)
def test_each_mistake_is_reported_at_its_line(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD_RULE
    [error] = errors_for(tmp_path, GOOD_RULE.replace(old, new))
    assert error.startswith(f"{tmp_path / 'team.yaml'}{expected}"), error


def test_duplicate_id_and_version_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD_RULE)
    errors = errors_for(tmp_path, GOOD_RULE.replace("pack: team", "pack: other"), name="b.yaml")
    assert errors == [
        f"{tmp_path / 'b.yaml'}:4: duplicate rule team.big_spender version 1 (also at {tmp_path / 'a.yaml'}:4)"
    ]


def test_every_error_is_listed_not_just_the_first(tmp_path: Path) -> None:
    text = GOOD_RULE.replace("queue: fraud", "queue: nowhere").replace("> 1000.0", "> unknown_thing")
    assert len(errors_for(tmp_path, text)) == 2


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RulePackError, match="no rule packs"):
        load_rule_dir(tmp_path, QUEUES)


def test_cli_check_prints_file_line_errors_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(GOOD_RULE.replace("queue: fraud", "queue: nowhere"))
    result = CliRunner().invoke(app, ["rules", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'team.yaml'}:11: team.big_spender: unknown queue 'nowhere'" in result.output


def test_cli_check_and_test_pass_on_the_builtin_packs() -> None:
    checked = CliRunner().invoke(app, ["rules", "check", str(BUILTIN_PACKS)])
    assert checked.exit_code == 0 and "17 rules in 3 packs: OK" in checked.output
    tested = CliRunner().invoke(app, ["rules", "test", str(BUILTIN_PACKS)])
    assert tested.exit_code == 0, tested.output
    assert "29 passed, 0 failed" in tested.output

"""Rule packs cannot hurt the pipeline: no rule changes what others read, and cost is bounded.

Each hostile pack here once hung `ctxi rules check`, took gigabytes, or changed another
rule's data; now `check` rejects it within seconds, naming the limit.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest

from ctxi.engine.event_types import builtin_event_types
from ctxi.pack_tools.load import load_rule_dir, load_rule_texts
from ctxi.rule_language.sandbox import MAX_VALUE_LENGTH, cel_problems, rule_clock
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.rules.loader import PACK_DOCUMENT, RulePackError
from ctxi.settings import EngineConfig
from tests.factories import make_event
from tests.unit.rules.test_loader import GOOD_RULE, QUEUES

ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def pack_with(title: str = "Check", when: str = "event.payload.amount > 1000.0") -> str:
    return GOOD_RULE.replace('"Check {{ event.payload.amount }}"', repr(title)).replace(
        "event.payload.amount > 1000.0", f'"{when}"'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (pack_with("{{ 9**(9**9) }}"), "an exponent of 387,420,489; the limit is 64"),
        (pack_with("{{ ((9**64)**64)**64 }}"), "a power of more than 4,096 bits"),
        (pack_with("{{ 'ab'|replace('', 'x' * 3000)|replace('', 'x' * 3000) }}"), "filter replace would make a value"),
        (
            pack_with("{{ 'a'*300000000 }}"),
            f"'*' would make a value of 300,000,000 characters; the limit is {MAX_VALUE_LENGTH:,}",
        ),
        # checked before they are built: each once cost gigabytes and seconds per event
        (pack_with("{{ ('x' * 9999).join(['b' * 9999] * 9999) | length }}"), "'*' would make a value of"),
        (pack_with("{{ ('x' * 9999).join(range(1000)) }}"), "join would make a value of 9,99"),
        (pack_with("{{ range(1000) | join('x' * 9999) }}"), "filter join would make a value of"),
        (pack_with("{{ ('a' * 9999).replace('', 'x' * 9999) }}"), "replace would make a value of 99,999,999"),
        (pack_with("{{ ('{0}' * 3000).format('x' * 9999) }}"), "format would make a value of 30,006,000"),
        (pack_with("{{ ('%s' * 3000) % ('x' * 9999) }}"), "'%' would make a value of"),
        (pack_with("{{ ('\\n' * 9999) | indent(9999) }}"), "filter indent would make a value of"),
        (pack_with("{{ 'a'|center(300000000) }}"), "filter center was given 300,000,000"),
        (pack_with("{{ 'a'.ljust(300000000) }}"), "ljust was given 300,000,000"),
        (pack_with("{{ '%300000000s' % 'a' }}"), "a width of 300,000,000"),
        (pack_with("{{ '{:>300000000}'.format(1) }}"), "a format field wider than"),
        (pack_with("{% for i in range(10) %}{% for j in range(10) %}x{% endfor %}{% endfor %}"), "nested 2 deep"),
        (pack_with("{% for i in range(100000) %}x{% endfor %}"), "range of 100,000 numbers; the limit is 1,000"),
        (pack_with("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"), "'macro' is not allowed"),
        (pack_with("{% set ns = namespace(s='a') %}{{ ns.s }}"), "'assign' is not allowed"),
        (pack_with("{{ event.payload.update({'amount': 1}) }}"), "attribute 'update' of 'dict' object is unsafe"),
        (pack_with("{{ event.__class__ }}"), "unsafe"),
        (pack_with(when="[1].all(a, " * 7 + "true" + ")" * 7), "macros nested 7 deep; the limit is 2"),
        # macros hidden from a count over the text, once: by a quote in a comment, by a raw string
        (pack_with(when="true // '\\n && " + "[1].all(a, " * 7 + "true" + ")" * 7 + " // '"), "nested 7 deep"),
        (pack_with(when="r'\\\\' == '' && " + "[1].all(a, " * 7 + "true" + ")" * 7 + " && r'\\\\' == ''"), "nested 7"),
        (
            pack_with(when="[" + ",".join(["1"] * 200) + "].all(a, [" + ",".join(["2"] * 200) + "].all(b, true))"),
            "its macros may take 40,200 steps; the limit is 10,000",
        ),
        (pack_with(when="[1, 2].map(a, " * 8 + "1" + ")" * 8 + ".size() > 0"), "8 macros"),
        (pack_with(when="true || " * 400 + "true"), "characters; the limit is 2,000"),
        (ALIAS_BOMB, "YAML nodes once its aliases are expanded"),
        ("pack: team\nowner: o\nrules: " + "[" * 3000 + "]" * 3000 + "\n", "nested more than 32 deep"),
        ("# " + "x" * PACK_DOCUMENT.max_bytes, f"a rule pack may have {PACK_DOCUMENT.max_bytes:,}"),
        (
            (BUILTIN_PACKS / "fraud.yaml").read_text().replace("expires_in: 4h", "expires_in: " + "9" * 40 + "d"),
            "is longer than any duration can be",
        ),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else value,
)
def test_check_rejects_a_costly_or_unsafe_pack_in_seconds(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "team.yaml").write_text(text)
    started = time.perf_counter()
    with pytest.raises(RulePackError) as caught:
        load_rule_dir(tmp_path, QUEUES)
    assert time.perf_counter() - started < 5
    assert any(expected in error for error in caught.value.errors), caught.value.errors


def test_macro_names_inside_strings_are_text_not_macros() -> None:
    assert not list(cel_problems("event.payload.merchant == '.map(.all(.exists(.filter('"))
    assert not list(cel_problems("signals.exists(s, s.map(x, x).size() > 0)"))


def test_a_rule_cannot_change_what_the_next_rule_reads() -> None:
    """Once, `update` in one rule's title made the next rule raise a critical fraud task."""
    first = pack_with("{{ event.payload.update({'amount': 99999.0}) or 'x' }}").replace("big_spender", "a_first")
    second = GOOD_RULE.replace("team.big_spender", "team.b_second").replace("pack: team", "pack: other")
    with pytest.raises(RulePackError):
        load_rule_texts({"first.yaml": first, "second.yaml": second}, QUEUES)


def test_a_rule_past_a_limit_on_live_data_fails_fast_and_is_counted() -> None:
    """The samples let it through (80,412 followers); a post with a billion does not stall the stream."""
    text = pack_with("{{ ('x' * (event.payload.followers // 10)) | length }}").replace(
        "[billing.card_transaction]", "[social.post]"
    )
    rules = RuleSet(load_rule_texts({"team.yaml": text.replace('"event.payload.amount > 1000.0"', '"true"')}, QUEUES))
    post = make_event(
        "social.post",
        {"network": "x", "post_id": "p1", "text": "hi", "followers": 1_000_000_000, "mentions_brand": True},
        at="2026-03-01T10:00:00Z",
    )
    context = builtin_event_types().join(None, post, EngineConfig()).context
    started = time.perf_counter()
    outcomes = rules.evaluate(post, context, [], EngineConfig())
    assert time.perf_counter() - started < 1
    assert not outcomes.decisions
    [(_, error)] = outcomes.errors
    assert "limit" in error


def test_a_rule_over_its_time_budget_on_an_event_fails_on_it_and_the_others_go_on() -> None:
    """CEL cannot be stopped mid-evaluation: past the budget, the rule's result is not used (counted)."""
    slow = GOOD_RULE.replace('"event.payload.amount > 1000.0"', '"true"')
    rules = RuleSet(load_rule_texts({"team.yaml": slow}, QUEUES))
    payment = make_event(
        "billing.card_transaction",
        {
            "transaction_id": "t1",
            "amount": 2000.0,
            "currency": "EUR",
            "merchant": "m",
            "card_present": True,
            "status": "approved",
        },
        at="2026-03-01T10:00:00Z",
    )
    context = builtin_event_types().join(None, payment, EngineConfig()).context
    assert rules.evaluate(payment, context, [], EngineConfig()).decisions
    outcomes = rules.evaluate(payment, context, [], EngineConfig(rule_budget_ms=1e-6))
    assert not outcomes.decisions
    [(_, error)] = outcomes.errors
    assert "ms on this event; the budget is 1e-06 ms (CTXI_ENGINE__RULE_BUDGET_MS)" in error


def test_string_operations_sized_before_they_run_still_give_what_they_gave() -> None:
    from ctxi.rule_language.sandbox import TEMPLATES, render

    for source, expected in [
        ("{{ ', '.join(['a', 'b'] | map('upper')) }}", "A, B"),  # a generator is measured, then joined whole
        ("{{ ['a', 'b'] | map('upper') | join('-') }}", "A-B"),
        ("{{ 'ab' | replace('a', 'c') }}", "cb"),
        ("{{ '%s-%s' % ('a', 'b') }}", "a-b"),
        ("{{ '{} {}'.format(1, 2) }}", "1 2"),
        ("{{ 'x\\ty'.expandtabs(4) }}", "x   y"),
    ]:
        assert render(TEMPLATES.from_string(source), {}) == expected, source
    assert render(TEMPLATES.from_string("{{ 'x' * 9000 }}{{ 'y' * 9000 }}"), {}) == "x" * 9000 + "y" * 999 + "…"


def test_the_rule_clock_leaves_out_the_garbage_collectors_pauses() -> None:
    """A full collection lands on whatever runs at that moment: no rule's cost."""
    garbage = [[index] for index in range(300_000)]  # enough for a collection to take a while
    started_wall, started_rule = time.perf_counter(), rule_clock()
    gc.collect()
    collected_for = time.perf_counter() - started_wall
    del garbage
    assert collected_for > 0.001
    assert rule_clock() - started_rule < collected_for / 2

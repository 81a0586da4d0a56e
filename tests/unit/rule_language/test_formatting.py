"""Money is written one way on every card: the evidence lines, the task texts, the desktop."""

from __future__ import annotations

import pytest

from ctxi.rule_language.formatting import money
from ctxi.rule_language.sandbox import RuleTemplates, render


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1337.6, "USD", "USD 1,337.60"),
        (112.4, "USD", "USD 112.40"),
        (18250, None, "18,250.00"),
        (-12.345, "EUR", "EUR -12.35"),
        (0, "GBP", "GBP 0.00"),
    ],
)
def test_money_has_its_currency_thousands_separators_and_two_decimals(amount, currency, text) -> None:
    assert money(amount, currency) == text


def test_rule_templates_write_money_with_the_money_filter() -> None:
    template = RuleTemplates().from_string("{{ event.payload.amount | money(event.payload.currency) }}")
    assert render(template, {"event": {"payload": {"amount": 1249.0, "currency": "EUR"}}}) == "EUR 1,249.00"

from __future__ import annotations

from ctxi.enrichers.billing import balance_shortfall, dispute, payment_failures
from ctxi.settings import EngineConfig
from tests.factories import joined, make_event

CONFIG = EngineConfig()


def balance_low(balance: float, debit: float | None, at: str = "2026-03-02T07:00:00Z"):
    payload: dict = {"balance": balance, "currency": "USD"}
    if debit is not None:
        payload["upcoming_debit"] = {"amount": debit, "due_date": "2026-03-04", "payee": "Rent"}
    return make_event("billing.balance_low", payload, at=at)


def test_balance_short_of_the_rent_due_in_two_days() -> None:
    event = balance_low(112.40, 1450.0)
    [signal] = balance_shortfall(event, joined(event), CONFIG)
    assert (signal.shortfall, signal.days_until_due, signal.payee) == (1337.6, 2, "Rent")


def test_balance_that_covers_the_debit_is_no_signal() -> None:
    event = balance_low(2000.0, 1450.0)
    assert balance_shortfall(event, joined(event), CONFIG) == []


def test_low_balance_without_a_debit_is_no_signal() -> None:
    event = balance_low(10.0, None)
    assert balance_shortfall(event, joined(event), CONFIG) == []


def failure(at: str, amount: float = 50.0, currency: str = "USD"):
    return make_event(
        "billing.payment_failed", {"amount": amount, "currency": currency, "reason": "insufficient_funds"}, at=at
    )


def test_repeated_payment_failures_are_counted_within_the_window() -> None:
    events = [failure("2026-01-01T00:00:00Z"), failure("2026-03-01T00:00:00Z"), failure("2026-03-02T00:00:00Z", 25)]
    [signal] = payment_failures(events[-1], joined(*events), CONFIG)
    assert (signal.count, signal.total_amount, signal.currency) == (2, 75.0, "USD")  # January is outside the 30 days


def test_the_total_of_payment_failures_never_adds_two_currencies() -> None:
    events = [failure("2026-03-01T00:00:00Z", 40, "EUR"), failure("2026-03-02T00:00:00Z", 25)]
    [signal] = payment_failures(events[-1], joined(*events), CONFIG)
    assert (signal.count, signal.total_amount, signal.currency) == (1, 25.0, "USD")


def test_dispute_counts_open_disputes() -> None:
    first = make_event(
        "billing.dispute_opened", {"transaction_id": "T1", "amount": 10.0, "reason": "x"}, at="2026-03-01T00:00:00Z"
    )
    second = make_event(
        "billing.dispute_opened", {"transaction_id": "T2", "amount": 312.0, "reason": "x"}, at="2026-03-02T00:00:00Z"
    )
    [signal] = dispute(second, joined(first, second), CONFIG)
    assert (signal.transaction_id, signal.amount, signal.open_disputes) == ("T2", 312.0, 2)

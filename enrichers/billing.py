"""Billing: a balance short of an upcoming debit, repeated payment failures, disputes.

Declines and card velocity are counted by the fraud pack's features (rules/packs/fraud.yaml)."""

from __future__ import annotations

from collections.abc import Sequence

from ctxi.enrichers.registry import enricher
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import (
    BalanceLowEvent,
    DisputeOpenedEvent,
    PaymentFailedEvent,
)
from ctxi.schemas.signals import BalanceShortfall, DisputeSignal, PaymentFailures
from ctxi.settings import EngineConfig


@enricher("billing.balance_low")
def balance_shortfall(
    event: BalanceLowEvent, context: CustomerContext, config: EngineConfig
) -> Sequence[BalanceShortfall]:
    payload = event.payload
    debit = payload.upcoming_debit
    if debit is None or debit.amount <= payload.balance:
        return []
    return [
        BalanceShortfall(
            balance=payload.balance,
            currency=payload.currency,
            debit_amount=debit.amount,
            payee=debit.payee,
            due_date=debit.due_date,
            days_until_due=(debit.due_date - event.occurred_at.date()).days,
            shortfall=round(debit.amount - payload.balance, 2),
        )
    ]


@enricher("billing.payment_failed")
def payment_failures(
    event: PaymentFailedEvent, context: CustomerContext, config: EngineConfig
) -> Sequence[PaymentFailures]:
    currency = event.payload.currency
    # amounts in two currencies never add up: count and total those in this failure's currency
    failures = [f for f in context.billing.payment_failures if f.currency == currency]
    return [
        PaymentFailures(
            count=len(failures),
            total_amount=round(sum(f.amount for f in failures), 2),
            currency=currency,
            window_days=config.payment_failure_horizon_days,
        )
    ]


@enricher("billing.dispute_opened")
def dispute(event: DisputeOpenedEvent, context: CustomerContext, config: EngineConfig) -> Sequence[DisputeSignal]:
    return [
        DisputeSignal(
            transaction_id=event.payload.transaction_id,
            amount=event.payload.amount,
            currency=event.payload.currency,
            open_disputes=len(context.billing.open_disputes),
        )
    ]

"""Builders of valid contract objects for tests; override only what a test is about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ctxi.schemas.task import Task

TASK_CREATED_AT = datetime(2026, 3, 1, 11, 31, tzinfo=UTC)


def make_task(**overrides: Any) -> Task:
    fields: dict[str, Any] = {
        "task_id": "task-1",
        "customer_id": "C-1001",
        "queue": "fraud",
        "action": "verify_card_activity",
        "title": "Verify card activity",
        "priority": 90,
        "reason": "card used 5,800 km from the customer's check-in 90 min earlier",
        "steps": ["Call the customer on the phone number on file", "Confirm the Paris purchase"],
        "evidence": ["evt-0005", "evt-0006"],
        "rule_id": "fraud.impossible_travel",
        "rule_version": 1,
        "created_at": TASK_CREATED_AT,
        "not_before": None,
        "expires_at": TASK_CREATED_AT + timedelta(hours=4),
    }
    return Task(**{**fields, **overrides})

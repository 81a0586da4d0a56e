"""Snoozes: a rule suppressed for one customer (or one dedup key) until a time, without a pack edit."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, model_validator


class Snooze(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rule_id: str
    customer_id: str | None = None
    dedup_key: str | None = None
    until: datetime
    reason: str
    by: str

    @model_validator(mode="after")
    def _targets_something(self) -> Snooze:
        if (self.customer_id is None) == (self.dedup_key is None):
            raise ValueError("a snooze names either a customer_id or a dedup_key")
        return self

    @property
    def key(self) -> str:
        target = f"customer:{self.customer_id}" if self.customer_id else f"dedup:{self.dedup_key}"
        return f"{self.rule_id}|{target}"


class Snoozes:
    """The snoozes in force, looked up by rule and customer or dedup key; expired ones never match."""

    def __init__(self, snoozes: dict[str, Snooze] | None = None) -> None:
        self.by_key: dict[str, Snooze] = dict(snoozes or {})

    def put(self, snooze: Snooze) -> None:
        self.by_key[snooze.key] = snooze

    def find(self, rule_id: str, customer_id: str, dedup_key: str, at: datetime) -> Snooze | None:
        for key in (f"{rule_id}|customer:{customer_id}", f"{rule_id}|dedup:{dedup_key}"):
            snooze = self.by_key.get(key)
            if snooze is not None and snooze.until > at:
                return snooze
        return None

"""What a rule pack file holds, as analysts write it (YAML), validated by pydantic."""

from __future__ import annotations

import math
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ctxi.schemas.common import Duration
from ctxi.schemas.events import ContactChannel
from ctxi.schemas.features import Aggregate

MIN_WINDOW, MAX_WINDOW = timedelta(minutes=1), timedelta(days=90)
RULE_CONFIG = ConfigDict(extra="forbid", frozen=True)


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


EvidenceSource = Literal[
    "customer.observations", "customer.posts", "customer.billing.payment_failures", "customer.billing.open_disputes"
]


class ContextEvidence(BaseModel):
    """Earlier events kept in the customer's context that a task also rests on (rules/evidence.py)."""

    model_config = RULE_CONFIG
    source: EvidenceSource = Field(alias="from", description="Where in the customer's context.")
    within: Duration = Field(description="Only the records this long before the event (1m to 90d).")
    limit: Annotated[int, Field(ge=1, le=10)] = Field(3, description="At most this many, the latest first.")

    @model_validator(mode="after")
    def _window(self) -> ContextEvidence:
        if not MIN_WINDOW <= self.within <= MAX_WINDOW:
            raise ValueError("within must be between 1m and 90d")
        return self


class LearnedPriority(BaseModel):
    """Let the priority of a rule's tasks follow how agents close them (rules/learning.py): a
    version whose tasks are mostly dismissed sinks, one whose tasks are completed rises."""

    model_config = RULE_CONFIG
    prior: float = Field(
        0.5,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="The share of closed tasks agents complete that is assumed before any outcome; "
        "the factor is 1 at this share.",
    )
    prior_weight: int = Field(
        10, ge=1, le=10_000, description="How many closed tasks the prior weighs as: the more, the slower it learns."
    )
    min_factor: float = Field(0.5, gt=0, le=1, allow_inf_nan=False, description="The factor never goes below this.")
    max_factor: float = Field(1.5, ge=1, le=3, allow_inf_nan=False, description="The factor never goes above this.")


class TaskTemplate(BaseModel):
    """The task a rule proposes; text fields are Jinja templates over event, customer, signals."""

    model_config = RULE_CONFIG
    queue: str
    action: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    title: str
    reason: str
    steps: Annotated[list[str], Field(min_length=1)]
    severity: Severity
    priority: str | None = Field(
        None, description="A CEL expression for the priority (0-100); without it, the severity's."
    )
    expires_in: Duration
    # Within the cool-down, the rule firing again with the same dedup key updates the task
    # (same task_id, next revision) instead of adding one.
    cooldown: Duration = timedelta(0)
    dedup_key: str = "{{ customer.customer_id }}"
    channel: ContactChannel | None = None
    defer: Literal["while_on_phone", "never"] = Field(
        "while_on_phone",
        description="'while_on_phone': a task below critical for a customer on a phone waits "
        "(CTXI_ENGINE__PHONE_DEFER_HOURS) for a large screen; 'never': it goes out at once.",
    )
    evidence: Annotated[list[ContextEvidence], Field(max_length=4)] = Field(
        [], description="Earlier events from the customer's context to show as evidence, beside the event's own."
    )
    learn_priority: LearnedPriority | None = Field(
        None, description="Off unless given: priority × a factor learned from how agents closed this version's tasks."
    )


class Rule(BaseModel):
    model_config = RULE_CONFIG
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]
    version: Annotated[int, Field(ge=1)]
    owner: str
    description: str
    on: Annotated[list[str], Field(min_length=1)]
    when: str
    then: TaskTemplate | None = None
    # When the rule fires, the customer's open tasks with these actions are closed as
    # superseded (the customer was rebooked: the rebooking task is done).
    supersedes: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = []
    mode: Literal["active", "shadow"] = "active"
    enabled: bool = True

    @model_validator(mode="after")
    def _does_something(self) -> Rule:
        if self.then is None and not self.supersedes:
            raise ValueError("a rule needs 'then' (the task it proposes), 'supersedes' (tasks it closes), or both")
        return self


class Feature(BaseModel):
    """An aggregate over a customer's past events (or an entity's, across customers), computed live
    and read by rules as ``features.<id>``."""

    model_config = RULE_CONFIG
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    description: str
    on: Annotated[list[str], Field(min_length=1)] = Field(description="The event types it counts.")
    where: str | None = Field(
        None,
        description="A CEL condition: only these events count. It reads `event`, and (not for an entity's feature) "
        "`signals` and `customer` as rules do.",
    )
    value: str | None = Field(
        None, description="A CEL expression on what `where` reads: what is aggregated (not for count)."
    )
    aggregate: Aggregate
    window: Duration = Field(description="The sliding event-time window, 1m to 90d.")
    by: Annotated[list[str], Field(max_length=4)] = Field(
        [],
        description="CEL expressions (on what `where` reads) that split the customer's feature further (per "
        "case, per merchant): rules read the part the current event belongs to.",
    )
    entity: str | None = Field(
        None,
        description="A CEL expression on `event` naming the entity the feature is kept for across customers "
        "(a card, a device, an IP address, a merchant), instead of the customer: rules read the value of the "
        "current event's entity. Null for an event: it is not counted. Its where and value read `event` alone.",
    )

    @model_validator(mode="after")
    def _complete(self) -> Feature:
        if self.aggregate != "count" and self.value is None:
            raise ValueError(f"aggregate {self.aggregate!r} needs 'value' (a CEL expression: what is aggregated)")
        if not MIN_WINDOW <= self.window <= MAX_WINDOW:
            raise ValueError("window must be between 1m and 90d")
        if self.entity is not None and self.by:
            raise ValueError("a feature kept per 'entity' cannot also be split 'by' (make the entity the composite)")
        return self


class Expectation(BaseModel):
    """A task a pack test expects; every field left out matches anything."""

    model_config = RULE_CONFIG
    queue: str
    action: str
    customer_id: str | None = None
    priority_at_least: Annotated[int, Field(ge=0, le=100)] | None = None
    priority_at_most: Annotated[int, Field(ge=0, le=100)] | None = None
    deferred: bool | None = Field(None, description="true: not_before is set (held back); false: it goes out at once.")
    channel: ContactChannel | None = None
    evidence: list[str] | None = Field(None, description="event_ids the task's evidence must include.")

    def matches(self, task: Any) -> bool:
        return (
            (task.queue, task.action) == (self.queue, self.action)
            and self.customer_id in (None, task.customer_id)
            and (self.priority_at_least is None or task.priority >= self.priority_at_least)
            and (self.priority_at_most is None or task.priority <= self.priority_at_most)
            and (self.deferred is None or (task.not_before is not None) == self.deferred)
            and self.channel in (None, task.channel)
            and (self.evidence is None or set(self.evidence) <= set(task.evidence))
        )

    def describe(self) -> str:
        parts = [f"{self.queue}/{self.action}"]
        if self.customer_id:
            parts.append(f"for {self.customer_id}")
        if self.priority_at_least is not None:
            parts.append(f"priority >= {self.priority_at_least}")
        if self.priority_at_most is not None:
            parts.append(f"priority <= {self.priority_at_most}")
        if self.deferred is not None:
            parts.append("deferred" if self.deferred else "not deferred")
        if self.channel:
            parts.append(f"by {self.channel}")
        if self.evidence:
            parts.append(f"evidence {', '.join(self.evidence)}")
        return " ".join(parts)


class RuleTest(BaseModel):
    """Given these events (in event-time order), expect exactly these tasks (none: [])."""

    model_config = RULE_CONFIG
    name: str
    events: Annotated[list[dict[str, Any]], Field(min_length=1)]
    expect: list[Expectation]
    with_set: bool = Field(
        False,
        description="Run with every pack of the set this one joins (at publish, the new live set; in `rules "
        "test`, the folder's packs, and the live set's with --live), not this pack's rules alone: expect their "
        "tasks too. For a rule that supersedes or out-ranks another team's task.",
    )


MAX_REFERENCE_ENTRIES = 10_000  # per table: a currency list, a country list, a merchant list
MAX_REFERENCE_TEXT = 200  # a key, or a text in a table
MAX_REFERENCE_NUMBER = 1e12  # as money: an amount times a rate stays finite


def reference_table(value: Any) -> Any:
    """A table analysts maintain with their pack: a map (a currency to its rate in USD) or a list
    (high-risk countries), bounded; rules and features read it as `reference.<name>`."""
    if not isinstance(value, dict | list):
        raise ValueError("a reference table is a map (name: value) or a list of texts")
    if len(value) > MAX_REFERENCE_ENTRIES:
        raise ValueError(f"{len(value):,} entries; a reference table may have {MAX_REFERENCE_ENTRIES:,}")
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(key, str) and not 0 < len(key) <= MAX_REFERENCE_TEXT:
            raise ValueError(f"key {key[:20]!r}...: 1 to {MAX_REFERENCE_TEXT} characters")
        text = isinstance(item, str) and 0 < len(item) <= MAX_REFERENCE_TEXT
        number = isinstance(value, dict) and isinstance(item, int | float) and not isinstance(item, bool)
        if number and not (math.isfinite(item) and abs(item) <= MAX_REFERENCE_NUMBER):
            raise ValueError(f"{key}: {item!r} is not a finite number within ±{MAX_REFERENCE_NUMBER:,.0f}")
        if not (text or number):
            kinds = "a number or a text" if isinstance(value, dict) else "a text"
            raise ValueError(f"{key}: {item!r:.40} is not {kinds} of 1 to {MAX_REFERENCE_TEXT} characters")
    return value


ReferenceTable = Annotated[Any, BeforeValidator(reference_table)]


class Pack(BaseModel):
    model_config = RULE_CONFIG
    pack: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    owner: str
    reference: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], ReferenceTable] = Field(
        default_factory=dict,
        description="Tables rules and features read as reference.<name>: a map (USD per unit of each currency) "
        "or a list (high-risk countries); names are shared by all packs.",
    )
    features: list[Feature] = []
    rules: Annotated[list[Rule], Field(min_length=1)]
    tests: list[RuleTest] = []

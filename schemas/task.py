"""The task contract (SPEC "Task contract"): what a desktop receives, with the reason why."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ctxi.schemas.common import CurrencyCode, Location, Money, NonBlankText, NonEmptyStr, Sentiment, Text, Timestamp
from ctxi.schemas.events import ContactChannel, DeviceType, SessionChannel, Tier

# Tasks are built in Python by the engine (enum values given as strings), so not strict.
TASK_CONFIG = ConfigDict(frozen=True, extra="forbid")


class DeviceContext(BaseModel):
    """The device and channel a person is on right now."""

    model_config = TASK_CONFIG
    device_type: DeviceType | None = None
    channel: SessionChannel | None = None
    seen_at: Timestamp | None = None


class TaskContext(BaseModel):
    """The context card shown with a task: who the customer is and what is going on."""

    model_config = TASK_CONFIG
    tier: Tier | None = None
    lifetime_value: Money | None = None
    currency: CurrencyCode | None = None  # of lifetime_value
    last_location: Location | None = None
    open_cases: Annotated[int, Field(ge=0)] = 0
    sentiment: Sentiment | None = None
    device: DeviceContext | None = None
    engagement: Annotated[float, Field(ge=0, le=100)] | None = Field(
        None, description="0-100 when the task was made (the customer view shows its parts, live)."
    )


class EvidenceItem(BaseModel):
    """One event a task rests on, in words (rules/evidence.py): what the desktop shows."""

    model_config = TASK_CONFIG
    event_id: NonEmptyStr
    type: NonEmptyStr
    occurred_at: Timestamp
    summary: NonBlankText


class LearnedFactor(BaseModel):
    """What a rule with ``learn_priority`` learned from how agents closed its earlier tasks (rules/learning.py)."""

    model_config = TASK_CONFIG
    factor: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    completed: Annotated[int, Field(ge=0)] = Field(description="Its version's tasks agents completed so far.")
    dismissed: Annotated[int, Field(ge=0)] = Field(description="Its version's tasks agents dismissed so far.")


class ConditionHeld(BaseModel):
    """One clause of the rule's condition that held for this task, with what it read (rule_language/explain.py)."""

    model_config = TASK_CONFIG
    clause: NonBlankText
    reads: dict[str, Text] = Field(default_factory=dict, description="Each path it read and its value, as text.")


class EngagementFactor(BaseModel):
    """The customer's engagement as the priority weighed it: 1 + weight × score / 100."""

    model_config = TASK_CONFIG
    factor: Annotated[float, Field(ge=1, allow_inf_nan=False)]
    score: Annotated[float, Field(ge=0, le=100)]


class PriorityBreakdown(BaseModel):
    """Why a task ranks where it does: each factor of the priority formula (prioritize/formula.py)."""

    model_config = TASK_CONFIG
    base: float
    value: float
    context: float
    urgency: float
    learned: LearnedFactor | None = Field(None, description="Only for a rule with learn_priority: × this factor.")
    engagement: EngagementFactor | None = Field(
        None, description="Only where the engagement weight is set and the score known: × this factor."
    )
    priority: Annotated[int, Field(ge=0, le=100)]


class Task(BaseModel):
    """A next-best-action task for an agent."""

    model_config = TASK_CONFIG

    task_id: NonEmptyStr
    customer_id: NonEmptyStr
    queue: NonEmptyStr
    action: NonEmptyStr = Field(description="Machine name of the action, e.g. verify_card_activity.")
    title: NonBlankText
    priority: Annotated[int, Field(ge=0, le=100)] = Field(description="0-100, higher is more urgent.")
    reason: NonBlankText = Field(description="Why the task exists, in words.")
    steps: Annotated[list[NonBlankText], Field(min_length=1)] = Field(description="What to do, and how.")
    evidence: Annotated[list[NonEmptyStr], Field(min_length=1)] = Field(description="The event_ids the task rests on.")
    evidence_details: list[EvidenceItem] = Field(
        default_factory=list, description="The same events, each described in one readable line."
    )
    rule_id: NonEmptyStr
    rule_version: Annotated[int, Field(ge=1)]
    created_at: Timestamp
    queued_at: Timestamp | None = Field(
        None,
        description="When it reached its queue (set there, kept by its revisions): waits, claim_by and resolve_by "
        "count from it. Null until then.",
    )
    not_before: Timestamp | None = Field(description="Deliver no earlier than this; null for now.")
    expires_at: Timestamp
    claim_by: Timestamp | None = Field(
        None,
        description="The service level's deadline for an agent to claim it (null: no target for its queue and band).",
    )
    resolve_by: Timestamp | None = Field(None, description="The service level's deadline to complete or dismiss it.")
    due_by: Timestamp | None = Field(None, description="When the task stops being useful: a flight, a debit.")
    due_for: NonBlankText | None = Field(None, description="What happens at due_by, e.g. 'BA548 leaves LHR'.")
    channel: ContactChannel | None = Field(None, description="How to reach the customer now.")
    dedup_key: str | None = Field(None, description="Tasks with the same key inside a cool-down are one task.")
    updates_until: Timestamp | None = Field(
        None,
        description="The end of its rule's cool-down: until then a new firing is a revision of this task, "
        "kept with it (not reopening it) once an agent has closed it.",
    )
    revision: Annotated[int, Field(ge=1)] = Field(1, description="Raised each time new facts update the task.")
    priority_breakdown: PriorityBreakdown | None = Field(None, description="Each factor of the priority formula.")
    conditions: list[ConditionHeld] = Field(
        default_factory=list, description="Why the rule fired: each clause of its condition, with what it read."
    )
    context: TaskContext | None = None


class TaskClosure(BaseModel):
    """Close a customer's open tasks with these actions: a newer fact superseded them."""

    model_config = TASK_CONFIG
    customer_id: NonEmptyStr
    actions: Annotated[list[NonEmptyStr], Field(min_length=1)]
    rule_id: NonEmptyStr
    rule_version: Annotated[int, Field(ge=1)]
    reason: NonBlankText
    at: Timestamp


class TaskOutcome(BaseModel):
    """What an agent did with a task, published on the outcomes topic for the context to learn from."""

    model_config = TASK_CONFIG
    type: Literal["ctxi.task_outcome"] = "ctxi.task_outcome"
    task_id: NonEmptyStr
    customer_id: NonEmptyStr
    queue: NonEmptyStr
    action: NonEmptyStr
    rule_id: NonEmptyStr
    rule_version: Annotated[int, Field(ge=1)]
    agent_id: NonEmptyStr
    outcome: Literal["completed", "dismissed"]
    detail: Text = Field(description="The result (completed) or the reason (dismissed), in the agent's words.")
    at: Timestamp
    created_at: Timestamp | None = Field(None, description="When the task was created (time to claim, to resolve).")
    claimed_at: Timestamp | None = Field(None, description="When the agent claimed it.")
    revision: Annotated[int, Field(ge=1)] | None = Field(
        None, description="The task's revision the agent closed (later ones inside the cool-down are kept with it)."
    )
    signature: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, description="The gateway's signature (ingest/outcomes.py): workers believe only signed outcomes."
    )

    @property
    def partition_key(self) -> str:
        return self.customer_id

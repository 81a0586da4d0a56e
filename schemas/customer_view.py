"""The customer view: what the desktop shows of one customer when an agent opens them, read from
the live context (not a task's snapshot). Workers write the stored context row to Redis with its
engagement as the customer's events are decided (:class:`StoredView`, sinks/customer_views.py);
the gateway makes the view of it (:func:`customer_view`, gateway/customers.py).

Every fact carries where it came from and when: the context's own models keep both (a profile's
``as_of``, an observation's ``source`` and ``at``, a session's ``seen_at``...), and the timeline's
entries are the events themselves, described as a task's evidence is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ctxi.schemas.context import (
    BillingState,
    CustomerContext,
    DeviceState,
    Itinerary,
    Observation,
    OpenCase,
    PostSummary,
    Profile,
)
from ctxi.schemas.signals import EngagementScore
from ctxi.schemas.task import EvidenceItem

VIEW_CONFIG = ConfigDict(extra="forbid")
POSTS_SHOWN = 5


class FeatureFacts(BaseModel):
    """What a rule pack's feature keeps for the customer: the events it counts now and the latest."""

    model_config = VIEW_CONFIG
    feature_id: str
    events: int = Field(description="Events in the feature's kept slices (its window, give or take a slice).")
    latest_at: datetime | None = Field(None, description="When the latest event it counted happened.")
    last: str | bool | int | float | None = Field(None, description="That event's value, for a `last` feature.")


class CustomerView(BaseModel):
    """One customer as the live context holds them, when the worker wrote it."""

    model_config = VIEW_CONFIG
    customer_id: str
    as_of: datetime | None = Field(None, description="The latest event time of the customer (the context's watermark).")
    written_at: datetime = Field(description="When the worker wrote this view (wall clock).")
    profile: Profile | None = Field(None, description="From the CRM (`crm.customer_profile`), as of `as_of`.")
    engagement: EngagementScore = Field(description="Now, from the context: its three parts and their weights.")
    location: Observation | None = Field(None, description="Where the customer was last seen, by which source.")
    device: DeviceState | None = Field(None, description="The customer's latest session (`device.session`).")
    open_cases: list[OpenCase] = Field(default_factory=list)
    itineraries: list[Itinerary] = Field(default_factory=list)
    billing: BillingState = Field(default_factory=BillingState)
    posts: list[PostSummary] = Field(default_factory=list, description="Recent posts, newest last.")
    sentiment: float | None = Field(None, description="-1..1, from the latest post or interaction.")
    features: list[FeatureFacts] = Field(default_factory=list)


class ShownCustomer(BaseModel):
    """The customer view as the API answers it: the view, the latest events, the customer's tasks."""

    model_config = VIEW_CONFIG
    view: CustomerView
    timeline: list[EvidenceItem] = Field(description="The customer's latest events, newest first.")
    open_tasks: list[dict[str, Any]] = Field(description="Open tasks in queues the caller may see, most urgent first.")
    closed_tasks: list[dict[str, Any]] = Field(description="The latest closes, newest first: how and by whom.")


class StoredView(BaseModel):
    """What a worker writes for a customer: the context row as stored (its bytes, not encoded again)
    and the engagement worked out from it, when."""

    written_at: datetime
    engagement: EngagementScore
    context: CustomerContext


def customer_view(stored: StoredView) -> CustomerView:
    """The view of what a worker wrote: only what the context holds."""
    context, written_at = stored.context, stored.written_at
    return CustomerView(
        customer_id=context.customer_id,
        as_of=context.watermark,
        written_at=written_at,
        profile=context.profile,
        engagement=stored.engagement,
        location=context.last_location(),
        device=context.customer_device,
        open_cases=context.open_cases,
        itineraries=context.itineraries,
        billing=context.billing,
        posts=context.posts[-POSTS_SHOWN:],
        sentiment=context.last_sentiment,
        features=[
            FeatureFacts(
                feature_id=state_key.partition("@")[0],  # the key is the id and its definition's digest
                events=sum(piece[1] for piece in state.slices),
                latest_at=None if state.latest is None else datetime.fromtimestamp(state.latest, written_at.tzinfo),
                last=state.last,
            )
            for state_key, state in sorted(context.features.items())
        ],
    )

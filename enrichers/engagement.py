"""Engagement: one explainable 0-100 score from how the customer feels, acts and reaches.

- emotional: NPS (0-10) and CSAT (1-5) scaled to 0-1 and averaged; unknown without either,
  in which case its weight is shared by the other parts;
- behavioural: events in the activity window, against ``active_events_for_full_behaviour``;
- social: the largest reach among the customer's recent posts.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctxi.enrichers.registry import enricher
from ctxi.enrichers.social import reach
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import Event
from ctxi.schemas.signals import EngagementScore
from ctxi.settings import EngineConfig


def emotional_part(context: CustomerContext) -> float | None:
    profile = context.profile
    if profile is None:
        return None
    parts = []
    if profile.nps is not None:
        parts.append(profile.nps / 10)
    if profile.csat is not None:
        parts.append((profile.csat - 1) / 4)
    return sum(parts) / len(parts) if parts else None


def engagement_of(context: CustomerContext, config: EngineConfig) -> EngagementScore:
    """The customer's engagement now: what the enricher sends on, the priority formula may weigh
    (``CTXI_ENGINE__PRIORITY__ENGAGEMENT_WEIGHT``) and the customer view shows."""
    emotional = emotional_part(context)
    behavioural = min(1.0, len(context.activity) / config.active_events_for_full_behaviour)
    social = max((reach(p.followers, config.reach_saturation_followers) for p in context.posts), default=0.0)
    w_emotional, w_behavioural, w_social = config.engagement_weights
    parts: tuple[float, ...]
    weights: tuple[float, ...]
    if emotional is None:
        parts, weights = (behavioural, social), (w_behavioural, w_social)
    else:
        parts, weights = (emotional, behavioural, social), (w_emotional, w_behavioural, w_social)
    score = 100 * sum(p * w for p, w in zip(parts, weights, strict=True)) / sum(weights)
    return EngagementScore(
        score=round(score, 1),
        emotional=None if emotional is None else round(emotional, 4),
        behavioural=round(behavioural, 4),
        social=social,
        weights=config.engagement_weights,
    )


@enricher("crm.customer_profile", "crm.interaction", "social.post")
def engagement(event: Event, context: CustomerContext, config: EngineConfig) -> Sequence[EngagementScore]:
    return [engagement_of(context, config)]

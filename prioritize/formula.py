"""The priority of a task: one documented formula, with every factor kept for the agent to see.

    priority = clamp(round(base × value × context × urgency [× learned] [× engagement]), 0, 100)

- base: the rule's severity (low 20, medium 40, high 60, critical 75) or its own
  priority expression;
- value = tier weight × (1 + value_weight × min(1, log10(1 + lifetime value) / 5)):
  what the customer is worth (a lifetime value of 100,000 gives the full value_weight);
- context = 1 + reach_weight × social reach (0-1) + churn_weight × max(0, -sentiment):
  how far a complaint travels and how unhappy the customer is;
- urgency = 1 + urgency_weight × max(0, 1 - hours left / urgency_horizon_hours):
  how close the deadline is (the connecting flight's departure, the debit's due date);
- learned, only for a rule with ``learn_priority``: how agents closed its version's earlier
  tasks against the rule's prior (rules/learning.py), 1 with no outcome yet;
- engagement = 1 + engagement_weight × engagement score / 100, only where the weight is set (0
  by default: not weighed) and the score known: the engaged customer first among equals.

Worked example (docs/rules.md): a "negative post" task (medium, base 40) for a gold customer
worth 22,000 (value 1.05 × (1 + 0.15 × 0.87) = 1.19) whose post reaches 0.82 and whose
sentiment is -0.85 (context 1 + 0.5 × 0.82 + 0.2 × 0.85 = 1.58), no deadline (urgency 1):
40 × 1.19 × 1.58 × 1 = 75. The same post from a customer with no profile and 40
followers (reach 0.27, sentiment -0.51): 40 × 1 × 1.24 × 1 = 49.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from ctxi.schemas.events import Tier
from ctxi.schemas.task import EngagementFactor, LearnedFactor, PriorityBreakdown
from ctxi.settings import PriorityWeights

PriorityBand = Literal["critical", "high", "medium", "low"]

# Bands start at the severities' base priorities, so a critical rule's task reads "critical"
# unless the formula lowered it (a customer with no profile, say).
_BANDS: tuple[tuple[int, PriorityBand], ...] = ((75, "critical"), (60, "high"), (40, "medium"), (0, "low"))


def priority_band(score: int) -> PriorityBand:
    """The band a desktop shows beside the number: critical 75+, high 60+, medium 40+, low."""
    return next(band for floor, band in _BANDS if score >= floor)


def priority(
    base: float,
    *,
    tier: Tier | None,
    lifetime_value: float | None,
    reach: float | None,
    sentiment: float | None,
    created_at: datetime,
    due_by: datetime | None,
    weights: PriorityWeights,
    learned: LearnedFactor | None = None,
    engagement: float | None = None,
) -> PriorityBreakdown:
    tier_weight = weights.tier_weights.get(tier, 1.0) if tier is not None else 1.0
    worth = min(1.0, math.log10(1 + lifetime_value) / 5) if lifetime_value else 0.0
    value = tier_weight * (1 + weights.value_weight * worth)
    context = 1 + weights.reach_weight * (reach or 0.0) + weights.churn_weight * max(0.0, -(sentiment or 0.0))
    urgency = 1.0
    if due_by is not None:
        hours_left = (due_by - created_at).total_seconds() / 3600
        urgency = 1 + weights.urgency_weight * max(0.0, min(1.0, 1 - hours_left / weights.urgency_horizon_hours))
    factor = learned.factor if learned is not None else 1.0
    weighed = None
    if weights.engagement_weight and engagement is not None:
        weighed = EngagementFactor(factor=round(1 + weights.engagement_weight * engagement / 100, 4), score=engagement)
        factor *= weighed.factor
    score = max(0, min(100, round(base * value * context * urgency * factor)))
    return PriorityBreakdown(
        base=base,
        value=round(value, 4),
        context=round(context, 4),
        urgency=round(urgency, 4),
        learned=learned,
        engagement=weighed,
        priority=score,
    )

"""The priority formula's ordering properties, and the worked example of docs/rules.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctxi.prioritize.deadlines import deadline
from ctxi.prioritize.formula import priority, priority_band
from ctxi.schemas.events import Tier
from ctxi.schemas.signals import BalanceShortfall, FlightDisruption
from ctxi.settings import PriorityWeights

WEIGHTS = PriorityWeights()
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
bases = st.integers(min_value=0, max_value=100)
values = st.floats(min_value=0, max_value=10_000_000)
tiers = st.sampled_from([None, *Tier])
reaches = st.one_of(st.none(), st.floats(min_value=0, max_value=1))
sentiments = st.one_of(st.none(), st.floats(min_value=-1, max_value=1))
hours = st.one_of(st.none(), st.floats(min_value=-48, max_value=24 * 30))


def score(
    base=40, tier=None, value=None, reach=None, sentiment=None, hours_left=None, engagement=None, weights=WEIGHTS
):
    deadline = None if hours_left is None else NOW + timedelta(hours=hours_left)
    return priority(
        base,
        tier=tier,
        lifetime_value=value,
        reach=reach,
        sentiment=sentiment,
        created_at=NOW,
        due_by=deadline,
        weights=weights,
        engagement=engagement,
    )


def test_the_worked_example_of_the_rules_page() -> None:
    gold = score(40, Tier.GOLD, 22_000, reach=0.8176, sentiment=-0.85)
    assert (gold.value, gold.context, gold.urgency, gold.priority) == (
        pytest.approx(1.1868, abs=1e-4),
        pytest.approx(1.5788, abs=1e-4),
        1.0,
        75,
    )
    assert score(40, None, None, reach=0.2688, sentiment=-0.5106).priority == 49


@given(bases, tiers, values, values, reaches, sentiments, hours)
def test_higher_lifetime_value_never_ranks_lower(base, tier, a, b, reach, sentiment, hours_left) -> None:
    low, high = sorted((a, b))
    assert (
        score(base, tier, low, reach, sentiment, hours_left).priority
        <= score(base, tier, high, reach, sentiment, hours_left).priority
    )


@given(bases, tiers, values, reaches, sentiments, hours, hours)
def test_an_imminent_deadline_never_ranks_lower(base, tier, value, reach, sentiment, a, b) -> None:
    if a is None or b is None:
        return
    sooner, later = sorted((a, b))
    assert (
        score(base, tier, value, reach, sentiment, sooner).priority
        >= score(base, tier, value, reach, sentiment, later).priority
    )


@given(bases, tiers, values, reaches, sentiments, hours)
def test_priority_is_the_product_of_its_factors_within_0_and_100(base, tier, value, reach, sentiment, h) -> None:
    breakdown = score(base, tier, value, reach, sentiment, h)
    assert 0 <= breakdown.priority <= 100
    product = breakdown.base * breakdown.value * breakdown.context * breakdown.urgency
    # the factors are shown rounded to 4 decimals: their product may differ by a rounding step
    assert abs(breakdown.priority - max(0, min(100, product))) <= 1


def test_more_reach_and_more_anger_rank_higher() -> None:
    assert score(reach=0.8).priority > score(reach=0.2).priority
    assert score(sentiment=-0.9).priority > score(sentiment=0.5).priority


def test_higher_tier_ranks_higher() -> None:
    ranks = [score(50, tier, 1000).priority for tier in (Tier.STANDARD, Tier.SILVER, Tier.GOLD, Tier.PLATINUM)]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4


def test_deadlines_come_from_the_signals() -> None:
    flight = FlightDisruption(
        booking_id="P",
        flight="BA178",
        status="delayed",
        delay_minutes=120,
        connecting_flight="BA548",
        connection_airport="LHR",
        next_departure_at=datetime(2026, 3, 4, 11, 10, tzinfo=UTC),
    )
    debit = BalanceShortfall(
        balance=10.0,
        currency="USD",
        debit_amount=900.0,
        payee="Rent",
        due_date=datetime(2026, 3, 3).date(),
        days_until_due=1,
        shortfall=890.0,
    )
    assert deadline([flight, debit]) == (datetime(2026, 3, 3, tzinfo=UTC), "the Rent debit is taken")
    assert deadline([flight]) == (datetime(2026, 3, 4, 11, 10, tzinfo=UTC), "BA548 leaves LHR")
    assert deadline([]) is None


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (100, "critical"),
        (75, "critical"),
        (74, "high"),
        (60, "high"),
        (59, "medium"),
        (40, "medium"),
        (39, "low"),
        (0, "low"),
    ],
)
def test_bands_start_at_the_severities_base_priorities(score: int, band: str) -> None:
    assert priority_band(score) == band


def test_engagement_is_weighed_only_where_its_weight_is_set_and_shown_in_the_breakdown() -> None:
    def with_engagement(weight: float, engagement: float | None):
        return score(engagement=engagement, weights=PriorityWeights(engagement_weight=weight))

    assert with_engagement(0.0, 80.0).engagement is None  # the default: not weighed
    assert with_engagement(0.0, 80.0).priority == with_engagement(0.2, None).priority == 40
    weighed = with_engagement(0.2, 80.0)
    assert weighed.engagement is not None
    assert (weighed.engagement.factor, weighed.engagement.score, weighed.priority) == (1.16, 80.0, 46)  # 40 × 1.16


@given(st.floats(min_value=0, max_value=100), st.floats(min_value=0, max_value=100))
def test_more_engagement_never_ranks_lower(a: float, b: float) -> None:
    weights = PriorityWeights(engagement_weight=0.3)

    def ranked(engagement: float) -> int:
        return score(60, Tier.GOLD, 5000, engagement=engagement, weights=weights).priority

    low, high = sorted((a, b))
    assert ranked(low) <= ranked(high)

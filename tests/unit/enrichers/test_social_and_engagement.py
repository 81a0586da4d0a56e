from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctxi.enrichers.engagement import engagement
from ctxi.enrichers.social import reach, social
from ctxi.lookups.sentiment import text_sentiment
from ctxi.settings import EngineConfig
from tests.factories import joined, make_event

CONFIG = EngineConfig()
COMPLAINT = "Worst bank ever. Three hours on hold with @AcmeBank and still no refund. Furious, done with them."


def post(followers: int, sentiment: float | None = None, at: str = "2026-03-02T12:00:00Z"):
    payload: dict = {"network": "x", "post_id": at, "text": COMPLAINT, "followers": followers, "mentions_brand": True}
    if sentiment is not None:
        payload["sentiment"] = sentiment
    return make_event("social.post", payload, at=at, event_id=f"post-{at}")


def test_sentiment_from_the_payload_when_given() -> None:
    event = post(80_412, sentiment=-0.85)
    [signal] = social(event, joined(event), CONFIG)
    assert (signal.sentiment, signal.sentiment_source) == (-0.85, "payload")


def test_sentiment_from_vader_otherwise() -> None:
    event = post(40)
    [signal] = social(event, joined(event), CONFIG)
    assert signal.sentiment_source == "vader"
    assert signal.sentiment < -0.3
    assert text_sentiment("Thank you, the new card arrived fast and the agent was lovely!") > 0.5


def test_80k_followers_reach_far_more_than_40() -> None:
    big, small = post(80_412), post(40)
    [far] = social(big, joined(big), CONFIG)
    [near] = social(small, joined(small), CONFIG)
    assert far.reach == pytest.approx(0.82, abs=0.01)
    assert near.reach == pytest.approx(0.27, abs=0.01)


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=10**9))
def test_reach_is_monotonic_and_bounded(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert 0 <= reach(low, 1_000_000) <= reach(high, 1_000_000) <= 1


def profile(nps: int | None, csat: int | None):
    payload: dict = {"tier": "gold", "lifetime_value": 1000.0}
    if nps is not None:
        payload["nps"] = nps
    if csat is not None:
        payload["csat"] = csat
    return make_event("crm.customer_profile", payload, at="2026-03-01T00:00:00Z")


def test_engagement_parts_and_weighted_score() -> None:
    events = [profile(9, 5), post(80_412, -0.85)]
    [score] = engagement(events[-1], joined(*events), CONFIG)
    assert score.emotional == pytest.approx((0.9 + 1.0) / 2)
    assert score.behavioural == pytest.approx(2 / 20)
    assert score.social == pytest.approx(0.8176, abs=1e-3)
    expected = 100 * (0.4 * score.emotional + 0.3 * score.behavioural + 0.3 * score.social)
    assert score.score == pytest.approx(expected, abs=0.1)


def test_engagement_without_nps_or_csat_shares_the_emotional_weight() -> None:
    event = profile(None, None)
    [score] = engagement(event, joined(event), CONFIG)
    assert score.emotional is None
    assert score.score == pytest.approx(100 * (0.3 * (1 / 20) + 0.3 * 0) / 0.6, abs=0.1)


@given(st.integers(0, 10), st.integers(1, 5), st.integers(0, 10**8))
def test_engagement_score_is_within_0_and_100(nps: int, csat: int, followers: int) -> None:
    events = [profile(nps, csat), post(followers, 0.0)]
    [score] = engagement(events[-1], joined(*events), CONFIG)
    assert 0 <= score.score <= 100

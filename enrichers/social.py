"""Social: how a post feels, how far it reaches, and whether it names the brand."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ctxi.enrichers.registry import enricher
from ctxi.lookups.sentiment import text_sentiment
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.events import PostEvent
from ctxi.schemas.signals import SocialSignal
from ctxi.settings import EngineConfig


def reach(followers: int, saturation: int) -> float:
    """0-1 on a log scale: 10 followers ≈ 0.17, 80k ≈ 0.82, ``saturation`` and more = 1."""
    return round(min(1.0, math.log10(followers + 1) / math.log10(saturation + 1)), 4)


@enricher("social.post")
def social(event: PostEvent, context: CustomerContext, config: EngineConfig) -> Sequence[SocialSignal]:
    post = event.payload
    given = post.sentiment is not None
    return [
        SocialSignal(
            network=post.network,
            sentiment=post.sentiment if post.sentiment is not None else text_sentiment(post.text),
            sentiment_source="payload" if given else "vader",
            followers=post.followers,
            reach=reach(post.followers, config.reach_saturation_followers),
            mentions_brand=post.mentions_brand,
        )
    ]

"""The customer view of a context (schemas/customer_view.py): pure, read from the stored row.

Only what the context holds is shown; engagement is worked out as the enricher works it, now.
"""

from __future__ import annotations

from datetime import datetime

from ctxi.enrichers.engagement import engagement_of
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.customer_view import CustomerView, FeatureFacts
from ctxi.settings import EngineConfig

POSTS_SHOWN = 5


def customer_view(context: CustomerContext, config: EngineConfig, written_at: datetime) -> CustomerView:
    return CustomerView(
        customer_id=context.customer_id,
        as_of=context.watermark,
        written_at=written_at,
        profile=context.profile,
        engagement=engagement_of(context, config),
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

"""Tunables of the join and the enrichers, set through ``CTXI_ENGINE__<FIELD>``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ctxi.prioritize.formula import PriorityWeights


class EngineConfig(BaseModel):
    # --- event time and duplicates -------------------------------------------------------
    late_grace_seconds: float = Field(300, ge=0, description="Out-of-order events within this are not 'late'.")
    dedup_window_hours: float = Field(24, gt=0, description="How long an event_id is remembered per customer.")
    dedup_max_ids: int = Field(32, ge=1, description="At most this many event_ids remembered per customer.")

    # --- what the context keeps (bounded state) ----------------------------------------
    observation_horizon_hours: float = Field(48, gt=0, description="Locations older than this are forgotten.")
    max_observations: int = Field(8, ge=2)
    post_horizon_days: float = Field(30, gt=0)
    max_posts: int = Field(5, ge=1)
    activity_horizon_days: float = Field(30, gt=0, description="Window of the behavioural engagement count.")
    max_activity: int = Field(20, ge=1)
    payment_failure_horizon_days: float = Field(30, gt=0)
    max_payment_failures: int = Field(5, ge=1)
    max_open_cases: int = Field(10, ge=1)
    max_open_disputes: int = Field(5, ge=1)
    itinerary_keep_hours: float = Field(24, ge=0, description="Bookings are kept this long after their last arrival.")

    # --- location conflict ("impossible travel") --------------------------------------
    checkin_accuracy_km: float = Field(1.0, ge=0, description="Default accuracy of a social check-in.")
    card_accuracy_km: float = Field(0.5, ge=0, description="Default accuracy of a card terminal.")
    ip_accuracy_km: float = Field(50.0, ge=0, description="Default accuracy of an IP geolocation.")
    max_speed_kmh: float = Field(1000.0, gt=0, description="Implied speeds above this are a conflict.")
    min_conflict_distance_km: float = Field(100.0, ge=0, description="Shorter moves never conflict.")
    travel_match_radius_km: float = Field(150.0, ge=0, description="An airport this close to a place 'covers' it.")

    # --- travel ----------------------------------------------------------------------
    min_connection_minutes_domestic: int = Field(45, ge=0)
    min_connection_minutes_international: int = Field(60, ge=0)
    weather_airport_radius_km: float = Field(50.0, ge=0, description="Airports a location-based alert covers.")

    # --- delivery ----------------------------------------------------------------------
    on_phone_minutes: float = Field(30, ge=0, description="A customer seen on a phone this recently is on a phone now.")
    phone_defer_hours: float = Field(
        3, ge=0, description="A non-urgent task for a customer on a phone waits this long (not_before)."
    )

    contact_policy_rejects: int = Field(
        3, ge=1, description="An action dismissed this many times for a customer is no longer proposed..."
    )
    contact_policy_days: float = Field(30, gt=0, description="...for this long after the last dismissal counted.")
    max_rejections: int = Field(20, ge=1, description="Dismissals kept per customer.")
    priority: PriorityWeights = Field(default_factory=PriorityWeights, description="The priority formula.")

    # --- social and engagement -------------------------------------------------------
    reach_saturation_followers: int = Field(1_000_000, ge=10, description="Followers at which reach scores 1.0.")
    engagement_weights: tuple[float, float, float] = Field(
        (0.4, 0.3, 0.3), description="Weights of the emotional, behavioural and social parts."
    )
    active_events_for_full_behaviour: int = Field(20, ge=1, description="Events in the window that score 1.0.")

"""The one configuration model of ctxi: every knob is an environment variable ``CTXI_<FIELD>``.

It sits beside the stages, not inside one, so that any of them (the gateway included)
reads its settings without importing the engine or faust: :class:`EngineConfig` holds the
tunables of the join and the enrichers, :class:`Settings` everything, the engine's under
``engine``.

Lists are given as JSON (``CTXI_SOURCES='["crm","billing"]'``); engine tunables are nested
(``CTXI_ENGINE__MAX_SPEED_KMH=900``). docs/configuration.md
lists every field (a test keeps the two in step).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ctxi.schemas.events import MAX_PAYLOAD_SPAN, SOURCES, Tier


class AgentAccess(BaseModel):
    """An entry in ``CTXI_AGENTS``: a token's hash, the queues it may work (an agent) or watch (a
    supervisor), and which of the two it is (gateway/auth.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    queues: list[str]
    role: Literal["agent", "supervisor"] = Field(
        "agent", description="agent: works its queues' tasks; supervisor: watches its queues, claims nothing."
    )
    customer_lookup: bool = Field(
        False,
        description="May open any customer by id or identifier (a caller answering the phone), not only "
        "those with a task in its queues; every view is recorded either way.",
    )


class EventTimeWindow(BaseModel):
    """The event times ingest believes, around the wall clock when the event arrives.

    One event dated far ahead would otherwise move time forward for everyone: its
    customer's watermark (later real events would look late) and the worker's stream
    time (the fleet sweep would drop bookings still needed).
    """

    model_config = ConfigDict(frozen=True)
    not_before: AwareDatetime = Field(
        datetime(2000, 1, 1, tzinfo=UTC), description="Events older than this are refused (a broken clock)."
    )
    max_ahead_hours: float = Field(
        24, gt=0, le=24 * 366, description="Events dated more than this ahead of the wall clock are refused."
    )

    @cached_property
    def max_ahead(self) -> timedelta:
        return timedelta(hours=self.max_ahead_hours)

    def problem(self, occurred_at: datetime, now: datetime) -> str | None:
        """Why ``occurred_at`` is implausible at ``now``; None when it is fine."""
        if occurred_at < self.not_before:
            return f"occurred_at is before {self.not_before.isoformat()} (the earliest event time accepted)"
        if occurred_at - now > self.max_ahead:
            return f"occurred_at is more than {self.max_ahead_hours:g} h ahead of the clock ({now.isoformat()})"
        return None


class PriorityWeights(BaseModel):
    """The formula's tunables (``CTXI_ENGINE__PRIORITY__<FIELD>``)."""

    tier_weights: dict[Tier, float] = Field(
        default_factory=lambda: {Tier.STANDARD: 0.85, Tier.SILVER: 0.95, Tier.GOLD: 1.05, Tier.PLATINUM: 1.15}
    )
    value_weight: float = Field(0.15, ge=0, description="Extra weight of lifetime value (saturates at 100,000).")
    reach_weight: float = Field(0.5, ge=0, description="Extra weight of a post's reach (0-1).")
    churn_weight: float = Field(0.2, ge=0, description="Extra weight of negative sentiment (0-1).")
    urgency_weight: float = Field(0.3, ge=0, description="Extra weight of a deadline about to pass.")
    urgency_horizon_hours: float = Field(24, gt=0, description="Deadlines further than this add nothing.")
    engagement_weight: float = Field(
        0.0, ge=0, description="Extra weight of the customer's engagement (0-100 as 0-1); 0: not weighed."
    )


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
    due_keep_days: float = Field(
        45,
        gt=0,
        le=MAX_PAYLOAD_SPAN.days,  # no due date is further: a payload's times are within this of its event
        description="A task due for something (a flight to catch, a debit) stays on its queue until then, past its "
        "rule's expires_in, but at most this long after it was raised: a debit due in a year does not keep a task "
        "that long.",
    )

    contact_policy_rejects: int = Field(
        3, ge=1, description="An action dismissed this many times for a customer is no longer proposed..."
    )
    contact_policy_days: float = Field(30, gt=0, description="...for this long after the last dismissal counted.")
    max_rejections: int = Field(20, ge=1, description="Dismissals kept per customer.")
    priority: PriorityWeights = Field(default_factory=PriorityWeights, description="The priority formula.")
    max_entity_rows: int = Field(
        100_000,
        ge=1,
        description="Entity feature rows a worker keeps (docs/features.md); past it the row seen least recently goes.",
    )
    decoded_rows: int = Field(
        10_000,
        ge=0,
        description="Table rows kept decoded per table, those stored last, beside the JSON bytes every row is kept as "
        "(docs/limits.md): the next event of a customer just seen skips decoding its context.",
    )
    rule_budget_ms: float = Field(
        50,
        gt=0,
        description="A rule (its when, priority and templates) that takes longer on one event fails on it, counted; "
        "pack checks keep rules far below it.",
    )

    # --- social and engagement -------------------------------------------------------
    reach_saturation_followers: int = Field(1_000_000, ge=10, description="Followers at which reach scores 1.0.")
    engagement_weights: tuple[float, float, float] = Field(
        (0.4, 0.3, 0.3), description="Weights of the emotional, behavioural and social parts."
    )
    active_events_for_full_behaviour: int = Field(20, ge=1, description="Events in the window that score 1.0.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTXI_", env_nested_delimiter="__", extra="ignore")

    # --- services -------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma separated host:port."
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis server URL.")
    redis_prefix: str = Field("ctxi", description="Prefix of every Redis key and channel ctxi uses.")
    customer_view_seconds: float = Field(
        0.25,
        gt=0,
        description="How often a worker writes the views of the customers it decided (sinks/customer_views.py).",
    )
    customer_view_days: float = Field(
        30, gt=0, description="How long a customer's view is kept after their last event."
    )
    customer_identifiers: list[str] = Field(
        default_factory=lambda: ["email", "phone"],
        description="Profile attributes a customer may be looked up by (with customer_lookup).",
    )

    # --- stream worker --------------------------------------------------------------
    app_id: str = Field("ctxi", description="faust application id: the consumer group and topic prefix of its tables.")
    input_topic_prefix: str = Field("events.", description="Input topics are named <prefix><source>, e.g. events.crm.")
    sources: list[str] = Field(
        default_factory=lambda: list(SOURCES),
        description="Source systems whose input topic the worker consumes.",
    )
    events_by_customer_topic: str = Field(
        "ctxi.events.by_customer",
        description="Validated events, keyed by customer_id (or flight/airport for fleet-wide events).",
    )
    dead_letter_topic: str = Field("ctxi.dead_letters", description="Rejected input with the reason and origin.")
    signals_topic: str = Field("ctxi.signals", description="Enriched events: each joined event with its signals.")
    publish_signals: bool = Field(
        True,
        description="Publish the enriched events on the signals topic; off where nothing reads it "
        "(a send for about every other event: docs/benchmarks.md).",
    )
    queues: list[str] = Field(
        default_factory=lambda: ["fraud", "travel", "service"], description="Task queues rules may send to."
    )
    task_topic_prefix: str = Field("tasks.", description="Tasks go to <prefix><queue>, e.g. tasks.fraud.")
    shadow_task_topic: str = Field("tasks.shadow", description="What shadow rules would have proposed.")
    rules_topic: str = Field("ctxi.rules", description="Published rule packs (compacted), read by every worker.")
    snoozes_topic: str = Field("ctxi.snoozes", description="Rule snoozes (compacted), read by every worker.")
    outcomes_topic: str = Field("tasks.outcomes", description="What agents did with tasks (from the gateway).")
    closures_topic: str = Field("tasks.closures", description="Tasks superseded by newer facts, to close.")

    # --- desktop gateway (ctxi desktop) --------------------------------------------------
    desktop_host: str = Field("127.0.0.1", description="Address the desktop gateway listens on.")
    desktop_port: int = Field(8080, ge=1, le=65535, description="Port of the desktop gateway.")
    desktop_sweep_seconds: float = Field(
        1.0,
        gt=0,
        description="How often the gateway announces deferred tasks showing and expired ones going, and "
        "measures each queue's backlog.",
    )
    desktop_max_streams_per_agent: int = Field(
        10, ge=1, description="Event streams one agent may hold open at once (desktop tabs); one more is answered 429."
    )
    agents: dict[str, AgentAccess] = Field(
        default_factory=dict, description="Agent tokens (hashed) and their queues; see `ctxi desktop token`."
    )
    outcome_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Keys outcomes are signed with: gateways sign with the first, workers accept any (rotate: add the "
        "new key second, then first, then drop the old). Empty: one key made once and kept in Redis.",
    )
    rules_dir: Path | None = Field(
        None, description="Rule packs a worker uses until packs are published (default: the built-in packs)."
    )
    sla_policy: Path | None = Field(
        None,
        description="A service-level policy (YAML, `ctxi sla check`): workers give each task its claim_by and "
        "resolve_by, the gateway escalates unclaimed tasks by it; none: no deadlines, no escalation.",
    )
    topic_partitions: int = Field(4, ge=1, description="Partitions of the topics ctxi creates.")
    topic_replication_factor: int = Field(1, ge=1, description="Replication factor of the topics ctxi creates.")
    store: str = Field(
        "memory://",
        description="faust table store: memory:// (rebuilt from the changelog at start; for development) or "
        "rocksdb:// (on disk in CTXI_DATA_DIR; production: a restart reads only the changelog's tail).",
    )
    data_dir: Path = Field(
        Path(".ctxi-data"),
        description="Worker state directory (faust datadir); another worker on the machine takes <dir>-2, and so on.",
    )
    restore_report_seconds: float = Field(
        5.0, gt=0, description="How often a table restore's progress is logged, measured and shown on /ready."
    )
    standby_replicas: int = Field(
        1,
        ge=0,
        description="Copies of each table partition other workers keep up to date, so a rebalance hands a partition "
        "to a worker that already holds its table (faust's table_standby_replicas).",
    )
    web_host: str = Field("127.0.0.1", description="Address of the worker's faust web server (health).")
    web_port: int = Field(
        6066, ge=0, le=65535, description="Port of the worker's faust web server; another worker on the machine: +1."
    )
    log_level: str = Field("info", description="Worker and gateway log level.")
    log_format: Literal["text", "json"] = Field(
        "text", description="Worker and gateway logs: timestamped text (faust's, for workers), or JSON lines."
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="at_least_once: a redone event may resend a task (same task_id; sinks keep it once). "
        "exactly_once: Kafka transactions; each task committed once, shown after each commit.",
    )
    commit_interval_seconds: float | None = Field(
        None,
        gt=0,
        description="How often a worker commits its offsets and, under exactly-once, its transactions (tasks "
        "reach read_committed readers only then). Default: 2.8 under at_least_once (faust's), 0.1 under "
        "exactly_once.",
    )
    session_timeout_seconds: float = Field(
        60.0, gt=0, description="How long a silent worker keeps its partitions before the group moves them."
    )
    sweep_seconds: float = Field(
        600.0,
        gt=0,
        description="How often a worker drops the fleet index rows nobody is booked on any more and the entity "
        "feature rows whose window has passed (by stream time).",
    )
    stall_seconds: float = Field(
        60.0, gt=0, description="An assigned partition with a backlog and no progress this long is stalled."
    )
    metrics_host: str = Field("127.0.0.1", description="Address of the worker's Prometheus endpoint.")
    metrics_port: int = Field(
        9108, ge=0, le=65535, description="Port of the worker's Prometheus /metrics; 0: off; another worker: +1."
    )
    engine: EngineConfig = Field(default_factory=EngineConfig, description="Join and enricher tunables (EngineConfig).")
    event_time: EventTimeWindow = Field(
        default_factory=EventTimeWindow,
        description="Event times ingest accepts: CTXI_EVENT_TIME__NOT_BEFORE, CTXI_EVENT_TIME__MAX_AHEAD_HOURS.",
    )

    # --- local dev stack (ctxi devstack) ------------------------------------------------
    devstack_dir: Path = Field(Path(".devstack"), description="Broker and Redis data, logs and pid files.")
    devstack_cache_dir: Path = Field(
        Path.home() / ".cache" / "ctxi", description="Where the Kafka jars are fetched to (shared by checkouts)."
    )
    devstack_kafka_port: int = Field(9092, ge=1, le=65535, description="Broker listener port.")
    devstack_controller_port: int = Field(9093, ge=1, le=65535, description="KRaft controller listener port.")
    devstack_redis_port: int = Field(6379, ge=1, le=65535, description="redis-server port.")
    devstack_kafka_heap: str = Field("512m", description="Broker JVM heap (-Xmx), small enough for 2 cores.")
    devstack_start_timeout: float = Field(90.0, gt=0, description="Seconds to wait for the stack to be ready.")

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, sources: list[str]) -> list[str]:
        unknown = sorted(set(sources) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown source(s) {unknown}; known: {list(SOURCES)}")
        return sources

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Settings:
        """Settings from ``CTXI_*`` variables given as a mapping (a worker's environment)."""
        values: dict[str, Any] = {key.removeprefix("CTXI_").lower(): value for key, value in env.items()}
        return cls(**values)

    def isolated_env(self, name: str, data_dir: Path) -> dict[str, str]:
        """``CTXI_*`` variables giving a worker its own world under ``name``: app id (consumer
        group, tables), every topic, Redis keys and state directory. Test and evaluation runs
        use it so that they never see each other's data on a shared broker."""
        env = {
            "CTXI_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "CTXI_REDIS_URL": self.redis_url,
            "CTXI_REDIS_PREFIX": name,
            "CTXI_APP_ID": f"ctxi-{name}",
            "CTXI_DATA_DIR": str(data_dir),
        }
        for field in type(self).model_fields:
            if field.endswith(("_topic", "_topic_prefix")):
                env[f"CTXI_{field.upper()}"] = f"{name}.{getattr(self, field)}"
        return env

    def input_topic(self, source: str) -> str:
        return f"{self.input_topic_prefix}{source}"

    def task_topic(self, queue: str) -> str:
        return f"{self.task_topic_prefix}{queue}"

    @property
    def commit_interval(self) -> float:
        """Seconds between commits: ``commit_interval_seconds``, else the guarantee's default."""
        if self.commit_interval_seconds is not None:
            return self.commit_interval_seconds
        return 0.1 if self.processing_guarantee == "exactly_once" else 2.8

    @property
    def input_topics(self) -> list[str]:
        return [self.input_topic(source) for source in self.sources]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()

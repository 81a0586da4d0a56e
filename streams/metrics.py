"""The worker's Prometheus metrics (prometheus-client), served on ``CTXI_METRICS_PORT``.

Agents update them as messages pass; a timer refreshes the table sizes. Labels are
bounded sets (sources, event types, pydantic error types, rule ids, queues, tables), never
customer ids.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from ctxi.settings import Settings

logger = logging.getLogger(__name__)

# 0.1 ms to 5 s: a stage takes microseconds to milliseconds; an event-to-task wait up to seconds
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

EVENTS_IN = Counter("ctxi_events_in", "Valid events ingested.", ["source", "type"])
DEAD_LETTERS = Counter("ctxi_dead_letters", "Messages dead-lettered, by the first error's type.", ["reason"])
STAGE_SECONDS = Histogram(
    "ctxi_stage_seconds",
    "Time per message in each stage: ingest, join, enrich, rules, sink.",
    ["stage"],
    buckets=_BUCKETS,
)
LATE_EVENTS = Counter("ctxi_late_events", "Events joined more than the grace window behind their customer's watermark.")
EVENT_TO_TASK_SECONDS = Histogram(
    "ctxi_event_to_task_seconds",
    "From the record that brought an event to the context engine (the source's, when joined where read) "
    "to its task being sent.",
    buckets=_BUCKETS,
)
RULES_FIRED = Counter(
    "ctxi_rules_fired", "Tasks proposed, by rule and version (shadow rules included).", ["rule", "version"]
)
RULES_FAILED = Counter(
    "ctxi_rules_failed",
    "Rule evaluations that failed on an event (data a rule did not expect, or past a cost limit).",
    ["rule", "version"],
)
FEATURES_FAILED = Counter(
    "ctxi_features_failed",
    "Events a rule-pack feature could not count (its where or value failed on the data).",
    ["feature"],
)
TASKS_OUT = Counter("ctxi_tasks_out", "Tasks sent to a queue's topic.", ["queue"])
TASKS_TO_REDIS = Counter(
    "ctxi_tasks_to_redis",
    "Task writes to Redis: written, already_there, or kept_closed (a revision of a task an agent closed inside its "
    "cool-down, kept with it).",
    ["result"],
)
CONSUMER_LAG = Gauge(
    "ctxi_consumer_lag",
    "Messages waiting on each assigned partition (high-water less fetch position).",
    ["topic", "partition"],
)
STALLED = Gauge(
    "ctxi_partition_stalled",
    "1 while an assigned partition is stalled (see CTXI_STALL_SECONDS).",
    ["topic", "partition"],
)
ENTITY_ROWS_EVICTED = Counter(
    "ctxi_entity_rows_evicted",
    "Entity feature rows dropped, least recently seen first, to keep CTXI_ENGINE__MAX_ENTITY_ROWS.",
)
DOCUMENT_STALE = Gauge(
    "ctxi_document_stale",
    "1 while a followed document (sla_policy, rules) has changed but cannot be used: the one before is in force.",
    ["document"],
)
RESTORE_SECONDS = Gauge(
    "ctxi_restore_seconds",
    "How long the table restore under way has run (0: none): the worker decides nothing on its partitions meanwhile.",
)
RESTORE_REMAINING = Gauge(
    "ctxi_restore_remaining_offsets", "Changelog offsets the restore under way has still to read."
)
RESTORE_RATE = Gauge(
    "ctxi_restore_offsets_per_second", "Changelog offsets read per second by the restore, over its last minute."
)
TABLE_KEYS = Gauge("ctxi_table_keys", "Keys of each table held by this worker (its partitions).", ["table"])


def serve(settings: Settings) -> None:
    """Start the /metrics endpoint in a thread; a busy port is logged, not fatal to the worker."""
    if not settings.metrics_port:
        return
    try:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    except OSError as exc:
        logger.error("metrics endpoint not started on %s:%s: %s", settings.metrics_host, settings.metrics_port, exc)

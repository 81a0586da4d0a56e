"""faust agents: the stream processors. Importing this package registers them on the app."""

from ctxi.agents.context import join_and_enrich
from ctxi.agents.health import Health, Ready
from ctxi.agents.ingest import ingest
from ctxi.agents.outcomes import outcomes_to_context
from ctxi.agents.rules import follow_published_rules
from ctxi.agents.sinks import closures_to_redis, tasks_to_redis

__all__ = [
    "Health",
    "Ready",
    "closures_to_redis",
    "follow_published_rules",
    "ingest",
    "join_and_enrich",
    "outcomes_to_context",
    "tasks_to_redis",
]

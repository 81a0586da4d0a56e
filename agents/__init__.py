"""faust agents: the stream processors. Importing this package registers them on the app."""

from ctxi.agents.context import join_and_enrich
from ctxi.agents.ingest import ingest
from ctxi.agents.rules import rule_packs, snoozes

__all__ = ["ingest", "join_and_enrich", "rule_packs", "snoozes"]

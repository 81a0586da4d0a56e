"""faust agents: the stream processors. Importing this package registers them on the app."""

from ctxi.agents.ingest import ingest

__all__ = ["ingest"]

"""The one engine: join, fan-out and enrichment of each message, shared by workers and replay."""

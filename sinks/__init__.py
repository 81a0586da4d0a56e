"""Sinks: where tasks leave the pipeline (Kafka task topics, Redis for desktops)."""

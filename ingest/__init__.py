"""Ingest: validate raw input into typed events; everything unusable becomes a dead letter."""

from ctxi.ingest.jsonl import JsonlRecord, read_jsonl
from ctxi.ingest.validation import (
    DEFAULT_TIME_WINDOW,
    EventTimeWindow,
    processing_failure,
    unknown_fields,
    validate_event,
)

__all__ = [
    "DEFAULT_TIME_WINDOW",
    "EventTimeWindow",
    "JsonlRecord",
    "processing_failure",
    "read_jsonl",
    "unknown_fields",
    "validate_event",
]

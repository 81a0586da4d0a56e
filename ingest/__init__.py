"""Ingest: validate raw input into typed events; everything unusable becomes a dead letter."""

from ctxi.ingest.jsonl import JsonlRecord, read_jsonl
from ctxi.ingest.validation import DEFAULT_TIME_WINDOW, unknown_fields, validate_event

__all__ = ["DEFAULT_TIME_WINDOW", "JsonlRecord", "read_jsonl", "unknown_fields", "validate_event"]

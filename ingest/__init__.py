"""Ingest: validate raw input into typed events; everything unusable becomes a dead letter."""

from ctxi.ingest.jsonl import read_jsonl
from ctxi.ingest.validation import validate_event

__all__ = ["read_jsonl", "validate_event"]

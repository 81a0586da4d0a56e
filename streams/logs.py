"""Worker logging: faust's coloured text, or one JSON object per line (``CTXI_LOG_FORMAT=json``).

A JSON line carries the time, level, logger and message, and the ids a record was logged
with (``extra={"customer_id": ..., "event_id": ..., "task_id": ...}``), so a log pipeline can
follow one customer or event. Payloads are never logged: messages name fields, not values.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

CONTEXT_FIELDS = ("customer_id", "event_id", "task_id", "origin")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: str(getattr(record, name)) for name in CONTEXT_FIELDS if hasattr(record, name)})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


@contextmanager
def startup_logging(log_format: str, level: str) -> Iterator[None]:
    """Log what happens before faust sets up its logging (the rule set read at start), in the
    format the worker logs in; faust's own handlers take over after."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")
    )
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level.upper())
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def logging_config(log_format: str, level: str) -> dict[str, Any] | None:
    """A ``logging.config`` dict for ``faust.Worker``; None keeps faust's own text format."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "root": {"level": level.upper(), "handlers": ["default"]},
    }

"""Logging of ctxi's processes: faust's coloured text, or one JSON object per line
(``CTXI_LOG_FORMAT=json``), for the workers; the same formats, timestamped, for the gateway.

A JSON line carries the time, level, logger and message, and the ids a record was logged
with (``extra={"customer_id": ..., "event_id": ..., "task_id": ...}``), so a log pipeline can
follow one customer or event. Payloads are never logged: messages name fields, not values.
A failure that repeats (Redis away: every request and sweep fails) is logged once per
interval, with how many more there were; the lookup of a new consumer group's coordinator,
which fails harmlessly while the broker creates it, is not an error.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
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


TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"
REPEAT_INTERVAL_SECONDS = 30.0
REPEATS_KEPT = 1_000  # distinct messages remembered before those quiet for an interval are forgotten


class Repeats(logging.Filter):
    """Lets a warning or error through once per ``interval`` seconds: the same message (logger and
    format) again within it is counted and left out, and the next one let through says how many."""

    def __init__(self, interval: float = REPEAT_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval, self.clock = interval, clock
        self._last: dict[tuple[str, str], tuple[float, int]] = {}  # (logger, format) -> (let through at, left out)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key, now = (record.name, str(record.msg)), self.clock()
        if len(self._last) > REPEATS_KEPT:  # messages formatted before logging never repeat as one key
            self._last = {k: seen for k, seen in self._last.items() if now - seen[0] < self.interval}
        let_through, left_out = self._last.get(key, (None, 0))
        if let_through is not None and now - let_through < self.interval:
            self._last[key] = (let_through, left_out + 1)
            return False
        self._last[key] = (now, 0)
        if left_out:
            record.msg = f"{record.msg} (and {left_out} more like it in the {self.interval:.0f} s before)"
        return True


class CoordinatorLookupRetried(logging.Filter):
    """aiokafka logs a failed lookup of the group's coordinator as an error, and retries it: a
    fresh worker meets one while the broker sets its group up. A retried lookup is information."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and str(record.msg).startswith("Group Coordinator Request failed"):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = f"{record.msg} (retried: a new group's coordinator takes a moment)"
        return True


def handler(log_format: str) -> logging.Handler:
    """A handler to stdout in ``log_format`` (text with timestamps, or JSON), repeats left out."""
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    out.addFilter(Repeats())
    return out


def quiet_harmless_errors() -> None:
    logging.getLogger("aiokafka.consumer.group_coordinator").addFilter(CoordinatorLookupRetried())


def configure(log_format: str, level: str) -> None:
    """A process's logging (the gateway's): every record timestamped, in ``log_format``."""
    root = logging.getLogger()
    root.handlers[:] = [handler(log_format)]
    root.setLevel(level.upper())
    quiet_harmless_errors()


@contextmanager
def startup_logging(log_format: str, level: str) -> Iterator[None]:
    """Log what happens before faust sets up its logging (the rule set read at start), in the
    format the worker logs in; faust's own handlers take over after."""
    started = handler(log_format)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(started)
    root.setLevel(level.upper())
    try:
        yield
    finally:
        root.removeHandler(started)
        root.setLevel(previous)


def logging_config(log_format: str, level: str) -> dict[str, Any] | None:
    """A ``logging.config`` dict for ``faust.Worker``; None keeps faust's own text format."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"repeats": {"()": Repeats}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["repeats"],
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
    }

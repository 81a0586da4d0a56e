"""JSON log lines: the ids a record carries, no more."""

from __future__ import annotations

import logging
import sys

import orjson

from ctxi.streams.logs import REPEATS_KEPT, CoordinatorLookupRetried, JsonFormatter, Repeats, logging_config


def record(**extra: object) -> logging.LogRecord:
    entry = logging.LogRecord(
        "ctxi.agents.ingest", logging.WARNING, __file__, 1, "dead letter from %s", ("t[0]@5",), None
    )
    entry.__dict__.update(extra)
    return entry


def test_a_line_has_time_level_logger_message_and_the_ids_given() -> None:
    line = orjson.loads(JsonFormatter().format(record(event_id="evt-1", customer_id="C-1", payload="secret")))
    assert line["level"] == "warning" and line["logger"] == "ctxi.agents.ingest"
    assert line["message"] == "dead letter from t[0]@5"
    assert (line["event_id"], line["customer_id"]) == ("evt-1", "C-1")
    assert "payload" not in line and line["time"].endswith("+00:00")


def test_an_exception_is_kept_as_text() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        entry = record()
        entry.exc_info = sys.exc_info()
    assert "ValueError: boom" in orjson.loads(JsonFormatter().format(entry))["error"]


def test_text_keeps_fausts_format_and_json_configures_the_root_logger() -> None:
    assert logging_config("text", "info") is None
    config = logging_config("json", "info")
    assert config is not None and config["root"]["level"] == "INFO"
    assert config["formatters"]["json"]["()"] is JsonFormatter
    assert config["handlers"]["default"]["formatter"] == "json"


def failing(message: str = "task store unreachable on %s %s: %s", name: str = "ctxi.gateway.app") -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, ("GET", "/api/tasks", "refused"), None)


def test_a_repeated_failure_is_logged_once_an_interval_with_how_many_more() -> None:
    now = [0.0]
    repeats = Repeats(interval=30.0, clock=lambda: now[0])
    assert repeats.filter(failing())
    let_through = []
    for tick in range(1, 91):  # three a second while Redis is away, for 30 s
        now[0] = tick / 3
        entry = failing()
        if repeats.filter(entry):
            let_through.append((now[0], entry.getMessage()))
    assert let_through == [
        (30.0, "task store unreachable on GET /api/tasks: refused (and 89 more like it in the 30 s before)")
    ]
    assert repeats.filter(failing(message="sweeping queue %s failed: %s"))  # another message: its own count
    info = logging.LogRecord("ctxi.gateway.app", logging.INFO, __file__, 1, "started", (), None)
    assert all(repeats.filter(info) for _ in range(3))  # information is never held back


def test_a_retried_coordinator_lookup_is_information_not_an_error() -> None:
    entry = logging.LogRecord(
        "aiokafka.consumer.group_coordinator",
        logging.ERROR,
        __file__,
        1,
        "Group Coordinator Request failed: %s",
        ("[Error 15] GroupCoordinatorNotAvailableError",),
        None,
    )
    assert CoordinatorLookupRetried().filter(entry)
    assert (entry.levelno, entry.levelname) == (logging.INFO, "INFO")
    other = logging.LogRecord("aiokafka.consumer.group_coordinator", logging.ERROR, __file__, 1, "boom", (), None)
    assert CoordinatorLookupRetried().filter(other) and other.levelno == logging.ERROR


def test_messages_quiet_for_an_interval_are_forgotten_once_many_are_remembered() -> None:
    now = [0.0]
    repeats = Repeats(interval=30.0, clock=lambda: now[0])
    for n in range(REPEATS_KEPT + 1):  # messages formatted before logging: each its own key
        assert repeats.filter(failing(message=f"failed {n}"))
    now[0] = 31.0
    assert repeats.filter(failing(message="once more"))
    assert len(repeats._last) == 1  # only the message of this interval is kept

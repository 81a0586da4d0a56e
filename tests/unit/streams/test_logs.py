"""JSON log lines: the ids a record carries, no more."""

from __future__ import annotations

import logging
import sys

import orjson

from ctxi.streams.logs import JsonFormatter, logging_config


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

"""Read events from a JSONL file, one event per line, each judged by :func:`validate_event`;
and where a line would go as a source system's message (``ctxi events produce``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import orjson

from ctxi.ingest.validation import DEFAULT_TIME_WINDOW, validate_event
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.schemas.events import SOURCES, Event
from ctxi.settings import EventTimeWindow


class JsonlRecord(NamedTuple):
    origin: FileOrigin
    raw: bytes
    outcome: Event | DeadLetter


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of ``path`` with their line numbers, without line endings."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield number, line


def read_jsonl(path: Path, window: EventTimeWindow = DEFAULT_TIME_WINDOW) -> Iterator[JsonlRecord]:
    """Each non-blank line of ``path``, with where it came from and what it became."""
    for number, line in numbered_lines(path):
        origin = FileOrigin(path=str(path), line=number)
        yield JsonlRecord(origin, line, validate_event(line, origin, window=window))


def route_line(
    line: bytes, input_topic: Callable[[str], str], forced_topic: str | None
) -> tuple[str | None, bytes | None]:
    """The topic a raw line goes to as its source system's message, and its key (the customer).

    A line whose ``type`` names a known source goes to that source's input topic (``crm.*``
    to ``input_topic("crm")``); ``forced_topic``, when given, takes every line, readable or
    not. None: no topic (a line without a known source and no ``forced_topic``)."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        return forced_topic, None
    customer_id = document.get("customer_id")
    key = customer_id.encode() if isinstance(customer_id, str) else None
    if forced_topic is not None:
        return forced_topic, key
    source = str(document.get("type", "")).partition(".")[0]
    return (input_topic(source) if source in SOURCES else None), key

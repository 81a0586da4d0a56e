"""Read events from a JSONL file, one event per line, each judged by :func:`validate_event`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ctxi.ingest.validation import DEFAULT_TIME_WINDOW, EventTimeWindow, validate_event
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.schemas.events import Event


class JsonlRecord(NamedTuple):
    origin: FileOrigin
    raw: bytes
    outcome: Event | DeadLetter


def read_jsonl(path: Path, window: EventTimeWindow = DEFAULT_TIME_WINDOW) -> Iterator[JsonlRecord]:
    """Each non-blank line of ``path``, with where it came from and what it became."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                origin = FileOrigin(path=str(path), line=number)
                yield JsonlRecord(origin, line, validate_event(line, origin, window=window))

"""Read events from a JSONL file, one event per line, each judged by :func:`validate_event`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ctxi.ingest.validation import validate_event
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.schemas.events import Event


def read_jsonl(path: Path) -> Iterator[Event | DeadLetter]:
    """Yield each non-blank line of ``path`` as an event or a dead letter (origin ``path:line``)."""
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield validate_event(line, FileOrigin(path=str(path), line=number))

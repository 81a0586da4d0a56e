"""The dead-letter record: unusable input kept with the reason and where it came from."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from ctxi.schemas.common import Timestamp

MAX_ORIGINAL_BYTES = 128 * 1024
"""What a dead letter keeps of its input: with JSON's escapes it still fits in one Kafka message."""


class KafkaOrigin(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["kafka"] = "kafka"
    topic: str
    partition: int
    offset: int
    key: str | None = None

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class FileOrigin(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["file"] = "file"
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


Origin = Annotated[KafkaOrigin | FileOrigin, Field(discriminator="kind")]


class FieldError(BaseModel):
    """One thing wrong with the input: where (a dotted path, empty for the whole input) and what."""

    model_config = ConfigDict(frozen=True)
    loc: str
    type: str
    msg: str


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: str
    errors: list[FieldError]
    original: str = Field(description="The input as it came (its first MAX_ORIGINAL_BYTES bytes).")
    original_encoding: Literal["utf-8", "base64"]
    original_bytes: int | None = Field(None, description="The input's size, when ``original`` is cut short.")
    origin: Origin
    event_id: str | None = None
    event_type: str | None = None
    rejected_at: Timestamp


def processing_failure(raw: bytes, origin: Origin, error: Exception, *, now: datetime | None = None) -> DeadLetter:
    """A valid event the engine failed on (a bug, not bad input): kept, with the error, for a replay."""
    return refused(raw, origin, "processing_error", f"processing failed: {type(error).__name__}: {error}", now=now)


def refused(raw: bytes, origin: Origin, kind: str, reason: str, *, now: datetime | None = None) -> DeadLetter:
    """A message that is well-formed but refused for ``reason`` (its error's type: ``kind``)."""
    return dead_letter(raw, origin, [FieldError(loc="", type=kind, msg=reason)], reason, now)


def dead_letter(raw: bytes, origin: Origin, errors: list[FieldError], reason: str, now: datetime | None) -> DeadLetter:
    event_id, event_type = _identity(raw)
    kept = raw[:MAX_ORIGINAL_BYTES]
    try:
        original, encoding = kept.decode("utf-8", "replace" if len(kept) < len(raw) else "strict"), "utf-8"
    except UnicodeDecodeError:
        original, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    return DeadLetter(
        reason=reason,
        errors=errors,
        original=original,
        original_encoding=encoding,
        original_bytes=len(raw) if len(kept) < len(raw) else None,
        origin=origin,
        event_id=event_id,
        event_type=event_type,
        rejected_at=now or datetime.now(UTC),
    )


def _identity(raw: bytes) -> tuple[str | None, str | None]:
    """Best-effort event_id and type of a rejected message, to help whoever triages it."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    event_id, event_type = document.get("event_id"), document.get("type")
    return (
        event_id if isinstance(event_id, str) else None,
        event_type if isinstance(event_type, str) else None,
    )

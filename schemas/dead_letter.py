"""The dead-letter record: unusable input kept with the reason and where it came from."""

from __future__ import annotations

from typing import Annotated, Literal

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

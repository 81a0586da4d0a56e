"""The dead-letter record: unusable input kept with the reason and where it came from."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ctxi.schemas.common import Timestamp


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
    original: str
    original_encoding: Literal["utf-8", "base64"]
    origin: Origin
    event_id: str | None = None
    event_type: str | None = None
    rejected_at: Timestamp

"""faust codecs that carry ctxi's pydantic models over Kafka as JSON.

Decoding goes straight from bytes through pydantic's JSON validator; encoding goes
through orjson (see docs/benchmarks.md for the measurements behind both choices).
Topics name a codec with ``value_serializer="ctxi_event"`` and the agents see typed models.
"""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs
from pydantic import TypeAdapter

from ctxi.schemas.dead_letter import DeadLetter
from ctxi.schemas.events import EVENT_ADAPTER
from ctxi.schemas.task import Task

EVENT_CODEC = "ctxi_event"
DEAD_LETTER_CODEC = "ctxi_dead_letter"
TASK_CODEC = "ctxi_task"


def dumps_model(adapter: TypeAdapter[Any], value: Any) -> bytes:
    """Serialize a model (or anything ``adapter`` describes) to compact JSON bytes."""
    return orjson.dumps(adapter.dump_python(value))


class PydanticCodec(codecs.Codec):
    """A faust codec for the values one pydantic :class:`TypeAdapter` describes."""

    def __init__(self, children: tuple[codecs.CodecT, ...] | None = None, *, adapter: TypeAdapter[Any]) -> None:
        super().__init__(children, adapter=adapter)
        self.adapter = adapter

    def _dumps(self, value: Any) -> bytes:
        return dumps_model(self.adapter, value)

    def _loads(self, data: bytes) -> Any:
        return self.adapter.validate_json(data)


codecs.register(EVENT_CODEC, PydanticCodec(adapter=EVENT_ADAPTER))
codecs.register(DEAD_LETTER_CODEC, PydanticCodec(adapter=TypeAdapter(DeadLetter)))
codecs.register(TASK_CODEC, PydanticCodec(adapter=TypeAdapter(Task)))

"""faust codecs that carry ctxi's pydantic models over Kafka as JSON.

Decoding goes straight from bytes through pydantic's JSON validator; encoding is
:func:`ctxi.schemas.encoding.dumps_model`.
Topics name a codec with ``value_serializer="ctxi_event"`` and the agents see typed models.
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs
from pydantic import TypeAdapter

from ctxi.context.fleet import FleetIndex
from ctxi.context.state import CustomerContext
from ctxi.engine.pipeline import ROUTED_ADAPTER, EnrichedEvent
from ctxi.features.entities import EntityFeatureRow
from ctxi.rules.publish import PublishedPack
from ctxi.rules.snooze import Snooze
from ctxi.schemas.dead_letter import DeadLetter
from ctxi.schemas.encoding import dumps_model
from ctxi.schemas.events import EVENT_ADAPTER
from ctxi.schemas.task import Task, TaskClosure, TaskOutcome

EVENT_CODEC = "ctxi_event"
ROUTED_CODEC = "ctxi_routed"  # everything on the by-customer topic (engine/pipeline.py Routed)
DEAD_LETTER_CODEC = "ctxi_dead_letter"
TASK_CODEC = "ctxi_task"
CONTEXT_CODEC = "ctxi_context"
FLEET_INDEX_CODEC = "ctxi_fleet_index"
ENTITY_FEATURE_CODEC = "ctxi_entity_feature"
ENRICHED_CODEC = "ctxi_enriched"
PUBLISHED_PACK_CODEC = "ctxi_published_pack"
SNOOZE_CODEC = "ctxi_snooze"
OUTCOME_CODEC = "ctxi_outcome"
CLOSURE_CODEC = "ctxi_closure"


class PydanticCodec(codecs.Codec):
    """A faust codec for the values one pydantic :class:`TypeAdapter` describes."""

    def __init__(
        self,
        children: tuple[codecs.CodecT, ...] | None = None,
        *,
        adapter: TypeAdapter[Any],
        state: bool = False,
    ) -> None:
        super().__init__(children, adapter=adapter, state=state)
        self.adapter = adapter
        self.state = state

    def _dumps(self, value: Any) -> bytes:
        return dumps_model(self.adapter, value, state=self.state)

    def _loads(self, data: bytes) -> Any:
        return self.adapter.validate_json(data)


# Messages others read carry every field; table state is written compact (dumps_model).
for _name, _codec in {
    EVENT_CODEC: PydanticCodec(adapter=EVENT_ADAPTER),
    ROUTED_CODEC: PydanticCodec(adapter=ROUTED_ADAPTER),
    DEAD_LETTER_CODEC: PydanticCodec(adapter=TypeAdapter(DeadLetter)),
    TASK_CODEC: PydanticCodec(adapter=TypeAdapter(Task)),
    ENRICHED_CODEC: PydanticCodec(adapter=TypeAdapter(EnrichedEvent)),
    PUBLISHED_PACK_CODEC: PydanticCodec(adapter=TypeAdapter(PublishedPack)),
    SNOOZE_CODEC: PydanticCodec(adapter=TypeAdapter(Snooze)),
    OUTCOME_CODEC: PydanticCodec(adapter=TypeAdapter(TaskOutcome)),
    CLOSURE_CODEC: PydanticCodec(adapter=TypeAdapter(TaskClosure)),
    CONTEXT_CODEC: PydanticCodec(adapter=TypeAdapter(CustomerContext), state=True),
    FLEET_INDEX_CODEC: PydanticCodec(adapter=TypeAdapter(FleetIndex), state=True),
    ENTITY_FEATURE_CODEC: PydanticCodec(adapter=TypeAdapter(EntityFeatureRow), state=True),
}.items():
    codecs.register(_name, _codec)

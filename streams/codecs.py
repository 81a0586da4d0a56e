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

from ctxi.context.fleet import FleetIndex
from ctxi.context.state import CustomerContext
from ctxi.engine.pipeline import ROUTED_ADAPTER, EnrichedEvent
from ctxi.features.entities import EntityFeatureRow
from ctxi.rules.publish import PublishedPack
from ctxi.rules.snooze import Snooze
from ctxi.schemas.dead_letter import DeadLetter
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


def dumps_model(adapter: TypeAdapter[Any], value: Any, *, exclude_defaults: bool = False) -> bytes:
    """Serialize a model (or anything ``adapter`` describes) to compact JSON bytes."""
    return orjson.dumps(adapter.dump_python(value, exclude_defaults=exclude_defaults))


class PydanticCodec(codecs.Codec):
    """A faust codec for the values one pydantic :class:`TypeAdapter` describes."""

    def __init__(
        self,
        children: tuple[codecs.CodecT, ...] | None = None,
        *,
        adapter: TypeAdapter[Any],
        exclude_defaults: bool = False,
    ) -> None:
        super().__init__(children, adapter=adapter, exclude_defaults=exclude_defaults)
        self.adapter = adapter
        self.exclude_defaults = exclude_defaults

    def _dumps(self, value: Any) -> bytes:
        return dumps_model(self.adapter, value, exclude_defaults=self.exclude_defaults)

    def _loads(self, data: bytes) -> Any:
        return self.adapter.validate_json(data)


# Messages others read carry every field; table state leaves out defaults (empty lists,
# nulls), which validation restores, since the changelog holds one value per customer.
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
    CONTEXT_CODEC: PydanticCodec(adapter=TypeAdapter(CustomerContext), exclude_defaults=True),
    FLEET_INDEX_CODEC: PydanticCodec(adapter=TypeAdapter(FleetIndex), exclude_defaults=True),
    ENTITY_FEATURE_CODEC: PydanticCodec(adapter=TypeAdapter(EntityFeatureRow), exclude_defaults=True),
}.items():
    codecs.register(_name, _codec)

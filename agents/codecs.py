"""The models each of the worker's codecs carries (their names: ``streams/codecs.py``),
registered with faust by :func:`register_codecs` (``agents/build.py``; also on import)."""

from __future__ import annotations

from faust.serializers import codecs
from pydantic import TypeAdapter

from ctxi.context.fleet import FleetIndex
from ctxi.engine.pipeline import ROUTED_ADAPTER, EnrichedEvent
from ctxi.features.entities import EntityFeatureRow
from ctxi.pack_tools.publish import PublishedPack
from ctxi.rules.snooze import Snooze
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.dead_letter import DeadLetter
from ctxi.schemas.events import EVENT_ADAPTER
from ctxi.schemas.task import Task, TaskClosure, TaskOutcome
from ctxi.streams.codecs import (
    CLOSURE_CODEC,
    CONTEXT_CODEC,
    DEAD_LETTER_CODEC,
    ENRICHED_CODEC,
    ENTITY_FEATURE_CODEC,
    EVENT_CODEC,
    FLEET_INDEX_CODEC,
    OUTCOME_CODEC,
    PUBLISHED_PACK_CODEC,
    ROUTED_CODEC,
    SNOOZE_CODEC,
    TASK_CODEC,
    PydanticCodec,
)

# Messages others read carry every field; table state is written compact (dumps_model).
CODECS: dict[str, PydanticCodec] = {
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
}


def register_codecs() -> None:
    """Make the codecs known to faust by name, as topics ask for them (the worker's build calls this)."""
    for name, codec in CODECS.items():
        codecs.register(name, codec)


register_codecs()  # also on import: a test or benchmark that names a codec imports the name from here

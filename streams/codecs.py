"""faust codecs that carry pydantic models over Kafka as JSON, and the names topics know them by.

Decoding goes straight from bytes through pydantic's JSON validator; encoding is
:func:`ctxi.schemas.encoding.dumps_model`. Topics name a codec with
``value_serializer="ctxi_event"``; which model each name carries is registered by the
agents (``agents/codecs.py``), so this plumbing knows no stage.
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs
from pydantic import TypeAdapter

from ctxi.schemas.encoding import dumps_model

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


CODEC_NAMES = (
    EVENT_CODEC,
    ROUTED_CODEC,
    DEAD_LETTER_CODEC,
    TASK_CODEC,
    CONTEXT_CODEC,
    FLEET_INDEX_CODEC,
    ENTITY_FEATURE_CODEC,
    ENRICHED_CODEC,
    PUBLISHED_PACK_CODEC,
    SNOOZE_CODEC,
    OUTCOME_CODEC,
    CLOSURE_CODEC,
)


def check_registered() -> None:
    """Raise unless every codec a worker's topics name is registered: faust would otherwise fail on
    the first message that needs a missing one, deep in an agent."""
    missing = [name for name in CODEC_NAMES if name not in codecs.codecs]
    if missing:
        raise RuntimeError(f"faust codecs not registered: {', '.join(missing)} (ctxi.agents.codecs.register_codecs)")

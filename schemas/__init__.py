"""Pydantic models of ctxi's contracts: input events, tasks and dead letters."""

from ctxi.schemas.dead_letter import DeadLetter, FileOrigin, KafkaOrigin
from ctxi.schemas.events import EVENT_ADAPTER, EVENT_MODELS, EVENT_TYPES, SOURCES, Event
from ctxi.schemas.task import Task

__all__ = [
    "EVENT_ADAPTER",
    "EVENT_MODELS",
    "EVENT_TYPES",
    "SOURCES",
    "DeadLetter",
    "Event",
    "FileOrigin",
    "KafkaOrigin",
    "Task",
]

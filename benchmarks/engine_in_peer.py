"""An experiment for issue 30: ctxi's engine hosted in the peer library instead of faust.

A Quix Streams app (the peer's library, ``benchmarks/peer_quix.py``) reads the input topics and
runs every message through what a ctxi worker runs: ingest's validation, then the engine
(``Engine.handle``: join, enrichers, features, the built-in rules, deadlines), with forwards
(fleet fan-outs, index entries) handled at once as replay does; the customer's context is
written to the app's RocksDB state per message, as the worker's table writes it to its
changelog. It produces one summary message per input. Set beside the bare engine (replay) and
the ctxi worker on faust, it measures what faust's consumption path costs ctxi, not guessed.

It needs ctxi and Quix Streams in one interpreter: ``.venv-peer``, where scripts/setup installs
ctxi too (ctxi runs on the peer's older pydantic). ``python -m ctxi.benchmarks.peer_experiment``
runs it beside the others; this module is what that starts, with the peer's arguments
(``--servers S --app-id A --output O --state-dir D TOPIC...``).

What it leaves out, so that it measures the engine on the peer's I/O and no more: the fleet
index and entity rows stay in memory (not state), a forward to another customer is handled in
this process (a worker sends it through the by-customer topic), and tasks go to the output
topic, not Redis.
"""

from __future__ import annotations

from collections import deque

import orjson
from pydantic import TypeAdapter
from quixstreams import State

from ctxi.benchmarks.peer_quix import run_app
from ctxi.engine.pipeline import Engine, Message
from ctxi.ingest import validate_event
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.dead_letter import DeadLetter, KafkaOrigin
from ctxi.schemas.encoding import dumps_model
from ctxi.settings import EngineConfig

QUEUES = frozenset({"fraud", "travel", "service"})


class HostedEngine:
    """The engine over in-memory tables, each message's customer row kept in the app's state."""

    def __init__(self) -> None:
        self.engine = Engine(EngineConfig(), {}, {}, rules=RuleSet(load_rule_dir(BUILTIN_PACKS, QUEUES)))

    def handle(self, value: bytes, state: State, topic: str) -> bytes:
        event = validate_event(value, KafkaOrigin(topic=topic, partition=0, offset=0))
        if isinstance(event, DeadLetter):
            return orjson.dumps({"dead_letter": event.reason})
        tasks, pending = 0, deque[Message]([event])
        while pending:
            output = self.engine.handle(pending.popleft())
            pending.extend(output.forwards)
            tasks += len(output.decisions)
        context = self.engine.contexts.get(event.customer_id) if event.customer_id else None
        if context is not None:  # the write a worker's table makes to its changelog
            state.set("context", dumps_model(_CONTEXT, context, state=True).decode())  # state values are JSON
        return orjson.dumps({"event_id": event.event_id, "tasks": tasks})


_CONTEXT = TypeAdapter(CustomerContext)


if __name__ == "__main__":
    hosted = HostedEngine()
    run_app(__doc__ or "", "engine", lambda topic: lambda value, state: hosted.handle(value, state, topic))

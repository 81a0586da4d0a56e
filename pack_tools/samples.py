"""Typed sample data a rule pack is tried on before it is accepted.

One customer's day touching every event type of the contract (each type's sample is
declared with it, ``engine/event_types.py``), run through the engine
(join and enrichers, no rules): for each event type, the ``event``, ``customer`` and
``signals`` a rule triggered by it would see. Loading a pack renders every template of
every rule with the samples of its ``on`` types, so that what the sandbox forbids and
what goes past the cost limits (rule_language/sandbox.py) is an error at ``ctxi rules check``,
not on a live event. A template that needs data these samples lack (a signal a sample
does not raise) is left to run time: that is data, not a fault of the rule.
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from typing import Any

import orjson
from jinja2.sandbox import SecurityError

from ctxi.engine.pipeline import Engine
from ctxi.rule_language.sandbox import render
from ctxi.rules.evaluate import RuleVariables
from ctxi.rules.loader import CompiledRule
from ctxi.schemas.events import EVENT_ADAPTER, FleetEventEnvelope
from ctxi.settings import EngineConfig

_CUSTOMER = "C-SAMPLE"


@lru_cache(maxsize=1)
def sample_variables() -> dict[str, dict[str, Any]]:
    """Per event type, the variables a rule triggered by it sees (``event``, ``customer``, ``signals``)."""
    engine = Engine(EngineConfig(), {}, {})
    variables: dict[str, dict[str, Any]] = {}
    for index, declared in enumerate(engine.event_types.declared):
        assert declared.sample is not None  # the engine checked the declaration when it was built
        document = {
            "event_id": f"sample-{index}",
            "type": declared.name,
            "occurred_at": declared.sample.at,
            "payload": declared.sample.payload,
        }
        if not issubclass(declared.model, FleetEventEnvelope):  # fleet events reach customers by fan-out
            document["customer_id"] = _CUSTOMER
        pending: deque[Any] = deque([EVENT_ADAPTER.validate_json(orjson.dumps(document))])
        while pending:
            message = pending.popleft()
            output = engine.handle(message)
            pending.extend(output.forwards)
            if output.outcome == "joined" and output.context is not None:
                signals = output.enriched.signals if output.enriched is not None else []
                variables[message.type] = RuleVariables(message, output.context, signals).all()
    return variables


def render_problems(compiled: CompiledRule) -> list[str]:
    """What the sandbox or the cost limits refuse when ``compiled``'s templates render with the samples."""
    templates = {"title": compiled.title, "reason": compiled.reason, "dedup_key": compiled.dedup_key}
    templates.update({f"steps.{index}": step for index, step in enumerate(compiled.steps)})
    samples = sample_variables()
    problems: list[str] = []
    for field_name, template in templates.items():
        if template is None:
            continue
        for event_type in compiled.rule.on:
            try:
                render(template, samples[event_type])
            except SecurityError as exc:  # the cost limits' errors among them
                problems.append(f"{field_name} on a sample {event_type}: {exc}")
                break
            except Exception:  # data the samples lack: the rule's to meet at run time
                continue
    return problems

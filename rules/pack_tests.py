"""Run the test cases a pack carries: given these events, expect exactly these tasks."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from ctxi.context.fleet import FleetIndex, FleetIndexEntry
from ctxi.context.state import CustomerContext
from ctxi.engine.config import EngineConfig
from ctxi.engine.pipeline import Engine
from ctxi.ingest import validate_event
from ctxi.rules.evaluate import RuleSet
from ctxi.rules.loader import LoadedPacks
from ctxi.rules.model import Pack, RuleTest
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.schemas.events import Event


@dataclass(frozen=True)
class PackTestResult:
    pack: str
    name: str
    passed: bool
    detail: str


def run_pack_tests(loaded: LoadedPacks, config: EngineConfig) -> list[PackTestResult]:
    """Each pack's tests against that pack's rules alone (other teams' rules do not interfere)."""
    results = []
    for pack in loaded.packs:
        own = LoadedPacks(
            packs=[pack],
            rules=[r for r in loaded.rules if r.pack == pack.pack],
            files={pack.pack: loaded.files[pack.pack]},
        )
        rules = RuleSet(own)
        results += [_run(pack, test, rules, config) for test in pack.tests]
    return results


def _run(pack: Pack, test: RuleTest, rules: RuleSet, config: EngineConfig) -> PackTestResult:
    events: list[Event] = []
    for index, document in enumerate(test.events, start=1):
        outcome = validate_event(orjson.dumps(document), FileOrigin(path=f"{pack.pack}: {test.name}", line=index))
        if isinstance(outcome, DeadLetter):
            return PackTestResult(pack.pack, test.name, False, f"event {index} is invalid: {outcome.reason}")
        events.append(outcome)
    contexts: dict[str, CustomerContext] = {}
    index: dict[str, FleetIndex] = {}
    engine = Engine(config, contexts, index, rules=rules)
    got: list[tuple[str, str, str]] = []
    pending: list[Event | FleetIndexEntry] = sorted(events, key=lambda event: event.occurred_at)
    while pending:
        output = engine.handle(pending.pop(0))
        pending[:0] = output.forwards
        # a shadow rule decides as it would live; only where its task goes differs
        got += [(d.task.queue, d.task.action, d.task.customer_id) for d in output.decisions]
    expected = [(e.queue, e.action, e.customer_id) for e in test.expect]
    matched = sorted((q, a) for q, a, _ in got) == sorted((q, a) for q, a, _ in expected) and all(
        any((q, a) == (gq, ga) and (c is None or c == gc) for gq, ga, gc in got) for q, a, c in expected
    )
    detail = "ok" if matched else f"expected {_show(expected)}, got {_show(got)}"
    return PackTestResult(pack.pack, test.name, matched, detail)


def _show(tasks: list[tuple[str, str, str | None]]) -> str:
    return "no task" if not tasks else ", ".join(f"{q}/{a}" + (f" for {c}" if c else "") for q, a, c in tasks)

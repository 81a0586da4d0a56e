"""Run the test cases a pack carries: given these events, expect exactly these tasks."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from ctxi.context.fleet import FleetIndex
from ctxi.engine.pipeline import Engine, Message
from ctxi.ingest import validate_event
from ctxi.rule_language.model import Pack, RuleTest
from ctxi.rules.evaluate import RuleSet
from ctxi.rules.loader import LoadedPacks
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.schemas.events import Event
from ctxi.schemas.task import Task
from ctxi.settings import EngineConfig


@dataclass(frozen=True)
class PackTestResult:
    pack: str
    name: str
    passed: bool
    detail: str


def run_pack_tests(loaded: LoadedPacks, config: EngineConfig) -> list[PackTestResult]:
    """Each pack's tests against that pack's rules alone (other teams' rules do not interfere), or,
    for a test ``with_set``, against every pack of ``loaded``; every pack's features are there,
    since features raise no task and a rule may read another pack's."""
    results = []
    whole = RuleSet(loaded) if any(test.with_set for pack in loaded.packs for test in pack.tests) else None
    for pack in loaded.packs:
        own = LoadedPacks(
            packs=[pack],
            rules=[r for r in loaded.rules if r.pack == pack.pack],
            features=loaded.features,
            files={pack.pack: loaded.files[pack.pack]},
            reference=loaded.reference,
        )
        rules = RuleSet(own)
        results += [_run(pack, test, whole if test.with_set and whole else rules, config) for test in pack.tests]
    return results


def _run(pack: Pack, test: RuleTest, rules: RuleSet, config: EngineConfig) -> PackTestResult:
    events: list[Event] = []
    for number, document in enumerate(test.events, start=1):
        outcome = validate_event(orjson.dumps(document), FileOrigin(path=f"{pack.pack}: {test.name}", line=number))
        if isinstance(outcome, DeadLetter):
            return PackTestResult(pack.pack, test.name, False, f"event {number} is invalid: {outcome.reason}")
        events.append(outcome)
    contexts: dict[str, CustomerContext] = {}
    index: dict[str, FleetIndex] = {}
    engine = Engine(config, contexts, index, rules=rules)
    # an update inside the cool-down (same task_id, next revision) is the same task: keep its latest
    got: dict[str, Task] = {}
    in_time_order = sorted(events, key=lambda event: event.occurred_at)
    pending: list[Message] = list(in_time_order)
    while pending:
        output = engine.handle(pending.pop(0))
        pending[:0] = output.forwards
        # a shadow rule decides as it would live; only where its task goes differs
        got.update((d.task.task_id, d.task) for d in output.decisions)
        decided = {d.task.task_id for d in output.decisions}
        for closure in output.closures:  # superseded, as the sink closes them: no longer open
            for task_id in [
                task_id
                for task_id, task in got.items()
                if task_id not in decided
                and task.customer_id == closure.customer_id
                and task.action in closure.actions
                and task.created_at <= closure.at
            ]:
                del got[task_id]
    unmatched = list(got.values())
    missing = []
    # the most specific expectations first, so a loose one never takes the task a strict one needs
    for expectation in sorted(test.expect, key=lambda e: -len(e.model_dump(exclude_none=True))):
        match = next((task for task in unmatched if expectation.matches(task)), None)
        if match is None:
            missing.append(expectation.describe())
        else:
            unmatched.remove(match)
    if not missing and not unmatched:
        return PackTestResult(pack.pack, test.name, True, "ok")
    problems = [f"no task {what}" for what in missing] + [f"unexpected {_show(task)}" for task in unmatched]
    tasks = ", ".join(_show(task) for task in got.values()) or "no task"
    return PackTestResult(pack.pack, test.name, False, f"{'; '.join(problems)} (got: {tasks})")


def _show(task: Task) -> str:
    facts = [f"priority {task.priority}"]
    if task.not_before is not None:
        facts.append(f"deferred to {task.not_before.isoformat()}")
    if task.channel:
        facts.append(f"by {task.channel}")
    if task.revision > 1:
        facts.append(f"revision {task.revision}")
    return f"{task.queue}/{task.action} for {task.customer_id} ({', '.join(facts)})"

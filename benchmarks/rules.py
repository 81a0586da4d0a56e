"""Cost of rule evaluation: µs per evaluated rule, and what indexing by event type saves.

Run: python benchmarks/rules.py [--customers 1000] [--events-per-customer 40] [--repeats 5]

Replays the synthetic stream of ``benchmarks/engine.py`` through the engine with the
built-in packs, and times ``RuleSet.evaluate`` alone (the CEL context built once per
event, each indexed rule's condition, the tasks of the rules that fire). Then the same
events against every enabled rule, as if there were no index, to show what the index saves.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

from ctxi.benchmarks.engine import generate
from ctxi.engine.event_types import builtin_event_types
from ctxi.enrichers.registry import enrichers_for, load_builtin_enrichers
from ctxi.ingest import validate_event
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.schemas.events import Event
from ctxi.schemas.signals import Signal
from ctxi.settings import EngineConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--events-per-customer", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # without the index, rules meet events they cannot read: quietly

    config = EngineConfig()
    load_builtin_enrichers()
    rules = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset({"fraud", "travel", "service"})))
    # Join and enrich once; the benchmark then times only the rules, on fixed inputs.
    inputs: list[tuple[Event, CustomerContext, list[Signal]]] = []
    contexts: dict[str, CustomerContext] = {}
    for raw in generate(args.customers, args.events_per_customer, seed=1):
        event = validate_event(raw, FileOrigin(path="bench", line=0))
        assert not isinstance(event, DeadLetter), event.reason  # generated events are valid
        if event.customer_id is None:
            continue  # fleet events reach rules only once fanned out; the engine benchmark covers that
        result = builtin_event_types().join(contexts.get(event.customer_id), event, config)
        contexts[event.customer_id] = result.context
        signals = [s for e in enrichers_for(event.type) for s in e.function(event, result.context, config)]
        inputs.append((event, result.context.model_copy(deep=True), signals))

    everything = [rule for rule in rules.loaded.rules if rule.rule.enabled]

    class Unindexed(RuleSet):
        def rules_for(self, event_type: str):
            return tuple(everything)

    unindexed = Unindexed(rules.loaded)
    for name, rule_set in (("indexed by event type", rules), ("no index (every rule on every event)", unindexed)):
        timings, evaluated, fired = [], 0, 0
        for _ in range(args.repeats):
            evaluated = fired = 0
            started = time.perf_counter()
            for event, context, signals in inputs:
                outcome = rule_set.evaluate(event, context.model_copy(), signals, config)
                evaluated += outcome.evaluated
                fired += len(outcome.decisions)
            timings.append(time.perf_counter() - started)
        seconds = statistics.median(timings)
        print(
            f"{name}: {len(inputs)} events, {evaluated} rule evaluations, {fired} fired; "
            f"median {seconds:.3f}s = {seconds / len(inputs) * 1e6:.1f} µs/event, "
            f"{seconds / max(evaluated, 1) * 1e6:.1f} µs per evaluated rule"
        )


if __name__ == "__main__":
    main()

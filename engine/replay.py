"""``ctxi replay``: the whole engine in one process, no Kafka or Redis, in event-time order.

Its clock is the events' own time, so a replay is deterministic: the same file gives the
same output. It runs :class:`~ctxi.engine.pipeline.Engine` exactly as the stream worker
does, with dicts for the faust tables and an in-process queue for the by-customer topic.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctxi.context.fleet import FleetIndex
from ctxi.context.state import CustomerContext
from ctxi.engine.pipeline import Engine, EnrichedEvent, Message
from ctxi.features.entities import EntityFeatureRow
from ctxi.ingest import DEFAULT_TIME_WINDOW, EventTimeWindow, JsonlRecord, processing_failure, read_jsonl
from ctxi.rules.evaluate import Decision, RuleSet
from ctxi.rules.explain import Explanation
from ctxi.rules.snooze import Snoozes
from ctxi.schemas.dead_letter import DeadLetter
from ctxi.schemas.task import TaskClosure, TaskOutcome
from ctxi.service_levels.policy import LoadedPolicy
from ctxi.settings import EngineConfig

PROGRESS_EVERY_SECONDS = 5.0
logger = logging.getLogger(__name__)


@dataclass
class ReplaySummary:
    events: int = 0
    rejected: int = 0
    failed: int = 0
    published: int = 0
    closures: int = 0
    signals: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    fired: Counter[tuple[str, int]] = field(default_factory=Counter)
    shadow_fired: Counter[tuple[str, int]] = field(default_factory=Counter)
    samples: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    rule_failures: Counter[tuple[str, int]] = field(default_factory=Counter)
    feature_failures: Counter[str] = field(default_factory=Counter)
    failure_samples: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    contexts: dict[str, CustomerContext] = field(default_factory=dict)
    entity_features: dict[str, EntityFeatureRow] = field(default_factory=dict)

    def lines(self) -> list[str]:
        rate = self.events / self.seconds if self.seconds else 0.0
        signals = ", ".join(f"{kind} {count}" for kind, count in sorted(self.signals.items())) or "none"
        return [
            f"replayed {self.events} events for {len(self.contexts)} customers "
            f"in {self.seconds:.2f}s ({rate:,.0f} events/s)",
            f"rejected lines: {self.rejected}; failed in the engine: {self.failed}; "
            f"rule failures: {sum(self.rule_failures.values())}; "
            + (f"feature failures: {sum(self.feature_failures.values())}; " if self.feature_failures else "")
            + (
                f"entity rows dropped at CTXI_ENGINE__MAX_ENTITY_ROWS: {self.outcomes['entity_rows_evicted']}; "
                if self.outcomes["entity_rows_evicted"]
                else ""
            )
            + f"duplicates: {self.outcomes['duplicate']}; "
            f"late: {self.outcomes['late']}; fleet events fanned out: {self.outcomes['fanned_out']}",
            f"published {self.published} enriched events; signals: {signals}",
            f"closures (tasks superseded by newer facts): {self.closures}",
            *self.rule_report(),
        ]

    def sample_failure(self, key: tuple[str, Any], message: str) -> None:
        failures = self.failure_samples.setdefault(key, [])
        if len(failures) < 3 and message not in failures:
            failures.append(message)

    def rule_report(self) -> list[str]:
        """Per rule: how often it fired (shadow rules apart) and sample task titles: the backtest."""
        lines = []
        for key in sorted(set(self.fired) | set(self.shadow_fired) | set(self.rule_failures)):
            rule_id, version = key
            shadow = " (shadow: not sent to desktops)" if key in self.shadow_fired else ""
            count = self.fired[key] + self.shadow_fired[key]
            failed = f"; FAILED {self.rule_failures[key]} time(s)" if key in self.rule_failures else ""
            lines.append(f"rule {rule_id} v{version}: fired {count} time(s){shadow}{failed}")
            lines += [f"    e.g. {title}" for title in self.samples.get(key, [])]
            lines += [f"    failed: {message}" for message in self.failure_samples.get(key, [])]
        for feature_id, count in sorted(self.feature_failures.items()):
            lines.append(f"feature {feature_id}: FAILED {count} time(s)")
            lines += [f"    failed: {message}" for message in self.failure_samples.get(("feature", feature_id), [])]
        return lines


def replay(
    paths: Iterable[Path],
    config: EngineConfig,
    publish: Callable[[EnrichedEvent], None],
    dead_letter: Callable[[DeadLetter], None],
    progress: Callable[[str], None] | None = None,
    rules: RuleSet | None = None,
    decide: Callable[[Decision], None] | None = None,
    snoozes: Snoozes | None = None,
    close: Callable[[TaskClosure], None] | None = None,
    window: EventTimeWindow = DEFAULT_TIME_WINDOW,
    service_levels: LoadedPolicy | None = None,
    outcomes: Iterable[TaskOutcome] = (),
    explain: tuple[str, Callable[[Explanation], None]] | None = None,
) -> ReplaySummary:
    """Replay event files through the engine.

    ``publish`` gets every enriched event, ``decide`` every task a rule proposes (active
    and shadow), ``close`` every closure of superseded tasks, in event-time order;
    ``dead_letter`` every line ingest refuses (``window``: the event times it believes);
    ``service_levels`` give the tasks their deadlines, as a worker's do; ``outcomes``, what
    agents did with earlier tasks, are counted for rules with ``learn_priority`` once their
    time (``at``) has come, as a worker counts them when it reads them; ``explain`` (a rule id
    and a callback) gets the explanation of each evaluation of that rule (rules/explain.py).
    """
    started = time.perf_counter()
    summary = ReplaySummary()
    records: list[JsonlRecord] = []
    for path in paths:
        for record in read_jsonl(path, window):
            if isinstance(record.outcome, DeadLetter):
                summary.rejected += 1
                dead_letter(record.outcome)
            else:
                records.append(record)
    records.sort(key=lambda record: record.outcome.occurred_at)  # stable: ties keep file order

    fleet_index: dict[str, FleetIndex] = {}
    engine = Engine(
        config,
        summary.contexts,
        fleet_index,
        rules=rules,
        service_levels=service_levels,
        snoozes=snoozes or Snoozes(),
        entity_features=summary.entity_features,
        explain_rule=explain[0] if explain else None,
    )
    reported = deque(sorted(outcomes, key=lambda outcome: outcome.at))
    last_report = time.perf_counter()
    for count, record in enumerate(records, start=1):
        while reported and reported[0].at <= record.outcome.occurred_at:
            engine.count_outcome(reported.popleft())
        # Forwards (index entries, fanned-out copies) are handled at once, in event time,
        # where a worker would see them a moment later on the by-customer topic.
        pending: deque[Message] = deque([record.outcome])
        while pending:
            try:
                output = engine.handle(pending.popleft())
            except Exception as error:  # a bug must not end the run or lose the event
                logger.exception("engine failed on %s", record.origin)
                summary.failed += 1
                dead_letter(processing_failure(record.raw, record.origin, error))
                break
            pending.extendleft(reversed(output.forwards))
            if output.enriched is not None:
                summary.published += 1
                summary.signals.update(signal.kind for signal in output.enriched.signals)
                publish(output.enriched)
            for rule_id, version, message in output.failed_rules:
                summary.rule_failures[(rule_id, version)] += 1
                summary.sample_failure((rule_id, version), message)
            for feature_id, message in output.failed_features:
                summary.feature_failures[feature_id] += 1
                summary.sample_failure(("feature", feature_id), message)
            if explain is not None:
                for explanation in output.explanations:
                    explain[1](explanation)
            summary.closures += len(output.closures)
            if close is not None:
                for closure in output.closures:
                    close(closure)
            for decision in output.decisions:
                (summary.shadow_fired if decision.shadow else summary.fired)[decision.rule.key] += 1
                samples = summary.samples.setdefault(decision.rule.key, [])
                if len(samples) < 3:
                    samples.append(f"[{decision.task.customer_id}] {decision.task.title}")
                if decide is not None:
                    decide(decision)
        if progress is not None and time.perf_counter() - last_report >= PROGRESS_EVERY_SECONDS:
            progress(f"{count}/{len(records)} events replayed")
            last_report = time.perf_counter()
    summary.events = len(records)
    summary.outcomes = engine.counts
    summary.seconds = time.perf_counter() - started
    return summary

"""``ctxi replay``: the whole engine in one process, no Kafka or Redis, in event-time order.

Its clock is the events' own time, so a replay is deterministic: the same file gives the
same output. It runs :class:`~ctxi.engine.pipeline.Engine` exactly as the stream worker
does, with files on disk for the faust tables (``engine/rows.py``: memory does not grow with
customers) and an in-process queue for the by-customer topic.
"""

from __future__ import annotations

import gc
import heapq
import logging
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from ctxi.context.fleet import FleetIndex
from ctxi.engine.pipeline import Engine, EnrichedEvent, Message
from ctxi.engine.rows import EncodedRows, RowFile
from ctxi.features.entities import EntityFeatureRow
from ctxi.ingest import DEFAULT_TIME_WINDOW, read_jsonl, validate_event
from ctxi.rule_language.explain import Explanation
from ctxi.rules.evaluate import Decision, RuleSet
from ctxi.rules.snooze import Snoozes
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin, processing_failure
from ctxi.schemas.events import Event
from ctxi.schemas.task import TaskClosure, TaskOutcome
from ctxi.service_levels.policy import LoadedPolicy
from ctxi.settings import EngineConfig, EventTimeWindow

PROGRESS_EVERY_SECONDS = 5.0
# Events sorted in memory at a time; a longer input is sorted in runs of this many, kept on
# disk and merged, so a replay's memory does not grow with its input (about 350 MB a run).
SORT_RUN_EVENTS = 100_000
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
    failure_samples: dict[tuple[str, int | str], list[str]] = field(default_factory=dict)  # by rule, or ("feature", id)
    seconds: float = 0.0
    # the rows the engine kept, on disk in ``state`` (a temporary directory, removed with the summary)
    state: tempfile.TemporaryDirectory[str] = field(
        default_factory=lambda: tempfile.TemporaryDirectory(prefix="ctxi-replay-")
    )
    contexts: MutableMapping[str, CustomerContext] = field(init=False)
    fleet_index: MutableMapping[str, FleetIndex] = field(init=False)
    entity_features: MutableMapping[str, EntityFeatureRow] = field(init=False)
    decoded_rows: int = 10_000  # CTXI_ENGINE__DECODED_ROWS

    def __post_init__(self) -> None:
        def rows(model: type[Any], name: str) -> EncodedRows[Any]:
            return EncodedRows(model, RowFile(Path(self.state.name) / f"{name}.sqlite"), self.decoded_rows)

        self.contexts = rows(CustomerContext, "customer_context")
        self.fleet_index = rows(FleetIndex, "fleet_index")
        self.entity_features = rows(EntityFeatureRow, "entity_features")

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
    and a callback) gets the explanation of each evaluation of that rule (rule_language/explain.py).
    """
    started = time.perf_counter()
    summary = ReplaySummary(decoded_rows=config.decoded_rows)
    records = in_time_order(paths, window, summary, dead_letter, progress)
    # The events read, the rules and the caches live until the end: kept out of the garbage
    # collector's full passes, which otherwise walk them again and again (a fifth of a replay's time)
    gc.freeze()
    try:
        return _replay(
            records,
            config,
            summary,
            publish,
            dead_letter,
            progress,
            rules,
            decide,
            snoozes,
            close,
            service_levels,
            outcomes,
            explain,
            started,
        )
    finally:
        gc.unfreeze()


def _replay(
    records: Iterator[EventRecord],
    config: EngineConfig,
    summary: ReplaySummary,
    publish: Callable[[EnrichedEvent], None],
    dead_letter: Callable[[DeadLetter], None],
    progress: Callable[[str], None] | None,
    rules: RuleSet | None,
    decide: Callable[[Decision], None] | None,
    snoozes: Snoozes | None,
    close: Callable[[TaskClosure], None] | None,
    service_levels: LoadedPolicy | None,
    outcomes: Iterable[TaskOutcome],
    explain: tuple[str, Callable[[Explanation], None]] | None,
    started: float,
) -> ReplaySummary:
    engine = Engine(
        config,
        summary.contexts,
        summary.fleet_index,
        rules=rules,
        service_levels=service_levels,
        snoozes=snoozes or Snoozes(),
        entity_features=summary.entity_features,
        explain_rule=explain[0] if explain else None,
    )
    reported = deque(sorted(outcomes, key=lambda outcome: outcome.at))
    last_report = time.perf_counter()
    count = 0
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
            progress(f"{count:,}/{summary.events:,} events replayed")
            last_report = time.perf_counter()
    summary.outcomes = engine.counts
    summary.seconds = time.perf_counter() - started
    return summary


def in_time_order(
    paths: Iterable[Path],
    window: EventTimeWindow,
    summary: ReplaySummary,
    dead_letter: Callable[[DeadLetter], None],
    progress: Callable[[str], None] | None,
) -> Iterator[EventRecord]:
    """The events of ``paths`` by event time (ties in file order), each refused line given to
    ``dead_letter``; ``summary.events`` counts the events. All are read before the first is given.

    Up to :data:`SORT_RUN_EVENTS` are sorted in memory; past that, sorted runs go to files in
    ``summary.state`` as their lines and are merged, each line read again when its turn comes
    (reading a line again costs less than any form of the event kept on disk)."""
    paths = list(paths)
    runs: list[Path] = []
    run: list[EventRecord] = []

    def spill() -> None:
        run.sort(key=occurred_at)  # stable: ties keep file order
        path = Path(summary.state.name) / f"run-{len(runs)}.tsv"
        with path.open("wb") as out:
            for origin, line, _ in run:
                out.write(b"%d\t%d\t%s\n" % (paths.index(Path(origin.path)), origin.line, line))
        runs.append(path)
        run.clear()

    last_report = time.perf_counter()
    for path in paths:
        for record in read_jsonl(path, window):
            if isinstance(record.outcome, DeadLetter):
                summary.rejected += 1
                dead_letter(record.outcome)
                continue
            summary.events += 1
            run.append(EventRecord(record.origin, record.raw, record.outcome))
            if len(run) >= SORT_RUN_EVENTS:
                spill()
            if progress is not None and time.perf_counter() - last_report >= PROGRESS_EVERY_SECONDS:
                progress(f"{summary.events:,} events read from {path}")
                last_report = time.perf_counter()
    if not runs:
        run.sort(key=occurred_at)
        return iter(run)
    if run:
        spill()
    runs_read = (_read_run(run_path, paths, window) for run_path in runs)
    return heapq.merge(*runs_read, key=occurred_at)  # ties: the earlier run first


def occurred_at(record: EventRecord) -> datetime:
    return record.outcome.occurred_at


class EventRecord(NamedTuple):
    """A line of a replayed file that holds an event (the refused ones are dead letters)."""

    origin: FileOrigin
    raw: bytes
    outcome: Event


def _read_run(run: Path, paths: list[Path], window: EventTimeWindow) -> Iterator[EventRecord]:
    with run.open("rb") as lines:
        for entry in lines:
            path_index, number, line = entry.rstrip(b"\n").split(b"\t", 2)
            origin = FileOrigin(path=str(paths[int(path_index)]), line=int(number))
            event = validate_event(line, origin, window=window)
            assert not isinstance(event, DeadLetter), f"{origin} was an event when it was read first"
            yield EventRecord(origin, line, event)

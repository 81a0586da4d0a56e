"""``ctxi replay``: the whole engine in this process, on event files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from ctxi.cli.errors import err
from ctxi.cli.rules import load_rules, models_in
from ctxi.schemas import DeadLetter
from ctxi.settings import get_settings


def read_models(path: Path, model: type[Any], what: str) -> list[Any]:
    """Each line of the JSONL ``path`` as ``model``; lines that are not end the command (file:line each)."""
    bad: list[str] = []
    found = models_in(path, model, bad, what)
    for line in bad:
        err(line)
    if bad:
        raise typer.Exit(1)
    return found


def read_snoozes(path: Path | None):
    from ctxi.rules.snooze import Snooze, Snoozes

    snoozes = Snoozes()
    for snooze in read_models(path, Snooze, "a snooze") if path is not None else []:
        snoozes.put(snooze)
    return snoozes


def replay(
    events: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="JSONL event files.")],
    rules: Annotated[
        Path | None, typer.Option("--rules", file_okay=False, help="Rule packs (default: the built-in packs).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Where to write the output (default: stdout).")
    ] = None,
    dead_letter: Annotated[
        Path | None,
        typer.Option("--dead-letter", dir_okay=False, help="Write rejected lines here as dead-letter records."),
    ] = None,
    signals: Annotated[
        bool, typer.Option("--signals", help="Write the enriched events (signals) instead of the tasks.")
    ] = False,
    snoozes: Annotated[
        Path | None, typer.Option("--snoozes", exists=True, dir_okay=False, help="JSONL of snoozes to apply.")
    ] = None,
    sla: Annotated[
        Path | None,
        typer.Option(
            "--sla",
            exists=True,
            dir_okay=False,
            help="A service-level policy for the tasks' deadlines (default: CTXI_SLA_POLICY).",
        ),
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes",
            exists=True,
            dir_okay=False,
            help="JSONL of task outcomes (as on tasks.outcomes): rules with learn_priority learn from those "
            "reported before each event.",
        ),
    ] = None,
) -> None:
    """Run the whole engine in this process, no Kafka or Redis: events in event-time order.

    Writes one task per line (or, with --signals, one enriched event per line); shadow
    rules' tasks only appear in the report. Rejected lines go to --dead-letter (else they
    are reported on stderr as file:line: reason). The summary on stderr says, per rule, how
    often it fired, with sample tasks: a backtest. Exits 0 when it ran, even with rejected
    lines; 1 when the rules do not load.
    """
    from ctxi.engine.garbage import collect_less
    from ctxi.engine.replay import replay as run_replay
    from ctxi.schemas.task import TaskOutcome
    from ctxi.service_levels.policy import load_policy

    settings = get_settings()
    rule_set = load_rules(rules)
    policy = sla or settings.sla_policy
    service_levels = load_policy(policy, frozenset(settings.queues)) if policy else None
    snooze_set = read_snoozes(snoozes)
    outcome_list = read_models(outcomes, TaskOutcome, "a task outcome") if outcomes is not None else []
    collect_less()
    sink = out.open("wb") if out else sys.stdout.buffer
    letters = dead_letter.open("wb") if dead_letter else None

    def write(model: Any) -> None:
        sink.write(orjson.dumps(model.model_dump()) + b"\n")

    def reject(letter: DeadLetter) -> None:
        if letters is not None:
            letters.write(orjson.dumps(letter.model_dump()) + b"\n")
        else:
            err(f"{letter.origin}: {letter.reason}")

    try:
        summary = run_replay(
            events,
            settings.engine,
            window=settings.event_time,
            publish=write if signals else lambda enriched: None,
            dead_letter=reject,
            progress=err,
            rules=rule_set,
            decide=None if signals else lambda decision: None if decision.shadow else write(decision.task),
            snoozes=snooze_set,
            service_levels=service_levels,
            outcomes=outcome_list,
        )
    finally:
        if out:
            sink.close()
        else:
            sink.flush()
        if letters is not None:
            letters.close()
    err(f"rules version {rule_set.version}")
    for line in summary.lines():
        err(line)

"""``ctxi simulate`` and ``ctxi evaluate``: a simulated stream with its ground truth, and the decisions scored on it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ctxi.cli.errors import err, fail
from ctxi.cli.rules import load_rules
from ctxi.settings import get_settings


def _truth_path(events: Path) -> Path:
    return events.with_name(events.name.removesuffix(".jsonl") + ".truth.json")


def _start_time(start: str) -> datetime:
    if start == "now":
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(start)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        fail(f"--start must be 'now' or a time with its offset, e.g. 2026-03-01T00:00:00Z; got {start!r}", code=2)
    return parsed


def simulate(
    out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Write the events here (JSONL) and the truth beside.")
    ] = None,
    kafka: Annotated[bool, typer.Option("--kafka", help="Send the events to the input topics instead.")] = False,
    rate: Annotated[float | None, typer.Option(min=1, help="Events per second to Kafka (default: flat out).")] = None,
    truth: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Where the ground truth goes (default: beside --out).")
    ] = None,
    customers: Annotated[int, typer.Option(min=1)] = 200,
    seed: Annotated[int, typer.Option(help="The same seed (and start) gives the same stream.")] = 7,
    hours: Annotated[float, typer.Option(min=0.1, help="Length of the simulated stretch.")] = 6.0,
    start: Annotated[str, typer.Option(help="When the stretch starts: a time, or 'now'.")] = "2026-03-01T00:00:00Z",
    malformed: Annotated[float, typer.Option(min=0, max=0.5, help="Bad lines, as a share of events.")] = 0.01,
) -> None:
    """Generate a realistic stream for N customers with planted situations and their ground truth.

    Everyday life (payments and check-ins at home, app sessions, friendly posts) and, for
    a share of customers, one planted situation each: impossible travel (also delivered
    twice, or out of order) and its look-alikes (nearby cities, travel a booking explains),
    missed connections and short delays, debits that will fail and distant ones,
    influential and minor complaints; plus duplicates and malformed lines.
    """
    from ctxi.simulate.evaluate import send
    from ctxi.simulate.stream import SimulationSpec
    from ctxi.simulate.stream import simulate as generate

    if (out is None) == (not kafka):
        fail("give exactly one of --out FILE or --kafka", code=2)
    truth_path = truth or (_truth_path(out) if out else Path("simulation.truth.json"))
    spec = SimulationSpec(
        customers=customers, seed=seed, hours=hours, start=_start_time(start), malformed_share=malformed
    )
    lines, ground_truth = generate(spec)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(ground_truth.model_dump_json(indent=2))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"\n".join(lines) + b"\n")
        typer.echo(f"{out}: {len(lines):,} lines ({ground_truth.malformed} malformed)")
    else:
        send(lines, get_settings(), rate, progress=err)
        typer.echo(f"sent {len(lines):,} lines to the input topics ({ground_truth.malformed} malformed)")
    kinds = Counter(planted.kind for planted in ground_truth.planted)
    typer.echo(
        f"{truth_path}: {len(ground_truth.planted)} planted situations: "
        + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
    )


def evaluate(
    events: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A stream from ctxi simulate.")],
    truth: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Its ground truth (default: beside it).")
    ] = None,
    live: Annotated[
        bool, typer.Option("--live", help="Also run it through a real worker on the configured Kafka and compare.")
    ] = False,
    rate: Annotated[float, typer.Option(min=1, help="Events per second sent to the live worker.")] = 1000.0,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the live worker's tasks.")] = 300.0,
    report: Annotated[Path | None, typer.Option(dir_okay=False, help="Also write the report here (Markdown).")] = None,
) -> None:
    """Score ctxi's decisions on a simulated stream: precision and recall per planted situation.

    Always through the in-process engine (the replay path); with --live also through a
    ctxi worker started for this run in a world of its own (app id, topics and Redis keys
    under a fresh name) on the configured broker, and the two must agree. Exit 1 when a
    situation misses the 0.95 target, the dead letters are off, or replay and live differ.
    """
    from ctxi.engine.garbage import collect_less
    from ctxi.simulate.evaluate import evaluate_stream
    from ctxi.simulate.stream import GroundTruth

    truth_path = truth or _truth_path(events)
    if not truth_path.exists():
        fail(f"no ground truth at {truth_path} (give --truth)", code=2)
    ground_truth = GroundTruth.model_validate_json(truth_path.read_bytes())
    settings = get_settings()
    collect_less()
    sections, passed = evaluate_stream(
        events,
        ground_truth,
        settings,
        load_rules(settings.rules_dir),
        live=live,
        rate=rate,
        timeout=timeout,
        progress=err,
    )
    text = "\n\n".join(sections)
    typer.echo(text)
    if report is not None:
        report.write_text(f"# Decision quality on {events.name}\n\n{text}\n")
    if not passed:
        raise typer.Exit(1)

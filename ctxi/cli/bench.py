"""``ctxi bench``: the end-to-end benchmark."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ctxi.cli.errors import err, fail
from ctxi.cli.rules import load_rules
from ctxi.settings import get_settings


def bench(
    out: Annotated[Path, typer.Option(file_okay=False, help="Where results, plot, profile and reports go.")] = Path(
        "docs/bench"
    ),
    customers: Annotated[int, typer.Option(min=10, help="Customers in the throughput stream.")] = 2000,
    rates: Annotated[
        str,
        typer.Option(help="Offered events/s for the latency runs, comma separated; 'auto': 25/50/75% of sustained."),
    ] = "auto",
    seconds_per_rate: Annotated[float, typer.Option(min=1, help="Length of each latency run.")] = 20.0,
    repeats: Annotated[int, typer.Option(min=1, help="Runs of each throughput measure (the median is reported).")] = 3,
    quality: Annotated[bool, typer.Option(help="Also write the decision-quality report (replay and live).")] = True,
    exactly_once: Annotated[
        bool,
        typer.Option(help="Also a latency run on a worker under exactly-once, at half the sustained rate."),
    ] = True,
) -> None:
    """The end-to-end benchmark on the configured (local) Kafka and Redis, and the quality report.

    Engine alone (replay path) and its profile; sustained events/s of one worker against a
    bare faust agent, plain aiokafka and a Quix Streams peer on the same broker; event-to-task
    latency p50/p95/p99, CPU, peak RSS and consumer lag at several offered rates, and under
    exactly-once at half the sustained rate (or the middle of --rates). Writes OUT/report.md, results.json,
    latency.png, profile.txt and, with --quality, quality.md. Exit 1 only when decision
    quality fails; timings never fail it.
    """
    from ctxi.benchmarks.endtoend import report, run_bench
    from ctxi.engine.garbage import collect_less
    from ctxi.simulate.evaluate import evaluate_stream
    from ctxi.simulate.stream import GroundTruth

    try:
        offered = None if rates == "auto" else [float(rate) for rate in rates.split(",") if rate.strip()]
    except ValueError:
        fail(f"--rates must be 'auto' or numbers separated by commas, got {rates!r}", code=2)
    settings = get_settings()
    rule_set = load_rules(settings.rules_dir)  # the packs the worker it starts runs
    command = " ".join(["ctxi", *sys.argv[1:]])
    collect_less()
    results = run_bench(
        settings,
        rule_set,
        out,
        customers=customers,
        rates=offered,
        seconds_per_rate=seconds_per_rate,
        repeats=repeats,
        command=command,
        progress=err,
        exactly_once=exactly_once,
    )
    text = report(results)
    passed = True
    if quality:
        stream = out / "stream.jsonl"
        truth = GroundTruth.model_validate_json((out / "stream.truth.json").read_bytes())
        rate = max(100.0, round(results.ctxi_events_per_second / 2, -1))
        sections, passed = evaluate_stream(
            stream, truth, settings, rule_set, live=True, rate=rate, timeout=600, progress=err
        )
        (out / "quality.md").write_text(f"# Decision quality on {stream.name}\n\n" + "\n\n".join(sections) + "\n")
        text += "\n\n" + "\n\n".join(sections)
    (out / "report.md").write_text(f"# ctxi bench\n\n{text}\n")
    typer.echo(text)
    if not passed:
        raise typer.Exit(1)

"""Issue 30's experiment: what does faust's consumption path cost ctxi?

On one simulated stream and broker, alternated ``--repeats`` times: the engine alone (replay,
no Kafka), the Quix Streams peer (per-customer state, JSON in and out), ctxi's engine hosted
in a Quix Streams app (``engine_in_peer.py``: ingest, the engine with the built-in packs, the
context written to RocksDB state per message), and the ctxi worker on faust. Needs
``.venv-peer`` (scripts/setup) and the dev stack::

    CTXI_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 CTXI_REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m ctxi.benchmarks.peer_experiment --customers 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from ctxi.benchmarks.endtoend import (
    PEER_PYTHON,
    Sustained,
    _median,
    _stream,
    engine_throughput,
    sustained_throughput,
)
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.settings import get_settings
from ctxi.simulate.stream import SimulationSpec

KINDS = ("peer", "engine-in-peer", "ctxi")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not PEER_PYTHON.exists():
        sys.exit(f"{PEER_PYTHON} is missing: scripts/setup makes it")
    base = get_settings()
    out = Path(tempfile.mkdtemp(prefix="ctxi-peer-experiment-"))
    path, lines, _ = _stream(SimulationSpec(customers=args.customers, seed=101), out, "stream")
    rules = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset(base.queues)))
    engine = engine_throughput(path, base, rules, args.repeats)
    runs: dict[str, list[Sustained]] = {kind: [] for kind in KINDS}
    for _ in range(args.repeats):
        for kind in KINDS:
            outputs = engine.joined if kind == "ctxi" else len(lines)
            runs[kind].append(sustained_throughput(base, lines, outputs, kind=kind, logs=out, progress=print))
    alone = statistics.median(engine.events_per_second)
    hosted = _median(runs["engine-in-peer"], "events_per_second")
    ctxi = _median(runs["ctxi"], "events_per_second")
    print(
        "\n".join(
            [
                f"{len(lines):,} events, {args.customers:,} customers, median of {args.repeats} (logs: {out})",
                "",
                "| run | events/s | CPU µs/event |",
                "|---|---:|---:|",
                f"| engine alone (replay, no Kafka) | {alone:,.0f} | |",
                *(
                    f"| {label} | {_median(runs[kind], 'events_per_second'):,.0f} | "
                    f"{_median(runs[kind], 'cpu_us_per_event'):,.0f} |"
                    for kind, label in (
                        ("peer", "Quix Streams peer: per-customer state, JSON in and out"),
                        ("engine-in-peer", "ctxi's engine in a Quix Streams app"),
                        ("ctxi", "ctxi worker on faust"),
                    )
                ),
                "",
                f"engine in Quix / engine alone: {hosted / alone:.0%}; "
                f"ctxi worker / engine in Quix: {ctxi / hosted:.0%}",
            ]
        )
    )


if __name__ == "__main__":
    main()

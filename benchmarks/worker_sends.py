"""Issue 30's worker experiment: what do a worker's sends and state cost on faust, and what would batches save?

On one simulated stream and broker, alternated ``--repeats`` times, each a fresh process on the
preloaded stream (``endtoend.sustained_throughput``):

- the bare faust ceiling three ways (``benchmarks/ceiling.py``, ``CEILING_SENDS``): one message at
  a time through its topic (the bench's ceiling); batches of up to 500 (``take_events``), each
  message through its topic; batches handed to faust's producer directly;
- bare faust doing a worker's per-key state work on top: a ~2 KB row per customer read and
  written per message in a faust table (its changelog record through faust's table path, as
  ctxi's rows are), and the same rows in a write buffer written once a batch;
- the ctxi worker with its signals unpublished (as ``ctxi bench`` runs it) and published: the
  cost of one more send for about every other event.

Needs the dev stack::

    CTXI_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 CTXI_REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python -m ctxi.benchmarks.worker_sends --customers 2000 --repeats 3
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ctxi.benchmarks.endtoend import WORKERS, Sustained, _median, _stream, engine_throughput, sustained_throughput
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.settings import get_settings
from ctxi.simulate.stream import SimulationSpec

KINDS = ("faust", "faust-batch", "faust-producer", "faust-table", "faust-buffer", "ctxi", "ctxi-signals")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kinds", default=",".join(KINDS), help="Which runs, comma separated (faust first).")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    if kinds[0] != "faust" or not set(kinds) <= set(KINDS):
        parser.error(f"--kinds: some of {', '.join(KINDS)}, faust first (the ratios are to it)")
    base = get_settings()
    out = Path(tempfile.mkdtemp(prefix="ctxi-worker-sends-"))
    path, lines, _ = _stream(SimulationSpec(customers=args.customers, seed=101), out, "stream")
    rules = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset(base.queues)))
    joined = engine_throughput(path, base, rules, repeats=1).joined  # the context records ctxi writes
    runs: dict[str, list[Sustained]] = {kind: [] for kind in kinds}
    for _ in range(args.repeats):
        for kind in kinds:
            outputs = joined if kind.startswith("ctxi") else len(lines)
            runs[kind].append(sustained_throughput(base, lines, outputs, kind=kind, logs=out, progress=print))
    ceiling = _median(runs["faust"], "events_per_second")
    print(f"\n{len(lines):,} events, {args.customers:,} customers, median of {args.repeats} (logs: {out})\n")
    print("| run | events/s | CPU µs/event | / bare faust |")
    print("|---|---:|---:|---:|")
    for kind in kinds:
        rate = _median(runs[kind], "events_per_second")
        cpu = _median(runs[kind], "cpu_us_per_event")
        print(f"| {WORKERS[kind][0]} | {rate:,.0f} | {cpu:,.0f} | {rate / ceiling:.0%} |")


if __name__ == "__main__":
    main()

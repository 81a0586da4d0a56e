"""How should events be parsed from Kafka bytes and written back? Measure the candidates.

Run: python benchmarks/parse_events.py [--events 20000] [--repeats 7]

Parsing:   pydantic's JSON validator straight from bytes (what ctxi uses), against
           orjson.loads + validate_python (which also needs lax mode, since strict
           Python validation refuses timestamp strings).
Writing:   orjson.dumps(dump_python(...)) (what ctxi uses), against pydantic's dump_json
           and orjson over dump_python(mode="json").
Prints the median time per event of each, over the repeats, and the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from ctxi.schemas.events import EVENT_ADAPTER

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "events.jsonl"


def median_ns_per_item(run: Callable[[], object], items: int, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        run()
        timings.append((time.perf_counter_ns() - started) / items)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    lines = [line for line in EXAMPLES.read_bytes().splitlines() if line.strip()]
    corpus = [lines[i % len(lines)] for i in range(args.events)]
    events = [EVENT_ADAPTER.validate_json(raw) for raw in corpus]
    validate_json, validate_python, dump_python = (
        EVENT_ADAPTER.validate_json,
        EVENT_ADAPTER.validate_python,
        EVENT_ADAPTER.dump_python,
    )

    cases: dict[str, Callable[[], object]] = {
        "parse: validate_json(bytes)  [used]": lambda: [validate_json(raw) for raw in corpus],
        "parse: orjson.loads + validate_python(strict=False)": lambda: [
            validate_python(orjson.loads(raw), strict=False) for raw in corpus
        ],
        "write: orjson.dumps(dump_python())  [used]": lambda: [orjson.dumps(dump_python(event)) for event in events],
        "write: dump_json()": lambda: [EVENT_ADAPTER.dump_json(event) for event in events],
        "write: orjson.dumps(dump_python(mode='json'))": lambda: [
            orjson.dumps(dump_python(event, mode="json")) for event in events
        ],
    }
    print(f"{args.events} events ({len(lines)} distinct types), median of {args.repeats} runs")
    results = {name: median_ns_per_item(run, args.events, args.repeats) for name, run in cases.items()}
    for name, ns in results.items():
        print(f"  {name:<52} {ns / 1000:8.2f} µs/event  {1e9 / ns:>10,.0f} events/s")
    names = list(results)
    print(f"  parse ratio orjson+validate_python / validate_json: {results[names[1]] / results[names[0]]:.2f}")
    print(f"  write ratio dump_json / orjson(dump_python):         {results[names[3]] / results[names[2]]:.2f}")


if __name__ == "__main__":
    main()

"""What the built-in packs' features cost: replay throughput and context bytes, with and without them.

Run: python benchmarks/features.py [--customers 2000] [--events-per-customer 40] [--repeats 5]

Replays the synthetic stream of ``benchmarks/engine.py`` (the ``ctxi replay`` path,
parsing included) with the built-in packs as they are, and with the same packs less their
features and the rules that read them, alternating the two so both meet the same machine
state, after one untimed replay of each. Prints the median events/s of each, their ratio,
and the stored context size per customer (what the changelog holds) with the features.
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import tempfile
from pathlib import Path

from faust.serializers import codecs

from ctxi.agents.codecs import CONTEXT_CODEC
from ctxi.benchmarks.engine import generate
from ctxi.engine.replay import replay
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.settings import EngineConfig

QUEUES = frozenset({"fraud", "travel", "service"})


def without_features(directory: Path) -> Path:
    """The built-in packs less their ``features:`` and every rule that reads ``features.``."""
    for pack in BUILTIN_PACKS.glob("*.yaml"):
        text = pack.read_text()
        text = re.sub(r"^features:\n(?:  .*\n|\n)*?(?=^rules:)", "", text, flags=re.MULTILINE)
        rules = re.split(r"(?=^  - id: )", text.split("\ntests:")[0], flags=re.MULTILINE)
        kept = [rule for rule in rules if "features." not in rule]
        (directory / pack.name).write_text("".join(kept))
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--events-per-customer", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    lines = generate(args.customers, args.events_per_customer, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        plain_dir = Path(tmp) / "packs"
        plain_dir.mkdir()
        sets = {
            "with features": RuleSet(load_rule_dir(BUILTIN_PACKS, QUEUES)),
            "without": RuleSet(load_rule_dir(without_features(plain_dir), QUEUES)),
        }
        rates: dict[str, list[float]] = {name: [] for name in sets}
        contexts = {}
        for rules in sets.values():  # untimed: the first replay in a process also fills caches (user agents, regexes)
            replay([path], EngineConfig(), lambda enriched: None, lambda letter: None, rules=rules)
        for _ in range(args.repeats):
            for name, rules in sets.items():
                summary = replay([path], EngineConfig(), lambda enriched: None, lambda letter: None, rules=rules)
                rates[name].append(summary.events / summary.seconds)
                contexts[name] = summary.contexts
    print(f"{len(lines)} events, {args.customers} customers, {args.repeats} alternating runs each")
    for name, runs in rates.items():
        sizes = sorted(len(codecs.dumps(CONTEXT_CODEC, context)) for context in contexts[name].values())
        print(
            f"{name:>13}: median {statistics.median(runs):,.0f} events/s "
            f"(runs: {', '.join(f'{rate:,.0f}' for rate in runs)}); context bytes per customer: "
            f"median {statistics.median(sizes):,.0f}, p95 {sizes[int(len(sizes) * 0.95)]:,}"
        )
    ratio = statistics.median(rates["with features"]) / statistics.median(rates["without"])
    print(f"with / without: {ratio:.2f}")


if __name__ == "__main__":
    main()

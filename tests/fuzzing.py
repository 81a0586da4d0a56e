"""Hostile event lines, as a careless or hostile source system sends them.

Valid events from the examples are mutated where such a source would: a number made NaN,
infinite or 40 digits long, a date in year 0001 or 9999, an id made blank, a string made
huge, a field of the wrong type. The unit fuzz (hypothesis) and the live-worker test
draw from the same mutations.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson

from ctxi.ingest import read_jsonl
from ctxi.schemas.dead_letter import DeadLetter

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [
    orjson.loads(record.raw)
    for record in read_jsonl(ROOT / "examples" / "scenarios.jsonl")
    if not isinstance(record.outcome, DeadLetter)
]
HOSTILE_VALUES: list[Any] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    1e30,
    -1e30,
    10**40,
    -(10**40),
    2**63,
    2**64,
    0,
    -1,
    "",
    "   ",
    "\t\n",
    "x" * 20_000,
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "2026-03-01T10:00:00",
    "2199-12-31T23:59:59+14:00",
    None,
    True,
    [],
    {},
    [None] * 50,
    # times in forms other than RFC 3339: Unix seconds and milliseconds as text, a bare offset
    "1772359200",
    "1772359200000",
    "1772359200.5",
    "2026-03-01T10:00:00+0100",
    "2026-03-01T10:00Z",
    # ids and names no one can see
    "\u200b\u200b",
    "\ufeff",
    "\u202e\u200d",
    "\x00",
    # nesting past any limit, and texts at and past their limits
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    "x" * 10_000,
    "x" * 10_001,
    "x" * 200,
    "x" * 128,
    "x" * 129,
]


def hostile_value(rng: random.Random) -> Any:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice([rng.uniform(-1e6, 1e6), rng.choice([float("nan"), float("inf")])])
    if kind == 1:
        return rng.randint(-(10**30), 10**30)
    if kind == 2:
        return "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(40)))
    return rng.choice(HOSTILE_VALUES)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value could be replaced."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _replace(document[path[0]], path[1:], value)
    return copy


def mutated_line(rng: random.Random) -> bytes:
    """One example event with one to three of its values made hostile, as one JSON line; now and
    then a key given twice, a key with a control character in it, or a hostile field the contract ignores."""
    document: Any = rng.choice(SEEDS)
    for _ in range(rng.randint(1, 3)):
        document = _replace(document, rng.choice(_paths(document)[1:]), hostile_value(rng))
    # json (not orjson) writes what a careless source sends: NaN, Infinity, 40-digit integers
    line = json.dumps(document)
    kind = rng.randrange(10)
    if kind == 0:  # the first key again, with another value, at the end of its object
        key = json.dumps(next(iter(document)))
        line = line[:-1] + f", {key}: {json.dumps(hostile_value(rng))}}}"
    elif kind == 1 and isinstance(document.get("payload"), dict):
        line = line.replace('"payload": {', '"payload": {"x\\n[ERROR] forged\\u200b": 1, ', 1)
    elif kind == 2 and isinstance(document.get("payload"), dict):  # a field the contract ignores, hostile
        line = line.replace('"payload": {', f'"payload": {{"ignored": {json.dumps(hostile_value(rng))}, ', 1)
    return line.encode()

"""What bounds the engine: the cost of the work every event needs, with ctxi's models and as plain data.

Run: python -m ctxi.benchmarks.engine_floor [--customers 1000] [--repeats 5]

On the stream ``ctxi bench`` uses (the simulated customers, seed 101), after one replay with the
built-in packs: per event, the median over ``--repeats`` passes of

- reading the line: ingest's parse and validation into the event models (``validate_event``),
  and the same bytes read as plain data (``orjson.loads``);
- storing the customer's row, which every event changes: the context model written as its
  changelog record (``dumps_model``), read back (what a worker does for a customer whose row
  is not kept decoded), the same row as plain data (``orjson.dumps`` / ``orjson.loads``), and
  as msgspec structs generated from the models (:func:`struct_of`: the same fields, types and
  defaults, so the models stay the one description of the row);
- handing the event to CEL (``cel.Context.add_variable`` of its JSON form), which a rule or
  feature that only CEL can run pays once per event;
- the whole engine, for scale (the replay's events/s).

The floor of an engine on these models is what every event cannot avoid: its validation and
its row's encoding. Set beside the goal's 40 µs an event (25,000 events/s), it says whether
the goal is reachable by making the rest faster, or only by other data on the hot path.
(The line is read through the contract's validation in every column: ingest keeps it.)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import types
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import cel
import orjson
from pydantic import AwareDatetime, BaseModel, TypeAdapter

try:
    import msgspec
except ImportError as missing:  # pragma: no cover - the bench extra has it
    raise ImportError("benchmarks/engine_floor.py needs msgspec: pip install 'ctxi[bench]'") from missing

from ctxi.benchmarks.parse_events import median_ns_per_item
from ctxi.engine.replay import replay
from ctxi.ingest import validate_event
from ctxi.pack_tools.load import load_rule_dir
from ctxi.rules import BUILTIN_PACKS
from ctxi.rules.evaluate import RuleSet
from ctxi.schemas.context import CustomerContext
from ctxi.schemas.dead_letter import DeadLetter, FileOrigin
from ctxi.schemas.encoding import dumps_model
from ctxi.settings import Settings
from ctxi.simulate.stream import SimulationSpec, simulate

GOAL_EVENTS_PER_SECOND = 25_000
_ARRAYS = (list, tuple, set, frozenset)


def struct_of(model: type[BaseModel], made: dict[type, Any] | None = None) -> Any:
    """A msgspec struct with ``model``'s fields, types and defaults (nested models as structs of their
    own); rows it encodes leave defaults out as ``dumps_model(state=True)`` does."""
    made = {} if made is None else made
    if model not in made:
        fields: list[tuple[Any, ...]] = []
        for name, info in model.model_fields.items():
            kind = _struct_type(info.annotation, made)
            if info.is_required():
                fields.append((name, kind))
            elif info.default_factory is not None:
                factory: Any = info.default_factory
                if isinstance(factory, type) and issubclass(factory, BaseModel):
                    factory = struct_of(factory, made)
                fields.append((name, kind, msgspec.field(default_factory=factory)))
            else:
                fields.append((name, kind, info.default))
        made[model] = msgspec.defstruct(model.__name__, fields, kw_only=True, omit_defaults=True)
    return made[model]


def _struct_type(annotation: Any, made: dict[type, Any]) -> Any:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _struct_type(args[0], made)
    if origin in (Union, types.UnionType):
        members = [_struct_type(arg, made) for arg in args]
        arrays = [member for member in members if member in _ARRAYS or get_origin(member) in _ARRAYS]
        if len(arrays) > 1:  # msgspec takes one array type in a union: the tuples of a feature's slices
            members = [member for member in members if member not in arrays] + [list]
        return Union[tuple(members)]  # noqa: UP007  # built from a list
    if origin in _ARRAYS or origin is dict:
        return origin[tuple(_struct_type(arg, made) for arg in args)]
    if annotation is AwareDatetime:
        return Annotated[datetime, msgspec.Meta(tz=True)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return struct_of(annotation, made)
    return annotation


def per_item_us(work: Callable[[Any], object], items: Sequence[Any], repeats: int) -> float:
    """The median over ``repeats`` passes of ``work`` on every item, in µs an item."""
    # the results are dropped as they come: kept, thousands of decoded rows would time the collector
    return median_ns_per_item(lambda: deque(map(work, items), maxlen=0), len(items), repeats) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    settings = Settings()
    lines, _ = simulate(SimulationSpec(customers=args.customers, seed=101))
    origin = FileOrigin(path="stream.jsonl", line=1)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "stream.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        rules, rates = RuleSet(load_rule_dir(BUILTIN_PACKS, frozenset(settings.queues))), []
        for _ in range(args.repeats):
            summary = replay([path], settings.engine, lambda e: None, lambda d: None, rules=rules)
            rates.append(summary.events / summary.seconds)
        read = [(line, validate_event(line, origin)) for line in lines]
        # the lines the simulation breaks on purpose (dead letters) are left out of every figure
        valid = [(line, event) for line, event in read if not isinstance(event, DeadLetter)]
        lines, events = [line for line, _ in valid], [event for _, event in valid]
        # each event's row: its customer's context as the replay left it (fleet events: none)
        contexts = {key: summary.contexts[key] for key in summary.contexts}
        rows = [contexts[event.customer_id] for event in events if event.customer_id in contexts]
    adapter = TypeAdapter(CustomerContext)
    encoded = [dumps_model(adapter, row, state=True) for row in rows]
    plain_rows = [orjson.loads(record) for record in encoded]
    struct_decoder, struct_encoder = msgspec.json.Decoder(struct_of(CustomerContext)), msgspec.json.Encoder()
    struct_rows = [struct_decoder.decode(record) for record in encoded]

    def to_cel(line: bytes) -> None:
        cel.Context().add_variable("event", orjson.loads(line))

    figures = {
        "validate": per_item_us(lambda line: validate_event(line, origin), lines, args.repeats),
        "loads": per_item_us(orjson.loads, lines, args.repeats),
        "encode": per_item_us(lambda row: dumps_model(adapter, row, state=True), rows, args.repeats),
        "decode": per_item_us(adapter.validate_json, encoded, args.repeats),
        "dumps": per_item_us(orjson.dumps, plain_rows, args.repeats),
        "loads_row": per_item_us(orjson.loads, encoded, args.repeats),
        "struct_encode": per_item_us(struct_encoder.encode, struct_rows, args.repeats),
        "struct_decode": per_item_us(struct_decoder.decode, encoded, args.repeats),
        "cel": per_item_us(to_cel, lines, args.repeats),
    }
    engine_us = 1e6 / statistics.median(rates)
    budget = 1e6 / GOAL_EVENTS_PER_SECOND
    models = figures["validate"] + figures["encode"]
    plain = figures["loads"] + figures["dumps"]
    structs = figures["validate"] + figures["struct_encode"]
    row_bytes = statistics.median(len(record) for record in encoded)
    print(f"Command: `python -m ctxi.benchmarks.engine_floor --customers {args.customers} --repeats {args.repeats}`")
    print(f"{len(lines):,} valid events, rows of {row_bytes:,.0f} B (median); µs an event, median of {args.repeats}")
    print()
    print("| work every event does | ctxi's models | rows as msgspec structs | plain data (orjson) |")
    print("|---|---:|---:|---:|")
    validate, loads = figures["validate"], figures["loads"]
    print(f"| read the line | {validate:.1f} (validate_event) | {validate:.1f} | {loads:.1f} |")
    print(
        f"| write the customer's row | {figures['encode']:.1f} (dumps_model) | {figures['struct_encode']:.1f} | "
        f"{figures['dumps']:.1f} |"
    )
    print(
        f"| read the row back (not kept decoded) | {figures['decode']:.1f} | {figures['struct_decode']:.1f} | "
        f"{figures['loads_row']:.1f} |"
    )
    print(f"| hand the event to CEL (add_variable) | {figures['cel']:.1f} | | |")
    print(f"| **floor: read the line, write the row** | **{models:.1f}** | **{structs:.1f}** | **{plain:.1f}** |")
    print(f"| the whole engine (replay, built-in packs) | {engine_us:.0f} ({statistics.median(rates):,.0f}/s) | | |")
    print(f"| the goal ({GOAL_EVENTS_PER_SECOND:,} events/s) | {budget:.0f} | {budget:.0f} | {budget:.0f} |")
    print()
    print(
        f"On ctxi's models the floor alone is {models / budget:.0%} of the goal's budget an event; "
        f"with the rows as msgspec structs {structs / budget:.0%}; as plain data {plain / budget:.0%}."
    )


if __name__ == "__main__":
    main()

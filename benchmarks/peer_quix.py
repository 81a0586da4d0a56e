"""The peer for ``ctxi bench``: what a platform engineer would build instead, a Quix Streams app
that reads the input topics, keeps per-customer state in RocksDB (read and written on every
message, as ctxi's context is) and produces a JSON message per input, on the same broker.

Quix Streams 3.28 pins pydantic below 2.14 and ctxi runs 2.14, so the peer runs in a venv of
its own (``.venv-peer``, made by ``scripts/setup`` from ``benchmarks/peer-requirements.txt``)
and imports nothing of ctxi: ``ctxi bench`` runs it as
``.venv-peer/bin/python benchmarks/peer_quix.py --servers S --app-id A --output O --state-dir D TOPIC...``,
and it runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from quixstreams import Application, State


def remember(value: bytes, state: State) -> bytes:
    """The customer's count of events and latest event time, kept per key; the event with them."""
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value  # ctxi dead-letters it; the peer passes it on, so every input has an output
    if not isinstance(event, dict):
        return value
    seen: dict[str, Any] = state.get("customer", None) or {"events": 0, "latest": None}
    seen["events"] += 1
    occurred = event.get("occurred_at")
    if isinstance(occurred, str) and (seen["latest"] is None or occurred > seen["latest"]):
        seen["latest"] = occurred
    state.set("customer", seen)
    return orjson.dumps({"event_id": event.get("event_id"), "type": event.get("type"), "customer": seen})


def produced_now(value: object, key: object, timestamp: int, headers: object) -> int:
    """The output's timestamp: when it was made (Quix Streams keeps the input's, and the bench
    reads the rate from the outputs' timestamps)."""
    return time.time_ns() // 1_000_000


def run_app(description: str, group: str, process: Callable[[str], Callable[[bytes, State], bytes]]) -> None:
    """A Quix Streams app from the command line the bench gives (``--servers --app-id --output
    --state-dir TOPIC...``): each input topic's messages through ``process(topic)``, stateful per
    key, each result produced to the output topic; until SIGTERM."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--app-id", required=True, help=f"the run's app id: its consumer group is <app id>-{group}")
    parser.add_argument("--output", required=True, help="the topic it produces to")
    parser.add_argument("--state-dir", type=Path, required=True, help="where RocksDB keeps the state")
    parser.add_argument("topics", nargs="+", help="the input topics")
    args = parser.parse_args()
    app = Application(
        broker_address=args.servers,
        consumer_group=f"{args.app_id}-{group}",
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    output = app.topic(args.output, value_serializer="bytes")
    for name in args.topics:
        # per input topic: its own state store, keyed by customer as the topic is
        source = app.topic(name, value_deserializer="bytes", key_deserializer="bytes")
        app.dataframe(source).apply(process(name), stateful=True).set_timestamp(produced_now).to_topic(output)
    app.run()


if __name__ == "__main__":
    run_app(__doc__ or "", "peer", lambda topic: remember)

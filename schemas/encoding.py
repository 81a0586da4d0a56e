"""How ctxi's models are written as JSON: Kafka messages, table rows and the task bodies in Redis.

One function, so that a task reads the same on its topic and in Redis, and so that the
parts that write JSON without faust (the Redis sink the gateway uses) need not import it.
Encoding goes through orjson; decoding is pydantic's JSON validator (see docs/benchmarks.md
for the measurements behind both).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import TypeAdapter


def dumps_model(adapter: TypeAdapter[Any], value: Any, *, state: bool = False) -> bytes:
    """Serialize a model (or anything ``adapter`` describes) to compact JSON bytes.

    ``state``: a table row, of which the changelog keeps one per key, so every byte is stored:
    defaults (empty lists, nulls) are left out, as validation restores them, and UTC times
    end in ``Z`` rather than ``+00:00``.
    """
    if state:
        return orjson.dumps(adapter.dump_python(value, exclude_defaults=True), option=orjson.OPT_UTC_Z)
    return orjson.dumps(adapter.dump_python(value))

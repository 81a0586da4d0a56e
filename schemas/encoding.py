"""How ctxi's models are written as JSON: Kafka messages, table rows and the task bodies in Redis.

One function, so that a task reads the same on its topic and in Redis, and so that the
parts that write JSON without faust (the Redis sink the gateway uses) need not import it.
Messages are encoded through orjson, table rows by pydantic's own JSON writer (a quarter
faster for a context, the same bytes); decoding is pydantic's JSON validator (see
docs/benchmarks.md for the measurements behind each).
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
        return adapter.dump_json(value, exclude_defaults=True)  # writes UTC as Z, as rows always were
    return orjson.dumps(adapter.dump_python(value))

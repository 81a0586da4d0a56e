"""``ctxi schemas``: the JSON Schemas of the contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from ctxi.rule_language.model import Pack
from ctxi.schemas import EVENT_ADAPTER, EVENT_TYPES, DeadLetter, Task

app = typer.Typer(help="JSON Schemas of the event and task contracts.", no_args_is_help=True)


@app.command("export")
def export(directory: Annotated[Path, typer.Argument(help="Where to write the .schema.json files.")]) -> None:
    """Write JSON Schema files: one per event type, the event envelope union, the task, the dead letter
    and the rule pack (point an editor's YAML support at rule_pack.schema.json to check packs as you type)."""
    directory.mkdir(parents=True, exist_ok=True)
    documents = {
        "event": EVENT_ADAPTER.json_schema(),
        "task": Task.model_json_schema(),
        "dead_letter": DeadLetter.model_json_schema(),
        "rule_pack": Pack.model_json_schema(),
        **{event_type: model.model_json_schema() for event_type, model in EVENT_TYPES.items()},
    }
    for name, schema in documents.items():
        path = directory / f"{name}.schema.json"
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    typer.echo(f"wrote {len(documents)} schemas to {directory}")

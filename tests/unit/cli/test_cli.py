"""The `ctxi` commands that need no services."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from ctxi.cli import app
from ctxi.schemas.events import EVENT_TYPES

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
runner = CliRunner()


def test_schemas_export_writes_one_schema_per_event_type_plus_envelope_task_and_dead_letter(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schemas", "export", str(tmp_path / "schemas")])
    assert result.exit_code == 0, result.output
    written = {path.name for path in (tmp_path / "schemas").iterdir()}
    expected = {f"{name}.schema.json" for name in [*EVENT_TYPES, "event", "task", "dead_letter"]}
    assert written == expected
    envelope = orjson.loads((tmp_path / "schemas" / "event.schema.json").read_bytes())
    assert envelope["discriminator"]["propertyName"] == "type"
    assert set(envelope["discriminator"]["mapping"]) == set(EVENT_TYPES)
    task = orjson.loads((tmp_path / "schemas" / "task.schema.json").read_bytes())
    assert {"task_id", "priority", "reason", "evidence", "not_before", "expires_at"} <= set(task["required"])


def test_events_check_accepts_the_examples() -> None:
    result = runner.invoke(app, ["events", "check", str(EXAMPLES / "events.jsonl")])
    assert result.exit_code == 0, result.output
    assert "14 valid, 0 rejected" in result.output


def test_events_check_reports_file_line_and_reason_and_fails() -> None:
    bad = EXAMPLES / "bad-events.jsonl"
    result = runner.invoke(app, ["events", "check", str(bad)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{bad}:1: not valid JSON: expected ident at line 1 column 2" in lines
    assert f"{bad}:4: payload.amount: Input should be a valid number" in lines
    assert "0 valid, 5 rejected" in result.output


def test_events_produce_cannot_shift_a_file_without_event_times(tmp_path: Path) -> None:
    events = tmp_path / "no-times.jsonl"
    events.write_text('not json\n{"type": "crm.interaction"}\n')
    result = runner.invoke(app, ["events", "produce", "--shift-to-now", str(events)])
    assert result.exit_code == 1
    assert "has no event with a readable occurred_at to shift from" in result.output


def test_devstack_stop_names_the_services_it_knows() -> None:
    result = runner.invoke(app, ["devstack", "stop", "zookeeper"])
    assert result.exit_code == 1
    assert "unknown service 'zookeeper'; the dev stack runs kafka, redis" in result.output
